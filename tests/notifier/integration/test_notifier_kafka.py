"""The notifier against the real stack: Kafka consumer group, PostgreSQL, aiosmtpd SMTP —
including the delivery faults of issue 6 (a 450 recipient, a NUL in a title, redelivery and
DLT replay of events already delivered)."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import func, select

from notifier.app import build_consumer, build_delivery_worker, create_app, start_workers
from notifier.deliveries.models import Delivery, ProcessedEvent
from shared import migrate
from shared.bus import KafkaPublisher, Message, ensure_topics
from shared.dlt import replay_dead_letters
from shared.events.types import (
    INITIATIVE_APPROVED,
    INITIATIVE_IMPORTED,
    INITIATIVE_REJECTED,
    INITIATIVE_SUBMITTED,
    TOPIC_INITIATIVES,
    topic_name,
)
from shared.runtime import group_id

# kafka-python loads its protocol schemas with importlib.resources' legacy API; the warning is
# attributed to importlib itself, so pyproject's "kafka.*" filter misses it
pytestmark = pytest.mark.filterwarnings(
    "ignore:(open_text|read_text) is deprecated:DeprecationWarning")

SETTINGS = {"SECRETARIAT_EMAIL": "secretariat@un.example",
            "PUBLIC_BASE_URL": "https://registry.example",
            "MAIL_FROM": "Partnership Registry <noreply@registry.example>"}


@pytest.fixture
def notifier_db(pg_url):
    """A PostgreSQL database migrated to the notifier's head."""
    migrate.upgrade("notifier", pg_url)
    return pg_url


@pytest.fixture
def smtp_env(smtp_server, monkeypatch):
    """SMTP_URL pointing at the real aiosmtpd server, plus the mail settings."""
    monkeypatch.setenv("SMTP_URL", smtp_server.url)
    for name, value in SETTINGS.items():
        monkeypatch.setenv(name, value)
    return smtp_server


@pytest.fixture
def app(notifier_db, kafka_env, smtp_env):
    app = create_app({"DATABASE_URL": notifier_db})
    yield app
    app.extensions["db_engine"].dispose()


@pytest.fixture
def publisher(kafka_env):
    publisher = KafkaPublisher(kafka_env, client_id="notifier-tests")
    yield publisher
    publisher.close()


def _deliveries(app) -> list[Delivery]:
    with app.extensions["db_session_factory"]() as s:
        return list(s.scalars(select(Delivery)))


def test_review_mails_arrive_once_and_offsets_are_committed(app, publisher, smtp_env,
                                                            make_event, to_message):
    initiative_id = str(uuid.uuid4())
    submitted = make_event(INITIATIVE_SUBMITTED, initiative_id=initiative_id,
                           title="Mangroves <for> Kenya")
    imported = make_event(INITIATIVE_IMPORTED, initiative_id=initiative_id)
    approved = make_event(INITIATIVE_APPROVED, initiative_id=initiative_id,
                          title="Mangroves <for> Kenya", comment="Well documented.")
    workers = start_workers(app)
    try:
        # one key -> one partition -> processed in this order; the approval arrives last, so
        # once it is here the duplicate submission has been handled too
        publisher.publish([to_message(submitted), to_message(imported), to_message(submitted)])
        publisher.publish([to_message(approved)])

        messages = smtp_env.wait_for(3)
        assert app.extensions["notifier_delivery_worker"].wait_idle(30)
    finally:
        workers.stop()

    assert len(smtp_env.messages) == 3
    by_subject = {}
    for msg in smtp_env.messages:
        by_subject.setdefault(msg["Subject"], []).append(msg)
    assert sorted(m["To"] for m in by_subject["Submitted for review: Mangroves <for> Kenya"]) == [
        "contact@example.org", "secretariat@un.example"]
    [published] = by_subject["Published: Mangroves <for> Kenya (PR-2026-00042)"]
    assert published["To"] == "contact@example.org"
    assert published["Auto-Submitted"] == "auto-generated"
    text = published.get_body(("plain",)).get_content()
    html = published.get_body(("html",)).get_content()
    assert "https://registry.example/initiatives/PR-2026-00042" in text
    assert "Well documented." in text and "Well documented." in html
    assert "Mangroves &lt;for&gt; Kenya" in html and "<for>" not in html
    assert sorted(rcpts[0] for _, rcpts in smtp_env.envelopes) == [
        "contact@example.org", "contact@example.org", "secretariat@un.example"]
    assert {m["Message-ID"] for m in messages} == {d.message_id for d in _deliveries(app)}
    assert all(d.status == "sent" for d in _deliveries(app))

    # offsets were committed: the same group id gets nothing old
    from kafka import KafkaConsumer

    kc = KafkaConsumer(topic_name(TOPIC_INITIATIVES), bootstrap_servers=app_servers(),
                       group_id=group_id("notifier"), enable_auto_commit=False,
                       auto_offset_reset="earliest")
    try:
        seen = []
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            for batch in kc.poll(timeout_ms=500).values():
                seen.extend(batch)
        assert kc.assignment(), "the check consumer never joined the group"
    finally:
        kc.close()
    assert seen == []


def app_servers() -> list[str]:
    from shared.config import kafka_bootstrap_servers

    return kafka_bootstrap_servers() or []


def test_malformed_message_goes_to_the_dlt_and_the_next_event_is_processed(read_topic,
        app, publisher, smtp_env, kafka_env, make_event, to_message):
    good = make_event(INITIATIVE_REJECTED, comment="Out of scope.")
    template = to_message(good)
    malformed = Message(topic=template.topic, key=template.key, value=b"\xff not json",
                        headers=template.headers)
    invalid_data = good.to_dict()
    invalid_data["id"] = str(uuid.uuid4())
    invalid_data["data"]["to_status"] = "deleted"
    workers = start_workers(app)
    try:
        publisher.publish([malformed, to_message(invalid_data), template])
        [mail] = smtp_env.wait_for(1)
    finally:
        workers.stop()

    assert mail["Subject"] == "Not accepted: Clean Oceans Alliance"
    dead = read_topic(kafka_env, topic_name(TOPIC_INITIATIVES) + ".dlt", 2)
    assert [r.value for r in dead] == [b"\xff not json", to_message(invalid_data).value]
    headers = [dict(r.headers) for r in dead]
    assert b"not JSON" in headers[0]["dlt_error"]
    assert b"to_status" in headers[1]["dlt_error"]
    assert all(h["dlt_consumer"] == b"notifier" for h in headers)
    assert all(h["dlt_original_topic"] == topic_name(TOPIC_INITIATIVES).encode()
               for h in headers)


def _dead_letter(message: Message, consumer: str) -> Message:
    return Message(topic=message.topic + ".dlt", key=message.key, value=message.value,
                   headers=message.headers + [
                       ("dlt_error", b"simulated"), ("dlt_consumer", consumer.encode()),
                       ("dlt_original_topic", message.topic.encode()),
                       ("dlt_original_partition", b"0"), ("dlt_original_offset", b"7")])


def test_dlt_replay_rehandles_the_notifiers_dead_letters(app, publisher, smtp_env, kafka_env,
                                                         make_event, to_message):
    topic = topic_name(TOPIC_INITIATIVES)
    ensure_topics(kafka_env, [topic, topic + ".dlt"], partitions=1)
    good = to_message(make_event(INITIATIVE_APPROVED))
    bad = Message(topic=topic, key=good.key, value=b"[]", headers=good.headers)
    others = to_message(make_event(INITIATIVE_REJECTED))
    publisher.publish([_dead_letter(good, "notifier"), _dead_letter(bad, "notifier"),
                       _dead_letter(others, "reporting")])
    from notifier.cli import cli

    # the command runs on this test's app (whose engine the fixture disposes)
    result = app.test_cli_runner().invoke(cli, ["dlt", "replay", "--timeout", "30"])

    assert result.exit_code == 0, result.output
    assert "replayed 1, failed again 1, skipped 1" in result.output
    assert smtp_env.messages == []  # the replay only planned the delivery; the worker sends
    assert build_delivery_worker(app).run_once() == 1
    [mail] = smtp_env.wait_for(1)
    assert mail["Subject"] == "Published: Clean Oceans Alliance (PR-2026-00042)"
    # the replay group committed its progress: only the letter that failed again is new
    again = replay_dead_letters(build_consumer(app), kafka_env, TOPIC_INITIATIVES, timeout=30)
    assert (again.replayed, again.failed, again.skipped) == (0, 1, 0)
    everything = replay_dead_letters(build_consumer(app), kafka_env, TOPIC_INITIATIVES,
                                     from_beginning=True, timeout=30)
    assert (everything.replayed, everything.failed, everything.skipped) == (1, 3, 1)
    assert build_delivery_worker(app).run_once() == 0
    assert len(smtp_env.messages) == 1  # the replayed approval was already processed
    with app.extensions["db_session_factory"]() as s:
        assert s.scalar(select(func.count()).select_from(Delivery)) == 1


def _wait_until(predicate, timeout: float = 60.0, interval: float = 0.1):
    """Poll ``predicate`` until it returns a truthy value or ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def _by_recipient(app) -> dict[str, Delivery]:
    return {d.recipient: d for d in _deliveries(app)}


@pytest.fixture
def busy_app(notifier_db, kafka_env, busy_smtp_server, monkeypatch):
    """The notifier on PostgreSQL and Kafka, mailing through the server that answers 450 for
    busy@example.org; small retry settings: 3 attempts, waits of 3-6 s then 6-9 s."""
    monkeypatch.setenv("SMTP_URL", busy_smtp_server.url)
    for name, value in SETTINGS.items():
        monkeypatch.setenv(name, value)
    app = create_app({"DATABASE_URL": notifier_db, "DELIVERY_MAX_ATTEMPTS": 3,
                      "DELIVERY_BACKOFF_SECONDS": 3, "DELIVERY_POLL_SECONDS": 1})
    yield app
    app.extensions["db_engine"].dispose()


def test_a_450_recipient_does_not_hold_up_fifty_others_and_ends_dead(
        busy_app, busy_smtp_server, publisher, make_event, to_message):
    smtp = busy_smtp_server
    busy = make_event(INITIATIVE_APPROVED, contact_email="busy@example.org")
    others = [make_event(INITIATIVE_APPROVED, contact_email=f"c{i}@example.org")
              for i in range(50)]
    workers = start_workers(busy_app)
    try:
        publisher.publish([to_message(busy)])  # the refused one comes first
        publisher.publish([to_message(e) for e in others])
        started = time.monotonic()
        arrived = smtp.wait_for(50, timeout=60)
        took = time.monotonic() - started
        # the 50 arrived while the busy delivery was still waiting for its later attempts
        busy_row = _by_recipient(busy_app)["busy@example.org"]
        assert len(arrived) == 50, f"only {len(arrived)} of 50 arrived"
        assert busy_row.status == "pending" and busy_row.attempts < 3
        dead = _wait_until(lambda: (d := _by_recipient(busy_app)["busy@example.org"])
                           .status == "dead" and d, timeout=60)
    finally:
        workers.stop()

    print(f"50 e-mails arrived {took:.2f} s after publishing beside a 450 recipient")
    assert dead, "the 450 delivery never ended dead"
    assert dead.attempts == 3 and "450" in dead.error and dead.sent_at is None
    assert len(smtp.refused_at) == 3  # bounded: exactly max attempts, then no more
    gaps = [b - a for a, b in zip(smtp.refused_at, smtp.refused_at[1:], strict=False)]
    assert gaps[0] >= 3.0 and gaps[1] >= 6.0, gaps  # exponential backoff: 3-6 s, 6-9 s
    assert sorted(m["To"] for m in smtp.messages) == sorted(f"c{i}@example.org"
                                                            for i in range(50))
    rows = _by_recipient(busy_app)
    assert sum(d.status == "sent" for d in rows.values()) == 50


def _marker_after(publisher, make_event, to_message, smtp, initiative_id: str, count: int):
    """Publish a rejection on the same key (so the same partition, processed after what came
    before) to a marker address and wait until ``count`` messages arrived in total."""
    marker = make_event(INITIATIVE_REJECTED, initiative_id=initiative_id,
                        contact_email="marker@example.org")
    publisher.publish([to_message(marker)])
    return smtp.wait_for(count)


def test_a_nul_in_the_title_is_stored_and_sent_exactly_once(app, publisher, smtp_env,
                                                            make_event, to_message):
    event = make_event(INITIATIVE_APPROVED, title="Mangroves\x00 for Kenya")
    workers = start_workers(app)
    try:
        publisher.publish([to_message(event)])
        smtp_env.wait_for(1)
        messages = _marker_after(publisher, make_event, to_message, smtp_env,
                                 event.subject, 2)
        assert app.extensions["notifier_delivery_worker"].wait_idle(30)
    finally:
        workers.stop()

    subjects = sorted(m["Subject"] for m in messages)
    assert subjects == ["Not accepted: Clean Oceans Alliance",
                        "Published: Mangroves for Kenya (PR-2026-00042)"]
    assert len(smtp_env.messages) == 2
    row = _by_recipient(app)["contact@example.org"]
    assert row.status == "sent" and row.attempts == 1
    assert row.subject == "Published: Mangroves for Kenya (PR-2026-00042)"
    with app.extensions["db_session_factory"]() as s:
        assert s.scalar(select(func.count()).select_from(ProcessedEvent)) == 2


def test_a_redelivered_event_adds_no_delivery_and_sends_nothing(app, publisher, smtp_env,
                                                                make_event, to_message):
    event = make_event(INITIATIVE_APPROVED)
    workers = start_workers(app)
    try:
        publisher.publish([to_message(event)])
        smtp_env.wait_for(1)
        publisher.publish([to_message(event)])  # the same event id again
        _marker_after(publisher, make_event, to_message, smtp_env, event.subject, 2)
        assert app.extensions["notifier_delivery_worker"].wait_idle(30)
    finally:
        workers.stop()

    assert sorted(m["To"] for m in smtp_env.messages) == ["contact@example.org",
                                                          "marker@example.org"]
    assert len(_deliveries(app)) == 2


def test_dlt_replay_of_a_delivered_event_sends_nothing(app, publisher, smtp_env, kafka_env,
                                                       make_event, to_message):
    topic = topic_name(TOPIC_INITIATIVES)
    ensure_topics(kafka_env, [topic, topic + ".dlt"], partitions=1)
    message = to_message(make_event(INITIATIVE_APPROVED))
    workers = start_workers(app)
    try:
        publisher.publish([message])
        smtp_env.wait_for(1)
        assert app.extensions["notifier_delivery_worker"].wait_idle(30)
    finally:
        workers.stop()
    publisher.publish([_dead_letter(message, "notifier")])
    from notifier.cli import cli

    result = app.test_cli_runner().invoke(cli, ["dlt", "replay", "--timeout", "30"])

    assert result.exit_code == 0, result.output
    assert "replayed 1, failed again 0" in result.output
    assert build_delivery_worker(app).run_once() == 0
    assert len(smtp_env.messages) == 1
    assert [d.status for d in _deliveries(app)] == ["sent"]


def test_two_workers_never_send_the_same_delivery(notifier_db, smtp_env, make_event,
                                                  to_message):
    """Two workers (as two notifier processes would) claim with FOR UPDATE SKIP LOCKED: every
    delivery is sent once, by one of them."""
    import threading

    app = create_app({"DATABASE_URL": notifier_db})
    try:
        consumer = build_consumer(app)
        for i in range(60):
            consumer.handle(to_message(make_event(INITIATIVE_APPROVED,
                                                  contact_email=f"w{i}@example.org")))
        workers = [build_delivery_worker(app) for _ in range(2)]
        tried = [0, 0]
        start = threading.Barrier(2)

        def run(k: int) -> None:
            start.wait()
            tried[k] = workers[k].run_once()

        threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        messages = smtp_env.wait_for(60)
        rows = _deliveries(app)
    finally:
        app.extensions["db_engine"].dispose()

    assert sum(tried) == 60, tried  # together they tried each delivery exactly once
    assert len(messages) == 60 and len({m["Message-ID"] for m in messages}) == 60
    assert {(d.status, d.attempts) for d in rows} == {("sent", 1)}
