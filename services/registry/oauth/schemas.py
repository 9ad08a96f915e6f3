"""Input and output shapes of the token and API-client endpoints."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate


class TokenRevokeSchema(Schema):
    """``POST /api/v1/tokens/revoke``: name the access token by ``token`` (the JWT) or by
    ``jti``; with neither, the caller's own bearer token is revoked."""

    class Meta:
        unknown = RAISE

    token = fields.String(validate=validate.Length(min=1, max=8192))
    jti = fields.String(validate=validate.Length(min=1, max=100))


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
