"""``deliveries`` (one row per message per recipient) and ``processed_events`` (idempotency)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from notifier.db import Base
from shared.consumer import ProcessedEventMixin
from shared.db import UTCDateTime, new_uuid, utcnow

#: Channels a delivery can go through (webhooks and digests come with subscriptions).
CHANNELS = ("email",)
#: ``sent``: the SMTP server (or the .eml folder) accepted it; ``failed``: refused for good.
DELIVERY_STATUSES = ("sent", "failed")


class Delivery(Base):
    """One notification for one recipient of one event.

    Unique per ``(event_id, channel, recipient)``: a ``sent`` row means "never send it again",
    which makes a retried event (after a partial failure) send only what is missing.
    ``message_id`` is the RFC 5322 Message-ID, derived from the event id and the recipient.
    Times are UTC.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "channel", "recipient"),
        CheckConstraint("status IN ('sent', 'failed')", name="status"),
        CheckConstraint("channel IN ('email')", name="channel"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    event_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(200))
    initiative_id: Mapped[str | None] = mapped_column(String(200), index=True)
    channel: Mapped[str] = mapped_column(String(20), default="email")
    template: Mapped[str] = mapped_column(String(100))
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[str | None] = mapped_column(String(300))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ProcessedEvent(ProcessedEventMixin, Base):
    """Events the notifier's consumer group already applied (see ``shared.consumer``)."""

    __tablename__ = "processed_events"
