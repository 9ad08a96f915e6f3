"""API shapes of the reporting light: the compliance of one initiative, the dashboard, the
manual reminder, and the ``as_of`` query parameter."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from marshmallow import RAISE, Schema, fields, validate

from shared.events.types import REPORTING_STATUSES
from shared.inputs import InputSchema


class AsOf(fields.Field):
    """An ISO 8601 moment: a date (``2026-03-01``: that day, to its end, UTC) or a date-time
    (``2026-03-01T12:00:00Z``; without an offset: UTC)."""

    default_error_messages = {"invalid": "An ISO 8601 date (2026-03-01) or date-time "
                                         "(2026-03-01T12:00:00Z)."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any):
        if not isinstance(value, str) or not value.strip():
            raise self.make_error("invalid")
        text = value.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise self.make_error("invalid") from None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class ComplianceQuerySchema(InputSchema):
    """``GET /api/v1/initiatives/{id}/compliance``: ``as_of`` (date or date-time; default
    now)."""

    class Meta:
        unknown = RAISE

    as_of = AsOf(load_default=None, metadata={"type": "string", "format": "date-time"})


class ReminderBriefSchema(Schema):
    """A reminder decided: ``kind`` (upcoming, due, yellow, red, manual), the cycle it
    belongs to (``anchor_on``), the light then, when (UTC), ``covered_by`` (null: sent; else
    the reminder sent in its place)."""

    id = fields.UUID()
    kind = fields.String()
    anchor_on = fields.Date()
    reporting_status = fields.String(allow_none=True)
    decided_at = fields.AwareDateTime()
    covered_by = fields.UUID(allow_none=True)


class ComplianceSchema(Schema):
    """The reporting light of an initiative as of ``as_of`` (UN DESA's rule; thresholds:
    ``REPORTING_YELLOW_MONTHS``, ``REPORTING_RED_MONTHS``, ``REPORTING_REMINDER_DAYS_BEFORE``):
    ``status`` green / yellow / red (null: not active — not published, or completed,
    withdrawn...), ``inactive`` (red), ``anchor_on`` the cycle's start (publication or last
    approved report), ``last_report_on``, ``upcoming_on`` (first reminder), ``yellow_on``
    (report due; light yellow), ``red_on``, and the ``reminders`` decided by then."""

    initiative_id = fields.UUID()
    public_id = fields.String(allow_none=True)
    status = fields.String(allow_none=True, metadata={"enum": list(REPORTING_STATUSES)})
    active = fields.Boolean()
    inactive = fields.Boolean()
    as_of = fields.AwareDateTime()
    published_on = fields.Date(allow_none=True)
    anchor_on = fields.Date(allow_none=True)
    last_report_on = fields.Date(allow_none=True)
    upcoming_on = fields.Date(allow_none=True)
    yellow_on = fields.Date(allow_none=True)
    red_on = fields.Date(allow_none=True)
    reminders = fields.List(fields.Nested(ReminderBriefSchema))


class _Recipient(Schema):
    email = fields.String()
    locale = fields.String()
    role = fields.String()
    user_id = fields.String(allow_none=True)


class ReminderSchema(Schema):
    """A reminder sent now (``kind`` manual): the light and cycle then, when the report is
    due (``due_on``), and who it goes to (the owner organisation's verified members)."""

    id = fields.UUID()
    kind = fields.String()
    initiative_id = fields.UUID()
    reporting_status = fields.String(allow_none=True)
    anchor_on = fields.Date()
    due_on = fields.Date()
    decided_at = fields.AwareDateTime()
    recipients = fields.List(fields.Nested(_Recipient))


class DashboardQuerySchema(InputSchema):
    """Filters of ``GET /api/v1/compliance``: ``status`` (green, yellow, red; default yellow
    and red), ``stakeholder_group`` (the lead entity's), ``region`` (M49 code, covered),
    ``sdg`` (goal 1-17), ``as_of`` (date or date-time: the lights computed as of then; default
    the stored ones), ``page`` from 1, ``per_page`` 1-500."""

    class Meta:
        unknown = RAISE

    status = fields.String(load_default=None, validate=validate.OneOf(REPORTING_STATUSES))
    stakeholder_group = fields.String(load_default=None, validate=validate.Length(max=50))
    region = fields.String(load_default=None, validate=validate.Length(max=3))
    sdg = fields.Integer(load_default=None, validate=validate.Range(min=1, max=17))
    as_of = AsOf(load_default=None, metadata={"type": "string", "format": "date-time"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class InitiativeRefSchema(Schema):
    """An initiative as the compliance lists name it (``ComplianceInitiativeRef``)."""

    id = fields.String()
    public_id = fields.String(allow_none=True)
    title = fields.String()
    owner_organization_id = fields.String(allow_none=True)
    owner_organization_name = fields.String(allow_none=True)
    stakeholder_group = fields.String(allow_none=True)
    countries = fields.List(fields.String())
    regions = fields.List(fields.String())
    sdg_goals = fields.List(fields.Integer())
    url = fields.String(allow_none=True)


class DashboardRowSchema(Schema):
    """A yellow or red initiative: since when (``since``), its cycle's dates, the reminders
    sent in the current cycle (kinds) and the last one's time."""

    initiative = fields.Nested(InitiativeRefSchema)
    status = fields.String()
    since = fields.AwareDateTime(allow_none=True)
    anchor_on = fields.Date(allow_none=True)
    last_report_on = fields.Date(allow_none=True)
    yellow_on = fields.Date(allow_none=True)
    red_on = fields.Date(allow_none=True)
    inactive = fields.Boolean()
    reminders = fields.List(fields.String())
    last_reminder_at = fields.AwareDateTime(allow_none=True)


class _Counts(Schema):
    green = fields.Integer()
    yellow = fields.Integer()
    red = fields.Integer()


class _Filters(Schema):
    stakeholder_group = fields.String(allow_none=True)
    region = fields.String(allow_none=True)
    sdg = fields.Integer(allow_none=True)


class DashboardSchema(Schema):
    """The secretariat's compliance dashboard: ``counts`` of active initiatives by light,
    ``rows`` (a page of the ``status`` list, default yellow and red, the oldest cycles
    first), ``total``, ``page``, ``per_page``, ``as_of``, the ``filters`` applied."""

    as_of = fields.AwareDateTime()
    counts = fields.Nested(_Counts)
    rows = fields.List(fields.Nested(DashboardRowSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
    status = fields.String(allow_none=True)
    filters = fields.Nested(_Filters)
