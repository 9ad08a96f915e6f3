"""The transactional outbox relay and the idempotent consumer, on SQLite with the in-process
bus (the embedded mode's path; Kafka and PostgreSQL are covered in the integration tests)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from contextlib import closing
from datetime import UTC, datetime

import pytest
from sqlalchemy import String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.bus import InProcessBus, Message, PublishError
from shared.consumer import EventConsumer, PoisonEvent, ProcessedEventMixin, TransientError
from shared.db import make_engine, make_session_factory, new_metadata
from shared.events import event_to_message, new_event, topic_name
from shared.events.types import (
    INITIATIVE_APPROVED,
    ORGANIZATION_CREATED,
    TOPIC_ORGANIZATIONS,
    dump_data,
)
from shared.outbox import OutboxMixin, OutboxRelay, record_event


class Base(DeclarativeBase):
    metadata = new_metadata()


class Outbox(OutboxMixin, Base):
    __tablename__ = "test_outbox"


class Processed(ProcessedEventMixin, Base):
    __tablename__ = "test_processed_events"


class Effect(Base):
    """What the test consumer does: one row per applied event."""

    __tablename__ = "test_effects"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))


def _factory(path):
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    factory = make_session_factory(engine)
    factory.path = path
    return engine, factory


@pytest.fixture
def factory(tmp_path):
    """Sessions on the producer's database (a SQLite file)."""
    engine, factory = _factory(tmp_path / "producer.db")
    yield factory
    engine.dispose()


@pytest.fixture
def consumer_factory(tmp_path):
    """Sessions on a consumer's own database (each service owns its tables)."""
    engine, factory = _factory(tmp_path / "consumer.db")
    yield factory
    engine.dispose()


def org_data(name: str) -> dict:
    return {"organization": {"id": str(uuid.uuid4()), "name": name, "acronym": None,
                             "stakeholder_group": "ngo", "country": None}}


def _record(factory, names: list[str], subject: str = "agg-1") -> list[dict]:
    with factory() as s:
        events = [record_event(s, Outbox, ORGANIZATION_CREATED, source="/test", subject=subject,
                               data=org_data(n)) for n in names]
        s.commit()
    return events


def _rows(factory) -> list[Outbox]:
    with factory() as s:
        return list(s.scalars(select(Outbox).order_by(Outbox.seq)))


def test_record_event_writes_a_structured_cloudevent_in_the_callers_transaction(factory):
    with factory() as s:
        event = record_event(s, Outbox, ORGANIZATION_CREATED, source="/test", subject="o-1",
                             data=org_data("Reef NGO"))
        s.rollback()  # the caller's transaction fails: no event either
    assert _rows(factory) == []
    (stored,) = _record(factory, ["Reef NGO"], subject="o-1")
    row = _rows(factory)[0]
    assert row.event_id == stored["id"] != event["id"]
    assert row.topic == TOPIC_ORGANIZATIONS and row.event_type == ORGANIZATION_CREATED
    assert row.envelope == stored and row.published_at is None and row.attempts == 0
    with factory() as s, pytest.raises(KeyError):
        record_event(s, Outbox, "org.partnership-registry.nope.v1", source="/t", subject="x",
                     data={})


def test_relay_publishes_in_order_and_marks_rows_only_after_acknowledgement(factory):
    _record(factory, [f"Org {i}" for i in range(5)])
    bus = InProcessBus()
    seen: list[tuple[str, object]] = []

    def consumer(msg: Message):
        # at delivery time the row is not yet marked as published
        event_id = dict(msg.headers)["ce_id"].decode()
        # a plain reader beside the relay's write transaction (WAL readers never wait)
        with closing(sqlite3.connect(factory.path)) as conn:
            (published,) = conn.execute("SELECT published_at FROM test_outbox WHERE event_id = ?",
                                        (event_id,)).fetchone()
        seen.append((event_id, published))

    bus.subscribe("g", [topic_name(TOPIC_ORGANIZATIONS)], consumer)
    relay = OutboxRelay(factory, Outbox, bus, batch_size=2)
    assert relay.drain() == 5
    rows = _rows(factory)
    assert [e for e, _ in seen] == [r.event_id for r in rows]
    assert all(published is None for _, published in seen)
    assert all(r.published_at is not None and r.attempts == 1 for r in rows)
    assert relay.relay_once() == 0  # nothing twice
    assert len(seen) == 5


def test_message_carries_key_headers_and_json_data(factory, monkeypatch):
    monkeypatch.setenv("KAFKA_TOPIC_PREFIX", "pfx.")
    (event,) = _record(factory, ["Keyed"], subject="aggregate-42")
    got: list[Message] = []
    bus = InProcessBus()
    bus.subscribe("g", ["pfx.registry.organizations"], got.append)
    OutboxRelay(factory, Outbox, bus).relay_once()
    (msg,) = got
    key, headers, value = event_to_message(event)
    assert (msg.key, msg.headers, msg.value) == (key, headers, value)
    assert msg.key == b"aggregate-42"


def test_a_failing_subscriber_leaves_the_row_unpublished_and_a_retry_succeeds(factory):
    _record(factory, ["First", "Second", "Third"])
    bus = InProcessBus()
    broken = {"on": True}
    delivered: list[str] = []

    def flaky(msg: Message):
        name = json.loads(msg.value)["organization"]["name"]
        if broken["on"] and name == "Second":
            raise RuntimeError("mail server down")
        delivered.append(name)

    bus.subscribe("notifier", [topic_name(TOPIC_ORGANIZATIONS)], flaky)
    relay = OutboxRelay(factory, Outbox, bus)
    assert relay.relay_once() == 1
    first, second, third = _rows(factory)
    assert first.published_at is not None
    assert second.published_at is None and second.attempts == 1
    assert "notifier" in second.last_error and "mail server down" in second.last_error
    assert third.published_at is None and third.attempts == 0
    assert relay.relay_once() == 0  # still failing: nothing skips ahead of it
    assert _rows(factory)[1].attempts == 2
    assert delivered == ["First"]

    broken["on"] = False
    assert relay.drain() == 2
    assert delivered == ["First", "Second", "Third"]
    assert all(r.published_at is not None for r in _rows(factory))
    assert _rows(factory)[1].attempts == 3


def test_in_process_bus_reports_how_many_were_acknowledged():
    bus = InProcessBus()

    def refuse_second(msg):
        if msg.value == b"2":
            raise ValueError("no")

    bus.subscribe("g", ["t"], refuse_second)
    with pytest.raises(PublishError) as exc:
        bus.publish([Message("t", b"k", b"1"), Message("t", b"k", b"2"),
                     Message("t", b"k", b"3")])
    assert exc.value.acknowledged == 1
    bus.publish([Message("t.dlt", b"k", b"x")])  # no subscriber: kept
    assert [m.value for m in bus.dead_letters] == [b"x"]


# -- consumer ----------------------------------------------------------------------------------
def _effect_handler(session, event, data):
    session.add(Effect(event_id=event.id, name=data["organization"]["name"]))


def _consumer(factory, handlers=None, dead=None, **kw) -> EventConsumer:
    return EventConsumer("test-consumer", factory, Processed,
                         handlers or {ORGANIZATION_CREATED: _effect_handler},
                         [TOPIC_ORGANIZATIONS], dead_letter=dead, backoff=0, **kw)


def _msg(type_=ORGANIZATION_CREATED, data=None, topic="registry.organizations") -> Message:
    event = new_event(type_, source="/test", subject="s-1",
                      data=data if data is not None else org_data("Reef NGO")).to_dict()
    key, headers, value = event_to_message(event)
    return Message(topic=topic, key=key, value=value, headers=headers, partition=0, offset=7)


def _count(factory, model) -> int:
    with factory() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_the_same_event_twice_has_one_effect(factory):
    consumer = _consumer(factory)
    msg = _msg()
    consumer.handle(msg)
    consumer.handle(msg)
    assert _count(factory, Effect) == 1 and _count(factory, Processed) == 1
    with factory() as s:
        processed = s.scalar(select(Processed))
        assert processed.consumer == "test-consumer"
        assert processed.event_id == dict(msg.headers)["ce_id"].decode()
    # another event with the same content is a new event
    consumer.handle(_msg())
    assert _count(factory, Effect) == 2


def test_an_effect_that_fails_is_rolled_back_with_its_processed_row(factory):
    calls = {"n": 0}

    def half_then_fail(session, event, data):
        calls["n"] += 1
        session.add(Effect(event_id=event.id, name="half"))
        session.flush()
        if calls["n"] == 1:
            raise TransientError("SMTP down")

    consumer = _consumer(factory, {ORGANIZATION_CREATED: half_then_fail})
    msg = _msg()
    with pytest.raises(TransientError):
        consumer.handle(msg, retry_transient=False)
    assert _count(factory, Effect) == 0 and _count(factory, Processed) == 0
    consumer.handle(msg, retry_transient=False)  # the redelivery is the retry
    assert _count(factory, Effect) == 1 and _count(factory, Processed) == 1


def test_poison_goes_to_the_dead_letter_topic_and_processing_continues(factory):
    dead: list[Message] = []
    consumer = _consumer(factory, dead=dead.extend)

    bad_payload = _msg(data={"organization": {"id": "1"}})
    consumer.handle(bad_payload)
    no_id = Message(topic="registry.organizations", key=b"k", value=bad_payload.value,
                    headers=[h for h in bad_payload.headers if h[0] != "ce_id"], partition=2,
                    offset=9)
    consumer.handle(no_id)
    not_json = Message(topic="registry.organizations", key=b"k", value=b"{oops",
                       headers=bad_payload.headers)
    consumer.handle(not_json)
    good = _msg()
    consumer.handle(good)

    assert _count(factory, Effect) == 1  # the good one, after three poison messages
    assert [m.topic for m in dead] == ["registry.organizations.dlt"] * 3
    first = dict(dead[0].headers)
    assert b"invalid data" in first["dlt_error"] and b"name" in first["dlt_error"]
    assert first["dlt_consumer"] == b"test-consumer"
    assert first["dlt_original_topic"] == b"registry.organizations"
    assert (first["dlt_original_partition"], first["dlt_original_offset"]) == (b"0", b"7")
    assert first["ce_id"] == dict(bad_payload.headers)["ce_id"]  # original headers kept
    assert dead[0].value == bad_payload.value and dead[0].key == bad_payload.key
    second = dict(dead[1].headers)
    assert b"id" in second["dlt_error"] and second["dlt_original_offset"] == b"9"
    assert b"data" in dict(dead[2].headers)["dlt_error"]


def test_handler_poison_and_persistent_errors_are_dead_lettered(factory):
    dead: list[Message] = []
    attempts = {"n": 0}

    def poison(session, event, data):
        raise PoisonEvent("unknown initiative")

    def always_broken(session, event, data):
        attempts["n"] += 1
        raise ValueError("bug")

    _consumer(factory, {ORGANIZATION_CREATED: poison}, dead=dead.extend).handle(_msg())
    assert dict(dead[-1].headers)["dlt_error"] == b"unknown initiative"
    _consumer(factory, {ORGANIZATION_CREATED: always_broken}, dead=dead.extend,
              max_attempts=3).handle(_msg())
    assert attempts["n"] == 3
    assert b"ValueError" in dict(dead[-1].headers)["dlt_error"]
    assert _count(factory, Processed) == 0


def test_types_without_handler_are_acknowledged_without_effect(factory):
    consumer = _consumer(factory)
    approved = dump_data(INITIATIVE_APPROVED, {
        "action": "approve", "to_status": "published", "actor": {"role": "secretariat"},
        "initiative": {"id": "1", "status": "published", "version": 2, "title": "T",
                       "created_at": datetime.now(UTC), "updated_at": datetime.now(UTC)}})
    consumer.handle(_msg(INITIATIVE_APPROVED, approved, topic="registry.initiatives"))
    assert _count(factory, Effect) == 0 and _count(factory, Processed) == 0


def test_relay_to_consumer_through_the_in_process_bus_with_a_redelivery(factory,
                                                                       consumer_factory):
    """Outbox -> relay -> bus -> consumer; a subscriber failing once makes the relay deliver
    the same event again to everyone, and the idempotent consumer applies it once."""
    _record(factory, ["Alpha", "Beta"])
    bus = InProcessBus()
    consumer = _consumer(consumer_factory, dead=bus.publish)
    bus.subscribe(consumer.name, [topic_name(TOPIC_ORGANIZATIONS)],
                  lambda m: consumer.handle(m, retry_transient=False))
    flaky = {"fail": True}

    def second_group(msg):
        if flaky["fail"]:
            flaky["fail"] = False
            raise ConnectionError("down once")

    bus.subscribe("other-group", [topic_name(TOPIC_ORGANIZATIONS)], second_group)
    relay = OutboxRelay(factory, Outbox, bus)
    assert relay.relay_once() == 0
    assert relay.drain() == 2
    with consumer_factory() as s:
        assert sorted(s.scalars(select(Effect.name))) == ["Alpha", "Beta"]
    assert _count(consumer_factory, Processed) == 2
