"""Transactional outbox (producer side) and its relay.

A service that emits events declares a model ``class OutboxEvent(OutboxMixin, Base)`` and calls
:func:`record_event` inside the transaction that changes the data, so the change and its event
are committed together or not at all. :class:`OutboxRelay` publishes unsent rows in order and
marks them sent only after the bus acknowledged them (Kafka ``acks=all``). On PostgreSQL rows
are claimed with ``FOR UPDATE SKIP LOCKED`` so several relays never publish a row twice at once.

The relay is woken on commit rather than by polling alone: :func:`record_event` issues
``NOTIFY outbox_<table>`` on PostgreSQL in the writing transaction (delivered only if it
commits; once per transaction), which the relay LISTENs to on a connection of its own; and a
commit in the same process signals the relay's :class:`OutboxSignal` directly (the embedded
mode on SQLite has no NOTIFY). ``OUTBOX_POLL_SECONDS`` stays as the fallback poll.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    String,
    Text,
    any_,
    cast,
    event,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column, sessionmaker

from shared.bus import Message, PublishError
from shared.db import JSONType, UTCDateTime, utcnow
from shared.events.envelope import (
    MESSAGE_ATTRIBUTES,
    binary_message,
    event_to_message,
    new_event,
)
from shared.events.types import EVENT_TYPES, dump_data, topic_name

log = logging.getLogger(__name__)

_PENDING = "outbox_pending_tables"  # Session.info key: outbox tables written in this transaction


def unpublished_index_name(table: str) -> str:
    """Name of the partial index on ``seq`` of the unpublished rows of outbox table ``table``."""
    return f"ix_{table}_unpublished_seq"


#: the predicate of that partial index (the relay's claim query filters on exactly this)
UNPUBLISHED = "published_at IS NULL"


class OutboxMixin:
    """Columns of an outbox table: one row per event, in commit order (``seq``).

    Besides the columns, a partial index on ``seq WHERE published_at IS NULL``
    (:func:`unpublished_index_name`): the relay's claim (the oldest ``batch_size``
    unpublished rows by ``seq``) reads the few index entries of the backlog, in order, instead
    of scanning every row ever published (measured: ~21 % of relay time before; registry
    migration 0003). PostgreSQL and SQLite both support partial indexes.
    """

    @declared_attr.directive
    def __table_args__(cls) -> tuple:  # noqa: N805 - declarative class attribute
        return (Index(unpublished_index_name(cls.__tablename__), "seq",  # type: ignore[attr-defined]
                      postgresql_where=text(UNPUBLISHED), sqlite_where=text(UNPUBLISHED)),)

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


class OutboxSignal:
    """A commit counter relays wait on: :meth:`notify` after a commit that added outbox rows,
    :meth:`wait` until the counter moved past what the relay saw (or a timeout)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.count = 0

    def notify(self) -> None:
        """Count one commit and wake every waiting relay."""
        with self._cond:
            self.count += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for ``count != seen``; True when it moved."""
        with self._cond:
            return self._cond.wait_for(lambda: self.count != seen, timeout)


_signals: dict[str, OutboxSignal] = {}
_signals_lock = threading.Lock()


def outbox_signal(table: str) -> OutboxSignal:
    """The process-wide :class:`OutboxSignal` of outbox table ``table``."""
    with _signals_lock:
        return _signals.setdefault(table, OutboxSignal())


def notify_channel(table: str) -> str:
    """PostgreSQL NOTIFY channel of outbox table ``table`` (``outbox_<table>``)."""
    return f"outbox_{table}"


def record_event(session: Session, model: type[OutboxMixin], type_: str, *, source: str,
                 subject: str, data: dict[str, Any]) -> dict[str, Any]:
    """Add one CloudEvent of a declared ``type_`` to the outbox in ``session``'s transaction.

    ``data`` is dumped through the type's payload schema (``shared.events.types``). Returns the
    structured event. Raises ``KeyError`` for an undeclared type. The first event of a
    transaction also issues ``NOTIFY outbox_<table>`` on PostgreSQL (one statement, no flush),
    and the commit wakes a relay in this process.
    """
    row, event = outbox_row(session, model, type_, source=source, subject=subject, data=data)
    session.add(row)
    return event


def outbox_row(session: Session, model: type[OutboxMixin], type_: str, *, source: str,
               subject: str, data: dict[str, Any]) -> tuple[OutboxMixin, dict[str, Any]]:
    """:func:`record_event` without adding the row: ``(row, event)``, the row complete but
    ``seq`` (the database numbers it), for a caller that inserts it itself in
    ``session``'s transaction (e.g. in one statement with the change it describes). The
    NOTIFY and the relay wake-up on commit are arranged as by :func:`record_event`."""
    base_topic, _ = EVENT_TYPES[type_]
    event = new_event(type_, source=source, subject=subject, data=dump_data(type_, data)).to_dict()
    row = model(event_id=event["id"], topic=base_topic, event_type=type_,  # type: ignore[call-arg]
                subject=str(subject), envelope=event, attempts=0, created_at=utcnow(),
                published_at=None, last_error=None)
    table = model.__tablename__  # type: ignore[attr-defined]
    pending: set[str] = session.info.setdefault(_PENDING, set())
    if table not in pending:
        pending.add(table)
        if session.get_bind().dialect.name == "postgresql":
            session.connection().exec_driver_sql(f"NOTIFY {notify_channel(table)}")
    return row, event


@event.listens_for(Session, "after_commit")
def _wake_relays(session: Session) -> None:
    for table in session.info.pop(_PENDING, ()):
        outbox_signal(table).notify()


@event.listens_for(Session, "after_soft_rollback")
def _forget_pending(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_PENDING, None)


class OutboxRelay:
    """Publishes unsent outbox rows to the bus, oldest first, ``batch_size`` at a time.

    ``publisher`` is an :class:`~shared.bus.InProcessBus` or :class:`~shared.bus.KafkaPublisher`.
    The row's stored ``topic`` is a base name; the real topic gets ``KAFKA_TOPIC_PREFIX``.
    """

    def __init__(self, session_factory: sessionmaker[Session], model: type[OutboxMixin],
                 publisher, *, batch_size: int = 1000, retry_max_seconds: float = 30.0):
        self.session_factory = session_factory
        self.model = model
        self.publisher = publisher
        self.batch_size = batch_size
        self.retry_max_seconds = retry_max_seconds
        self.table = model.__tablename__  # type: ignore[attr-defined]
        self.signal = outbox_signal(self.table)
        self.failing = False

    def relay_once(self) -> int:
        """Publish one batch; returns how many rows were marked sent (0 when none waited).

        PostgreSQL: the batch is claimed ``FOR UPDATE SKIP LOCKED`` and marked (one UPDATE) in
        the same transaction, so concurrent relays never publish a row twice. SQLite (embedded
        mode, one relay per process): the batch is read, the transaction ended, and the rows
        marked in a second short one, so the database's single write lock is not held while
        the in-process consumers work (web requests would queue behind it). A failed publish
        is recorded on the first unacknowledged row (``attempts``, ``last_error``) and sets
        ``failing``.
        """
        m = self.model
        session = self.session_factory()
        try:
            claim = session.get_bind().dialect.name == "postgresql"
            columns: list[Any]
            if claim:  # attributes and data as text straight from the JSONB: no decode/encode
                columns = [literal_column(f"envelope ->> '{a}'") for a in MESSAGE_ATTRIBUTES]
                columns.append(literal_column("(envelope -> 'data')::text"))
            else:
                columns = [m.envelope]
            oldest = (select(m.seq).where(m.published_at.is_(None)).order_by(m.seq)
                      .limit(self.batch_size))
            if claim:
                # claim (lock) the oldest unpublished rows by seq alone, then read them: the
                # wide columns are computed for the batch only, never sorted with the backlog
                oldest = oldest.with_for_update(skip_locked=True)
            query = select(m.seq, m.topic, *columns).where(m.seq.in_(oldest)).order_by(m.seq)
            rows = session.execute(query).all()
            if not rows:
                session.rollback()
                return 0
            messages = []
            for row in rows:
                if claim:
                    key, headers, value = binary_message(
                        dict(zip(MESSAGE_ATTRIBUTES, row[2:-1], strict=True)), row[-1])
                else:
                    key, headers, value = event_to_message(row[2])
                messages.append(Message(topic=topic_name(row[1]), key=key, value=value,
                                        headers=headers))
            if not claim:
                session.commit()  # end the read (nothing changed)
            acknowledged, failure = len(rows), None
            try:
                self.publisher.publish(messages)
            except PublishError as exc:
                acknowledged, failure = exc.acknowledged, exc
            sent = [r[0] for r in rows[:acknowledged]]
            no_sync = {"synchronize_session": False}
            if sent:
                # PostgreSQL: one array parameter (``= ANY``) instead of an IN list of
                # ``batch_size`` bound parameters the driver renders one by one
                chosen = (m.seq == any_(cast(sent, ARRAY(BigInteger))) if claim
                          else m.seq.in_(sent))
                session.execute(update(m).where(chosen)
                                .values(published_at=utcnow(), attempts=m.attempts + 1)
                                .execution_options(**no_sync))
            if failure is not None:
                failed_seq = rows[acknowledged][0]
                session.execute(update(m).where(m.seq == failed_seq)
                                .values(attempts=m.attempts + 1,
                                        last_error=str(failure)[:2000])
                                .execution_options(**no_sync))
                log.warning("outbox publish failed", extra={"seq": failed_seq,
                                                            "error": str(failure)[:500]})
            session.commit()
            self.failing = failure is not None
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
        """Relay until ``stop`` is set: drain, then sleep until a commit wakes it (or
        ``poll_seconds``). After a failed publish it backs off exponentially up to
        ``retry_max_seconds``. On PostgreSQL a listener thread turns NOTIFYs into wake-ups."""
        listener = None
        if self._dialect() == "postgresql":
            listener = threading.Thread(target=self._listen, args=(stop,), daemon=True,
                                        name=f"outbox-listen-{self.table}")
            listener.start()
        try:
            self._relay_until(stop, poll_seconds)
        finally:
            if listener is not None:
                listener.join(3.0)  # it notices ``stop`` within a second

    def _relay_until(self, stop: threading.Event, poll_seconds: float) -> None:
        failures = 0
        while not stop.is_set():
            seen = self.signal.count
            connect = getattr(self.publisher, "connect", None)
            try:
                if connect is not None:
                    connect()
                sent = self.drain()
                if self.failing:
                    raise PublishError("the last batch was not acknowledged", sent)
                failures = 0
            except Exception as exc:
                failures += 1
                delay = min(self.retry_max_seconds, poll_seconds * 2 ** min(failures, 10))
                log.warning("outbox relay cannot publish; retrying",
                            extra={"error": repr(exc)[:500], "retry_in_s": round(delay, 1)})
                stop.wait(delay)
                continue
            if sent < self.batch_size:
                self.signal.wait(seen, poll_seconds)

    def _dialect(self) -> str:
        with self.session_factory() as session:
            return session.get_bind().dialect.name

    def _listen(self, stop: threading.Event) -> None:
        """LISTEN on ``outbox_<table>`` and signal the relay on every NOTIFY; reconnects."""
        channel = notify_channel(self.table)
        with self.session_factory() as session:
            engine = session.get_bind().engine
        backoff = 0.5
        while not stop.is_set():
            conn = None
            try:
                pooled = engine.raw_connection()
                conn = pooled.driver_connection
                assert conn is not None  # a live psycopg connection
                pooled.detach()  # a connection of its own, never returned to the pool
                conn.autocommit = True
                conn.execute(f"LISTEN {channel}")
                self.signal.notify()  # catch up with commits made while not listening
                backoff = 0.5
                while not stop.is_set():
                    for _ in conn.notifies(timeout=1.0):
                        self.signal.notify()
            except Exception as exc:
                log.warning("outbox LISTEN connection lost; reconnecting",
                            extra={"error": repr(exc)[:300], "retry_in_s": backoff})
                stop.wait(backoff)
                backoff = min(self.retry_max_seconds, backoff * 2)
            finally:
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:  # noqa: S110 - already broken
                        pass
