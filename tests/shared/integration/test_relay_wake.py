"""The outbox relay is woken by the commit, not by its poll (issue: "approve -> e-mail p95
0.9 s: the relay's 0.5 s poll is 95 % of it"). The fallback poll is set to 30 s here, so an
event relayed within a second can only have been woken: on PostgreSQL by the NOTIFY that
``record_event`` issues in the writing transaction (another process's commit: the in-process
signal is cut off for the writer), on SQLite by the in-process signal."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from sqlalchemy.orm import DeclarativeBase

from shared.bus import InProcessBus
from shared.db import make_engine, make_session_factory, new_metadata
from shared.events.types import ORGANIZATION_CREATED, TOPIC_ORGANIZATIONS, topic_name
from shared.outbox import OutboxMixin, OutboxRelay, OutboxSignal, record_event


class Base(DeclarativeBase):
    metadata = new_metadata()


class WakeOutbox(OutboxMixin, Base):
    __tablename__ = "wake_outbox"


def _org(name: str) -> dict:
    return {"organization": {"id": str(uuid.uuid4()), "name": name, "acronym": None,
                             "stakeholder_group": "ngo", "country": None}}


def _relay_latency(relay: OutboxRelay, writer_factory, rounds: int = 3) -> list[float]:
    """Seconds from each commit to the relay handing the event to the bus."""
    arrived = threading.Event()
    relay.publisher.subscribe("g", [topic_name(TOPIC_ORGANIZATIONS)], lambda _m: arrived.set())
    stop = threading.Event()
    worker = threading.Thread(target=relay.run, args=(stop, 30.0), daemon=True)
    worker.start()
    latencies = []
    try:
        time.sleep(0.5)  # the relay drained the empty outbox and waits (30 s poll)
        for i in range(rounds):
            arrived.clear()
            with writer_factory() as s:
                record_event(s, WakeOutbox, ORGANIZATION_CREATED, source="/test",
                             subject=f"o-{i}", data=_org(f"Org {i}"))
                s.commit()
                committed = time.monotonic()
            assert arrived.wait(5), "the relay was not woken by the commit"
            latencies.append(time.monotonic() - committed)
    finally:
        stop.set()
        relay.signal.notify()
        worker.join(5)
    return latencies


@pytest.mark.postgres
def test_postgres_notify_wakes_the_relay_of_another_process(pg_url, monkeypatch):
    engine = make_engine(pg_url)
    Base.metadata.create_all(engine)
    writer_engine = make_engine(pg_url)
    try:
        relay = OutboxRelay(make_session_factory(engine), WakeOutbox, InProcessBus())
        # the writer is "another process": its commits signal nothing in here
        monkeypatch.setattr("shared.outbox.outbox_signal", lambda _table: OutboxSignal())
        latencies = _relay_latency(relay, make_session_factory(writer_engine))
        assert relay.signal.count >= 3  # woken by the LISTEN thread
        assert max(latencies) < 1.0, latencies
    finally:
        writer_engine.dispose()
        engine.dispose()


def test_a_commit_in_the_same_process_wakes_the_embedded_relay(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'wake.db'}")
    Base.metadata.create_all(engine)
    try:
        factory = make_session_factory(engine)
        latencies = _relay_latency(OutboxRelay(factory, WakeOutbox, InProcessBus()), factory)
        assert max(latencies) < 1.0, latencies
    finally:
        engine.dispose()


def test_a_rolled_back_write_wakes_nobody(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'rollback.db'}")
    Base.metadata.create_all(engine)
    try:
        factory = make_session_factory(engine)
        signal = OutboxRelay(factory, WakeOutbox, InProcessBus()).signal
        before = signal.count
        with factory() as s:
            record_event(s, WakeOutbox, ORGANIZATION_CREATED, source="/test", subject="x",
                         data=_org("Never"))
            s.rollback()
        with factory() as s:
            s.commit()  # a later, unrelated commit of the same session kind
        assert signal.count == before
    finally:
        engine.dispose()
