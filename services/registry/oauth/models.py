"""The registry's identity tables: signing keys, issued and revoked access tokens, OAuth 2
clients, authorization codes and refresh tokens.

No secret is stored in clear: client secrets, authorization codes and refresh tokens only as
SHA-256 hex digests of high-entropy values (32 random bytes; a digest of such a value cannot be
reversed or guessed, so a slow hash adds nothing); private signing keys as PKCS#8 PEM encrypted
with ``SIGNING_KEY_PASSPHRASE`` when it is set.
"""

from __future__ import annotations

import hashlib
import hmac
import re
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
#: what a client_id looks like (``prc_`` + URL-safe random characters)
CLIENT_ID_PATTERN = re.compile(r"^prc_[A-Za-z0-9_-]{1,60}$")
#: RFC 7591 token_endpoint_auth_method values accepted
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")


def digest(value: str) -> str:
    """SHA-256 hex digest of a high-entropy secret (client secret, code, refresh token)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


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

    def check_client(self, client: OAuthClient) -> bool:
        """Issued to ``client`` (RFC 7009 §2.1)."""
        return self.client_id is not None and self.client_id == client.client_id


class RevokedToken(RevokedTokenMixin, Base):
    """An access token refused before its expiry (``registry revoke-token``, the revoke API,
    RFC 7009 revocation, refresh-token reuse). Published as ``identity.token.revoked.v1``."""

    __tablename__ = "revoked_tokens"


class InterimTokenOrganization(Base):
    """The organisation an interim ``partner`` identity (``create-token --role partner``
    without ``--organization``, subject ``token:<uuid>``) registered first and so administers
    (what interim tokens did before they were JWTs: a JWT cannot change, so the registry adds
    this membership when it reads such a token's principal). Not used for user accounts."""

    __tablename__ = "interim_token_organizations"

    subject: Mapped[str] = mapped_column(String(100), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


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

    # -- authlib.oauth2.rfc6749.ClientMixin ---------------------------------------------------
    def get_client_id(self) -> str:
        """The public client identifier."""
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        """The only registered redirect URI, when there is exactly one."""
        uris = list(self.redirect_uris or [])
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The requested scopes this client may have (all of its scopes when none are asked
        for); None (invalid_scope) when it asked only for scopes it may not have."""
        allowed = (self.scope or "").split()
        if not scope:
            return " ".join(allowed)
        granted = [s for s in scope.split() if s in allowed]
        return " ".join(dict.fromkeys(granted)) if granted else None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Exact match with a registered URI (RFC 9700 §4.1.3: no pattern matching)."""
        return redirect_uri in (self.redirect_uris or [])

    def check_client_secret(self, client_secret: str) -> bool:
        """Constant-time comparison of the secret's digest."""
        if not self.client_secret_hash or not client_secret:
            return False
        return hmac.compare_digest(self.client_secret_hash, digest(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """A confidential client authenticates with its secret (HTTP Basic or in the body),
        a public one (``none``) with its client_id only; introspection: confidential clients
        only."""
        confidential = self.token_endpoint_auth_method != "none"  # noqa: S105 - a method
        if endpoint == "introspection":
            return confidential and self.client_secret_hash is not None and method != "none"
        if confidential:
            return method in ("client_secret_basic", "client_secret_post")
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        """Applications use the code flow; organisation clients none."""
        return self.kind == "application" and response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        """``client_credentials`` for organisation clients with a secret; ``authorization_code``
        and ``refresh_token`` for applications."""
        if self.deleted_at is not None:
            return False
        if self.kind == "organization":
            return grant_type == "client_credentials" and self.client_secret_hash is not None
        return grant_type in ("authorization_code", "refresh_token")


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

    def get_redirect_uri(self) -> str | None:
        """The redirect URI named in the authorization request (None: the default one)."""
        return self.redirect_uri or None

    def get_scope(self) -> str:
        """The granted scopes, space-separated."""
        return self.scope


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

    def check_client(self, client: OAuthClient) -> bool:
        """Issued to ``client``."""
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        """The granted scopes, space-separated."""
        return self.scope
