"""Transactional outbox (producer side) and its relay.

A service that emits events declares a model ``class OutboxEvent(OutboxMixin, Base)`` and calls
:func:`record_event` inside the transaction that changes the data, so the change and its event
are committed together or not at all. :class:`OutboxRelay` publishes unsent rows in order and
marks them sent only after the bus acknowledged them (Kafka ``acks=all``). On PostgreSQL rows
are claimed with ``FOR UPDATE SKIP LOCKED`` so several relays never publish a row twice at once.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from shared.bus import Message, PublishError
from shared.db import JSONType, UTCDateTime, utcnow
from shared.events.envelope import event_to_message, new_event
from shared.events.types import EVENT_TYPES, dump_data, topic_name

log = logging.getLogger(__name__)


class OutboxMixin:
    """Columns of an outbox table: one row per event, in commit order (``seq``)."""

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    topic: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(200))
    envelope: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


def record_event(session: Session, model: type[OutboxMixin], type_: str, *, source: str,
                 subject: str, data: dict[str, Any]) -> dict[str, Any]:
    """Add one CloudEvent of a declared ``type_`` to the outbox in ``session``'s transaction.

    ``data`` is dumped through the type's payload schema (``shared.events.types``). Returns the
    structured event. Raises ``KeyError`` for an undeclared type.
    """
    base_topic, _ = EVENT_TYPES[type_]
    event = new_event(type_, source=source, subject=subject, data=dump_data(type_, data)).to_dict()
    session.add(model(event_id=event["id"], topic=base_topic, event_type=type_,
                      subject=str(subject), envelope=event, attempts=0))
    return event


class OutboxRelay:
    """Publishes unsent outbox rows to the bus, oldest first, ``batch_size`` at a time.

    ``publisher`` is an :class:`~shared.bus.InProcessBus` or :class:`~shared.bus.KafkaPublisher`.
    The row's stored ``topic`` is a base name; the real topic gets ``KAFKA_TOPIC_PREFIX``.
    """

    def __init__(self, session_factory: sessionmaker[Session], model: type[OutboxMixin],
                 publisher, *, batch_size: int = 200):
        self.session_factory = session_factory
        self.model = model
        self.publisher = publisher
        self.batch_size = batch_size

    def relay_once(self) -> int:
        """Publish one batch; returns how many rows were marked sent (0 when none waited).

        PostgreSQL: the batch is claimed ``FOR UPDATE SKIP LOCKED`` and marked in the same
        transaction, so concurrent relays never publish a row twice. SQLite (embedded mode,
        one relay per process): the batch is read, the transaction ended, and the rows marked
        in a second short one, so the database's single write lock is not held while the
        in-process consumers work (web requests would queue behind it).
        """
        session = self.session_factory()
        try:
            claim = session.get_bind().dialect.name == "postgresql"
            query = (select(self.model).where(self.model.published_at.is_(None))
                     .order_by(self.model.seq).limit(self.batch_size))
            if claim:
                query = query.with_for_update(skip_locked=True)
            rows = list(session.scalars(query))
            if not rows:
                session.rollback()
                return 0
            messages = []
            for row in rows:
                key, headers, value = event_to_message(row.envelope)
                messages.append(Message(topic=topic_name(row.topic), key=key, value=value,
                                        headers=headers))
            if not claim:
                session.commit()  # end the read (nothing changed); rows stay loaded
            acknowledged, error = len(rows), None
            try:
                self.publisher.publish(messages)
            except PublishError as exc:
                acknowledged, error = exc.acknowledged, str(exc)
            now = utcnow()
            for row in rows[:acknowledged]:
                row.published_at = now
                row.attempts += 1
            if error is not None:
                failed = rows[acknowledged]
                failed.attempts += 1
                failed.last_error = error[:2000]
                log.warning("outbox publish failed", extra={"event_id": failed.event_id,
                                                            "error": error})
            session.commit()
            return acknowledged
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def drain(self, max_batches: int = 10_000) -> int:
        """Relay until nothing is left (or a batch fails); returns rows sent."""
        total = 0
        for _ in range(max_batches):
            sent = self.relay_once()
            total += sent
            if sent < self.batch_size:
                # either empty, or a failure cut the batch short: let the caller come back
                break
        return total

    def run(self, stop: threading.Event, poll_seconds: float = 0.5) -> None:
        """Relay until ``stop`` is set, sleeping ``poll_seconds`` when idle or after an error."""
        while not stop.is_set():
            try:
                sent = self.drain()
            except Exception:
                log.exception("outbox relay error")
                sent = 0
            if not sent:
                stop.wait(poll_seconds)
