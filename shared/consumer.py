"""Consumer side: idempotent event handling, dead letters, and the Kafka consumer-group loop.

A consuming service declares ``class ProcessedEvent(ProcessedEventMixin, Base)`` and an
:class:`EventConsumer` with one handler per event type. For every message:

1. the envelope and the payload are validated (data from the bus is never trusted);
2. in ONE transaction: skip if ``processed_events(consumer, event_id)`` exists, else run the
   handler (its effect) and insert that row;
3. only then is the offset committed (Kafka) or the delivery acknowledged (in-process).

Batches (:meth:`EventConsumer.handle_batch`): a consumer built with ``atomic_batches=True``
(its handlers only touch the session and never commit) applies a whole polled batch in one
transaction: one ``processed_events`` look-up, every effect and row, one commit; the Kafka loop
then commits the batch's offsets once. When that transaction fails, the batch is applied again
one event at a time, so a poison event still goes alone to the DLT. Other consumers handle the
batch one event at a time and also commit offsets once per batch.

A poison message (invalid envelope or payload, or a handler raising :class:`PoisonEvent`, or any
other error that persists after ``max_attempts``) goes to ``<topic>.dlt`` with ``dlt_*`` headers
(``dlt_reason``: ``invalid-envelope``, ``invalid-data``, ``poison``, ``max-attempts`` or
``unknown-type``) and processing continues. An event type declared nowhere in
``shared.events.types`` (e.g. a future ``.v2``) is counted in ``counters["unknown_type"]``,
logged and parked on the DLT with ``dlt_reason=unknown-type`` (replay it after upgrading); a
declared type without a handler is deliberately ignored. Errors that look transient (database
or network unreachable) are retried in place with exponential backoff (capped at 30 s),
without limit, until the consumer's ``stop_event`` is set.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from marshmallow import ValidationError
from sqlalchemy import String, any_, cast, insert, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from shared.bus import Message
from shared.config import number
from shared.db import UTCDateTime, utcnow
from shared.events.envelope import CloudEvent, InvalidEvent, event_from_message
from shared.events.types import EVENT_TYPES, load_data
from shared.logs import event_context

log = logging.getLogger(__name__)


class PoisonEvent(Exception):
    """Raised by a handler for an event that can never be processed (goes to the DLT)."""


class TransientError(Exception):
    """Raised by a handler for a failure worth retrying (e.g. the SMTP server is down)."""


class ConsumerStopped(Exception):
    """The consumer's ``stop_event`` was set while it waited to retry (nothing acknowledged)."""


class BatchInterrupted(Exception):
    """A batch stopped at message ``done`` (the ones before it are handled) because of
    ``__cause__`` (only raised with ``retry_transient=False``, i.e. on the in-process bus)."""

    def __init__(self, done: int, cause: BaseException):
        super().__init__(f"batch interrupted at message {done}: {cause!r}")
        self.done = done


class ProcessedEventMixin:
    """``processed_events``: which events a consumer already applied (its idempotency record)."""

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(200))
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __tablename__: str  # set by each service's model

    if TYPE_CHECKING:  # the declarative constructor of the service's model
        def __init__(self, **kwargs: Any) -> None: ...


#: handler(session, event, data) where ``data`` is the validated payload
EventHandler = Callable[[Session, CloudEvent, dict[str, Any]], None]


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TransientError | OperationalError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OSError)


class _Parked(Exception):
    """Internal: the message was dead-lettered or ignored while being prepared."""


class EventConsumer:
    """One consumer group: ``name`` (also the group id), the topics, and handlers by event type.

    ``dead_letter`` publishes a list of :class:`~shared.bus.Message` (the bus's ``publish``).
    Declared event types without a handler are acknowledged without effect; undeclared ones are
    parked on the DLT (see the module docstring). ``atomic_batches``: the handlers only use the
    session they are given and never commit, so a batch may share one transaction.
    ``counters`` counts ``applied``, ``repeated``, ``ignored``, ``unknown_type`` and
    ``dead_lettered`` events since start.
    """

    def __init__(self, name: str, session_factory: sessionmaker[Session],
                 processed_model: type[ProcessedEventMixin],
                 handlers: dict[str, EventHandler], topics: list[str],
                 dead_letter: Callable[[list[Message]], None] | None = None,
                 *, max_attempts: int = 5, backoff: float = 0.5, atomic_batches: bool = False):
        self.name = name
        self.session_factory = session_factory
        self.processed_model = processed_model
        self.handlers = handlers
        self.topics = topics
        self.dead_letter = dead_letter
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.atomic_batches = atomic_batches
        self.stop_event: threading.Event | None = None
        self.counters: Counter[str] = Counter()

    # -- one message ---------------------------------------------------------------------
    def apply(self, event: CloudEvent) -> bool:
        """Apply one validated event idempotently; True if it had an effect, False if repeated.

        Raises :class:`PoisonEvent` for bad payloads, other exceptions as the handler raised them.
        """
        handler = self.handlers.get(event.type)
        if handler is None:
            return False
        data = self._load(event)
        return self._apply_loaded(event, handler, data)

    def _load(self, event: CloudEvent) -> dict[str, Any]:
        try:
            return load_data(event.type, event.data) if event.type in EVENT_TYPES else event.data
        except ValidationError as exc:
            raise PoisonEvent(f"invalid data: {exc.normalized_messages()}") from exc

    def _apply_loaded(self, event: CloudEvent, handler: EventHandler,
                      data: dict[str, Any]) -> bool:
        session = self.session_factory()
        try:
            seen = session.scalar(select(self.processed_model.event_id).where(
                self.processed_model.consumer == self.name,
                self.processed_model.event_id == event.id))
            if seen is not None:
                session.rollback()
                self.counters["repeated"] += 1
                return False
            handler(session, event, data)
            session.add(self.processed_model(consumer=self.name, event_id=event.id,
                                             event_type=event.type))
            session.commit()
            self.counters["applied"] += 1
            return True
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def handle(self, message: Message, *, retry_transient: bool = True) -> None:
        """Process one bus message with retries; poison goes to the DLT. Returns when done.

        With ``retry_transient`` False (in-process bus) a transient error is raised to the
        caller, whose redelivery is the retry. Raises :class:`ConsumerStopped` when
        ``stop_event`` is set during a retry wait.
        """
        try:
            event = self._parse(message)
        except _Parked:
            return
        with event_context(event.id, event.type):
            self._handle_event(message, event, retry_transient)

    def _parse(self, message: Message) -> CloudEvent:
        """The message's event, or :class:`_Parked` after dead-lettering / ignoring it."""
        try:
            event = event_from_message(message.headers, message.value)
        except InvalidEvent as exc:
            self._to_dlt(message, f"{exc}: {exc.errors}", "invalid-envelope")
            raise _Parked from exc
        if event.type not in self.handlers:
            if event.type in EVENT_TYPES:
                self.counters["ignored"] += 1
            else:
                self.counters["unknown_type"] += 1
                log.warning("unknown event type parked on the dead-letter topic",
                            extra={"event_type": event.type, "event_id": event.id,
                                   "consumer": self.name,
                                   "unknown_type_total": self.counters["unknown_type"]})
                self._to_dlt(message, f"unknown event type {event.type}", "unknown-type")
            raise _Parked
        return event

    def _handle_event(self, message: Message, event: CloudEvent, retry_transient: bool) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                self.apply(event)
                return
            except PoisonEvent as exc:
                reason = "invalid-data" if str(exc).startswith("invalid data") else "poison"
                self._to_dlt(message, str(exc), reason)
                return
            except Exception as exc:
                if _is_transient(exc):
                    if not retry_transient:
                        raise
                    delay = min(30.0, self.backoff * 2 ** min(attempt, 6))
                    log.warning("transient error, retrying",
                                extra={"error": repr(exc), "attempt": attempt})
                    self._sleep(delay)
                    continue
                if attempt >= self.max_attempts:
                    log.exception("giving up on event")
                    self._to_dlt(message, repr(exc), "max-attempts")
                    return
                self._sleep(self.backoff * attempt)

    def _sleep(self, seconds: float) -> None:
        if self.stop_event is None:
            time.sleep(seconds)
        elif self.stop_event.wait(seconds):
            raise ConsumerStopped

    # -- a batch -------------------------------------------------------------------------
    def handle_batch(self, messages: Sequence[Message], *, retry_transient: bool = True) -> None:
        """Process polled ``messages`` in order (see the module docstring); returns when done.

        With ``retry_transient`` False a failure raises :class:`BatchInterrupted` naming how
        many messages were handled before it. Raises :class:`ConsumerStopped` like
        :meth:`handle`.
        """
        if not self.atomic_batches or len(messages) < 2:
            self._one_by_one(list(enumerate(messages)), retry_transient)
            return
        prepared: list[tuple[int, Message, CloudEvent, dict[str, Any] | None]] = []
        for i, message in enumerate(messages):
            try:
                event = self._parse(message)
            except _Parked:
                continue
            try:
                prepared.append((i, message, event, self._load(event)))
            except PoisonEvent:
                prepared.append((i, message, event, None))  # fails the batch: handled alone
        while prepared:
            failed_at: list[int] = []
            try:
                self._apply_together(prepared, failed_at)
                return
            except Exception as exc:
                log.info("batch transaction failed; the failing event goes alone",
                         extra={"error": repr(exc)[:500], "size": len(prepared)})
            if not failed_at:  # failed at the commit: no culprit known, one by one
                self._one_by_one([(i, m) for i, m, _e, _d in prepared], retry_transient,
                                 parsed={i: e for i, _m, e, _d in prepared})
                return
            k = failed_at[0]
            if k:  # the events before the culprit, together again (they applied fine)
                self._apply_or_one_by_one(prepared[:k], retry_transient)
            i, message, event, _data = prepared[k]
            self._one_by_one([(i, message)], retry_transient, parsed={i: event})
            prepared = prepared[k + 1:]

    def _apply_or_one_by_one(self, prepared, retry_transient: bool) -> None:
        try:
            self._apply_together(prepared, [])
        except Exception:
            self._one_by_one([(i, m) for i, m, _e, _d in prepared], retry_transient,
                             parsed={i: e for i, _m, e, _d in prepared})

    def _one_by_one(self, indexed: list[tuple[int, Message]], retry_transient: bool,
                    parsed: dict[int, CloudEvent] | None = None) -> None:
        for i, message in indexed:
            try:
                if parsed is not None and i in parsed:
                    with event_context(parsed[i].id, parsed[i].type):
                        self._handle_event(message, parsed[i], retry_transient)
                else:
                    self.handle(message, retry_transient=retry_transient)
            except ConsumerStopped:
                raise
            except Exception as exc:
                if retry_transient:
                    raise
                raise BatchInterrupted(i, exc) from exc

    def _apply_together(self, prepared: list[tuple[int, Message, CloudEvent,
                                                   dict[str, Any] | None]],
                        failed_at: list[int]) -> None:
        """Apply ``prepared`` in one transaction; on a handler error, ``failed_at`` gets the
        position (in ``prepared``) of the event being applied."""
        pm = self.processed_model
        session = self.session_factory()
        try:
            ids = [e.id for _i, _m, e, _d in prepared]
            if session.get_bind().dialect.name == "postgresql":  # one array parameter
                among = pm.event_id == any_(cast(ids, ARRAY(String)))
            else:
                among = pm.event_id.in_(ids)
            seen = set(session.scalars(select(pm.event_id).where(pm.consumer == self.name,
                                                                 among)))
            repeated = 0
            rows: list[tuple[str, str]] = []  # (event id, type) of the applied events
            for position, (_i, _m, event, data) in enumerate(prepared):
                if event.id in seen:
                    repeated += 1
                    continue
                seen.add(event.id)
                failed_at[:] = [position]
                if data is None:
                    raise PoisonEvent("invalid data")  # handled alone by the fallback
                with event_context(event.id, event.type):
                    self.handlers[event.type](session, event, data)
                rows.append((event.id, event.type))
            failed_at.clear()
            if rows:  # after the handlers' own changes are flushed
                self._insert_processed(session, rows)
            session.commit()
            applied = len(rows)
            self.counters["applied"] += applied
            self.counters["repeated"] += repeated
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def _insert_processed(self, session: Session, rows: list[tuple[str, str]]) -> None:
        """Insert the ``processed_events`` rows of a batch in one statement: on PostgreSQL
        ``INSERT … SELECT … FROM unnest(ids, types)`` (one round trip and one cached statement
        for any number of rows; an executemany still costs psycopg a query per row, ~45 µs
        each in the batch profile), elsewhere one executemany."""
        pm = self.processed_model
        now = utcnow()
        if session.get_bind().dialect.name == "postgresql":
            table = pm.__tablename__  # a model's, never input
            session.execute(
                text(f"INSERT INTO {table} (consumer, event_id, event_type, processed_at) "  # noqa: S608  # nosec B608 # the model's table name, values bound
                     "SELECT :consumer, e, t, :now FROM unnest(CAST(:ids AS varchar[]), "
                     "CAST(:types AS varchar[])) AS u(e, t)"),
                {"consumer": self.name, "now": now, "ids": [r[0] for r in rows],
                 "types": [r[1] for r in rows]})
            return
        session.execute(insert(pm), [{"consumer": self.name, "event_id": i, "event_type": t,
                                      "processed_at": now} for i, t in rows])

    def _to_dlt(self, message: Message, error: str, reason: str) -> None:
        self.counters["dead_lettered"] += 1
        log.error("event sent to dead-letter topic",
                  extra={"topic": message.topic, "error": error[:500], "dlt_reason": reason})
        if self.dead_letter is None:
            return
        headers = [h for h in message.headers if not h[0].startswith("dlt_")]
        headers += [
            ("dlt_error", error[:4000].encode()),
            ("dlt_reason", reason.encode()),
            ("dlt_consumer", self.name.encode()),
            ("dlt_original_topic", message.topic.encode()),
            ("dlt_original_partition", str(message.partition).encode()),
            ("dlt_original_offset", str(message.offset).encode()),
        ]
        self.dead_letter([Message(topic=f"{message.topic}.dlt", key=message.key,
                                  value=message.value, headers=headers)])


def consumer_settings() -> dict[str, int]:
    """kafka-python ``KafkaConsumer`` group settings from the environment: session timeout
    (``KAFKA_SESSION_TIMEOUT_MS``, heartbeat every fifth of it), ``KAFKA_MAX_POLL_INTERVAL_MS``
    and ``KAFKA_MAX_POLL_RECORDS``. kafka-python's own defaults (45 s session) made a killed
    consumer's partitions wait 45 s; the broker accepts sessions from 6 s
    (``group.min.session.timeout.ms``)."""
    session_ms = int(number("KAFKA_SESSION_TIMEOUT_MS"))
    return {
        "session_timeout_ms": session_ms,
        "heartbeat_interval_ms": max(100, session_ms // 5),
        "max_poll_interval_ms": int(number("KAFKA_MAX_POLL_INTERVAL_MS")),
        "max_poll_records": int(number("KAFKA_MAX_POLL_RECORDS")),
    }


def run_kafka_consumer(consumer: EventConsumer, bootstrap_servers: list[str],
                       stop: threading.Event, *, group_id: str | None = None,
                       poll_timeout_ms: int = 500, on_ready: Callable[[], None] | None = None
                       ) -> None:
    """Run ``consumer`` as a Kafka consumer group until ``stop`` is set.

    Auto-commit is off: each polled batch is handed to :meth:`EventConsumer.handle_batch`
    and its offsets are committed once it was applied (or dead-lettered), so a crash
    redelivers at most the batch in flight, which the ``processed_events`` rows then make
    harmless. On return (``stop``) the consumer is closed, which leaves the group at once so
    its partitions move to another member without waiting for the session timeout. Raises
    kafka-python's errors (e.g. ``NoBrokersAvailable``) for the caller to retry.
    """
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    kc = KafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id or consumer.name,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id=consumer.name,
        bootstrap_timeout_ms=10_000,
        metrics_enabled=False,
        **consumer_settings(),
    )
    try:
        kc.subscribe(consumer.topics)
        if on_ready:
            on_ready()
        while not stop.is_set():
            polled = kc.poll(timeout_ms=poll_timeout_ms)
            if not polled:
                continue
            records = [rec for batch in polled.values() for rec in batch]
            done: dict[TopicPartition, OffsetAndMetadata] = {}
            try:
                consumer.handle_batch([
                    Message(topic=rec.topic, key=rec.key or b"", value=rec.value,
                            headers=list(rec.headers or []), partition=rec.partition,
                            offset=rec.offset) for rec in records])
            except ConsumerStopped:
                return
            for tp, batch in polled.items():
                done[TopicPartition(tp.topic, tp.partition)] = OffsetAndMetadata(
                    batch[-1].offset + 1, "", -1)
            kc.commit(done)
    finally:
        kc.close()
