"""The shared consumer loop on Kafka and PostgreSQL: a polled batch applied in one transaction
with one offset commit, a poison event still dead-lettered alone, an unknown event type (a
future ``.v2``) counted and parked on the DLT with ``dlt_reason=unknown-type``, a declared but
unhandled type ignored, and a redelivery changing nothing."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import String, event, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.bus import KafkaPublisher, Message, ensure_topics
from shared.consumer import EventConsumer, ProcessedEventMixin, run_kafka_consumer
from shared.db import make_engine, make_session_factory, new_metadata
from shared.events import event_to_message, new_event
from shared.events.types import INITIATIVE_APPROVED, ORGANIZATION_CREATED
from tests.shared.integration.conftest import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.kafka,
              pytest.mark.filterwarnings("ignore::ResourceWarning"),
              pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]


class Base(DeclarativeBase):
    metadata = new_metadata()


class Processed(ProcessedEventMixin, Base):
    __tablename__ = "batch_processed_events"


class Effect(Base):
    __tablename__ = "batch_effects"

    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


def _effect(session, event, data):
    if data["organization"]["name"] == "Poison":
        from shared.consumer import PoisonEvent

        raise PoisonEvent("this organisation can never be applied")
    session.add(Effect(event_id=event.id, name=data["organization"]["name"]))


def _message(topic: str, type_: str, data: dict) -> Message:
    ev = new_event(type_, source="/test", subject=str(uuid.uuid4()), data=data).to_dict()
    key, headers, value = event_to_message(ev)
    return Message(topic=topic, key=key, value=value, headers=headers)


def _org(name: str) -> dict:
    return {"organization": {"id": str(uuid.uuid4()), "name": name, "acronym": None,
                             "stakeholder_group": "ngo", "country": None}}


def test_a_polled_batch_is_one_transaction_and_faulty_events_go_alone(pg_url, kafka_servers,
                                                                     read_topic):
    engine = make_engine(pg_url)
    Base.metadata.create_all(engine)
    commits = []
    event.listen(engine, "commit", lambda _conn: commits.append(1))
    factory = make_session_factory(engine)
    topic = f"t{uuid.uuid4().hex[:8]}.batch"
    ensure_topics(kafka_servers, [topic, f"{topic}.dlt"], partitions=1)
    publisher = KafkaPublisher(kafka_servers, client_id="batch-test")
    dead = KafkaPublisher(kafka_servers, client_id="batch-test-dlt")
    messages = [_message(topic, ORGANIZATION_CREATED, _org(f"Org {i}")) for i in range(300)]
    messages.insert(100, _message(topic, ORGANIZATION_CREATED, _org("Poison")))
    messages.insert(200, _message(topic, "org.partnership-registry.organization.created.v2",
                                  _org("From the future")))
    messages.insert(250, _message(topic, INITIATIVE_APPROVED, {"anything": 1}))  # ignored
    publisher.publish(messages)
    consumer = EventConsumer("batch-test", factory, Processed, {ORGANIZATION_CREATED: _effect},
                             [topic], dead_letter=dead.publish, atomic_batches=True, backoff=0)
    group = f"g{uuid.uuid4().hex[:8]}"

    def count(model):
        with factory() as s:
            return s.scalar(select(func.count()).select_from(model))

    def consume_until(predicate) -> None:
        stop = threading.Event()
        worker = threading.Thread(target=run_kafka_consumer,
                                  args=(consumer, kafka_servers, stop),
                                  kwargs={"group_id": group}, daemon=True)
        worker.start()
        try:
            assert wait_until(predicate, 60), consumer.counters
        finally:
            stop.set()
            worker.join(15)

    try:
        consume_until(lambda: count(Effect) == 300 and consumer.counters["dead_lettered"] == 2)
        assert count(Processed) == 300
        # 300 events in a handful of transactions (one per polled batch, plus the poison's
        # batch replayed one by one), not one each
        assert len(commits) < 100, len(commits)
        assert consumer.counters["unknown_type"] == 1 and consumer.counters["ignored"] == 1
        letters = read_topic(kafka_servers, f"{topic}.dlt", 2, timeout=30)
        reasons = sorted(dict(rec.headers)["dlt_reason"] for rec in letters)
        assert reasons == [b"poison", b"unknown-type"]
        unknown = next(r for r in letters if dict(r.headers)["dlt_reason"] == b"unknown-type")
        assert dict(unknown.headers)["ce_type"].endswith(b".v2")

        # offsets were committed: the same group restarted applies nothing again; a new
        # group re-reads everything and the processed_events rows make it a no-op
        before = dict(consumer.counters)
        consume_until(lambda: True)
        assert consumer.counters["applied"] == before["applied"]
        group = f"g{uuid.uuid4().hex[:8]}"
        consume_until(lambda: consumer.counters["repeated"] >= 300)
        assert count(Effect) == 300 and count(Processed) == 300
    finally:
        publisher.close()
        dead.close()
        engine.dispose()
