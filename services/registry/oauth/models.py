"""The registry's identity tables: signing keys, issued and revoked access tokens, OAuth 2
clients, authorization codes and refresh tokens.

No secret is stored in clear: client secrets, authorization codes and refresh tokens only as
SHA-256 hex digests of high-entropy values (32 random bytes; a digest of such a value cannot be
reversed or guessed, so a slow hash adds nothing); private signing keys as PKCS#8 PEM encrypted
with ``SIGNING_KEY_PASSPHRASE`` when it is set.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base
from shared.db import JSONType, UTCDateTime, new_uuid, utcnow
from shared.identity.store import RevokedTokenMixin

#: kinds of OAuth client: ``organization`` = an organisation's own system (client-credentials
#: grant, acts for its organisation); ``application`` = a third-party app acting for a person
#: (authorization code + PKCE, refresh tokens)
CLIENT_KINDS = ("organization", "application")
#: RFC 7591 token_endpoint_auth_method values accepted
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")


class SigningKey(Base):
    """A key that signs access tokens (RS256). ``kid`` is the RFC 7638 thumbprint.

    The current key has ``rotated_out_at`` null; a rotated-out key keeps verifying until
    ``not_after`` (the expiry of the last token it signed), then is ``retired_at``; a key
    retired early (compromise) stops verifying at once. ``private_key`` is PKCS#8 PEM,
    ``encrypted`` when ``SIGNING_KEY_PASSPHRASE`` was set; never logged nor printed.
    """

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(100), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(10))
    public_jwk: Mapped[dict] = mapped_column(JSONType)
    private_key: Mapped[str] = mapped_column(Text)
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    rotated_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:  # never the private key
        return f"SigningKey(kid={self.kid!r})"


class AccessToken(Base):
    """An access token issued (its JWT is not stored): ``jti``, who (``subject``, ``kind``,
    ``client_id``), ``scope``, the signing ``kid``, ``issued_at``/``expires_at``, and how it
    was obtained (``grant``: ``cli``, ``client_credentials``, ``authorization_code``,
    ``refresh_token``, ``test``). Revocation by ``jti`` and audit read it."""

    __tablename__ = "access_tokens"

    jti: Mapped[str] = mapped_column(String(100), primary_key=True)
    subject: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    client_id: Mapped[str | None] = mapped_column(String(100), index=True)
    scope: Mapped[str] = mapped_column(Text, default="")
    kid: Mapped[str] = mapped_column(String(100), index=True)
    grant: Mapped[str] = mapped_column(String(40))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RevokedToken(RevokedTokenMixin, Base):
    """An access token refused before its expiry (``registry revoke-token``, the revoke API,
    RFC 7009 revocation, refresh-token reuse). Published as ``identity.token.revoked.v1``."""

    __tablename__ = "revoked_tokens"


class OAuthClient(Base):
    """An OAuth 2 client (RFC 6749 §2).

    ``kind`` (:data:`CLIENT_KINDS`): an ``organization`` client belongs to
    ``organization_id`` and obtains tokens with the client-credentials grant, acting for that
    organisation (as a member) with its ``scope``; an ``application`` acts for people who
    consent at ``/oauth/authorize`` (authorization code + PKCE S256), with refresh tokens.
    ``client_secret_hash``: SHA-256 hex of the secret (null for a public client,
    ``token_endpoint_auth_method`` ``none``). ``redirect_uris``: exact URIs allowed.
    ``deleted_at``: deleted clients authenticate no more.
    """

    __tablename__ = "oauth_clients"
    __table_args__ = (
        CheckConstraint("kind IN ('organization', 'application')", name="kind"),
        CheckConstraint("token_endpoint_auth_method IN ('client_secret_basic', "
                        "'client_secret_post', 'none')", name="auth_method"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    redirect_uris: Mapped[list] = mapped_column(JSONType, default=list)
    scope: Mapped[str] = mapped_column(Text, default="")
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(30))
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuthorizationCode(Base):
    """An authorization code (RFC 6749 §4.1.2), single use, ``AUTHORIZATION_CODE_SECONDS``
    long: SHA-256 of the code, the client, the person (``subject`` and a snapshot
    ``principal`` of their roles at consent), ``redirect_uri``, ``scope``, and the PKCE
    ``code_challenge`` (RFC 7636, method S256 only)."""

    __tablename__ = "oauth_authorization_codes"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(100))
    principal: Mapped[dict] = mapped_column(JSONType)
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text, default="")
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RefreshToken(Base):
    """A refresh token (RFC 6749 §6), rotated on every use (OAuth 2.0 Security BCP, RFC 9700
    §4.14.2): ``used_at`` is set when it was exchanged for its successor; presenting a used one
    again is reuse, and revokes its whole ``family_id`` (every refresh token of the grant and
    the access tokens they issued). ``access_jti``/``access_expires_at``: the access token
    issued with it. ``expires_at`` is the family's end (``REFRESH_TOKEN_SECONDS`` after the
    consent)."""

    __tablename__ = "oauth_refresh_tokens"
    __table_args__ = (Index("ix_oauth_refresh_tokens_family_id", "family_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(100))
    principal: Mapped[dict] = mapped_column(JSONType)
    scope: Mapped[str] = mapped_column(Text, default="")
    access_jti: Mapped[str | None] = mapped_column(String(100))
    access_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
