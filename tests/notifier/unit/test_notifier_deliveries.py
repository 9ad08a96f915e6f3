"""Who gets which e-mail, the delivery queue (pending -> sending -> sent / failed / dead),
idempotency, dead letters and retries (SQLite, in-process bus, .eml files)."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from notifier.app import build_consumer, build_delivery_worker, start_workers
from notifier.deliveries.models import Delivery, ProcessedEvent
from notifier.deliveries.transport import DeliveryRefused
from notifier.deliveries.worker import DeliveryPolicy
from shared.bus import InProcessBus, Message
from shared.consumer import TransientError
from shared.db import utcnow
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


class _SettlingBus:
    """The in-process bus with the notifier subscribed; ``publish`` returns once the delivery
    worker has sent everything due (the consumer only plans deliveries)."""

    def __init__(self, bus: InProcessBus, app):
        self.bus, self.app = bus, app

    @property
    def dead_letters(self):
        return self.bus.dead_letters

    def publish(self, messages):
        self.bus.publish(messages)
        assert self.app.extensions["notifier_delivery_worker"].wait_idle(30)


@pytest.fixture
def bus(notifier_app):
    """An in-process bus with the notifier (consumer and delivery worker) running."""
    bus = InProcessBus()
    workers = start_workers(notifier_app, bus)
    yield _SettlingBus(bus, notifier_app)
    workers.stop()


def _deliveries(app) -> list[Delivery]:
    with app.extensions["db_session_factory"]() as s:
        return list(s.scalars(select(Delivery).order_by(Delivery.created_at, Delivery.recipient)))


def _processed(app) -> int:
    with app.extensions["db_session_factory"]() as s:
        return s.scalar(select(func.count()).select_from(ProcessedEvent))


def _make_due(app) -> None:
    """Pretend the backoff wait has passed: every pending delivery is due now."""
    with app.extensions["db_session_factory"]() as s:
        s.execute(update(Delivery).where(Delivery.status == "pending")
                  .values(next_attempt_at=utcnow()))
        s.commit()


def test_submission_mails_contact_and_secretariat(notifier_app, bus, make_event, to_message,
                                                  read_mails):
    event = make_event(INITIATIVE_SUBMITTED)

    bus.publish([to_message(event)])

    mails = {m["To"]: m for _, m in read_mails()}
    assert set(mails) == {"contact@example.org", "secretariat@un.example"}
    assert all(m["Subject"] == "Submitted for review: Clean Oceans Alliance"
               for m in mails.values())
    secretariat = mails["secretariat@un.example"].get_body(("html",)).get_content()
    # issue 8: the review page, not the JSON record (which answers 404 in a browser)
    assert f"https://registry.example/secretariat/review/{event.subject}" in secretariat
    assert "/api/v1/" not in secretariat
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



def test_consumer_only_plans_pending_deliveries(notifier_app, make_event, to_message,
                                               read_mails):
    event = make_event(INITIATIVE_SUBMITTED)

    build_consumer(notifier_app).handle(to_message(event))

    assert read_mails() == []  # nothing sent from inside the consumer
    rows = _deliveries(notifier_app)
    assert {(r.recipient, r.status, r.attempts) for r in rows} == {
        ("contact@example.org", "pending", 0), ("secretariat@un.example", "pending", 0)}
    assert all(r.body_text and r.body_html and r.next_attempt_at for r in rows)
    assert _processed(notifier_app) == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_smtp_server_down_acknowledges_the_event_and_schedules_a_retry(notifier_app, make_event,
                                                                       to_message, monkeypatch):
    monkeypatch.setenv("SMTP_URL", f"smtp://127.0.0.1:{_closed_port()}")
    notifier_app.config.update(DELIVERY_BACKOFF_SECONDS=60)

    build_consumer(notifier_app).handle(to_message(make_event(INITIATIVE_APPROVED)),
                                        retry_transient=False)
    before = utcnow()
    assert build_delivery_worker(notifier_app).run_once() == 1

    assert _processed(notifier_app) == 1
    [row] = _deliveries(notifier_app)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "SMTP server unavailable" in row.error
    # first wait: 60 s plus up to 60 s of jitter
    assert before + timedelta(seconds=59) <= row.next_attempt_at
    assert row.next_attempt_at <= utcnow() + timedelta(seconds=121)


def test_smtp_server_down_does_not_refuse_the_in_process_delivery(notifier_app, make_event,
                                                                  to_message, monkeypatch):
    monkeypatch.setenv("SMTP_URL", f"smtp://127.0.0.1:{_closed_port()}")
    bus = InProcessBus()
    workers = start_workers(notifier_app, bus)
    try:
        bus.publish([to_message(make_event(INITIATIVE_APPROVED))])  # no PublishError
        assert notifier_app.extensions["notifier_delivery_worker"].wait_idle(30)
    finally:
        workers.stop()

    assert bus.dead_letters == []
    [row] = _deliveries(notifier_app)
    assert (row.status, row.attempts) == ("pending", 1)


class _FlakyTransport:
    """Records sends; sends to ``fail_for`` raise TransientError ``failures`` times (or always
    DeliveryRefused with ``refuse``)."""

    def __init__(self, fail_for: str, refuse: bool = False, failures: int = 1):
        self.fail_for, self.refuse, self.failures = fail_for, refuse, failures
        self.sent: list[str] = []
        self.tried: list[str] = []

    def send(self, message, *, sender, recipient, event_id):
        self.tried.append(recipient)
        if recipient == self.fail_for and self.refuse:
            raise DeliveryRefused("recipient refused: 550 No such user", 550)
        if recipient == self.fail_for and self.failures > 0:
            self.failures -= 1
            raise TransientError("recipient refused: 450 mailbox busy")
        self.sent.append(recipient)


def test_retry_after_partial_failure_sends_only_what_is_missing(notifier_app, make_event,
                                                                to_message):
    transport = _FlakyTransport(fail_for="secretariat@un.example")
    worker = build_delivery_worker(notifier_app, transport)
    message = to_message(make_event(INITIATIVE_SUBMITTED))
    build_consumer(notifier_app).handle(message, retry_transient=False)

    worker.run_once()
    assert [(d.recipient, d.status) for d in _deliveries(notifier_app)] == [
        ("contact@example.org", "sent"), ("secretariat@un.example", "pending")]
    worker.run_once()  # not due yet: nothing tried
    assert transport.tried == ["contact@example.org", "secretariat@un.example"]

    _make_due(notifier_app)
    build_consumer(notifier_app).handle(message, retry_transient=False)  # redelivered
    worker.run_once()
    worker.run_once()

    assert transport.sent == ["contact@example.org", "secretariat@un.example"]
    assert {d.status for d in _deliveries(notifier_app)} == {"sent"}
    assert _processed(notifier_app) == 1


def test_refused_recipient_is_recorded_failed_and_not_retried(notifier_app, make_event,
                                                              to_message):
    transport = _FlakyTransport(fail_for="contact@example.org", refuse=True)
    worker = build_delivery_worker(notifier_app, transport)
    message = to_message(make_event(INITIATIVE_SUBMITTED))

    build_consumer(notifier_app).handle(message, retry_transient=False)
    build_consumer(notifier_app).handle(message, retry_transient=False)
    worker.run_once()
    _make_due(notifier_app)
    worker.run_once()

    assert transport.sent == ["secretariat@un.example"]
    assert transport.tried.count("contact@example.org") == 1
    by_recipient = {d.recipient: d for d in _deliveries(notifier_app)}
    assert by_recipient["contact@example.org"].status == "failed"
    assert "550" in by_recipient["contact@example.org"].error
    assert by_recipient["contact@example.org"].sent_at is None
    assert by_recipient["secretariat@un.example"].status == "sent"
    assert _processed(notifier_app) == 1


def test_temporary_failures_end_dead_after_max_attempts(notifier_app, make_event, to_message):
    notifier_app.config.update(DELIVERY_MAX_ATTEMPTS=3)
    transport = _FlakyTransport(fail_for="contact@example.org", failures=100)
    worker = build_delivery_worker(notifier_app, transport)
    build_consumer(notifier_app).handle(to_message(make_event(INITIATIVE_APPROVED)))

    statuses = []
    for _ in range(5):
        worker.run_once()
        statuses.append(_deliveries(notifier_app)[0].status)
        _make_due(notifier_app)

    assert statuses == ["pending", "pending", "dead", "dead", "dead"]
    [row] = _deliveries(notifier_app)
    assert row.attempts == 3 and "450" in row.error and row.next_attempt_at is None
    assert transport.tried == ["contact@example.org"] * 3


@pytest.mark.parametrize("attempt", [1, 2, 3, 8, 20])
def test_backoff_is_exponential_with_bounded_jitter(attempt):
    policy = DeliveryPolicy(backoff_seconds=10, backoff_max_seconds=600)

    delays = [policy.delay(attempt) for _ in range(50)]

    low = min(600, 10 * 2 ** (attempt - 1))
    assert all(low <= d <= min(600, low + 10) for d in delays)
    if low + 10 <= 600:
        assert len(set(delays)) > 1  # jitter


def test_expired_claim_is_sent_again_with_the_same_message_id(notifier_app, make_event,
                                                              to_message, read_mails):
    """The documented at-least-once window: a worker that died after claiming (maybe after the
    server accepted) leaves ``sending``; once the claim expires the message goes out again
    with the same Message-ID, so the receiver can drop the duplicate."""
    build_consumer(notifier_app).handle(to_message(make_event(INITIATIVE_APPROVED)))
    worker = build_delivery_worker(notifier_app)
    worker.run_once()
    [first] = read_mails()
    with notifier_app.extensions["db_session_factory"]() as s:  # as if it crashed pre-commit
        s.execute(update(Delivery).values(status="sending", next_attempt_at=utcnow()))
        s.commit()

    worker.run_once()

    mails = read_mails()
    assert len(mails) == 2 and mails[1][1]["Message-ID"] == first[1]["Message-ID"]
    [row] = _deliveries(notifier_app)
    assert (row.status, row.attempts) == ("sent", 2)


def test_a_live_claim_is_not_sent_twice(notifier_app, make_event, to_message, read_mails):
    build_consumer(notifier_app).handle(to_message(make_event(INITIATIVE_APPROVED)))
    with notifier_app.extensions["db_session_factory"]() as s:  # another worker is sending it
        s.execute(update(Delivery).values(status="sending",
                                          next_attempt_at=utcnow() + timedelta(minutes=5)))
        s.commit()

    assert build_delivery_worker(notifier_app).run_once() == 0
    assert read_mails() == []


def test_unstorable_characters_are_removed_before_storing(notifier_app, bus, make_event,
                                                          to_message, read_mails):
    message = to_message(make_event(INITIATIVE_REJECTED, title="Reefs\x00 SURROGATEand\x1b more",
                                    comment="Out of\x00 scope."))
    # a lone surrogate, as a producer with ensure_ascii JSON can send it
    bus.publish([Message(topic=message.topic, key=message.key, headers=message.headers,
                         value=message.value.replace(b"SURROGATE", b"\\ud800"))])

    [(_, mail)] = read_mails()
    assert mail["Subject"] == "Not accepted: Reefs and more"
    assert "Out of scope." in mail.get_body(("plain",)).get_content()
    [row] = _deliveries(notifier_app)
    assert row.status == "sent" and "\x00" not in row.body_text + row.body_html + row.subject


def test_logs_while_sending_carry_the_event_id(notifier_app, make_event, to_message):
    from shared.logs import event_id_var

    seen: list[str | None] = []

    class _Spy:
        def send(self, message, *, sender, recipient, event_id):
            seen.append(event_id_var.get())

    event = make_event(INITIATIVE_REJECTED)
    build_consumer(notifier_app).handle(to_message(event))
    build_delivery_worker(notifier_app, _Spy()).run_once()

    assert seen == [event.id]


def test_deliveries_list_and_retry_commands(notifier_app, make_event, to_message, monkeypatch,
                                            sqlite_url):
    from notifier.cli import cli

    notifier_app.config.update(DELIVERY_MAX_ATTEMPTS=1)
    build_consumer(notifier_app).handle(to_message(make_event(INITIATIVE_SUBMITTED)))
    transport = _FlakyTransport(fail_for="contact@example.org", failures=1)
    build_delivery_worker(notifier_app, transport).run_once()
    by_recipient = {d.recipient: d for d in _deliveries(notifier_app)}
    dead, sent = by_recipient["contact@example.org"], by_recipient["secretariat@un.example"]
    assert dead.status == "dead"
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", sqlite_url)
    runner = notifier_app.test_cli_runner()

    listed = runner.invoke(cli, ["deliveries", "list", "--status", "dead"])
    assert listed.exit_code == 0, listed.output
    assert str(dead.id) in listed.output and str(sent.id) not in listed.output
    assert "450 mailbox busy" in listed.output
    assert runner.invoke(cli, ["deliveries", "list", "--status", "nope"]).exit_code == 2

    refused = runner.invoke(cli, ["deliveries", "retry", str(sent.id)])
    assert refused.exit_code == 1 and "sent: not retried" in refused.output
    assert runner.invoke(cli, ["deliveries", "retry", "not-a-uuid"]).exit_code == 1
    retried = runner.invoke(cli, ["deliveries", "retry", str(dead.id)])
    assert retried.exit_code == 0, retried.output

    build_delivery_worker(notifier_app, transport).run_once()
    assert transport.sent == ["secretariat@un.example", "contact@example.org"]
    assert {d.status for d in _deliveries(notifier_app)} == {"sent"}


def test_the_worker_is_woken_by_the_consumers_commit(notifier_app, make_event, to_message,
                                                     read_mails):
    """With a poll of a minute, only the wake-up on commit can send within seconds."""
    import time

    notifier_app.config.update(DELIVERY_POLL_SECONDS=60)
    bus = InProcessBus()
    workers = start_workers(notifier_app, bus)
    try:
        worker = notifier_app.extensions["notifier_delivery_worker"]
        assert worker.wait_idle(30)  # its first pass is over: it sleeps for up to 60 s now
        bus.publish([to_message(make_event(INITIATIVE_APPROVED))])
        deadline = time.monotonic() + 10
        while not read_mails() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        workers.stop()

    assert len(read_mails()) == 1


def test_a_batch_with_a_poison_event_and_a_replay_plans_each_delivery_once(
        notifier_app, make_event, to_message):
    """The consumer applies a polled batch in one transaction (``atomic_batches``): a poison
    event rolls the batch back, the good events are applied again without it, and the same
    batch delivered again (a crash before the offset commit) plans nothing more."""
    dead: list[Message] = []
    consumer = build_consumer(notifier_app)
    consumer.dead_letter = dead.extend
    assert consumer.atomic_batches
    submitted = to_message(make_event(INITIATIVE_SUBMITTED, contact_email="a@example.org"))
    poison = make_event(INITIATIVE_APPROVED, contact_email="p@example.org").to_dict()
    poison["data"]["initiative"]["public_id"] = None  # approvals always carry one
    approved = to_message(make_event(INITIATIVE_APPROVED, contact_email="b@example.org"))
    batch = [submitted, to_message(poison), approved, submitted]

    consumer.handle_batch(batch)
    consumer.handle_batch(batch)

    planned = sorted((d.recipient, d.template) for d in _deliveries(notifier_app))
    assert planned == [("a@example.org", "submitted_contact"), ("b@example.org", "approved"),
                       ("secretariat@un.example", "submitted_secretariat")]
    assert _processed(notifier_app) == 2
    assert [dict(m.headers)["dlt_reason"] for m in dead] == [b"poison", b"poison"]


class _Killed(BaseException):
    """Stands for kill -9: nothing after it runs (not an ``Exception``, so no handler)."""


class _DiesMidSend:
    def send(self, message, *, sender, recipient, event_id):
        raise _Killed


def test_a_killed_worker_leaves_only_the_delivery_in_flight_claimed(notifier_app, make_event,
                                                                    to_message, read_mails):
    """kill -9 mid-send: only the delivery being sent waits for its claim to expire; the
    others are still pending, so a restarted (or another) notifier sends them at once."""
    build_consumer(notifier_app).handle(to_message(make_event(INITIATIVE_SUBMITTED)))

    with pytest.raises(_Killed):
        build_delivery_worker(notifier_app, transport=_DiesMidSend()).run_once()

    rows = _deliveries(notifier_app)
    assert sorted(r.status for r in rows) == ["pending", "sending"]
    assert build_delivery_worker(notifier_app).run_once() == 1  # the restarted notifier
    [(_, mail)] = read_mails()
    [pending] = [r for r in rows if r.status == "pending"]
    assert mail["To"] == pending.recipient


def test_stopping_while_the_database_does_not_answer_logs_the_accepted_delivery(
        notifier_app, make_event, to_message, read_mails, monkeypatch, caplog):
    """After the SMTP server accepted, writing ``sent`` is tried until the database answers;
    only the worker's stop event ends that, with an error naming the delivery."""
    import threading

    from sqlalchemy.exc import OperationalError

    from notifier.deliveries import worker as worker_module

    build_consumer(notifier_app).handle(to_message(make_event(INITIATIVE_APPROVED)))
    tries: list[str] = []

    def database_down(conn, delivery_id, **_kw):
        tries.append(str(delivery_id))
        if len(tries) == 3:
            stop.set()
        raise OperationalError("UPDATE deliveries", {}, Exception("server closed the connection"))

    monkeypatch.setattr(worker_module, "record_sent", database_down)
    stop = threading.Event()

    with pytest.raises(OperationalError):
        build_delivery_worker(notifier_app).run_once(stop)

    assert len(read_mails()) == 1 and len(tries) == 3
    [row] = _deliveries(notifier_app)
    [error] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "ACCEPTED" in error.getMessage() and error.delivery_id == str(row.id) == tries[0]


def test_an_accepted_email_is_recorded_sent_once_the_database_answers_again(
        notifier_app, make_event, to_message, read_mails, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from notifier.deliveries import worker as worker_module
    from notifier.deliveries.service import record_sent

    build_consumer(notifier_app).handle(to_message(make_event(INITIATIVE_APPROVED)))
    tries: list[int] = []

    def down_twice(conn, delivery_id, **kw):
        tries.append(1)
        if len(tries) <= 2:
            raise OperationalError("UPDATE deliveries", {}, Exception("connection refused"))
        record_sent(conn, delivery_id, **kw)

    monkeypatch.setattr(worker_module, "record_sent", down_twice)

    assert build_delivery_worker(notifier_app).run_once() == 1

    [row] = _deliveries(notifier_app)
    assert (row.status, row.attempts, len(tries), len(read_mails())) == ("sent", 1, 3, 1)
