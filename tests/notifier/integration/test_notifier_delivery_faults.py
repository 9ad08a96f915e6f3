"""The delivery worker when PostgreSQL cuts its connection right after the SMTP server accepted
an e-mail (issue 6 "Faults": a PostgreSQL restart mid-send sent the e-mail a second time when
its claim expired). The cut is real: the test terminates the worker's server processes, as a
restart does, on a database of its own on the shared server."""

from __future__ import annotations

from sqlalchemy import create_engine, make_url, select, text

from notifier.app import build_consumer, build_delivery_worker, create_app
from notifier.deliveries.models import Delivery
from shared import migrate
from shared.events.types import INITIATIVE_SUBMITTED

SETTINGS = {"SECRETARIAT_EMAIL": "secretariat@un.example",
            "PUBLIC_BASE_URL": "https://registry.example",
            "MAIL_FROM": "Partnership Registry <noreply@registry.example>"}


class _AcceptThenCutDatabase:
    """A transport that accepts every message; on the first, before answering, it terminates
    every other connection to the notifier's database (what a PostgreSQL restart does)."""

    timeout = 30

    def __init__(self, admin_url: str, database: str):
        self.admin_url, self.database = admin_url, database
        self.accepted: list[str] = []
        self.cut = False

    def send(self, message, *, sender, recipient, event_id):
        self.accepted.append(recipient)
        if not self.cut:
            self.cut = True
            engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                killed = conn.execute(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid()"),
                    {"db": self.database}).scalar()
            engine.dispose()
            assert killed >= 1


def test_an_accepted_email_is_recorded_sent_after_the_connection_was_cut(
        pg_url, pg_admin_url, make_event, to_message):
    migrate.upgrade("notifier", pg_url)
    app = create_app({"DATABASE_URL": pg_url, **SETTINGS})
    try:
        build_consumer(app).handle(to_message(make_event(INITIATIVE_SUBMITTED)))  # 2 deliveries
        transport = _AcceptThenCutDatabase(pg_admin_url, make_url(pg_url).database)
        worker = build_delivery_worker(app, transport=transport)

        assert worker.run_once() == 1  # the pass ends on its cut connection ...
        assert worker.run_once() == 1  # ... and the next one sends the other delivery

        with app.extensions["db_session_factory"]() as s:
            rows = s.execute(select(Delivery.recipient, Delivery.status, Delivery.attempts)).all()
        assert sorted(rows) == [("contact@example.org", "sent", 1),
                                ("secretariat@un.example", "sent", 1)]
        assert sorted(transport.accepted) == ["contact@example.org", "secretariat@un.example"]
        assert worker.run_once() == 0  # nothing left to send again
    finally:
        app.extensions["db_engine"].dispose()
