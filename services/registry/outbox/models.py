"""``outbox_events``: the registry's events waiting for (or done with) the bus."""

from __future__ import annotations

from registry.db import Base
from shared.outbox import OutboxMixin


class OutboxEvent(OutboxMixin, Base):
    """One CloudEvent written with the change it describes; ``published_at`` set on broker ack."""

    __tablename__ = "outbox_events"
