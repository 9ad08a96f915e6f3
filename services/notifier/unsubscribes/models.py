"""``unsubscribes``: the suppression list — one row per (address, list) someone unsubscribed."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from notifier.db import Base
from shared.db import UTCDateTime, new_uuid, utcnow

#: The lists one can leave. ``progress-reminders``: the reminders to report progress on an
#: initiative (issue 9; ``notifier.deliveries.reminders``). Review notices, account e-mails and
#: the secretariat's digest are not lists: they cannot be left.
LISTS = ("progress-reminders",)
#: How the unsubscribe arrived: ``web`` (the link's page, or a mail client's RFC 8058 one-click
#: POST to it), ``api`` (``POST /api/v1/unsubscribe/<token>``).
VIAS = ("web", "api")


class Unsubscribe(Base):
    """``address`` (lower-cased, as the token carries it) receives no more e-mails of
    ``list_id`` (one of :data:`LISTS`) since ``created_at`` (UTC); ``via`` one of :data:`VIAS`.
    Unique per (address, list): unsubscribing twice changes nothing. Removing the row (CLI
    ``notifier unsubscribes remove``) subscribes the address again."""

    __tablename__ = "unsubscribes"
    __table_args__ = (
        UniqueConstraint("address", "list_id"),
        CheckConstraint("list_id IN ('progress-reminders')", name="list_id"),
        CheckConstraint("via IN ('web', 'api')", name="via"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    address: Mapped[str] = mapped_column(String(320))
    list_id: Mapped[str] = mapped_column(String(100))
    via: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
