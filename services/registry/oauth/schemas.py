"""Input and output shapes of the token and API-client endpoints."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from shared.inputs import InputSchema


class TokenRevokeSchema(InputSchema):
    """``POST /api/v1/tokens/revoke``: name the access token by ``token`` (the JWT) or by
    ``jti``; with neither, the caller's own bearer token is revoked."""

    class Meta:
        unknown = RAISE

    token = fields.String(validate=validate.Length(min=1, max=8192))
    jti = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,100}$",
                                                 error="Not a token id."))


class TokenRevokedSchema(Schema):
    """Outcome: the token's ``jti`` and ``revoked`` (false: it was revoked already)."""

    jti = fields.String(required=True)
    revoked = fields.Boolean(required=True)


class JwkSchema(Schema):
    """A public RSA signing key (RFC 7517)."""

    kty = fields.String()
    n = fields.String()
    e = fields.String()
    kid = fields.String()
    alg = fields.String()
    use = fields.String()


class JwksSchema(Schema):
    """``/.well-known/jwks.json``: the keys that verify the registry's tokens now."""

    keys = fields.List(fields.Nested(JwkSchema))


class ClientCreateSchema(InputSchema):
    """``POST /api/v1/organizations/<id>/clients``: ``kind`` ``organization`` (the
    organisation's own system, client-credentials grant; default) or ``application`` (a
    third-party app acting for people, authorization code + PKCE; needs ``redirect_uris``);
    ``scopes`` (default: every scope the kind may have); ``public``: an application without
    a secret (PKCE only)."""

    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(load_default="organization",
                         validate=validate.OneOf(["organization", "application"]))
    scopes = fields.List(fields.String(validate=validate.Length(max=50)),
                         validate=validate.Length(max=20))
    redirect_uris = fields.List(fields.String(validate=validate.Length(min=1, max=500)),
                                validate=validate.Length(max=10))
    public = fields.Boolean(load_default=False)


class ClientSchema(Schema):
    """An API client (never its secret)."""

    client_id = fields.String()
    name = fields.String()
    kind = fields.String()
    organization_id = fields.UUID()
    scopes = fields.Method("_scopes")
    redirect_uris = fields.List(fields.String())
    token_endpoint_auth_method = fields.String()
    created_at = fields.AwareDateTime()

    def _scopes(self, obj) -> list[str]:
        return (obj.scope or "").split()


class NewClientSchema(ClientSchema):
    """A client just registered, with its ``client_secret`` in clear: shown this once
    (null for a public application)."""

    client_secret = fields.String(allow_none=True)


class ClientListSchema(Schema):
    """The organisation's live API clients."""

    items = fields.List(fields.Nested(ClientSchema))
