"""Replaying a dead-letter topic: ``notifier dlt replay``, ``reporting dlt replay``.

Dead letters of ``<prefix>registry.initiatives`` sit on ``<prefix>registry.initiatives.dlt``
with ``dlt_*`` headers (``shared.consumer``). A replay reads that topic with its own consumer
group (``<group prefix><consumer>-dlt-replay``), from its last committed offset (or the
beginning: first run, or ``from_beginning``) up to the end offsets seen when it started, and
hands each of the consumer's own dead letters back to it as if it came from the original topic.
Repeated events change nothing (``processed_events``); a letter that fails again goes back to
the DLT with fresh error headers, after the end point, so one run never loops.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from shared.bus import KafkaPublisher, Message
from shared.consumer import EventConsumer
from shared.events.types import topic_name
from shared.runtime import group_id

log = logging.getLogger(__name__)


@dataclass
class ReplayResult:
    """Counts of one replay: ``replayed`` (handed to the consumer and not dead-lettered again),
    ``failed`` (dead-lettered again), ``skipped`` (another consumer's dead letters), and
    ``stopped`` (a transient error ended the run; that letter stays uncommitted)."""

    replayed: int = 0
    failed: int = 0
    skipped: int = 0
    stopped: str | None = None


def _header(headers: list[tuple[str, bytes]], name: str) -> str | None:
    for key, value in headers:
        if key == name and value is not None:
            return value.decode("utf-8", "replace")
    return None


def original_message(dead: Message) -> Message:
    """The message as the consumer first saw it: original topic, partition and offset."""
    topic = _header(dead.headers, "dlt_original_topic") or dead.topic.removesuffix(".dlt")

    def number(name: str) -> int | None:
        raw = _header(dead.headers, name)
        return int(raw) if raw and raw.lstrip("-").isdigit() else None

    return Message(topic=topic, key=dead.key, value=dead.value, headers=list(dead.headers),
                   partition=number("dlt_original_partition"),
                   offset=number("dlt_original_offset"))


def replay_dead_letters(consumer: EventConsumer, bootstrap_servers: list[str], base_topic: str,
                        *, from_beginning: bool = False, all_consumers: bool = False,
                        timeout: float = 60.0) -> ReplayResult:
    """Replay ``<prefix><base_topic>.dlt`` through ``consumer``; see the module docstring.

    Only letters whose ``dlt_consumer`` header is ``consumer.name`` are replayed unless
    ``all_consumers``. ``timeout`` (seconds) bounds the wait for records up to the end offsets.
    """
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    dlt_topic = f"{topic_name(base_topic)}.dlt"
    result = ReplayResult()
    publisher = KafkaPublisher(bootstrap_servers, client_id=f"{consumer.name}-dlt-replay")

    def dead_letter(messages: list[Message]) -> None:
        result.failed += len(messages)
        publisher.publish(messages)

    consumer.dead_letter = dead_letter
    kc = KafkaConsumer(bootstrap_servers=bootstrap_servers,
                       group_id=group_id(f"{consumer.name}-dlt-replay"),
                       enable_auto_commit=False, auto_offset_reset="earliest",
                       client_id=f"{consumer.name}-dlt-replay")
    try:
        tps = [TopicPartition(dlt_topic, p) for p in sorted(kc.partitions_for_topic(dlt_topic))]
        if not tps:
            return result
        kc.assign(tps)
        end = kc.end_offsets(tps)
        for tp in tps:
            committed = None if from_beginning else kc.committed(tp)
            if committed is None:
                kc.seek_to_beginning(tp)
            else:
                kc.seek(tp, committed)
        deadline = time.monotonic() + timeout
        while any(kc.position(tp) < end[tp] for tp in tps) and time.monotonic() < deadline:
            for tp, records in kc.poll(timeout_ms=500, max_records=100).items():
                for rec in records:
                    if rec.offset >= end[tp]:
                        continue
                    dead = Message(topic=rec.topic, key=rec.key or b"", value=rec.value,
                                   headers=list(rec.headers or []), partition=rec.partition,
                                   offset=rec.offset)
                    if not all_consumers and _header(dead.headers,
                                                     "dlt_consumer") != consumer.name:
                        result.skipped += 1
                    else:
                        failed_before = result.failed
                        try:
                            consumer.handle(original_message(dead), retry_transient=False)
                        except Exception as exc:
                            result.stopped = repr(exc)
                            log.warning("replay stopped by a transient error",
                                        extra={"error": repr(exc), "offset": rec.offset})
                            return result
                        if result.failed == failed_before:
                            result.replayed += 1
                    kc.commit({tp: OffsetAndMetadata(rec.offset + 1, "", -1)})
        return result
    finally:
        kc.close()
        publisher.close()
