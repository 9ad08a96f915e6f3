"""API shapes of progress reports and indicators (``registry.progress.views``).

Input schemas refuse unknown fields (422 naming them); drafts save leniently (every field
optional), submitting checks strictly (``service.submission_errors``). Output shapes per
audience: the public sees approved reports without ``source_ref``, reviewer or actions.
"""

from __future__ import annotations

from typing import Any

from babel.numbers import list_currencies
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from shared.events.types import DELIVERABLE_STATUSES, INDICATOR_MEASURES, PROGRESS_STATUSES
from shared.inputs import InputSchema

#: What the form and the API offer: the UN platform's vocabulary (``inactive`` is a legacy
#: value kept on import only).
FORM_PROGRESS_STATUSES = tuple(s for s in PROGRESS_STATUSES if s != "inactive")
#: ISO 4217 alphabetic codes (Babel's CLDR list).
CURRENCIES = frozenset(list_currencies())
#: largest amount of resources mobilised (a quadrillion: beyond any real commitment)
MAX_AMOUNT = 10**15
#: longest narrative accepted, in characters (HTML before sanitising)
MAX_NARRATIVE = 100_000


def between(low: int, high: int) -> Any:
    """A validator of ``low <= value <= high`` for a decimal field, documented by the
    field's ``metadata`` (``validate.Range`` on a decimal documents its bounds as strings:
    an invalid OpenAPI document, as ``registry.initiatives.schemas.validate_amount_usd``
    found)."""
    def check(value: Any) -> None:
        if value is not None and not low <= value <= high:
            raise ValidationError(f"Must be between {low} and {high}.")
    return check


def _currency(value: str) -> None:
    if value not in CURRENCIES:
        raise ValidationError("Not an ISO 4217 currency code (e.g. USD, EUR, CNY).")


class DeliverableUpdateInputSchema(InputSchema):
    """A deliverable's line: ``deliverable_id`` (one of the initiative's deliverables: 422
    naming ``deliverable_updates.<i>.deliverable_id`` otherwise), its ``status`` now
    (``DELIVERABLE_STATUSES``), a plain-text ``note`` (up to 5,000 characters)."""

    class Meta:
        unknown = RAISE

    deliverable_id = fields.UUID(required=True)
    status = fields.String(required=True, validate=validate.OneOf(DELIVERABLE_STATUSES))
    note = fields.String(load_default=None, allow_none=True,
                         validate=validate.Length(max=5000))


class IndicatorValueInputSchema(InputSchema):
    """An actual value (IATI ``period/actual``) of one of the initiative's indicators
    (``indicator_id``: 422 naming ``indicator_values.<i>.indicator_id`` otherwise) for the
    period ``period_start``..``period_end`` (default: the report's period); ``value``
    (decimal, null for a qualitative indicator), ``comment``."""

    class Meta:
        unknown = RAISE

    indicator_id = fields.UUID(required=True)
    value = fields.Decimal(load_default=None, allow_none=True, places=4,
                           validate=between(-MAX_AMOUNT, MAX_AMOUNT),
                           metadata={"minimum": -MAX_AMOUNT, "maximum": MAX_AMOUNT})
    period_start = fields.Date(load_default=None, allow_none=True)
    period_end = fields.Date(load_default=None, allow_none=True)
    comment = fields.String(load_default=None, allow_none=True,
                            validate=validate.Length(max=5000))


class MoneyInputSchema(InputSchema):
    """Resources mobilised: ``amount`` (>= 0, 2 decimals) in ``currency`` (ISO 4217, e.g.
    ``USD``, ``CNY``), ``description``."""

    class Meta:
        unknown = RAISE

    amount = fields.Decimal(required=True, places=2, validate=between(0, MAX_AMOUNT),
                            metadata={"minimum": 0, "maximum": MAX_AMOUNT})
    currency = fields.String(required=True, validate=_currency)
    description = fields.String(load_default=None, allow_none=True,
                                validate=validate.Length(max=1000))


class MilestoneInputSchema(InputSchema):
    """A dated milestone: ``date``, ``title`` (1-500 characters), ``achieved`` (default
    true)."""

    class Meta:
        unknown = RAISE

    date = fields.Date(required=True)
    title = fields.String(required=True, validate=validate.Length(min=1, max=500))
    achieved = fields.Boolean(load_default=True)


class ProgressReportInputSchema(InputSchema):
    """A progress report's fields, all optional (a draft saves leniently; ``submit`` checks
    strictly: period, overall status and narrative are required then).

    ``period_start``/``period_end`` ISO dates (end not before start: 422 naming
    ``period_end``), ``overall_status`` (on_track, off_track, completed, financial_issues,
    cancelled), ``progress_percent`` 0-100 (absent: rolled up from the deliverable updates
    and the deliverables' weights on approval), ``narrative_html`` (HTML, sanitised with nh3:
    paragraphs, emphasis, lists, headings, quotes and http(s)/mailto links are kept),
    ``deliverable_updates``, ``indicator_values``, ``resources_mobilised``, ``milestones``,
    ``links`` (absolute http(s) URLs), ``source_ref`` (the reporting system's own id of the
    report, up to 100 characters; unique per initiative)."""

    class Meta:
        unknown = RAISE

    period_start = fields.Date(load_default=None, allow_none=True)
    period_end = fields.Date(load_default=None, allow_none=True)
    overall_status = fields.String(load_default=None, allow_none=True,
                                   validate=validate.OneOf(FORM_PROGRESS_STATUSES))
    progress_percent = fields.Integer(load_default=None, allow_none=True,
                                      validate=validate.Range(min=0, max=100), strict=True)
    narrative_html = fields.String(load_default=None, allow_none=True,
                                   validate=validate.Length(max=MAX_NARRATIVE),
                                   metadata={"multiline": True})
    deliverable_updates = fields.List(fields.Nested(DeliverableUpdateInputSchema),
                                      load_default=None, validate=validate.Length(max=500))
    indicator_values = fields.List(fields.Nested(IndicatorValueInputSchema),
                                   load_default=None, validate=validate.Length(max=500))
    resources_mobilised = fields.List(fields.Nested(MoneyInputSchema), load_default=None,
                                      validate=validate.Length(max=100))
    milestones = fields.List(fields.Nested(MilestoneInputSchema), load_default=None,
                             validate=validate.Length(max=100))
    links = fields.List(fields.Url(schemes={"http", "https"}, require_tld=False,
                                   validate=validate.Length(max=2000)),
                        load_default=None, validate=validate.Length(max=50))
    source_ref = fields.String(load_default=None, allow_none=True,
                               validate=validate.Length(min=1, max=100))

    @validates_schema
    def _period(self, data: dict, **_kw) -> None:
        start, end = data.get("period_start"), data.get("period_end")
        if start and end and end < start:
            raise ValidationError(f"period_end {end} is before period_start {start}.",
                                  field_name="period_end")


class ProgressReportCreateSchema(ProgressReportInputSchema):
    """A new report (``POST …/progress-reports``): the fields of a draft plus ``submit``
    (true: submit at once, strictly checked: what a partner's system with ``progress:write``
    does)."""

    submit = fields.Boolean(load_default=False)


class ActionInputSchema(InputSchema):
    """Body of the report's actions: ``comment`` (required to request changes)."""

    class Meta:
        unknown = RAISE

    comment = fields.String(load_default=None, allow_none=True,
                            validate=validate.Length(max=10_000),
                            metadata={"multiline": True})


class IndicatorInputSchema(InputSchema):
    """An indicator (IATI 2.03 ``result/indicator``): ``title`` (1-500), ``unit`` (free
    text, e.g. "hectares"), ``measure`` (``unit``, ``percentage``, ``nominal``, ``ordinal``,
    ``qualitative``: IATI IndicatorMeasure), ``ascending`` (true: higher is better),
    ``baseline_value``/``baseline_year``, ``target_value``/``target_year`` (years
    1900-2100; target year not before the baseline year), ``sdg_indicator_code`` (one of
    the 251 official SDG indicators, e.g. ``14.5.1``: 422 naming it otherwise)."""

    class Meta:
        unknown = RAISE

    title = fields.String(required=True, validate=validate.Length(min=1, max=500))
    unit = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))
    measure = fields.String(load_default="unit", validate=validate.OneOf(INDICATOR_MEASURES))
    ascending = fields.Boolean(load_default=True)
    baseline_value = fields.Decimal(load_default=None, allow_none=True, places=4,
                                    validate=between(-MAX_AMOUNT, MAX_AMOUNT),
                                    metadata={"minimum": -MAX_AMOUNT, "maximum": MAX_AMOUNT})
    baseline_year = fields.Integer(load_default=None, allow_none=True, strict=True,
                                   validate=validate.Range(min=1900, max=2100))
    target_value = fields.Decimal(load_default=None, allow_none=True, places=4,
                                  validate=between(-MAX_AMOUNT, MAX_AMOUNT),
                                  metadata={"minimum": -MAX_AMOUNT, "maximum": MAX_AMOUNT})
    target_year = fields.Integer(load_default=None, allow_none=True, strict=True,
                                 validate=validate.Range(min=1900, max=2100))
    sdg_indicator_code = fields.String(load_default=None, allow_none=True,
                                       validate=validate.Length(max=20))

    @validates_schema
    def _years(self, data: dict, **_kw) -> None:
        base, target = data.get("baseline_year"), data.get("target_year")
        if base and target and target < base:
            raise ValidationError(f"target_year {target} is before baseline_year {base}.",
                                  field_name="target_year")


class IndicatorPatchSchema(IndicatorInputSchema):
    """Any subset of an indicator's fields."""

    title = fields.String(validate=validate.Length(min=1, max=500))
    measure = fields.String(validate=validate.OneOf(INDICATOR_MEASURES))
    ascending = fields.Boolean()


# -- output ----------------------------------------------------------------------------------
class DeliverableUpdateSchema(Schema):
    """A deliverable's line as returned (``description``: the deliverable's, null once it
    was removed from the initiative)."""

    deliverable_id = fields.UUID(allow_none=True)
    description = fields.String(allow_none=True)
    status = fields.String()
    note = fields.String(allow_none=True)


class IndicatorValueSchema(Schema):
    """An actual value as returned."""

    indicator_id = fields.UUID()
    title = fields.String(allow_none=True)
    value = fields.Decimal(as_string=True, allow_none=True)
    period_start = fields.Date(allow_none=True)
    period_end = fields.Date(allow_none=True)
    comment = fields.String(allow_none=True)


class ProgressReportPublicSchema(Schema):
    """An approved progress report as the public sees it."""

    id = fields.UUID()
    initiative_id = fields.UUID()
    number = fields.Integer()
    status = fields.String()
    period_start = fields.Date(allow_none=True)
    period_end = fields.Date(allow_none=True)
    reported_on = fields.Date(allow_none=True)
    overall_status = fields.String(allow_none=True)
    progress_percent = fields.Integer(allow_none=True)
    narrative_html = fields.String(allow_none=True)
    deliverable_updates = fields.List(fields.Nested(DeliverableUpdateSchema))
    indicator_values = fields.List(fields.Nested(IndicatorValueSchema))
    resources_mobilised = fields.List(fields.Dict())
    milestones = fields.List(fields.Dict())
    links = fields.List(fields.String())
    source = fields.String()
    submitted_at = fields.AwareDateTime(allow_none=True)
    approved_at = fields.AwareDateTime(allow_none=True)


class ProgressReportSchema(ProgressReportPublicSchema):
    """A progress report as its owner organisation and the secretariat see it: plus
    ``version`` (the ETag), ``source_ref``, the assigned reviewer, times, ``allowed_actions``
    (what the caller may do now) and ``warnings`` (what keeps a draft from being submitted:
    ``[{field, message}]``)."""

    version = fields.Integer()
    source_ref = fields.String(allow_none=True)
    assigned_reviewer_id = fields.UUID(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    allowed_actions = fields.List(fields.String())
    warnings = fields.List(fields.Dict())


class ProgressReportListSchema(Schema):
    """An initiative's progress reports, newest first (the public: approved ones only)."""

    initiative_id = fields.UUID()
    items = fields.List(fields.Nested(ProgressReportSchema))


class IndicatorSchema(Schema):
    """An indicator as returned (values as decimal strings)."""

    id = fields.UUID()
    initiative_id = fields.UUID()
    position = fields.Integer()
    title = fields.String()
    unit = fields.String(allow_none=True)
    measure = fields.String()
    ascending = fields.Boolean()
    baseline_value = fields.Decimal(as_string=True, allow_none=True)
    baseline_year = fields.Integer(allow_none=True)
    target_value = fields.Decimal(as_string=True, allow_none=True)
    target_year = fields.Integer(allow_none=True)
    sdg_indicator_code = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()


class IndicatorListSchema(Schema):
    """An initiative's indicators, in order."""

    initiative_id = fields.UUID()
    items = fields.List(fields.Nested(IndicatorSchema))


class SeriesPointSchema(Schema):
    """A point of the progress series: ``reported_on`` and ``percent``."""

    reported_on = fields.Date()
    percent = fields.Integer(allow_none=True)


class IndicatorSeriesSchema(Schema):
    """An indicator with its actual values over time (``actuals``: ``[period_end,
    value]`` pairs, oldest first)."""

    id = fields.UUID()
    title = fields.String()
    unit = fields.String(allow_none=True)
    baseline_value = fields.String(allow_none=True)
    baseline_year = fields.Integer(allow_none=True)
    target_value = fields.String(allow_none=True)
    target_year = fields.Integer(allow_none=True)
    actuals = fields.List(fields.List(fields.String(allow_none=True)))


class ProgressSeriesSchema(Schema):
    """The public chart data of an initiative: ``progress`` (``[{reported_on, percent}]``
    of its approved reports, oldest first) and ``indicators`` with their actuals."""

    initiative_id = fields.UUID()
    progress = fields.List(fields.Nested(SeriesPointSchema))
    indicators = fields.List(fields.Nested(IndicatorSeriesSchema))


class ReportCommentInputSchema(InputSchema):
    """Body of ``POST /api/v1/progress-reports/{id}/comments``: ``body`` (1-10,000
    characters), ``visibility`` (``participants`` default; ``internal``: a secretariat
    note)."""

    class Meta:
        unknown = RAISE

    body = fields.String(required=True, validate=validate.Length(min=1, max=10_000),
                         metadata={"multiline": True})
    visibility = fields.String(load_default="participants",
                               validate=validate.OneOf(("participants", "internal")))


class DeliverableWeightInputSchema(InputSchema):
    """A deliverable's weight: ``deliverable_id``, ``weight`` (0-1000, 3 decimals)."""

    class Meta:
        unknown = RAISE

    deliverable_id = fields.UUID(required=True)
    weight = fields.Decimal(required=True, places=3, validate=between(0, 1000),
                            metadata={"minimum": 0, "maximum": 1000})


class DeliverableWeightsInputSchema(InputSchema):
    """Body of ``PUT …/deliverable-weights``: ``weights`` (deliverables not named keep
    theirs)."""

    class Meta:
        unknown = RAISE

    weights = fields.List(fields.Nested(DeliverableWeightInputSchema), required=True,
                          validate=validate.Length(min=1, max=500))


class DeliverableWeightSchema(Schema):
    """A deliverable with its weight, as returned."""

    id = fields.UUID()
    description = fields.String()
    status = fields.String()
    weight = fields.Decimal(as_string=True, places=3)


class DeliverableWeightListSchema(Schema):
    """An initiative's deliverables with their weights and the progress they roll up to
    now (``rolled_up``: 0-100 or null)."""

    initiative_id = fields.UUID()
    items = fields.List(fields.Nested(DeliverableWeightSchema))
    rolled_up = fields.Integer(allow_none=True)
