"""Database plumbing shared by the services: engines, sessions, column types, conventions.

Each service keeps its own ``DeclarativeBase`` (it owns its tables); this module only gives them
the same naming convention, the same portable types and the same engine set-up for SQLite
(embedded mode) and PostgreSQL (production).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, Engine, MetaData, TypeDecorator, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, sessionmaker

#: Constraint names that Alembic autogenerate and drift checks can rely on.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: JSON that is JSONB on PostgreSQL and JSON text on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")


def new_metadata() -> MetaData:
    """A ``MetaData`` with the shared naming convention (one per service)."""
    return MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def new_uuid() -> uuid.UUID:
    """A random UUID (version 4) for primary keys and event ids."""
    return uuid.uuid4()


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC timestamps on every database.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so values are stored as UTC
    and handed back as aware UTC datetimes. Naive input is refused (``ValueError``).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):  # noqa: D102
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):  # noqa: D102
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def make_engine(url: str, **kwargs) -> Engine:
    """Create an engine.

    SQLite (embedded mode) gets foreign keys on, WAL, a 30 s busy timeout, and transactions
    that start with ``BEGIN IMMEDIATE``: the driver's own implicit transactions break
    SAVEPOINTs, and deferred transactions that read then write fail at once under concurrent
    writers (the web app, the outbox relay and an import share the file), whereas an immediate
    one waits for the lock (SQLAlchemy docs, "Serializable isolation / Savepoints /
    Transactional DDL" for pysqlite). PostgreSQL connections run with ``jit = off``; with
    psycopg, a checked-out connection is tested without a round trip
    (:func:`_discard_if_closed_by_server`) instead of ``pool_pre_ping``'s ``SELECT 1``; every
    pooled connection is replaced after ``POOL_RECYCLE_SECONDS``. Every engine has
    ``hide_parameters``: SQL parameters (user text, e-mail addresses) never appear in the
    messages of its errors, hence never in logs.
    """
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn, _record):  # pragma: no cover - trivial
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover - trivial
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    cheap_liveness = url.startswith("postgresql+psycopg://") and "pool_pre_ping" not in kwargs
    if not cheap_liveness:
        kwargs.setdefault("pool_pre_ping", True)
    # connections a firewall or proxy dropped silently are never reused past half an hour
    kwargs.setdefault("pool_recycle", POOL_RECYCLE_SECONDS)
    if url.startswith("postgresql"):
        # JIT compiles plans for queries the planner thinks costly; for the services' short
        # queries that compilation (tens to hundreds of ms) is pure loss (issue 6: 186 ms of
        # a search request)
        connect_args = dict(kwargs.pop("connect_args", {}))
        options = connect_args.get("options", "")
        if "jit" not in options:
            connect_args["options"] = f"{options} -c jit=off".strip()
        kwargs["connect_args"] = connect_args
    engine = create_engine(url, **kwargs)
    if cheap_liveness:
        event.listen(engine, "checkout", _discard_if_closed_by_server)
    return engine


#: seconds after which a pooled connection is replaced instead of reused (``pool_recycle``)
POOL_RECYCLE_SECONDS = 1800


def _discard_if_closed_by_server(dbapi_conn, _record, _proxy) -> None:
    """Pool checkout: refuse a psycopg connection the server has closed meanwhile (restart,
    ``pg_terminate_backend``, idle timeout) without a round trip.

    ``pool_pre_ping`` would send ``SELECT 1`` on every checkout, i.e. every request (~0.3 ms
    of service CPU plus the server's). A server that ends a session sends its FATAL notice
    and closes the socket; libpq reads what has arrived without blocking
    (``PQconsumeInput``, twice: notice, then end of stream), after which a closed connection
    raises or is no longer ``OK``. Raising
    ``DisconnectionError`` makes the pool discard it and connect anew (SQLAlchemy docs,
    "Dealing with Disconnects / Custom pessimistic ping"). A connection lost without a word
    (a cable pulled) still fails on its first statement: 503 + ``Retry-After``
    (``shared.web``), and SQLAlchemy then invalidates the whole pool.
    """
    from psycopg import pq
    from sqlalchemy import exc

    pgconn = dbapi_conn.pgconn  # psycopg.Connection
    try:
        # the first read takes the server's FATAL notice (libpq keeps the connection OK), the
        # second meets the end of the stream; on a live idle socket both find nothing (EAGAIN)
        pgconn.consume_input()
        pgconn.consume_input()
    except Exception as error:  # consume_input raises OperationalError on a closed socket
        raise exc.DisconnectionError(str(error)) from error
    if (pgconn.status != pq.ConnStatus.OK
            or pgconn.transaction_status != pq.TransactionStatus.IDLE):
        raise exc.DisconnectionError("connection closed by the server")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (views dump them after commit)."""
    return sessionmaker(bind=engine, expire_on_commit=False)
