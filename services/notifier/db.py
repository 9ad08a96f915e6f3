"""The notifier's database: its declarative base (it owns these tables) and request sessions."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from shared.db import new_metadata
from shared.web import close_request_session as close_session
from shared.web import request_session as session


class Base(DeclarativeBase):
    """Declarative base of every notifier table."""

    metadata = new_metadata()


def import_models() -> None:
    """Import every model module so ``Base.metadata`` is complete (Alembic, tests)."""
    from notifier.deliveries import models as _deliveries  # noqa: F401
    from notifier.identity import models as _identity  # noqa: F401
    from notifier.unsubscribes import models as _unsubscribes  # noqa: F401

__all__ = ["Base", "close_session", "import_models", "session"]
