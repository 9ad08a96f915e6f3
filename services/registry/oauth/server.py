"""The registry's OAuth 2 authorization server, built on Authlib's Flask integration.

Grants and endpoints (each an Authlib class, with the storage this module gives it):

- client credentials (RFC 6749 §4.4) for an organisation's own system: the token acts for the
  organisation, as a member, with the client's scopes;
- authorization code (RFC 6749 §4.1) with PKCE (RFC 7636), ``S256`` required of every client,
  for third-party apps acting for a person who consented at ``/oauth/authorize``;
- refresh tokens (RFC 6749 §6), rotated on every use; a refresh token used twice revokes its
  whole family and the access tokens it issued (OAuth 2.0 Security BCP, RFC 9700 §4.14.2);
- revocation (RFC 7009) of access and refresh tokens by the client they were issued to;
- introspection (RFC 7662) for confidential clients, of the tokens issued to them;
- server metadata (RFC 8414, :func:`metadata`).

Access tokens are the registry's JWTs (:func:`registry.oauth.service.issue_access_token`),
valid ``ACCESS_TOKEN_SECONDS``. Authorization codes and refresh tokens are random 48-byte
strings stored as SHA-256 digests. Nothing here commits: the views commit after Authlib
answered (also after an error: a detected reuse must stay revoked).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from flask import Flask, current_app, g
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry import db
from registry.oauth.models import (
    CLIENT_ID_PATTERN,
    AccessToken,
    AuthorizationCode,
    OAuthClient,
    RefreshToken,
    digest,
)
from registry.oauth.service import (
    _audit,
    client_principal,
    issue_access_token,
    issuer_url,
    jti_of,
    revoke_jti,
)
from shared.config import number
from shared.db import utcnow
from shared.identity import OrgRole, Principal, PrincipalKind, Scope, StaffRole
from shared.identity.tokens import AUDIENCE
from shared.problems import DomainError

#: paths of the endpoints (metadata and tests use them)
AUTHORIZE_PATH = "/oauth/authorize"
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path
REVOKE_PATH = "/oauth/revoke"
INTROSPECT_PATH = "/oauth/introspect"
JWKS_PATH = "/.well-known/jwks.json"
METADATA_PATH = "/.well-known/oauth-authorization-server"


def _seconds(name: str) -> int:
    raw = current_app.config.get(name)
    return int(float(raw)) if raw is not None else int(number(name))


def _session() -> Session:
    return db.session()


# -- a person, as stored with codes and refresh tokens ---------------------------------------------
def principal_snapshot(principal: Principal) -> dict[str, Any]:
    """The JSON kept with a code or refresh token: who consented and their roles then."""
    return {"kind": principal.kind.value, "subject": principal.subject,
            "orgs": {str(o): r.value for o, r in principal.memberships.items()},
            "staff": sorted(r.value for r in principal.staff_roles),
            "email": principal.email, "locale": principal.locale}


def person_now(snapshot: dict[str, Any]) -> Principal | None:
    """The person of a snapshot with their roles as they are now (``registry.accounts``),
    or as consented when the subject is no user of this registry; None for a disabled
    account (Authlib then refuses the grant)."""
    try:
        from registry.accounts import service as accounts
    except ImportError:  # pragma: no cover - accounts not in this build
        accounts = None  # type: ignore[assignment]
    if accounts is not None:
        try:
            user = accounts.get_user(db_session=_session(), user_id=uuid.UUID(
                snapshot["subject"]))
        except (ValueError, DomainError):
            user = None
        if user is not None:
            if getattr(user, "disabled_at", None) is not None:
                return None  # a disabled account gets no token (invalid_request / grant)
            return accounts.principal_for(db_session=_session(), user=user)
    return Principal(PrincipalKind(snapshot["kind"]), subject=snapshot["subject"],
                     memberships={uuid.UUID(o): OrgRole(r)
                                  for o, r in snapshot.get("orgs", {}).items()},
                     staff_roles=frozenset(StaffRole(r) for r in snapshot.get("staff", [])),
                     email=snapshot.get("email"), locale=snapshot.get("locale"))


# -- storage ---------------------------------------------------------------------------------------
def query_client(client_id: str) -> OAuthClient | None:
    """A live client by its client_id (anything not shaped like one — a NUL, 1 MB — is no
    client, without asking the database)."""
    if not isinstance(client_id, str) or not CLIENT_ID_PATTERN.match(client_id):
        return None
    return _session().scalar(select(OAuthClient).where(
        OAuthClient.client_id == client_id, OAuthClient.deleted_at.is_(None)))


def save_token(token: dict[str, Any], request) -> None:
    """Keep the refresh token issued with an access token (the access token itself was
    recorded when signed), in the family of the grant it came from."""
    refresh = token.get("refresh_token")
    if not refresh:
        return
    claims = g.oauth_issued_claims
    family = g.get("oauth_family_id") or uuid.uuid4()
    expires_at = g.get("oauth_family_expires_at") or (
        utcnow() + timedelta(seconds=_seconds("REFRESH_TOKEN_SECONDS")))
    person = request.user
    _session().add(RefreshToken(
        token_hash=digest(refresh), family_id=family, client_id=request.client.client_id,
        subject=person.subject, principal=principal_snapshot(person),
        scope=token.get("scope") or "", access_jti=claims["jti"],
        access_expires_at=datetime.fromtimestamp(claims["exp"], UTC), expires_at=expires_at))
    token["refresh_token_expires_in"] = max(0, int((expires_at - utcnow()).total_seconds()))


def revoke_family(*, db_session: Session, family_id: uuid.UUID, principal: Principal | None,
                  reason: str) -> int:
    """Revoke every refresh token of a grant and the access tokens they issued (still
    valid); returns how many access tokens."""
    now = utcnow()
    count = 0
    for row in db_session.scalars(select(RefreshToken).where(
            RefreshToken.family_id == family_id)):
        if row.revoked_at is None:
            row.revoked_at = now
        if row.access_jti and row.access_expires_at and row.access_expires_at > now:
            count += revoke_jti(db_session=db_session, jti=row.access_jti,
                                expires_at=row.access_expires_at, principal=principal,
                                reason=reason)
    return count


# -- token generation ------------------------------------------------------------------------------
def _access_token(client: OAuthClient, grant_type: str, user: Principal | None,
                  scope: str) -> str:
    scopes = Scope.parse(scope)
    if user is None:  # client credentials: the organisation's own system
        principal = client_principal(client, scopes)
    else:
        principal = replace(user, scopes=scopes, client_id=client.client_id, token_id=None)
    token, claims = issue_access_token(db_session=_session(), principal=principal,
                                       expires_in=_seconds("ACCESS_TOKEN_SECONDS"),
                                       grant=grant_type)
    g.oauth_issued_claims = claims
    return token


def _refresh_token(**_kw) -> str:
    return secrets.token_urlsafe(48)


def _expires_in(client: OAuthClient, grant_type: str) -> int:
    return _seconds("ACCESS_TOKEN_SECONDS")


# -- grants ----------------------------------------------------------------------------------------
class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """RFC 6749 §4.4 for organisation clients (secret in HTTP Basic or in the body)."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class S256CodeChallenge(CodeChallenge):
    """PKCE (RFC 7636) required of every authorization request, ``S256`` only (RFC 9700
    §2.1.1: ``plain`` offers no protection when the request leaks)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send 'code_challenge' "
                                      "with code_challenge_method=S256.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant, result):
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'")
        super().validate_code_verifier(grant, result)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    """RFC 6749 §4.1 with PKCE; codes single use, ``AUTHORIZATION_CODE_SECONDS`` long. A code
    presented twice revokes what the first exchange issued (RFC 6749 §4.1.2)."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def save_authorization_code(self, code: str, request) -> None:
        data = request.payload.data
        now = utcnow()
        _session().add(AuthorizationCode(
            code_hash=digest(code), client_id=request.client.client_id,
            subject=request.user.subject, principal=principal_snapshot(request.user),
            redirect_uri=request.payload.redirect_uri or "", scope=request.scope or "",
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method") or "S256",
            created_at=now,
            expires_at=now + timedelta(seconds=_seconds("AUTHORIZATION_CODE_SECONDS"))))

    def query_authorization_code(self, code: str, client: OAuthClient):
        session = _session()
        row = session.scalar(select(AuthorizationCode).where(
            AuthorizationCode.code_hash == digest(code),
            AuthorizationCode.client_id == client.client_id))
        if row is None:
            return None
        if row.used_at is not None:
            revoke_family(db_session=session, family_id=row.id, principal=None,
                          reason="authorization code reused")
            return None
        if row.expires_at <= utcnow():
            return None
        return row

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        authorization_code.used_at = utcnow()

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Principal | None:
        g.oauth_family_id = authorization_code.id  # the grant's refresh tokens: one family
        return person_now(authorization_code.principal)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """RFC 6749 §6 with rotation: each use issues a new refresh token and spends the old one;
    a spent one presented again revokes its family (reuse detection)."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str):
        session = _session()
        row = session.scalar(select(RefreshToken).where(
            RefreshToken.token_hash == digest(refresh_token)))
        if row is None or row.revoked_at is not None:
            return None
        if row.used_at is not None:
            revoked = revoke_family(db_session=session, family_id=row.family_id,
                                    principal=None, reason="refresh token reused")
            _audit(session, "token.refresh_reused", None, subject=row.client_id,
                   detail={"family_id": row.family_id, "access_tokens_revoked": revoked})
            return None
        if row.expires_at <= utcnow():
            return None
        g.oauth_family_id = row.family_id
        g.oauth_family_expires_at = row.expires_at
        return row

    def authenticate_user(self, refresh_token: RefreshToken) -> Principal | None:
        return person_now(refresh_token.principal)

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        refresh_token.used_at = utcnow()


# -- revocation and introspection ------------------------------------------------------------------
def _find_token(token_string: str, hint: str | None):
    """The refresh token row or the access token row a string names, or None."""
    session = _session()
    if hint != "access_token" and len(token_string) < 200:
        row = session.scalar(select(RefreshToken).where(
            RefreshToken.token_hash == digest(token_string)))
        if row is not None:
            return row
    if hint != "refresh_token" and token_string.count(".") == 2:
        try:
            return session.get(AccessToken, jti_of(token_string, db_session=session))
        except DomainError:
            return None
    return None


class RevocationEndpoint(_RevocationEndpoint):
    """RFC 7009: a client revokes a token issued to it. A refresh token takes its whole
    family with it (and their access tokens); an access token is refused at once."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def query_token(self, token_string, token_type_hint):
        return _find_token(token_string, token_type_hint)

    def revoke_token(self, token, request):
        session = _session()
        if isinstance(token, RefreshToken):
            revoke_family(db_session=session, family_id=token.family_id, principal=None,
                          reason="revoked by the client (RFC 7009)")
        else:
            revoke_jti(db_session=session, jti=token.jti, expires_at=token.expires_at,
                       reason="revoked by the client (RFC 7009)")


class IntrospectionEndpoint(_IntrospectionEndpoint):
    """RFC 7662 for confidential clients, about the tokens issued to them (an access token is
    active when it verifies now: key, expiry, revocation)."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string, token_type_hint):
        row = _find_token(token_string, token_type_hint)
        if isinstance(row, AccessToken):
            return _AccessIntrospection(row, token_string)
        return _RefreshIntrospection(row) if row is not None else None

    def check_permission(self, token, client, request):
        return token.row.client_id == client.client_id

    def introspect_token(self, token):
        return token.payload()


class _AccessIntrospection:
    def __init__(self, row: AccessToken, token: str):
        self.row = row
        self.token = token

    def is_expired(self) -> bool:
        return self.row.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        verifier = current_app.extensions["token_verifier"]
        try:
            verifier.verify(self.token)
        except DomainError:
            return True
        return False

    def payload(self) -> dict[str, Any]:
        row = self.row
        return {"active": True, "token_type": "Bearer", "scope": row.scope,
                "client_id": row.client_id, "sub": row.subject, "kind": row.kind,
                "iss": issuer_url(), "aud": AUDIENCE, "jti": row.jti,
                "iat": int(row.issued_at.timestamp()), "exp": int(row.expires_at.timestamp())}


class _RefreshIntrospection:
    def __init__(self, row: RefreshToken):
        self.row = row

    def is_expired(self) -> bool:
        return self.row.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None or self.row.used_at is not None

    def payload(self) -> dict[str, Any]:
        row = self.row
        return {"active": True, "token_type": "refresh_token", "scope": row.scope,
                "client_id": row.client_id, "sub": row.subject, "iss": issuer_url(),
                "iat": int(row.created_at.timestamp()), "exp": int(row.expires_at.timestamp())}


# -- the server ------------------------------------------------------------------------------------
def create_authorization_server(app: Flask) -> AuthorizationServer:
    """The app's Authlib server (``app.extensions["oauth_server"]``)."""
    server = AuthorizationServer()
    app.config.setdefault("OAUTH2_SCOPES_SUPPORTED", [s.value for s in Scope])
    server.init_app(app, query_client=query_client, save_token=save_token)
    server.register_token_generator("default", BearerTokenGenerator(
        _access_token, _refresh_token, _expires_in))
    server.register_grant(ClientCredentialsGrant)
    server.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
    server.register_grant(RefreshTokenGrant)
    server.register_endpoint(RevocationEndpoint)
    server.register_endpoint(IntrospectionEndpoint)
    app.extensions["oauth_server"] = server
    return server


def metadata(base: str) -> dict[str, Any]:
    """RFC 8414 authorization server metadata (``base``: the issuer URL), validated with
    Authlib's :class:`AuthorizationServerMetadata`."""
    data = AuthorizationServerMetadata({
        "issuer": issuer_url(),
        "authorization_endpoint": base + AUTHORIZE_PATH,
        "token_endpoint": base + TOKEN_PATH,
        "jwks_uri": base + JWKS_PATH,
        "revocation_endpoint": base + REVOKE_PATH,
        "introspection_endpoint": base + INTROSPECT_PATH,
        "scopes_supported": [s.value for s in Scope],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials",
                                  "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                  "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic",
                                                       "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic",
                                                          "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "service_documentation": base + "/api/v1/docs",
    })
    data.validate()
    return dict(data)
