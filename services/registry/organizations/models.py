"""``organizations``: lead entities and partners of initiatives."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base
from shared.db import UTCDateTime, new_uuid, utcnow


class Organization(Base):
    """An organisation. ``normalized_name`` (accent-, case- and punctuation-insensitive) is
    unique, so free-text partner names from imports reuse one record per organisation."""

    __tablename__ = "organizations"
    __aggregate__ = "organization"  # registry.authz.permissions.Aggregate

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(500))
    normalized_name: Mapped[str] = mapped_column(String(500), unique=True)
    acronym: Mapped[str | None] = mapped_column(String(50))
    stakeholder_group: Mapped[str] = mapped_column(String(50), index=True)
    country: Mapped[str | None] = mapped_column(String(3), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
