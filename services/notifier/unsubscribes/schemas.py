"""Output shape of the unsubscribe API."""

from __future__ import annotations

from marshmallow import Schema, fields


class SubscriptionSchema(Schema):
    """What an unsubscribe token names: the ``address`` (lower-cased), the ``list``
    (``progress-reminders``), whether it left it and since when (RFC 3339 UTC, or null)."""

    address = fields.String(required=True, metadata={"example": "ann@partner.example"})
    list = fields.String(required=True, attribute="list_id",
                         metadata={"example": "progress-reminders"})
    unsubscribed = fields.Method("_unsubscribed", metadata={"type": "boolean"})
    unsubscribed_at = fields.DateTime(allow_none=True)

    def _unsubscribed(self, obj) -> bool:
        return obj.unsubscribed_at is not None
