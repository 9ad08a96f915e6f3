"""The registry's database: its declarative base (it owns these tables) and request sessions."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from shared.db import new_metadata
from shared.web import close_request_session as close_session
from shared.web import request_session as session


class Base(DeclarativeBase):
    """Declarative base of every registry table."""

    metadata = new_metadata()


def import_models() -> None:
    """Import every model module so ``Base.metadata`` is complete (Alembic, tests)."""
    from registry.auth import models as _auth  # noqa: F401
    from registry.initiatives import models as _initiatives  # noqa: F401
    from registry.organizations import models as _organizations  # noqa: F401
    from registry.outbox import models as _outbox  # noqa: F401

__all__ = ["Base", "close_session", "import_models", "session"]
