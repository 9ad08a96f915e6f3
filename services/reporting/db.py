"""Reporting's database: its declarative base (it owns these tables) and request sessions."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from shared.db import new_metadata
from shared.web import close_request_session as close_session
from shared.web import request_session as session


class Base(DeclarativeBase):
    """Declarative base of every reporting table."""

    metadata = new_metadata()


def import_models() -> None:
    """Import every model module so ``Base.metadata`` is complete (Alembic, tests)."""
    from reporting.identity import models as _identity  # noqa: F401
    from reporting.readmodel import models as _readmodel  # noqa: F401

__all__ = ["Base", "close_session", "import_models", "session"]
