"""API shapes of approved versions, their diff and revisions (``revision_views``).

The content inside versions and revisions is ``registry.initiatives.versions.content_of``'s
shape; diffs are ``versions.diff_content``'s.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from registry.initiatives.schemas import InitiativePatchSchema, ReviewSchema
from shared.events.types import REVISION_STATUSES
from shared.inputs import InputSchema

_CONTENT = {"description": "The initiative's content: title, description, lead_organization "
                           "{id, name, ...}|null, partners [{organization, role}], sdg_goals, "
                           "sdg_targets, countries, regions, start_date, end_date, "
                           "deliverables [{id, description, due_date, status}], resources "
                           "[{type, details, amount_usd}], contact_email (owner and "
                           "secretariat only). Dates ISO, amounts strings with 2 decimals."}


class VersionSummarySchema(Schema):
    """An approved version in the list: ``number`` (1 at first approval, +1 per approved
    revision), when and by whom it was approved (the e-mail for owner and secretariat only),
    the revision it came from (null for version 1), the fields it changed, and whether it is
    the ``current`` version the public sees."""

    number = fields.Integer()
    approved_at = fields.AwareDateTime()
    approved_by_name = fields.String(allow_none=True)
    approved_by_email = fields.String(allow_none=True)
    revision_number = fields.Integer(allow_none=True)
    changed_fields = fields.List(fields.String())
    current = fields.Boolean()


class VersionListSchema(Schema):
    """The approved versions of an initiative, oldest first."""

    initiative_id = fields.UUID()
    approved_version = fields.Integer(allow_none=True, metadata={
        "description": "The version the public sees (null before the first approval)."})
    items = fields.List(fields.Nested(VersionSummarySchema))


class VersionSchema(VersionSummarySchema):
    """One approved version with its whole content."""

    initiative_id = fields.UUID()
    content = fields.Dict(metadata=_CONTENT)


class DiffQuerySchema(InputSchema):
    """``from`` and ``to``: version numbers (from 1). Default: ``to`` the current version,
    ``from`` the one before it."""

    class Meta:
        unknown = RAISE

    from_ = fields.Integer(data_key="from", load_default=None,
                           validate=validate.Range(min=1, max=1_000_000))
    to = fields.Integer(load_default=None, validate=validate.Range(min=1, max=1_000_000))


class FieldChangeSchema(Schema):
    """A one-value field that differs: ``change`` ``added`` (was empty), ``removed`` (now
    empty) or ``changed``."""

    field = fields.String()
    change = fields.String(validate=validate.OneOf(("added", "removed", "changed")))
    before = fields.Raw(allow_none=True)
    after = fields.Raw(allow_none=True)


class ItemChangeSchema(Schema):
    """An item of a list present on both sides with different ``fields``: ``key`` is the
    partner's organisation id, the deliverable's id, or the resource's 0-based position."""

    key = fields.Raw()
    before = fields.Dict()
    after = fields.Dict()
    fields_ = fields.List(fields.String(), data_key="fields")


class ListChangeSchema(Schema):
    """A list field compared item by item: codes (goals, targets, countries, regions) by
    code, partners by organisation, deliverables by id, resources by position."""

    added = fields.List(fields.Raw())
    removed = fields.List(fields.Raw())
    changed = fields.List(fields.Nested(ItemChangeSchema))
    unchanged = fields.Integer(metadata={"description": "Items the same on both sides."})


class DiffSchema(Schema):
    """The difference between two contents (``versions.diff_content``): ``fields`` (one-value
    fields that differ), ``lists`` (list fields that differ, item by item), and the names of
    all the fields that differ (``changed_fields``, in content order). The public's diff
    leaves out the contact e-mail."""

    from_ = fields.Integer(data_key="from", allow_none=True)
    to = fields.Integer(allow_none=True)
    fields_ = fields.List(fields.Nested(FieldChangeSchema), data_key="fields")
    lists = fields.Dict(keys=fields.String(), values=fields.Nested(ListChangeSchema))
    changed_fields = fields.List(fields.String())


# -- revisions -------------------------------------------------------------------------------
class RevisionInputSchema(InitiativePatchSchema):
    """Body of ``POST …/revisions`` and ``PATCH …/revisions/{n}``: any subset of the
    initiative's fields (``InitiativePatchSchema``), applied to the revision's proposed
    content (starting from the approved content). Deliverables may carry their ``id`` to
    stay the same deliverable."""

    class Meta:
        unknown = RAISE
        exclude = ("owner_organization_id",)


class RevisionActionSchema(ReviewSchema):
    """Body of the revision actions: ``comment`` (required to request changes or reject)."""


class RevisionSummarySchema(Schema):
    """A revision in the list."""

    number = fields.Integer()
    status = fields.String(validate=validate.OneOf(REVISION_STATUSES))
    base_version = fields.Integer(allow_none=True)
    version = fields.Integer(metadata={"description": "Change counter (the ETag)."})
    changed_fields = fields.List(fields.String(), metadata={
        "description": "Fields the revision changes against the current approved version."})
    assigned_reviewer_id = fields.UUID(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    submitted_at = fields.AwareDateTime(allow_none=True)
    decided_at = fields.AwareDateTime(allow_none=True)


class RevisionSchema(RevisionSummarySchema):
    """A revision as its owner organisation and the secretariat see it: the proposed
    ``content`` and the actions the caller may take now."""

    id = fields.UUID()
    initiative_id = fields.UUID()
    content = fields.Dict(metadata=_CONTENT)
    allowed_actions = fields.List(fields.String())


class RevisionListSchema(Schema):
    """The revisions of an initiative, newest first."""

    initiative_id = fields.UUID()
    items = fields.List(fields.Nested(RevisionSummarySchema))
