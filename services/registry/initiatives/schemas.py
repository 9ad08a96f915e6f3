"""API shapes of initiatives: input (strict, ``unknown = RAISE``) and output per audience.

Public output never includes the contact e-mail, the owner or review comments; owners and the
secretariat see them (``InitiativeDetailSchema``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates,
    validates_schema,
)

from registry.organizations.schemas import (
    OrganizationBriefSchema,
    validate_country,
)
from registry.reference import PARTNER_ROLES, RESOURCE_TYPES
from shared import reference
from shared.events.types import DELIVERABLE_STATUSES, INITIATIVE_STATUSES, REPORTING_STATUSES
from shared.inputs import InputSchema


def validate_target(code: str) -> None:
    """An official SDG target code of the framework (``14.1``, ``12.a``)."""
    if code not in reference.targets():
        raise ValidationError(f"Unknown SDG target {code!r}: use an official code such as "
                              "'14.1' or '12.a'.")


def validate_region(code: str) -> None:
    """A UN M49 region code (``001`` World, ``002`` Africa, ``009`` Oceania, ``419`` …)."""
    if code not in reference.regions():
        raise ValidationError(f"Unknown M49 region {code!r}: see GET /api/v1/reference/regions.")


class PartnerInputSchema(InputSchema):
    """A partner: an existing organisation id and its role."""

    class Meta:
        unknown = RAISE

    organization_id = fields.UUID(required=True)
    role = fields.String(load_default="partner",
                         validate=validate.OneOf(list(PARTNER_ROLES)))


class DeliverableInputSchema(InputSchema):
    """A deliverable: description (1-5000 characters), due date (ISO date), ``status``
    (``planned``, ``in_progress``, ``achieved``, ``delayed``, ``cancelled``; default: kept,
    ``planned`` for a new one) and ``id``: an existing deliverable's id keeps it (and its
    identity across versions); a row without one is a new deliverable; an id the initiative
    has no deliverable with is refused (422 naming ``deliverables.<i>.id``)."""

    class Meta:
        unknown = RAISE

    id = fields.UUID(load_default=None, allow_none=True)
    description = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    due_date = fields.Date(load_default=None, allow_none=True)
    status = fields.String(load_default=None, allow_none=True,
                           validate=validate.OneOf(DELIVERABLE_STATUSES))
    #: (progress) issue 9: its share of the initiative's progress, relative to the other
    #: deliverables' weights (0-1000, 3 decimals; default: kept, 1 for a new one)
    weight = fields.Decimal(load_default=None, allow_none=True, places=3,
                            validate=validate.Range(min=0, max=1000))


#: largest amount of a resource, in USD (a quadrillion: beyond any real commitment)
MAX_AMOUNT_USD = 10**15


def validate_amount_usd(value: Any) -> None:
    """0 <= amount <= :data:`MAX_AMOUNT_USD` (a plain validator: ``validate.Range`` on this
    string-dumped decimal documented its bounds as strings, an invalid OpenAPI document)."""
    if value is not None and not 0 <= value <= MAX_AMOUNT_USD:
        raise ValidationError(f"Must be between 0 and {MAX_AMOUNT_USD}.")


class ResourceInputSchema(InputSchema):
    """A resource: type code, details, and for financing an optional amount in USD (>= 0)."""

    class Meta:
        unknown = RAISE

    type = fields.String(required=True, validate=validate.OneOf(list(RESOURCE_TYPES)))
    details = fields.String(load_default=None, allow_none=True,
                            validate=validate.Length(max=5000))
    amount_usd = fields.Decimal(load_default=None, allow_none=True, places=2, as_string=True,
                                validate=validate_amount_usd,
                                metadata={"minimum": 0, "maximum": MAX_AMOUNT_USD})


_GOAL = fields.Integer(validate=validate.Range(min=1, max=17))


class InitiativeInputSchema(InputSchema):
    """Input of ``POST /api/v1/initiatives`` (a draft) and ``PATCH`` (partial).

    Drafts save leniently: only ``title`` is required on creation; submitting checks the SMART
    fields (see ``service.SUBMIT_REQUIREMENTS``). Dates are ISO ``YYYY-MM-DD``; ``end_date`` may
    not precede ``start_date``. ``sdg_goals`` adds goals tagged without a target (goals of the
    targets are derived).
    """

    class Meta:
        unknown = RAISE

    title = fields.String(required=True, validate=validate.Length(min=3, max=500))
    description = fields.String(load_default=None, allow_none=True,
                                validate=validate.Length(max=20_000))
    lead_organization_id = fields.UUID(load_default=None, allow_none=True)
    owner_organization_id = fields.UUID(
        load_default=None, allow_none=True,
        metadata={"description": "The organisation the draft belongs to (its members edit and "
                                 "submit it). Default: the caller's only organisation; the "
                                 "secretariat names the organisation it drafts for (default "
                                 "the lead entity). Set on creation only."})
    partners = fields.List(fields.Nested(PartnerInputSchema), load_default=None,
                           validate=validate.Length(max=200))
    sdg_targets = fields.List(fields.String(validate=validate_target), load_default=None,
                              validate=validate.Length(max=169))
    sdg_goals = fields.List(_GOAL, load_default=None, validate=validate.Length(max=17))
    countries = fields.List(fields.String(validate=validate_country), load_default=None,
                            validate=validate.Length(max=250),
                            metadata={"description": "ISO 3166-1 alpha-3 codes"})
    regions = fields.List(fields.String(validate=validate_region), load_default=None,
                          validate=validate.Length(max=50),
                          metadata={"description": "UN M49 region codes"})
    start_date = fields.Date(load_default=None, allow_none=True)
    end_date = fields.Date(load_default=None, allow_none=True)
    deliverables = fields.List(fields.Nested(DeliverableInputSchema), load_default=None,
                               validate=validate.Length(max=200))
    resources = fields.List(fields.Nested(ResourceInputSchema), load_default=None,
                            validate=validate.Length(max=100))
    contact_email = fields.Email(load_default=None, allow_none=True,
                                 validate=validate.Length(max=320))

    @validates("countries")
    def _unique_countries(self, value, **_kw):
        if value and len(set(value)) != len(value):
            raise ValidationError("Countries are listed more than once.")

    @validates_schema
    def _dates(self, data, **_kw):
        start, end = data.get("start_date"), data.get("end_date")
        if start and end and end < start:
            raise ValidationError(f"end_date {end} is before start_date {start}.", "end_date")


class InitiativePatchSchema(InitiativeInputSchema):
    """Input of ``PATCH /api/v1/initiatives/{id}``: any subset of the fields (not the owner)."""

    class Meta:
        unknown = RAISE
        exclude = ("owner_organization_id",)

    title = fields.String(validate=validate.Length(min=3, max=500))

    def __init__(self, *args, **kwargs):
        # marshmallow has no ``Meta.partial``: without ``partial=True`` every omitted field
        # would load as its ``load_default`` (None) and a PATCH would wipe it.
        kwargs.setdefault("partial", True)
        super().__init__(*args, **kwargs)


class ReviewSchema(InputSchema):
    """Body of the review actions: the reviewer's ``comment`` (required to request changes or
    reject; optional otherwise)."""

    class Meta:
        unknown = RAISE

    comment = fields.String(load_default=None, allow_none=True,
                            validate=validate.Length(max=10_000))


class InitiativeQuerySchema(InputSchema):
    """Filters of ``GET /api/v1/initiatives``: ``sdg`` goal 1-17, ``target`` code, ``country``
    alpha-3, ``status``, ``reporting_status`` (green, yellow, red), ``q`` free text (title,
    description, lead entity, public id); ``page`` from 1, ``per_page`` 1-100."""

    class Meta:
        unknown = RAISE

    sdg = fields.Integer(load_default=None, validate=validate.Range(min=1, max=17))
    target = fields.String(load_default=None, validate=validate_target)
    country = fields.String(load_default=None, validate=validate_country)
    region = fields.String(load_default=None, validate=validate_region)
    status = fields.String(load_default=None, validate=validate.OneOf(INITIATIVE_STATUSES))
    # the reporting light (issue 9: registry.compliance)
    reporting_status = fields.String(load_default=None,
                                     validate=validate.OneOf(REPORTING_STATUSES))
    q = fields.String(load_default=None, validate=validate.Length(max=200))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class _PlainList(fields.List):
    """An output list whose items already have their JSON type (codes read as ints/strings):
    copied as is instead of through the item field one by one (a list page has ~240 such
    items; the OpenAPI document still shows the item field)."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else list(value)


class PartnerSchema(Schema):
    """A partner as returned."""

    organization = fields.Nested(OrganizationBriefSchema)
    role = fields.String()
    confirmed = fields.Boolean(metadata={
        "description": "False while the organisation has not confirmed it takes part "
                       "(a link proposed by another organisation)"})


class DeliverableSchema(Schema):
    """A deliverable as returned: stable ``id``, description, due date, ``status``,
    ``weight`` in the initiative's progress (decimal string, default ``"1.000"``)."""

    id = fields.UUID(allow_none=True)
    description = fields.String()
    due_date = fields.Date(allow_none=True)
    status = fields.String()
    weight = fields.Decimal(as_string=True, places=3, dump_default="1.000")


class ResourceSchema(Schema):
    """A resource as returned."""

    type = fields.String()
    details = fields.String(allow_none=True)
    amount_usd = fields.Decimal(allow_none=True, as_string=True)


class InitiativeSummarySchema(Schema):
    """An initiative in lists (public fields only)."""

    id = fields.UUID()
    public_id = fields.String(allow_none=True)
    status = fields.String()
    title = fields.String()
    lead_organization = fields.Nested(OrganizationBriefSchema, allow_none=True)
    sdg_goals = _PlainList(fields.Integer(), attribute="goal_codes")
    sdg_targets = _PlainList(fields.String(), attribute="target_codes")
    countries = _PlainList(fields.String(), attribute="country_codes")
    regions = _PlainList(fields.String(), attribute="region_codes")
    start_date = fields.Date(allow_none=True)
    end_date = fields.Date(allow_none=True)
    published_at = fields.AwareDateTime(allow_none=True)
    updated_at = fields.AwareDateTime()


class InitiativePublicSchema(InitiativeSummarySchema):
    """An initiative as anyone sees it. ``lead_confirmed`` is false while the lead entity has
    not confirmed it leads the initiative (a link proposed by another organisation)."""

    lead_confirmed = fields.Boolean()
    description = fields.String(allow_none=True)
    partners = fields.List(fields.Nested(PartnerSchema))
    deliverables = fields.List(fields.Nested(DeliverableSchema))
    resources = fields.List(fields.Nested(ResourceSchema))
    source = fields.String(allow_none=True)
    source_ref = fields.String(allow_none=True)
    source_url = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    version = fields.Integer(metadata={"description": "Change counter (the ETag)."})
    approved_version = fields.Integer(allow_none=True, metadata={
        "description": "Number of the approved version the public sees (null before the "
                       "first approval)."})
    completion_declared_at = fields.AwareDateTime(allow_none=True)
    completed_at = fields.AwareDateTime(allow_none=True)
    archived_at = fields.AwareDateTime(allow_none=True)
    withdrawn_at = fields.AwareDateTime(allow_none=True)
    # (progress) issue 9: rolled up from the approved progress reports
    progress_percent = fields.Integer(allow_none=True, metadata={
        "description": "Progress 0-100 from the last approved progress report (its own "
                       "figure, else the weighted share of deliverables achieved); null "
                       "before the first."})
    progress_reports_count = fields.Integer(metadata={
        "description": "Number of approved progress reports."})
    last_progress_report_on = fields.Date(allow_none=True, metadata={
        "description": "reported_on of the last approved progress report."})


class ActivitySchema(Schema):
    """One timeline entry (what ``registry.workflow.schemas.ThreadEntrySchema`` shows, plus
    ``comment``, the same text as ``body``, for older clients)."""

    id = fields.UUID(allow_none=True)
    kind = fields.String()
    action = fields.String()
    from_status = fields.String(allow_none=True)
    to_status = fields.String(allow_none=True)
    comment = fields.String(allow_none=True)
    body = fields.String(allow_none=True)
    visibility = fields.String()
    reply_to_id = fields.UUID(allow_none=True)
    revision_number = fields.Integer(allow_none=True)
    actor_role = fields.String()
    actor_name = fields.String(allow_none=True)
    actor_email = fields.String(allow_none=True)
    changes = fields.Dict(allow_none=True)
    created_at = fields.AwareDateTime()


class InitiativeDetailSchema(InitiativePublicSchema):
    """An initiative as its owner and the secretariat see it: plus contact, timeline and the
    actions the caller may take now."""

    contact_email = fields.String(allow_none=True)
    owner_organization_id = fields.UUID(allow_none=True)
    submitted_at = fields.AwareDateTime(allow_none=True)
    suspended_at = fields.AwareDateTime(allow_none=True)
    assigned_reviewer_id = fields.UUID(allow_none=True)
    timeline = fields.List(fields.Nested(ActivitySchema))
    allowed_actions = _PlainList(fields.String())


class InitiativePageSchema(Schema):
    """A page of initiatives: ``items``, ``page``, ``per_page``, ``total`` and
    ``total_is_estimate``.

    ``total`` is the exact number of matches up to 1,000; past that (PostgreSQL) it is the
    query planner's estimate and ``total_is_estimate`` is true: counting every match of a
    common filter at 100,000+ records would cost more than the page.
    """

    items = fields.List(fields.Nested(InitiativeSummarySchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer(metadata={"description": "Matches: exact, or an estimate past "
                                                    "1,000 when total_is_estimate is true."})
    total_is_estimate = fields.Boolean(metadata={
        "description": "True when total is the planner's estimate (more than 1,000 matches)."})


def fast_dumper(schema: Schema) -> Callable[[Any], dict]:
    """A function equal to ``schema.dump(obj)`` for an object with every attribute the
    schema reads, several times faster: the schema's fields (keys, order, ``attribute``,
    nesting) are resolved once, each value is converted as its field would (``UUID`` →
    ``str``, ``Date``/``DateTime`` ISO → ``isoformat()``, ``Integer`` → ``int``, ``String``
    as is, :class:`_PlainList` → a copy, ``Nested`` recursively; ``None`` stays ``None``).

    Raises ``TypeError`` for any other field (or option, e.g. ``as_string``): those dump
    through marshmallow. Used for list pages (20 items × 20 fields through marshmallow were
    ~1 ms); ``tests/registry/unit/test_registry_initiatives.py`` keeps it equal to ``dump``.
    """
    steps: list[tuple[str, str, Callable[[Any], Any] | None]] = []
    for key, field in schema.dump_fields.items():
        steps.append((field.data_key or key, field.attribute or key, _converter(field)))

    def dump(obj: Any) -> dict:
        out = {}
        for key, attribute, convert in steps:
            value = getattr(obj, attribute)
            out[key] = value if value is None or convert is None else convert(value)
        return out

    return dump


def _converter(field: fields.Field) -> Callable[[Any], Any] | None:
    kind = type(field)
    if kind is _PlainList:
        return list
    if kind is fields.Nested and isinstance(field, fields.Nested) and not field.many:
        return fast_dumper(field.schema)
    if kind is fields.UUID:
        return str
    if isinstance(field, fields.Date | fields.DateTime) and kind in (
            fields.Date, fields.DateTime, fields.AwareDateTime) and field.format in (
            None, "iso", "iso8601"):
        return field.SERIALIZATION_FUNCS["iso"]
    if kind is fields.String:
        return None  # the attributes dumped this way hold text already
    if kind is fields.Integer and isinstance(field, fields.Integer) and not field.as_string:
        return int
    raise TypeError(f"no fast dump for {kind.__name__} field {field.name!r}")


class LinkAnswerSchema(Schema):
    """The answer to a proposed lead/partner link: ``status`` ``confirmed`` or ``declined``."""

    initiative_id = fields.UUID()
    organization_id = fields.UUID()
    status = fields.String()
