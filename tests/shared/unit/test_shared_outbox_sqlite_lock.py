"""In the embedded mode the relay must not hold SQLite's write lock while consumers work."""

from __future__ import annotations

import sqlite3

from sqlalchemy import select

from registry.db import import_models
from registry.outbox.models import OutboxEvent
from shared import migrate
from shared.bus import InProcessBus
from shared.db import make_engine, make_session_factory
from shared.events.types import ORGANIZATION_CREATED, TOPIC_ORGANIZATIONS, topic_name
from shared.outbox import OutboxRelay, record_event


def test_database_is_writable_while_the_bus_delivers(tmp_path):
    path = tmp_path / "registry.db"
    url = f"sqlite:///{path}"
    import_models()
    migrate.upgrade("registry", url)
    factory = make_session_factory(make_engine(url))
    with factory() as session:
        record_event(session, OutboxEvent, ORGANIZATION_CREATED, source="/registry",
                     subject="o-1", data={"organization": {
                         "id": "o-1", "name": "Reef NGO", "stakeholder_group": "ngo"}})
        session.commit()

    writes: list[str] = []

    def consumer(_message):
        # another writer (a web request) during delivery: must not wait for the relay
        conn = sqlite3.connect(path, timeout=0.5, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE public_id_counters SET last_number = last_number")
            conn.execute("COMMIT")
            writes.append("ok")
        finally:
            conn.close()

    bus = InProcessBus()
    bus.subscribe("test", [topic_name(TOPIC_ORGANIZATIONS)], consumer)
    assert OutboxRelay(factory, OutboxEvent, bus).relay_once() == 1
    assert writes == ["ok"]
    with factory() as session:
        row = session.scalar(select(OutboxEvent))
    assert row.published_at is not None and row.attempts == 1
