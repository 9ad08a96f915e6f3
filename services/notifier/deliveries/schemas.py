"""Output shapes of the deliveries API."""

from __future__ import annotations

from marshmallow import Schema, fields


class ChannelSchema(Schema):
    """A delivery channel: ``code`` (stored in ``deliveries.channel``), a name and what it
    carries."""

    code = fields.String(required=True, metadata={"example": "email"})
    name = fields.String(required=True, metadata={"example": "E-mail"})
    description = fields.String(required=True)
