"""Consumer side: idempotent event handling, dead letters, and the Kafka consumer-group loop.

A consuming service declares ``class ProcessedEvent(ProcessedEventMixin, Base)`` and an
:class:`EventConsumer` with one handler per event type. For every message:

1. the envelope and the payload are validated (data from the bus is never trusted);
2. in ONE transaction: skip if ``processed_events(consumer, event_id)`` exists, else run the
   handler (its effect) and insert that row;
3. only then is the offset committed (Kafka) or the delivery acknowledged (in-process).

A poison message (invalid envelope or payload, or a handler raising :class:`PoisonEvent`, or any
other error that persists after ``max_attempts``) goes to ``<topic>.dlt`` with ``dlt_*`` headers
and processing continues. Errors that look transient (database or network unreachable) are
retried in place with exponential backoff (capped at 30 s), without limit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import String, select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from shared.bus import Message
from shared.db import UTCDateTime, utcnow
from shared.events.envelope import CloudEvent, InvalidEvent, event_from_message
from shared.events.types import EVENT_TYPES, load_data
from shared.logs import event_context

log = logging.getLogger(__name__)


class PoisonEvent(Exception):
    """Raised by a handler for an event that can never be processed (goes to the DLT)."""


class TransientError(Exception):
    """Raised by a handler for a failure worth retrying (e.g. the SMTP server is down)."""


class ProcessedEventMixin:
    """``processed_events``: which events a consumer already applied (its idempotency record)."""

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(200))
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


#: handler(session, event, data) where ``data`` is the validated payload
EventHandler = Callable[[Session, CloudEvent, dict[str, Any]], None]


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TransientError | OperationalError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OSError)


class EventConsumer:
    """One consumer group: ``name`` (also the group id), the topics, and handlers by event type.

    ``dead_letter`` publishes a list of :class:`~shared.bus.Message` (the bus's ``publish``).
    Event types without a handler are acknowledged without effect.
    """

    def __init__(self, name: str, session_factory: sessionmaker[Session],
                 processed_model: type[ProcessedEventMixin],
                 handlers: dict[str, EventHandler], topics: list[str],
                 dead_letter: Callable[[list[Message]], None] | None = None,
                 *, max_attempts: int = 5, backoff: float = 0.5):
        self.name = name
        self.session_factory = session_factory
        self.processed_model = processed_model
        self.handlers = handlers
        self.topics = topics
        self.dead_letter = dead_letter
        self.max_attempts = max_attempts
        self.backoff = backoff

    # -- one message ---------------------------------------------------------------------
    def apply(self, event: CloudEvent) -> bool:
        """Apply one validated event idempotently; True if it had an effect, False if repeated.

        Raises :class:`PoisonEvent` for bad payloads, other exceptions as the handler raised them.
        """
        handler = self.handlers.get(event.type)
        if handler is None:
            return False
        try:
            data = load_data(event.type, event.data) if event.type in EVENT_TYPES else event.data
        except ValidationError as exc:
            raise PoisonEvent(f"invalid data: {exc.normalized_messages()}") from exc
        session = self.session_factory()
        try:
            seen = session.scalar(select(self.processed_model).where(
                self.processed_model.consumer == self.name,
                self.processed_model.event_id == event.id))
            if seen is not None:
                session.rollback()
                return False
            handler(session, event, data)
            session.add(self.processed_model(consumer=self.name, event_id=event.id,
                                             event_type=event.type))
            session.commit()
            return True
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def handle(self, message: Message, *, retry_transient: bool = True) -> None:
        """Process one bus message with retries; poison goes to the DLT. Returns when done.

        With ``retry_transient`` False (in-process bus) a transient error is raised to the
        caller, whose redelivery is the retry.
        """
        try:
            event = event_from_message(message.headers, message.value)
        except InvalidEvent as exc:
            self._to_dlt(message, f"{exc}: {exc.errors}")
            return
        with event_context(event.id, event.type):
            attempt = 0
            while True:
                attempt += 1
                try:
                    self.apply(event)
                    return
                except PoisonEvent as exc:
                    self._to_dlt(message, str(exc))
                    return
                except Exception as exc:
                    if _is_transient(exc):
                        if not retry_transient:
                            raise
                        delay = min(30.0, self.backoff * 2 ** min(attempt, 6))
                        log.warning("transient error, retrying",
                                    extra={"error": repr(exc), "attempt": attempt})
                        time.sleep(delay)
                        continue
                    if attempt >= self.max_attempts:
                        log.exception("giving up on event")
                        self._to_dlt(message, repr(exc))
                        return
                    time.sleep(self.backoff * attempt)

    def _to_dlt(self, message: Message, error: str) -> None:
        log.error("event sent to dead-letter topic",
                  extra={"topic": message.topic, "error": error[:500]})
        if self.dead_letter is None:
            return
        headers = [h for h in message.headers if not h[0].startswith("dlt_")]
        headers += [
            ("dlt_error", error[:4000].encode()),
            ("dlt_consumer", self.name.encode()),
            ("dlt_original_topic", message.topic.encode()),
            ("dlt_original_partition", str(message.partition).encode()),
            ("dlt_original_offset", str(message.offset).encode()),
        ]
        self.dead_letter([Message(topic=f"{message.topic}.dlt", key=message.key,
                                  value=message.value, headers=headers)])


def run_kafka_consumer(consumer: EventConsumer, bootstrap_servers: list[str],
                       stop: threading.Event, *, group_id: str | None = None,
                       poll_timeout_ms: int = 500, on_ready: Callable[[], None] | None = None
                       ) -> None:
    """Run ``consumer`` as a Kafka consumer group until ``stop`` is set.

    Auto-commit is off: each record's offset is committed right after it was applied (or
    dead-lettered), so a crash redelivers at most the record in flight, which the
    ``processed_events`` row then makes harmless.
    """
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    kc = KafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id or consumer.name,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id=consumer.name,
    )
    kc.subscribe(consumer.topics)
    if on_ready:
        on_ready()
    try:
        while not stop.is_set():
            batches = kc.poll(timeout_ms=poll_timeout_ms, max_records=100)
            for tp, records in batches.items():
                for rec in records:
                    if stop.is_set():
                        return
                    consumer.handle(Message(topic=rec.topic, key=rec.key or b"",
                                            value=rec.value, headers=list(rec.headers or []),
                                            partition=rec.partition, offset=rec.offset))
                    kc.commit({TopicPartition(tp.topic, tp.partition):
                               OffsetAndMetadata(rec.offset + 1, "", -1)})
    finally:
        kc.close()
