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

    @validates("country")
    def _country(self, value, **_kw):
        validate_country(value)

    @validates("name")
    def _no_contact_details(self, value, **_kw):
        validate_organization_name(value)


class OrganizationSchema(Schema):
    """An organisation as the API returns it."""

    id = fields.UUID(dump_only=True)
    name = fields.String()
    acronym = fields.String(allow_none=True)
    stakeholder_group = fields.String()
    country = fields.String(allow_none=True)
    created_at = fields.AwareDateTime(dump_only=True)


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
