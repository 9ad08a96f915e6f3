"""The delivery worker's PostgreSQL path (a sent outcome and the next claim in one statement,
autocommit) keeps the guarantees of the one-at-a-time design: killed mid-fan-out, only the
delivery in flight is held by a claim; expired claims are taken once no pending delivery is
due; every e-mail reaches a real SMTP server (aiosmtpd) once, as the message build_message
describes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from notifier.app import build_consumer, build_delivery_worker, create_app
from notifier.deliveries.models import Delivery
from shared import migrate
from shared.db import utcnow
from shared.events.types import INITIATIVE_APPROVED

SETTINGS = {"SECRETARIAT_EMAIL": "secretariat@un.example",
            "PUBLIC_BASE_URL": "https://registry.example",
            "MAIL_FROM": "Partnership Registry <noreply@registry.example>"}


class _Killed(BaseException):
    """Stands for kill -9: nothing after it runs (not an ``Exception``, so no handler)."""


class _DiesAtSend:
    """Accepts ``accept`` messages, then "the process is killed" during the next send."""

    timeout = 30

    def __init__(self, accept: int):
        self.accept = accept
        self.sent: list[str] = []

    def send(self, message, *, sender, recipient, event_id):
        if len(self.sent) == self.accept:
            raise _Killed
        assert isinstance(message, bytes)  # the worker's wire bytes
        self.sent.append(recipient)


@pytest.fixture
def fanout_app(pg_url, make_event, to_message):
    """The notifier on a fresh PostgreSQL database with 30 pending deliveries (one each)."""
    migrate.upgrade("notifier", pg_url)
    app = create_app({"DATABASE_URL": pg_url, **SETTINGS})
    consumer = build_consumer(app)
    for i in range(30):
        consumer.handle(to_message(make_event(INITIATIVE_APPROVED,
                                              contact_email=f"owner{i}@example.org")))
    yield app
    app.extensions["db_engine"].dispose()


def _rows(app) -> list[Delivery]:
    with app.extensions["db_session_factory"]() as s:
        return list(s.scalars(select(Delivery).order_by(Delivery.recipient)))


def test_killed_mid_fan_out_only_the_delivery_in_flight_is_claimed(fanout_app):
    transport = _DiesAtSend(accept=9)

    with pytest.raises(_Killed):
        build_delivery_worker(fanout_app, transport).run_once()

    statuses = [r.status for r in _rows(fanout_app)]
    assert (statuses.count("sent"), statuses.count("sending"), statuses.count("pending")) == \
        (9, 1, 20)
    sent = {r.recipient for r in _rows(fanout_app) if r.status == "sent"}
    assert sent == set(transport.sent)
    # a restarted notifier sends the 20 pending at once; the one in flight waits for its claim
    restarted = _DiesAtSend(accept=1000)
    assert build_delivery_worker(fanout_app, restarted).run_once() == 20
    assert not sent & set(restarted.sent)
    assert [r.status for r in _rows(fanout_app)].count("sending") == 1


def test_expired_claims_are_sent_once_no_pending_delivery_is_due(fanout_app):
    with fanout_app.extensions["db_session_factory"]() as s:  # 5 left by a dead worker
        ids = list(s.scalars(select(Delivery.id).order_by(Delivery.recipient).limit(5)))
        s.execute(update(Delivery).where(Delivery.id.in_(ids))
                  .values(status="sending", attempts=1,
                          next_attempt_at=utcnow() - timedelta(seconds=1)))
        s.commit()
    transport = _DiesAtSend(accept=1000)

    assert build_delivery_worker(fanout_app, transport).run_once() == 30

    rows = _rows(fanout_app)
    assert {r.status for r in rows} == {"sent"} and len(set(transport.sent)) == 30
    assert sorted(r.attempts for r in rows) == [1] * 25 + [2] * 5
    assert transport.sent[-5:] == sorted(r.recipient for r in rows if r.id in ids)


def test_every_e_mail_reaches_the_smtp_server_once_as_build_message_describes(
        fanout_app, smtp_server):
    fanout_app.config["SMTP_URL"] = smtp_server.url

    assert build_delivery_worker(fanout_app).run_once() == 30

    messages = smtp_server.wait_for(30)
    rows = {r.message_id: r for r in _rows(fanout_app)}
    assert sorted(m["Message-ID"] for m in messages) == sorted(rows)
    for msg in messages:
        row = rows[msg["Message-ID"]]
        assert msg["To"] == row.recipient and msg["Subject"] == row.subject
        assert msg["From"] == SETTINGS["MAIL_FROM"] and msg["Auto-Submitted"] == "auto-generated"
        assert msg.get_body(("plain",)).get_content().splitlines() == row.body_text.splitlines()
        assert msg.get_body(("html",)).get_content().splitlines() == row.body_html.splitlines()


def test_a_delivery_given_back_due_earlier_is_sent_in_the_same_pass(fanout_app):
    """The claim scans from the last claimed due time on (keyset); a delivery that becomes
    due before it — another worker gave it back — is still found before the pass ends."""
    factory = fanout_app.extensions["db_session_factory"]
    with factory() as s:  # another worker holds the first one
        held = s.scalar(select(Delivery.id).order_by(Delivery.next_attempt_at).limit(1))
        s.execute(update(Delivery).where(Delivery.id == held)
                  .values(status="sending", next_attempt_at=utcnow() + timedelta(minutes=5)))
        s.commit()

    class _GivesBackAtTheFifth(_DiesAtSend):
        def send(self, message, *, sender, recipient, event_id):
            super().send(message, sender=sender, recipient=recipient, event_id=event_id)
            if len(self.sent) == 5:
                with factory() as s:
                    s.execute(update(Delivery).where(Delivery.id == held).values(
                        status="pending", next_attempt_at=utcnow() - timedelta(hours=1)))
                    s.commit()

    transport = _GivesBackAtTheFifth(accept=1000)

    assert build_delivery_worker(fanout_app, transport).run_once() == 30

    assert {r.status for r in _rows(fanout_app)} == {"sent"}
    assert len(set(transport.sent)) == 30
