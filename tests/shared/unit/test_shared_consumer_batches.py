"""The consumer's batch path and unknown event types, on SQLite with the in-process bus."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import String, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.bus import InProcessBus, Message, PublishError
from shared.consumer import EventConsumer, PoisonEvent, ProcessedEventMixin
from shared.db import make_engine, make_session_factory, new_metadata
from shared.events import event_to_message, new_event
from shared.events.types import INITIATIVE_APPROVED, ORGANIZATION_CREATED

TOPIC = "registry.organizations"


class Base(DeclarativeBase):
    metadata = new_metadata()


class Processed(ProcessedEventMixin, Base):
    __tablename__ = "b_processed_events"


class Effect(Base):
    __tablename__ = "b_effects"

    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


@pytest.fixture
def factory(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    Base.metadata.create_all(engine)
    yield make_session_factory(engine)
    engine.dispose()


def _msg(name: str, type_: str = ORGANIZATION_CREATED, offset: int = 0) -> Message:
    data = {"organization": {"id": str(uuid.uuid4()), "name": name, "acronym": None,
                             "stakeholder_group": "ngo", "country": None}}
    ev = new_event(type_, source="/t", subject="s", data=data).to_dict()
    key, headers, value = event_to_message(ev)
    return Message(TOPIC, key, value, headers, partition=0, offset=offset)


def _handler(session, event, data):
    name = data["organization"]["name"]
    if name == "Poison":
        raise PoisonEvent("never")
    if name == "Down":
        raise ConnectionError("database away")
    session.add(Effect(event_id=event.id, name=name))


def _names(factory) -> list[str]:
    with factory() as s:
        return sorted(s.scalars(select(Effect.name)))


def _consumer(factory, dead) -> EventConsumer:
    return EventConsumer("c", factory, Processed, {ORGANIZATION_CREATED: _handler}, [TOPIC],
                         dead_letter=dead.extend, atomic_batches=True, backoff=0)


def test_an_unknown_type_is_counted_and_parked_but_a_declared_one_is_ignored(factory):
    dead: list[Message] = []
    consumer = _consumer(factory, dead)
    future = _msg("From the future", "org.partnership-registry.organization.created.v2")
    consumer.handle(future)
    consumer.handle_batch([_msg("Declared, no handler", INITIATIVE_APPROVED), _msg("A"),
                           _msg("Later", "org.partnership-registry.organization.renamed.v1")])
    assert consumer.counters["unknown_type"] == 2 and consumer.counters["ignored"] == 1
    assert [dict(m.headers)["dlt_reason"] for m in dead] == [b"unknown-type"] * 2
    assert dict(dead[0].headers)["ce_type"].endswith(b".v2")
    assert dead[0].value == future.value
    assert _names(factory) == ["A"]
    with factory() as s:  # nothing recorded as processed for the parked ones: replayable
        assert s.scalar(select(func.count()).select_from(Processed)) == 1


def test_a_poison_event_in_a_batch_goes_alone_and_the_rest_is_applied_once(factory):
    dead: list[Message] = []
    consumer = _consumer(factory, dead)
    batch = [_msg("A"), _msg("B"), _msg("Poison"), _msg("C"), _msg("D")]
    consumer.handle_batch(batch)
    consumer.handle_batch(batch)  # redelivered
    assert _names(factory) == ["A", "B", "C", "D"]
    assert [dict(m.headers)["dlt_reason"] for m in dead] == [b"poison", b"poison"]
    assert consumer.counters["applied"] == 4 and consumer.counters["repeated"] == 4


def test_the_in_process_bus_reports_where_a_batch_stopped(factory):
    dead: list[Message] = []
    consumer = _consumer(factory, dead)
    bus = InProcessBus()
    bus.subscribe("c", [TOPIC], batch_handler=lambda ms: consumer.handle_batch(
        ms, retry_transient=False))
    with pytest.raises(PublishError) as exc:
        bus.publish([_msg("A"), _msg("B"), _msg("Down"), _msg("C")])
    assert exc.value.acknowledged == 2  # A and B applied; the relay retries from "Down"
    assert _names(factory) == ["A", "B"]
