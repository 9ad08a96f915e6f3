"""Access tokens: issued (as JWTs signed with the current key), recorded, revoked; and the
registry's verifier of them.

Every access token is a JWT (:mod:`shared.identity.tokens`) signed by
:func:`registry.oauth.keys.current_signing_key`; its ``jti``, subject, scope, key and expiry
are kept in ``access_tokens`` (not the token itself). Revoking writes ``revoked_tokens`` and
emits ``identity.token.revoked.v1`` in the same transaction; the revoking process refuses the
token at once, other registry processes within ``TOKEN_CACHE_SECONDS``, the notifier and
reporting as soon as they consumed the event (plus their own cache time).
"""

from __future__ import annotations

import importlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, current_app, has_app_context
from joserfc import jwt
from joserfc.errors import JoseError
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.oauth.keys import (
    KEYS_CHANGED_KEY,
    current_signing_key,
    private_key,
    verification_jwks,
)
from registry.oauth.models import AccessToken, RevokedToken
from registry.outbox.models import OutboxEvent
from shared.db import utcnow
from shared.events.types import IDENTITY_TOKEN_REVOKED
from shared.identity import OrgRole, Principal, PrincipalKind, Scope, StaffRole
from shared.identity.store import cache_seconds, revocations_loader
from shared.identity.tokens import (
    ALGORITHM,
    CachedKeySet,
    CachedRevocations,
    TokenVerifier,
    issue_token,
    issuer,
)
from shared.outbox import record_event
from shared.problems import NotFound, ValidationError

SOURCE = "/registry"
#: default lifetime of tokens made by ``registry create-token`` (seconds)
CLI_TOKEN_SECONDS = 3600
#: longest lifetime ``create-token --expires-in`` accepts (90 days)
MAX_TOKEN_SECONDS = 90 * 24 * 3600
_JTI = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
#: the roles of the interim scheme that ``create-token --role`` still accepts
LEGACY_ROLES = ("partner", "secretariat")


def issuer_url() -> str:
    """The issuer (``iss``) of this registry's tokens (app config inside an app context)."""
    return issuer(current_app.config if has_app_context() else None)


def issue_access_token(*, db_session: Session, principal: Principal, expires_in: int,
                       grant: str, now: datetime | None = None) -> tuple[str, dict[str, Any]]:
    """Sign an access token for ``principal`` valid ``expires_in`` seconds and record it in
    ``access_tokens``; returns ``(jwt, claims)``. Raises ``ValueError`` for an anonymous or
    system principal, or a non-positive lifetime."""
    key_row = current_signing_key(db_session=db_session)
    moment = int((now or utcnow()).timestamp())
    token, claims = issue_token(principal, private_key(key_row), issuer_url=issuer_url(),
                                expires_in=expires_in, now=moment)
    expires_at = datetime.fromtimestamp(claims["exp"], UTC)
    db_session.add(AccessToken(
        jti=claims["jti"], subject=claims["sub"], kind=claims["kind"],
        client_id=claims.get("client_id"), scope=claims["scope"], kid=key_row.kid,
        grant=grant, issued_at=datetime.fromtimestamp(claims["iat"], UTC),
        expires_at=expires_at))
    _audit(db_session, "token.issued", principal, subject=claims["jti"], detail={
        "grant": grant, "client_id": claims.get("client_id"), "scope": claims["scope"],
        "expires_at": expires_at})
    return token, claims


def _audit(db_session: Session, event: str, principal: Principal | None, *, subject: str,
           detail: dict[str, Any]) -> None:
    """An audit row (``registry.audit``) in the session's transaction; never a token."""
    from registry.audit.service import record

    record(db_session=db_session, event=event, principal=principal, subject=subject,
           detail=detail)


def legacy_principal(*, role: str, organization_id: uuid.UUID | None = None,
                     email: str | None = None, subject: str | None = None) -> Principal:
    """The principal of an interim-scheme role (``registry.auth.service.principal_for_token``:
    ``partner`` = admin of ``organization_id``, ``secretariat`` = secretariat admin). Raises
    :class:`ValidationError` (field ``role``) for another role."""
    from registry.auth.service import principal_for_token

    if role not in LEGACY_ROLES:
        raise ValidationError(f"role must be one of {', '.join(LEGACY_ROLES)}",
                              errors=[{"field": "role", "message": f"Unknown role {role!r}."}])
    if organization_id is not None and not isinstance(organization_id, uuid.UUID):
        organization_id = uuid.UUID(str(organization_id))
    return principal_for_token(role=role, organization_id=organization_id, email=email,
                               subject=subject)


def check_organizations(db_session: Session, principal: Principal) -> None:
    """Raise :class:`ValidationError` (field ``organization``) when the principal names an
    organisation that does not exist."""
    from registry.organizations.models import Organization

    for org_id in principal.memberships:
        if db_session.get(Organization, org_id) is None:
            raise ValidationError("unknown organisation", errors=[{
                "field": "organization", "message": f"No organisation with id {org_id}."}])


def create_token(*, db_session: Session, role: str | None = None,
                 organization_id: uuid.UUID | None = None, email: str | None = None,
                 principal: Principal | None = None, expires_in: int = CLI_TOKEN_SECONDS,
                 scopes: frozenset[Scope] | None = None, grant: str = "cli"
                 ) -> tuple[str, dict[str, Any]]:
    """A signed access token for scripts and tests (``registry create-token``): for
    ``principal``, or for an interim ``role`` (:func:`legacy_principal`). ``scopes`` limits
    it (default: every scope). Returns ``(jwt, claims)``; the token is shown once and stored
    only as its ``jti``.

    Raises :class:`ValidationError` for an unknown role or organisation, or a lifetime outside
    1 s .. 90 days.
    """
    if principal is None:
        principal = legacy_principal(role=role or "", organization_id=organization_id,
                                     email=email)
    if not 0 < expires_in <= MAX_TOKEN_SECONDS:
        raise ValidationError("expires_in out of range", errors=[{
            "field": "expires_in",
            "message": f"Between 1 and {MAX_TOKEN_SECONDS} seconds (90 days)."}])
    check_organizations(db_session, principal)
    if scopes is not None:
        from dataclasses import replace

        principal = replace(principal, scopes=frozenset(scopes))
    return issue_access_token(db_session=db_session, principal=principal,
                              expires_in=int(expires_in), grant=grant)


# -- revocation ------------------------------------------------------------------------------------
def revoke_jti(*, db_session: Session, jti: str, expires_at: datetime,
               principal: Principal | None = None, reason: str = "revoked") -> bool:
    """Refuse the access token ``jti`` from now on: a ``revoked_tokens`` row and its
    ``identity.token.revoked.v1`` event in the session's transaction, and at once in this
    process after commit; audited (``token.revoked``, by ``principal``, with ``reason``).
    False when it was revoked already."""
    if db_session.get(RevokedToken, jti) is not None:
        return False
    _audit(db_session, "token.revoked", principal, subject=jti, detail={"reason": reason})
    now = utcnow()
    db_session.add(RevokedToken(jti=jti, expires_at=expires_at, revoked_at=now))
    record_event(db_session, OutboxEvent, IDENTITY_TOKEN_REVOKED, source=SOURCE, subject=jti,
                 data={"jti": jti, "expires_at": expires_at, "revoked_at": now})
    db_session.info.setdefault(REVOKED_KEY, set()).add(jti)
    return True


#: ``session.info`` key: jtis revoked in this transaction (refused in-process after commit)
REVOKED_KEY = "registry.oauth.revoked_jtis"


def issued_token(*, db_session: Session, jti: str) -> AccessToken:
    """The ``access_tokens`` row of ``jti``; raises :class:`NotFound`."""
    if not _JTI.match(jti or ""):
        raise NotFound("No such access token.")
    row = db_session.get(AccessToken, jti)
    if row is None:
        raise NotFound("No such access token.")
    return row


def jti_of(token: str, *, db_session: Session) -> str:
    """The ``jti`` of a token this registry signed (signature checked against every key it
    ever had, expiry not: an expired token may be named). Raises :class:`NotFound` for a
    token it did not sign."""
    from joserfc.jwk import RSAKey

    from registry.oauth.models import SigningKey

    try:
        header = jwt.decode(token, lambda obj: _key_for(obj, db_session, RSAKey, SigningKey),
                            algorithms=[ALGORITHM])
    except (JoseError, ValueError, TypeError, LookupError):
        raise NotFound("No such access token.") from None
    jti = header.claims.get("jti")
    if not isinstance(jti, str):
        raise NotFound("No such access token.")
    return jti


def _key_for(obj, db_session, key_cls, model):
    kid = obj.headers().get("kid")
    row = db_session.get(model, kid) if isinstance(kid, str) else None
    if row is None:
        raise LookupError(kid)
    return key_cls.import_key(row.public_jwk)


@dataclass(frozen=True)
class Revocation:
    """Outcome of a revocation: the token's ``jti`` and whether it was revoked now (False:
    revoked already)."""

    jti: str
    revoked: bool


def revoke_access_token(*, db_session: Session, principal: Principal, jti: str | None = None,
                        token: str | None = None) -> Revocation:
    """Revoke an access token named by ``jti`` or by the token itself, for ``principal``:
    the token's own subject, a secretariat admin, or an admin of the organisation whose API
    client obtained it. A token the principal may not revoke is answered like an unknown one
    (:class:`NotFound`: no existence leak)."""
    if token:
        jti = jti_of(token, db_session=db_session)
    if not jti:
        raise ValidationError("token or jti required", errors=[{
            "field": "jti", "message": "Name the token (token) or its id (jti)."}])
    row = issued_token(db_session=db_session, jti=jti)
    if not may_revoke(db_session, principal, row):
        raise NotFound("No such access token.")
    return Revocation(jti, revoke_jti(db_session=db_session, jti=jti,
                                      expires_at=row.expires_at, principal=principal))


def may_revoke(db_session: Session, principal: Principal, row: AccessToken) -> bool:
    """Who may revoke ``row``: the system/operator, a secretariat admin, its own subject, or an
    admin of the organisation that owns the API client it was issued to."""
    if principal.is_system or principal.has_staff_role(StaffRole.SECRETARIAT_ADMIN):
        return True
    if principal.subject is not None and principal.subject == row.subject:
        return True
    if row.client_id:
        from registry.oauth.models import OAuthClient

        client = db_session.scalar(select(OAuthClient).where(
            OAuthClient.client_id == row.client_id))
        if client is not None and client.organization_id is not None:
            return principal.is_admin_of(client.organization_id)
    return False


# -- the registry's verifier -----------------------------------------------------------------------
def registry_token_verifier(app: Flask) -> TokenVerifier:
    """The registry's :class:`TokenVerifier`: keys from ``signing_keys`` (current and not yet
    expired), revocations from ``revoked_tokens``, both read at most every
    ``TOKEN_CACHE_SECONDS``; a revocation or rotation committed in this process applies at
    once (session hooks)."""
    from sqlalchemy import event as sa_event

    factory = app.extensions["db_session_factory"]
    ttl = cache_seconds(app)

    def load_keys() -> list[dict]:
        with factory() as session:
            return verification_jwks(db_session=session)

    keyset = CachedKeySet(load_keys, ttl)
    revocations = CachedRevocations(revocations_loader(factory, RevokedToken), ttl)

    @sa_event.listens_for(factory, "after_commit")
    def _after_commit(session):
        for jti in session.info.pop(REVOKED_KEY, ()):
            revocations.add(jti)
        if session.info.pop(KEYS_CHANGED_KEY, False):
            keyset.invalidate()

    @sa_event.listens_for(factory, "after_rollback")
    def _after_rollback(session):
        session.info.pop(REVOKED_KEY, None)
        session.info.pop(KEYS_CHANGED_KEY, None)

    verifier = TokenVerifier(keyset, issuer(app.config), revocations=revocations)
    return verifier


def forget_expired_tokens(*, db_session: Session, older_than: timedelta = timedelta(days=1)
                          ) -> int:
    """Delete ``access_tokens`` and ``revoked_tokens`` rows of tokens expired more than
    ``older_than`` ago; returns how many (housekeeping)."""
    from sqlalchemy import delete

    cutoff = utcnow() - older_than
    n = db_session.execute(delete(RevokedToken).where(RevokedToken.expires_at <= cutoff))
    m = db_session.execute(delete(AccessToken).where(AccessToken.expires_at <= cutoff))
    return int((n.rowcount or 0) + (m.rowcount or 0))  # type: ignore[attr-defined]


# -- who a CLI token is for ------------------------------------------------------------------------
def client_principal(client: Any, scopes: frozenset[Scope] | None = None) -> Principal:
    """The principal of an organisation's API client (client-credentials grant): kind
    ``client``, subject and ``client_id`` = its client_id, a member of its organisation,
    with ``scopes`` (default: all the client may have)."""
    allowed = Scope.parse(client.scope)
    granted = allowed if scopes is None else frozenset(scopes) & allowed
    memberships = {client.organization_id: OrgRole.MEMBER} if client.organization_id else {}
    return Principal(PrincipalKind.CLIENT, subject=client.client_id, memberships=memberships,
                     scopes=granted, client_id=client.client_id)


def user_principal(*, db_session: Session, email: str) -> Principal:
    """The principal of the person with this e-mail (their memberships and staff roles now).
    Raises :class:`ValidationError` (field ``email``) for an unknown address."""
    accounts: Any
    try:  # by name: the accounts domain may not be merged yet (mypy checks no missing module)
        accounts = importlib.import_module("registry.accounts.service")
    except ImportError:
        accounts = None
    user = (accounts.find_user_by_email(db_session=db_session, email=email)
            if accounts is not None else None)
    if user is None:
        raise ValidationError("unknown user", errors=[{
            "field": "email", "message": f"No user with e-mail {email}."}])
    return accounts.principal_for(db_session=db_session, user=user)


def principal_for_cli(*, db_session: Session, role: str | None = None,
                      organization_id: uuid.UUID | None = None, email: str | None = None,
                      client_id: str | None = None) -> Principal:
    """Whom ``registry create-token`` makes a token for: ``client_id`` (an API client),
    ``role`` (interim roles, with ``organization_id`` and ``email``), or ``email`` alone (a
    user). Raises :class:`ValidationError` when none or an unknown one is named."""
    if client_id:
        from registry.oauth.models import OAuthClient

        client = db_session.scalar(select(OAuthClient).where(
            OAuthClient.client_id == client_id, OAuthClient.deleted_at.is_(None)))
        if client is None or client.kind != "organization":
            raise ValidationError("unknown client", errors=[{
                "field": "client", "message": f"No organisation API client {client_id}."}])
        return client_principal(client)
    if role:
        return legacy_principal(role=role, organization_id=organization_id, email=email)
    if email:
        return user_principal(db_session=db_session, email=email)
    raise ValidationError("whom is the token for?", errors=[{
        "field": "role", "message": "Give --email (a user), --client or --role."}])


def move_clients(*, db_session: Session, from_organization_id: uuid.UUID,
                 to_organization_id: uuid.UUID) -> int:
    """Re-point the API clients of an organisation merged into another (called by the
    organisations domain's merge): they act for ``to_organization_id`` from now on, and
    their live access tokens, which still name the old organisation, are revoked (a new
    client-credentials request gets a correct one). Returns how many clients moved."""
    from registry.oauth.clients import revoke_client_tokens
    from registry.oauth.models import OAuthClient

    moved = list(db_session.scalars(select(OAuthClient).where(
        OAuthClient.organization_id == from_organization_id)))
    for client in moved:
        client.organization_id = to_organization_id
        if client.deleted_at is None:
            revoke_client_tokens(db_session=db_session, client_id=client.client_id,
                                 principal=None, reason="organisation merged")
    return len(moved)
