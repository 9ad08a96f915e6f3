"""API shapes of accounts, sessions and staff roles."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from registry.accounts.models import LOCALES
from registry.accounts.passwords import MAX_LENGTH
from shared.identity import StaffRole
from shared.inputs import InputSchema

_EMAIL = {"description": "E-mail address (compared case-insensitively)."}
_PASSWORD = {"description": "8–128 characters, any characters; refused when it is one of "
                            "the 30,000 most common passwords (ASVS 5.0 V6.2).",
             "format": "password"}


class SignUpSchema(InputSchema):
    """Input of ``POST /api/v1/account/sign-up``."""

    email = fields.String(required=True, validate=validate.Length(min=3, max=320),
                          metadata=_EMAIL)
    # the length rule itself (8–128 after NFKC) is the service's; this only bounds the body
    password = fields.String(required=True, validate=validate.Length(max=4 * MAX_LENGTH),
                             metadata=_PASSWORD)
    display_name = fields.String(load_default="", validate=validate.Length(max=200))
    locale = fields.String(load_default="en", validate=validate.OneOf(LOCALES),
                           metadata={"description": "Language of pages and e-mails."})


class SignInSchema(InputSchema):
    """Input of ``POST /api/v1/account/sign-in``."""

    email = fields.String(required=True, validate=validate.Length(max=320), metadata=_EMAIL)
    password = fields.String(required=True, validate=validate.Length(max=4 * MAX_LENGTH),
                             metadata={"format": "password"})


class TokenSchema(InputSchema):
    """A one-time link's token (the last part of the link's path)."""

    token = fields.String(required=True, validate=validate.Length(min=10, max=200))


class EmailSchema(InputSchema):
    """Input naming an e-mail address (reset request)."""

    email = fields.String(required=True, validate=validate.Length(min=3, max=320),
                          metadata=_EMAIL)


class ResetPasswordSchema(InputSchema):
    """Input of ``POST /api/v1/account/password-reset/confirm``."""

    token = fields.String(required=True, validate=validate.Length(min=10, max=200))
    password = fields.String(required=True, validate=validate.Length(max=4 * MAX_LENGTH),
                             metadata=_PASSWORD)


class ChangePasswordSchema(InputSchema):
    """Input of ``POST /api/v1/account/password``."""

    current_password = fields.String(required=True,
                                     validate=validate.Length(max=4 * MAX_LENGTH),
                                     metadata={"format": "password"})
    password = fields.String(required=True, validate=validate.Length(max=4 * MAX_LENGTH),
                             metadata=_PASSWORD)


class AccountUpdateSchema(InputSchema):
    """Input of ``PATCH /api/v1/account``: the fields to change."""

    display_name = fields.String(validate=validate.Length(max=200))
    locale = fields.String(validate=validate.OneOf(LOCALES))


class AccountSchema(Schema):
    """The signed-in person's own account."""

    id = fields.UUID(dump_only=True)
    email = fields.String()
    email_verified = fields.Boolean(attribute="is_verified")
    display_name = fields.String()
    locale = fields.String()
    staff_roles = fields.Method("_staff_roles")
    created_at = fields.AwareDateTime()
    last_sign_in_at = fields.AwareDateTime(allow_none=True)

    def _staff_roles(self, user) -> list[str]:
        return sorted(user.staff_roles)


class SessionSchema(Schema):
    """A live browser session of the account (the id is not the cookie's value)."""

    id = fields.UUID()
    created_at = fields.AwareDateTime()
    last_seen_at = fields.AwareDateTime()
    expires_at = fields.AwareDateTime()
    ip = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    current = fields.Boolean()


class AcceptedSchema(Schema):
    """A request taken (the answer is the same whether or not the address has an account)."""

    status = fields.String(metadata={"description": "`accepted`."})
    detail = fields.String()


class ContactVerifiedSchema(Schema):
    """A contact address now verified."""

    email = fields.String()


class StaffGrantSchema(InputSchema):
    """Input of ``POST /api/v1/staff``: give a person a secretariat role."""

    email = fields.String(required=True, validate=validate.Length(min=3, max=320),
                          metadata=_EMAIL)
    role = fields.String(required=True, validate=validate.OneOf([r.value for r in StaffRole]))


class StaffMemberSchema(Schema):
    """A person holding secretariat roles."""

    id = fields.UUID()
    email = fields.String()
    display_name = fields.String()
    staff_roles = fields.Method("_staff_roles")

    def _staff_roles(self, user) -> list[str]:
        return sorted(user.staff_roles)
