"""``audit_log``: authentication and authorization events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base
from shared.db import JSONType, UTCDateTime, utcnow


class AuditEntry(Base):
    """One audit event: ``event`` (e.g. ``account.sign_in``), ``outcome`` (``success``,
    ``failure``, ``denied``), the actor (kind, subject, e-mail), the object it concerned
    (``subject``, e.g. a user id or a client id), the caller's address and request id, and
    ``detail`` (JSON; never a password, token or link)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"),
                                    primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    event: Mapped[str] = mapped_column(String(80), index=True)
    outcome: Mapped[str] = mapped_column(String(20))
    actor_kind: Mapped[str] = mapped_column(String(20), default="anonymous")
    actor_subject: Mapped[str | None] = mapped_column(String(200), index=True)
    actor_email: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(200), index=True)
    ip: Mapped[str | None] = mapped_column(String(45))
    request_id: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


