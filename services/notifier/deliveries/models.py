"""``deliveries`` (one row per message per recipient: the delivery queue and its record) and
``processed_events`` (idempotency)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from notifier.db import Base
from shared.consumer import ProcessedEventMixin
from shared.db import JSONType, UTCDateTime, new_uuid, utcnow

#: Channels a delivery can go through (webhooks and digests come with subscriptions).
CHANNELS = ("email",)
#: ``pending``: waiting for its first or next attempt (due at ``next_attempt_at``);
#: ``sending``: claimed by a delivery worker, send in progress (the claim expires at
#: ``next_attempt_at``; an expired claim — its worker died — is claimed again);
#: ``sent``: the SMTP server (or the .eml folder) accepted it; ``failed``: refused for good
#: (a 5xx reply, or an address that cannot be delivered); ``dead``: every attempt failed
#: temporarily (4xx, server unreachable) and the last one was attempt ``DELIVERY_MAX_ATTEMPTS``;
#: ``suppressed``: never sent, the address left the e-mail's list (``notifier.unsubscribes``)
#: before it was planned or while it waited.
DELIVERY_STATUSES = ("pending", "sending", "sent", "failed", "dead", "suppressed")


class Delivery(Base):
    """One notification for one recipient of one event, from planning to its outcome.

    Unique per ``(event_id, channel, recipient)``: the consumer writes it ``pending`` in the
    transaction of its ``processed_events`` row, so a redelivered event adds nothing; a
    delivery worker sends it (``sending`` first, then ``sent``/``failed``, or back to
    ``pending`` with a later ``next_attempt_at``, or ``dead``). ``subject``, ``body_text`` and
    ``body_html`` are the rendered message (``body_*`` null on rows written before 0002 and on
    undeliverable ones); ``message_id`` is the RFC 5322 Message-ID, derived from the event id
    and the recipient, the same on every attempt. ``attempts`` counts sends tried; ``error`` is
    the last failure. ``headers``: extra header fields of the message (``{name: value}``, only
    the names of ``rendering.EXTRA_HEADERS``: ``List-Unsubscribe``, ``List-Unsubscribe-Post``,
    ``List-Id`` of a reminder; null for most e-mails); ``list_id``: the list (one of
    ``unsubscribes.models.LISTS``) an e-mail belongs to, so an unsubscribe suppresses the ones
    still waiting. ``next_attempt_at``: when a ``pending`` row is due, or when the claim of a
    ``sending`` row expires; null once final. Times are UTC.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "channel", "recipient"),
        CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed', 'dead', "
                        "'suppressed')", name="status"),
        CheckConstraint("channel IN ('email')", name="channel"),
        # the worker's claim: due pending rows (and expired claims) in due order
        Index("ix_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        # an unsubscribe suppresses the list's e-mails still waiting (few: a list's pending rows)
        Index("ix_deliveries_list_id_status", "list_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    event_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(200))
    initiative_id: Mapped[str | None] = mapped_column(String(200), index=True)
    channel: Mapped[str] = mapped_column(String(20), default="email")
    template: Mapped[str] = mapped_column(String(100))
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[dict[str, str] | None] = mapped_column(JSONType)
    list_id: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[str | None] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ProcessedEvent(ProcessedEventMixin, Base):
    """Events the notifier's consumer group already applied (see ``shared.consumer``)."""

    __tablename__ = "processed_events"
