"""The registry's database: its declarative base (it owns these tables) and request sessions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import DeclarativeBase, Session

from shared.db import new_metadata
from shared.web import close_request_session as close_session
from shared.web import request_session as session


class Base(DeclarativeBase):
    """Declarative base of every registry table."""

    metadata = new_metadata()


def import_models() -> None:
    """Import every model module so ``Base.metadata`` is complete (Alembic, tests)."""
    from registry.accounts import models as _accounts  # noqa: F401
    from registry.audit import models as _audit  # noqa: F401
    from registry.auth import models as _auth  # noqa: F401
    from registry.compliance import models as _compliance  # noqa: F401
    from registry.initiatives import models as _initiatives  # noqa: F401
    from registry.oauth import models as _oauth  # noqa: F401
    from registry.organizations import models as _organizations  # noqa: F401
    from registry.outbox import models as _outbox  # noqa: F401
    from registry.progress import models as _progress  # noqa: F401
    from registry.workflow import models as _workflow  # noqa: F401

def bulk_insert(db_session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts holding every column) into ``table`` in the session's
    transaction: ``COPY`` on PostgreSQL (an executemany runs one INSERT per row on the
    server), ``executemany`` on SQLite (in-process, per-row cost is small). Bulk imports
    only: no ORM bookkeeping, no defaults applied."""
    if not rows:
        return
    if db_session.get_bind().dialect.name != "postgresql":
        db_session.execute(table.insert(), rows)
        return
    from psycopg.types.json import Jsonb
    from sqlalchemy import JSON

    names = [c.name for c in table.columns]
    # JSON columns' values (dicts, lists) travel as jsonb (COPY has no adapter for a dict)
    json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}
    driver_connection = db_session.connection().connection.driver_connection
    assert driver_connection is not None  # a checked-out psycopg connection
    cursor = driver_connection.cursor()
    with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([Jsonb(row[n]) if n in json_columns and row[n] is not None
                            else row[n] for n in names])


__all__ = ["Base", "bulk_insert", "close_session", "import_models", "session"]
