"""Who gets which e-mail, delivery records, idempotency, dead letters and retries
(SQLite, in-process bus, .eml files)."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import func, select

from notifier.app import build_consumer, start_workers
from notifier.deliveries.models import Delivery, ProcessedEvent
from notifier.deliveries.transport import DeliveryRefused
from shared.bus import InProcessBus, Message, PublishError
from shared.consumer import TransientError
from shared.events.types import (
    INITIATIVE_APPROVED,
    INITIATIVE_CHANGES_REQUESTED,
    INITIATIVE_CREATED,
    INITIATIVE_IMPORTED,
    INITIATIVE_REJECTED,
    INITIATIVE_SUBMITTED,
    INITIATIVE_UPDATED,
    TOPIC_INITIATIVES,
    topic_name,
)


@pytest.fixture
def bus(notifier_app):
    """An in-process bus with the notifier subscribed (embedded mode)."""
    bus = InProcessBus()
    workers = start_workers(notifier_app, bus)
    yield bus
    workers.stop()


def _deliveries(app) -> list[Delivery]:
    with app.extensions["db_session_factory"]() as s:
        return list(s.scalars(select(Delivery).order_by(Delivery.created_at)))


def _processed(app) -> int:
    with app.extensions["db_session_factory"]() as s:
        return s.scalar(select(func.count()).select_from(ProcessedEvent))


def test_submission_mails_contact_and_secretariat(notifier_app, bus, make_event, to_message,
                                                  read_mails):
    event = make_event(INITIATIVE_SUBMITTED)

    bus.publish([to_message(event)])

    mails = {m["To"]: m for _, m in read_mails()}
    assert set(mails) == {"contact@example.org", "secretariat@un.example"}
    assert all(m["Subject"] == "Submitted for review: Clean Oceans Alliance"
               for m in mails.values())
    secretariat = mails["secretariat@un.example"].get_body(("html",)).get_content()
    assert f"https://registry.example/api/v1/initiatives/{event.subject}" in secretariat
    rows = _deliveries(notifier_app)
    assert {(r.recipient, r.status, r.channel, r.event_id) for r in rows} == {
        ("contact@example.org", "sent", "email", event.id),
        ("secretariat@un.example", "sent", "email", event.id)}
    assert all(r.sent_at is not None and r.message_id for r in rows)
    assert {r.message_id for r in rows} == {m["Message-ID"] for m in mails.values()}


@pytest.mark.parametrize(("type_", "subject"), [
    (INITIATIVE_APPROVED, "Published: Clean Oceans Alliance (PR-2026-00042)"),
    (INITIATIVE_CHANGES_REQUESTED, "Changes requested: Clean Oceans Alliance"),
    (INITIATIVE_REJECTED, "Not accepted: Clean Oceans Alliance"),
])
def test_review_outcomes_mail_only_the_contact(bus, make_event, to_message, read_mails, type_,
                                               subject):
    bus.publish([to_message(make_event(type_, comment="Reviewed <carefully>."))])

    [(_, mail)] = read_mails()
    assert mail["To"] == "contact@example.org"
    assert mail["Subject"] == subject
    assert "Reviewed <carefully>." in mail.get_body(("plain",)).get_content()
    assert "Reviewed &lt;carefully&gt;." in mail.get_body(("html",)).get_content()


def test_submission_without_contact_mails_only_the_secretariat(bus, make_event, to_message,
                                                               read_mails):
    bus.publish([to_message(make_event(INITIATIVE_SUBMITTED, contact_email=None))])

    assert [m["To"] for _, m in read_mails()] == ["secretariat@un.example"]


def test_approval_without_contact_mails_nobody(notifier_app, bus, make_event, to_message,
                                               read_mails):
    bus.publish([to_message(make_event(INITIATIVE_APPROVED, contact_email=None))])

    assert read_mails() == []
    assert _processed(notifier_app) == 1


def test_secretariat_as_contact_gets_one_mail(bus, make_event, to_message, read_mails):
    bus.publish([to_message(make_event(INITIATIVE_SUBMITTED,
                                       contact_email="Secretariat@UN.example"))])

    assert len(read_mails()) == 1


@pytest.mark.parametrize("type_", [INITIATIVE_CREATED, INITIATIVE_UPDATED, INITIATIVE_IMPORTED])
def test_created_updated_imported_mail_nobody(notifier_app, bus, make_event, to_message,
                                              read_mails, type_):
    bus.publish([to_message(make_event(type_)) for _ in range(20)])

    assert read_mails() == []
    assert _deliveries(notifier_app) == []


def test_same_event_twice_sends_one_mail(notifier_app, bus, make_event, to_message, read_mails):
    message = to_message(make_event(INITIATIVE_APPROVED))

    bus.publish([message])
    bus.publish([message])

    assert len(read_mails()) == 1
    assert len(_deliveries(notifier_app)) == 1
    assert _processed(notifier_app) == 1


def test_invalid_payload_goes_to_the_dead_letter_topic(notifier_app, bus, make_event,
                                                       to_message, read_mails):
    event = make_event(INITIATIVE_SUBMITTED)
    broken = event.to_dict()
    del broken["data"]["initiative"]["title"]

    bus.publish([to_message(broken), to_message(make_event(INITIATIVE_REJECTED))])

    [dead] = bus.dead_letters
    headers = dict(dead.headers)
    assert dead.topic == topic_name(TOPIC_INITIATIVES) + ".dlt"
    assert b"title" in headers["dlt_error"]
    assert headers["dlt_consumer"] == b"notifier"
    assert [m["Subject"] for _, m in read_mails()] == ["Not accepted: Clean Oceans Alliance"]


def test_message_that_is_not_json_goes_to_the_dead_letter_topic(bus, make_event, to_message):
    good = to_message(make_event(INITIATIVE_SUBMITTED))
    bad = Message(topic=good.topic, key=good.key, value=b"{not json", headers=good.headers)

    bus.publish([bad])

    [dead] = bus.dead_letters
    assert dead.value == b"{not json"
    assert b"not JSON" in dict(dead.headers)["dlt_error"]


def test_approval_without_public_id_is_poison(notifier_app, bus, make_event, to_message,
                                             read_mails):
    event = make_event(INITIATIVE_APPROVED)
    broken = event.to_dict()
    broken["data"]["initiative"]["public_id"] = None

    bus.publish([to_message(broken)])

    assert len(bus.dead_letters) == 1
    assert read_mails() == []


def test_undeliverable_contact_address_is_recorded_failed(notifier_app, bus, make_event,
                                                         to_message, read_mails):
    bus.publish([to_message(make_event(INITIATIVE_SUBMITTED,
                                       contact_email="not an address\r\nBcc: x@y.z"))])

    assert [m["To"] for _, m in read_mails()] == ["secretariat@un.example"]
    failed = [d for d in _deliveries(notifier_app) if d.status == "failed"]
    assert [(d.recipient, d.error) for d in failed] == [
        ("not an address\r\nBcc: x@y.z", "undeliverable address")]
    assert _processed(notifier_app) == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_smtp_server_down_is_raised_as_transient(notifier_app, make_event, to_message,
                                                 monkeypatch):
    monkeypatch.setenv("SMTP_URL", f"smtp://127.0.0.1:{_closed_port()}")
    consumer = build_consumer(notifier_app)

    with pytest.raises(TransientError):
        consumer.handle(to_message(make_event(INITIATIVE_APPROVED)), retry_transient=False)

    assert _processed(notifier_app) == 0
    assert _deliveries(notifier_app) == []


def test_smtp_server_down_refuses_the_in_process_delivery(notifier_app, make_event, to_message,
                                                          monkeypatch):
    monkeypatch.setenv("SMTP_URL", f"smtp://127.0.0.1:{_closed_port()}")
    bus = InProcessBus()
    workers = start_workers(notifier_app, bus)

    with pytest.raises(PublishError) as info:
        bus.publish([to_message(make_event(INITIATIVE_APPROVED))])

    workers.stop()
    assert isinstance(info.value.__cause__, TransientError)
    assert bus.dead_letters == []


class _FlakyTransport:
    """Records sends; the first send to ``fail_for`` raises TransientError, or DeliveryRefused."""

    def __init__(self, fail_for: str, refuse: bool = False):
        self.fail_for, self.refuse, self.failed_once = fail_for, refuse, False
        self.sent: list[str] = []

    def send(self, message, *, sender, recipient, event_id):
        if recipient == self.fail_for and self.refuse:
            raise DeliveryRefused("recipient refused: 550 No such user", 550)
        if recipient == self.fail_for and not self.failed_once:
            self.failed_once = True
            raise TransientError("connection reset")
        self.sent.append(recipient)


def test_retry_after_partial_failure_sends_only_what_is_missing(notifier_app, make_event,
                                                                to_message):
    transport = _FlakyTransport(fail_for="secretariat@un.example")
    consumer = build_consumer(notifier_app, transport=transport)
    message = to_message(make_event(INITIATIVE_SUBMITTED))

    with pytest.raises(TransientError):
        consumer.handle(message, retry_transient=False)
    assert [(d.recipient, d.status) for d in _deliveries(notifier_app)] == [
        ("contact@example.org", "sent")]

    consumer.handle(message, retry_transient=False)
    consumer.handle(message, retry_transient=False)

    assert transport.sent == ["contact@example.org", "secretariat@un.example"]
    assert _processed(notifier_app) == 1


def test_refused_recipient_is_recorded_failed_and_not_retried(notifier_app, make_event,
                                                              to_message):
    transport = _FlakyTransport(fail_for="contact@example.org", refuse=True)
    consumer = build_consumer(notifier_app, transport=transport)
    message = to_message(make_event(INITIATIVE_SUBMITTED))

    consumer.handle(message, retry_transient=False)
    consumer.handle(message, retry_transient=False)

    assert transport.sent == ["secretariat@un.example"]
    by_recipient = {d.recipient: d for d in _deliveries(notifier_app)}
    assert by_recipient["contact@example.org"].status == "failed"
    assert "550" in by_recipient["contact@example.org"].error
    assert by_recipient["contact@example.org"].sent_at is None
    assert by_recipient["secretariat@un.example"].status == "sent"
    assert _processed(notifier_app) == 1


def test_logs_while_sending_carry_the_event_id(notifier_app, make_event, to_message):
    from shared.logs import event_id_var

    seen: list[str | None] = []

    class _Spy:
        def send(self, message, *, sender, recipient, event_id):
            seen.append(event_id_var.get())

    event = make_event(INITIATIVE_REJECTED)
    build_consumer(notifier_app, transport=_Spy()).handle(to_message(event))

    assert seen == [event.id]
