"""Reporting's database: its declarative base (it owns these tables) and request sessions."""

from __future__ import annotations

from flask import current_app, g
from sqlalchemy.orm import DeclarativeBase, Session

from shared.db import new_metadata


class Base(DeclarativeBase):
    """Declarative base of every reporting table."""

    metadata = new_metadata()


def import_models() -> None:
    """Import every model module so ``Base.metadata`` is complete (Alembic, tests)."""
    from reporting.readmodel import models as _readmodel  # noqa: F401


def session() -> Session:
    """The current request's session (created on first use, closed at teardown)."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["db_session_factory"]()
    return g.db_session


def close_session(_exc: BaseException | None = None) -> None:
    """Teardown: roll back anything uncommitted and close the request's session."""
    s = g.pop("db_session", None)
    if s is not None:
        s.rollback()
        s.close()
