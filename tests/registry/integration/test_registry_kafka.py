"""The registry's outbox on the real PostgreSQL server, relayed to the real Kafka broker and read
back with a plain kafka-python consumer (binary-mode CloudEvents, key = initiative id)."""

from __future__ import annotations

import json
import os
import threading

import pytest

from registry.outbox.models import OutboxEvent
from shared.bus import KafkaPublisher, ensure_topics
from shared.events import event_from_message, topic_name
from shared.events.types import (
    TOPIC_ACCOUNTS,
    TOPIC_IDENTITY,
    TOPIC_INITIATIVES,
    TOPIC_ORGANIZATIONS,
)
from shared.outbox import OutboxRelay


@pytest.fixture
def kafka_registry(kafka_env, pg_url, registry_on):
    """The registry on PostgreSQL with its topics created under the test's prefix."""
    ensure_topics(kafka_env, [topic_name(TOPIC_INITIATIVES), topic_name(TOPIC_ORGANIZATIONS),
                              topic_name(TOPIC_IDENTITY), topic_name(TOPIC_ACCOUNTS)])
    return registry_on(pg_url)


def test_relay_publishes_the_outbox_to_kafka(read_topic, kafka_registry, kafka_env, complete):
    registry = kafka_registry
    partner = registry.token("partner")
    sec = registry.token("secretariat")
    first = registry.publish(partner, sec, title="Kafka reefs")
    second = registry.create(partner, title="Kafka draft")
    registry.patch(f"/api/v1/initiatives/{second['id']}", {"title": "Kafka draft v2"}, partner)
    # with the signing key the tokens made and the light the publication set (issue 9)
    rows = registry.outbox(identity=True, compliance=True)
    initiative_rows = [r for r in rows if r.topic == TOPIC_INITIATIVES]
    assert len(initiative_rows) == 6

    publisher = KafkaPublisher(kafka_env, timeout=30)
    try:
        relay = OutboxRelay(registry.app.extensions["db_session_factory"], OutboxEvent,
                            publisher)
        assert relay.drain() == len(rows)
        assert relay.drain() == 0
    finally:
        publisher.close()
    assert all(r.published_at is not None and r.attempts == 1
               for r in registry.outbox(identity=True))

    topic = topic_name(TOPIC_INITIATIVES)
    assert topic == os.environ["KAFKA_TOPIC_PREFIX"] + "registry.initiatives"
    records = read_topic(kafka_env, topic, linger=2.0, count=len(initiative_rows))
    assert len(records) == len(initiative_rows)  # each row exactly once
    stored = {r.event_id: r for r in initiative_rows}
    for rec in records:
        headers = dict(rec.headers)
        row = stored[headers["ce_id"].decode()]
        assert rec.key == row.subject.encode()
        assert headers["ce_type"].decode() == row.event_type
        assert headers["ce_specversion"] == b"1.0"
        assert headers["content-type"] == b"application/json"
        assert json.loads(rec.value) == row.envelope["data"]
        event = event_from_message(list(rec.headers), rec.value)
        assert event.id == row.event_id and event.subject == row.subject
    # order is kept per key (one initiative's events in one partition, in commit order)
    for subject in (first["id"], second["id"]):
        got = [dict(r.headers)["ce_id"].decode() for r in sorted(
            (r for r in records if r.key == subject.encode()), key=lambda r: r.offset)]
        assert got == [r.event_id for r in initiative_rows if r.subject == subject]
        assert len({r.partition for r in records if r.key == subject.encode()}) == 1

    orgs = read_topic(kafka_env, topic_name(TOPIC_ORGANIZATIONS), linger=2.0,
                      count=sum(r.topic == TOPIC_ORGANIZATIONS for r in rows))
    assert {dict(r.headers)["ce_id"].decode() for r in orgs} == {
        r.event_id for r in rows if r.topic == TOPIC_ORGANIZATIONS}


def test_two_relays_draining_one_outbox_publish_each_row_once(read_topic, kafka_registry,
                                                              kafka_env):
    registry = kafka_registry
    partner = registry.token("partner")
    for i in range(40):
        registry.create(partner, title=f"Concurrent {i}")
    factory = registry.app.extensions["db_session_factory"]
    publishers = [KafkaPublisher(kafka_env, timeout=30) for _ in range(2)]
    barrier = threading.Barrier(2)
    sent: list[int] = []

    def run(publisher):
        relay = OutboxRelay(factory, OutboxEvent, publisher, batch_size=5)
        barrier.wait()
        total = 0
        while (n := relay.relay_once()):
            total += n
        sent.append(total)

    threads = [threading.Thread(target=run, args=(p,)) for p in publishers]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        for p in publishers:
            p.close()
    assert sum(sent) == 41  # with the signing key's published event (registry.identity)
    records = read_topic(kafka_env, topic_name(TOPIC_INITIATIVES), linger=2.0, count=40)
    ids = [dict(r.headers)["ce_id"].decode() for r in records]
    assert len(ids) == 40 and len(set(ids)) == 40
    assert set(ids) == {r.event_id for r in registry.outbox()}
