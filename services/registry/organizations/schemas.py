"""API shapes of organisations."""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates

from registry.organizations.names import contact_details_in
from shared import reference
from shared.inputs import InputSchema


def validate_country(value: str | None) -> None:
    """ISO 3166-1 alpha-3 code of a UN M49 country or area (e.g. ``KEN``)."""
    if value is not None and value not in reference.countries():
        raise ValidationError(f"Unknown country code {value!r}: use ISO 3166-1 alpha-3 "
                              "(e.g. KEN, FJI).")


def validate_organization_name(value: str) -> None:
    """An organisation's name holds no e-mail address nor telephone number (personal data;
    ``registry.organizations.names``)."""
    details = contact_details_in(value)
    if details:
        raise ValidationError(f"An organisation name may not contain {' or '.join(details)}: "
                              "give contact details elsewhere.")


class OrganizationCreateSchema(InputSchema):
    """Input of ``POST /api/v1/organizations``."""

    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=2, max=300))
    acronym = fields.String(load_default=None, allow_none=True,
                            validate=validate.Length(max=50))
    stakeholder_group = fields.String(
        required=True, validate=validate.OneOf(list(reference.STAKEHOLDER_GROUPS)),
        metadata={"description": "Code, see GET /api/v1/reference/stakeholder-groups"})
    country = fields.String(load_default=None, allow_none=True,
                            metadata={"description": "ISO 3166-1 alpha-3 of its seat"})
    website = fields.Url(load_default=None, allow_none=True, schemes={"http", "https"},
                         validate=validate.Length(max=500),
                         metadata={"description": "http(s) address of its website"})

    @validates("country")
    def _country(self, value, **_kw):
        validate_country(value)

    @validates("name")
    def _no_contact_details(self, value, **_kw):
        validate_organization_name(value)


class OrganizationBriefSchema(Schema):
    """An organisation as named inside an initiative (lead entity, partner)."""

    id = fields.UUID(dump_only=True)
    name = fields.String()
    acronym = fields.String(allow_none=True)
    stakeholder_group = fields.String()
    country = fields.String(allow_none=True)
    created_at = fields.AwareDateTime(dump_only=True)


class OrganizationSchema(OrganizationBriefSchema):
    """An organisation as the API returns it. ``verification_status``: ``unverified`` or
    ``verified`` (the secretariat verifies organisations; their initiatives are published
    only then); ``merged_into_id``: set on a duplicate merged into another organisation
    (follow it)."""

    website = fields.String(allow_none=True)
    verification_status = fields.String()
    verified_at = fields.AwareDateTime(allow_none=True)
    merged_into_id = fields.UUID(allow_none=True)


class OrganizationQuerySchema(InputSchema):
    """Query of ``GET /api/v1/organizations``."""

    class Meta:
        unknown = RAISE

    q = fields.String(load_default=None, validate=validate.Length(max=200))
    stakeholder_group = fields.String(load_default=None,
                                      validate=validate.OneOf(list(reference.STAKEHOLDER_GROUPS)))
    country = fields.String(load_default=None)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class OrganizationPageSchema(Schema):
    """A page of organisations."""

    items = fields.List(fields.Nested(OrganizationSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


ROLES = ("member", "admin")  # shared.identity.OrgRole values


class MemberSchema(Schema):
    """A member: the person's id, e-mail, display name and role (``member``/``admin``)."""

    user_id = fields.UUID()
    email = fields.String()
    display_name = fields.String()
    role = fields.String()
    since = fields.AwareDateTime()


class RoleSchema(InputSchema):
    """Input of ``PATCH /api/v1/organizations/{id}/members/{user_id}``."""

    class Meta:
        unknown = RAISE

    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class InvitationInputSchema(InputSchema):
    """Input of ``POST /api/v1/organizations/{id}/invitations``."""

    class Meta:
        unknown = RAISE

    email = fields.Email(required=True, validate=validate.Length(max=320))
    role = fields.String(load_default="member", validate=validate.OneOf(ROLES))


class InvitationSchema(Schema):
    """An invitation as its organisation's admins see it (never the token)."""

    id = fields.UUID()
    organization_id = fields.UUID()
    email = fields.String()
    role = fields.String()
    status = fields.String()
    created_at = fields.AwareDateTime()
    expires_at = fields.AwareDateTime()


class InvitationAnswerSchema(InputSchema):
    """Input of ``POST /api/v1/organizations/invitations/accept`` (and ``decline``): the token
    from the e-mailed link."""

    class Meta:
        unknown = RAISE

    token = fields.String(required=True, validate=validate.Length(min=10, max=200))


class JoinRequestInputSchema(InputSchema):
    """Input of ``POST /api/v1/organizations/{id}/join-requests``."""

    class Meta:
        unknown = RAISE

    message = fields.String(load_default=None, allow_none=True,
                            validate=validate.Length(max=2000))


class JoinRequestSchema(Schema):
    """A join request (the requester's e-mail shown to the organisation's admins)."""

    id = fields.UUID()
    organization_id = fields.UUID()
    user_id = fields.UUID()
    email = fields.String(allow_none=True)
    message = fields.String(allow_none=True)
    status = fields.String()
    created_at = fields.AwareDateTime()


class MergeSchema(InputSchema):
    """Input of ``POST /api/v1/organizations/{id}/merge``: the organisation it duplicates."""

    class Meta:
        unknown = RAISE

    into_id = fields.UUID(required=True)


class OrganizationActivitySchema(Schema):
    """An entry of an organisation's history: ``action``, the actor (``actor_role`` label
    ``partner``/``secretariat``/``client``/``system``, e-mail, display name), ``detail``
    (JSON: before/after, counts...), ``created_at`` (UTC)."""

    action = fields.String()
    actor_role = fields.String()
    actor_email = fields.String(allow_none=True)
    actor_name = fields.String(allow_none=True)
    detail = fields.Dict(allow_none=True, attribute="changes")
    created_at = fields.AwareDateTime()


class MyOrganizationSchema(OrganizationSchema):
    """One of the caller's organisations, with its role there."""

    role = fields.String()


class ProposedLinkSchema(Schema):
    """A lead/partner link naming one of the caller's organisations, awaiting its answer."""

    initiative_id = fields.UUID()
    initiative_title = fields.String()
    organization_id = fields.UUID()
    organization_name = fields.String()
    kind = fields.String(metadata={"description": "lead or partner"})
    role = fields.String(allow_none=True)
    status = fields.String()
