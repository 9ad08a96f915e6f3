"""API shapes of the audit log."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from registry.audit.service import Outcome
from shared.inputs import InputSchema


class AuditQuerySchema(InputSchema):
    """Query of ``GET /api/v1/audit``."""

    event = fields.String(load_default=None, validate=validate.Length(max=80), metadata={
        "description": "Event name (`account.sign_in`) or a prefix ending in `.` "
                       "(`account.`)."})
    outcome = fields.String(load_default=None,
                            validate=validate.OneOf([o.value for o in Outcome]))
    actor = fields.String(load_default=None, validate=validate.Length(max=320), metadata={
        "description": "The actor's subject (user id, client id) or e-mail."})
    subject = fields.String(load_default=None, validate=validate.Length(max=200))
    ip = fields.String(load_default=None, validate=validate.Length(max=45))
    since = fields.AwareDateTime(load_default=None, metadata={
        "description": "RFC 3339, inclusive."})
    until = fields.AwareDateTime(load_default=None, metadata={
        "description": "RFC 3339, exclusive."})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class AuditEntrySchema(Schema):
    """One audit row: never a password, token or link."""

    id = fields.Integer()
    occurred_at = fields.AwareDateTime()
    event = fields.String()
    outcome = fields.String()
    actor_kind = fields.String()
    actor_subject = fields.String(allow_none=True)
    actor_email = fields.String(allow_none=True)
    subject = fields.String(allow_none=True)
    ip = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    detail = fields.Dict()


class AuditPageSchema(Schema):
    """A page of audit rows, newest first."""

    items = fields.List(fields.Nested(AuditEntrySchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()
