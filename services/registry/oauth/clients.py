"""OAuth 2 clients of organisations: registered, listed and deleted by the organisation's
admins (service functions; the API, the page and the CLI call these).

Two kinds (:data:`registry.oauth.models.CLIENT_KINDS`):

- ``organization``: the organisation's own system. It obtains tokens with the
  client-credentials grant (RFC 6749 §4.4) and acts *for its organisation*, as a member, with
  the scopes registered for it (``Principal(kind=CLIENT, memberships={org: MEMBER})``).
- ``application``: a third-party app that acts *for a person* who consents at
  ``/oauth/authorize`` (authorization code + PKCE S256, RFC 7636; refresh tokens rotated on
  use). Redirect URIs are matched exactly; ``https`` only, except ``http`` on a loopback
  address (RFC 8252 §7.3). A ``public`` app (no secret: mobile, single-page) authenticates
  with PKCE alone.

The client secret (32 random bytes) is shown once, at creation; only its SHA-256 digest is
stored. Who may manage an organisation's clients: the permission table decides
(``registry.authz``, organisation action ``manage_clients``: its admins, secretariat admins,
the system).
"""

from __future__ import annotations

import ipaddress
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.oauth.models import (
    CLIENT_ID_PATTERN,
    AccessToken,
    OAuthClient,
    RefreshToken,
    digest,
)
from registry.oauth.service import _audit, revoke_jti
from shared.db import utcnow
from shared.identity import Principal, Scope
from shared.problems import NotFound, Unauthenticated, ValidationError

#: scopes an organisation's API client may hold (what an organisation member may do)
ORGANIZATION_SCOPES = (Scope.INITIATIVES_READ, Scope.INITIATIVES_WRITE,
                       Scope.ORGANIZATIONS_WRITE, Scope.SUBSCRIPTIONS_READ,
                       Scope.SUBSCRIPTIONS_WRITE, Scope.REPORTS_READ, Scope.PROGRESS_WRITE)
#: at most this many live clients per organisation
MAX_CLIENTS = 20


@dataclass(frozen=True)
class NewClient:
    """A client just registered and its secret in clear (None for a public app): shown
    once, never stored."""

    client: OAuthClient
    client_secret: str | None


def may_manage_clients(principal: Principal, organization) -> bool:
    """The permission table's answer (``registry.authz``, organisation action
    ``manage_clients``: its admins, secretariat admins, the system; a token needs
    ``organizations:write``)."""
    from registry.authz.permissions import Action, Aggregate, can

    return can(principal, Action.MANAGE_CLIENTS, organization, Aggregate.ORGANIZATION)


def _organization(db_session: Session, principal: Principal, organization_id: uuid.UUID):
    from registry.authz.permissions import Action, Aggregate, authorize
    from registry.organizations.models import Organization

    if not principal.is_authenticated:
        raise Unauthenticated("Sign in to manage API clients.")
    org = db_session.get(Organization, organization_id)
    if org is None:
        raise NotFound(f"No organisation with id {organization_id}.")
    authorize(principal, Action.MANAGE_CLIENTS, org, Aggregate.ORGANIZATION,
              what="organisation")
    return org


def _check_redirect_uri(uri: str) -> str:
    """``https`` URIs, or ``http`` on a loopback address; no fragment (RFC 6749 §3.1.2)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        parts = None
    if parts is None or not parts.hostname or parts.fragment or len(uri) > 500:
        raise ValidationError("invalid redirect URI", errors=[{
            "field": "redirect_uris", "message": f"{uri[:100]!r} is not an absolute URI."}])
    loopback = parts.hostname == "localhost"
    try:
        loopback = loopback or ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        pass
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise ValidationError("invalid redirect URI", errors=[{
            "field": "redirect_uris",
            "message": f"{uri[:100]!r}: https only (http on a loopback address)."}])
    return uri


def create_client(*, db_session: Session, principal: Principal, organization_id: uuid.UUID,
                  name: str, kind: str = "organization",
                  scopes: list[str] | frozenset[Scope] | None = None,
                  redirect_uris: list[str] | None = None, public: bool = False) -> NewClient:
    """Register an API client of an organisation (see the module docstring); audited
    (``client.created``). ``scopes`` default to every scope the kind allows; an
    ``application`` needs 1-10 ``redirect_uris``. Raises 401/403/404 as
    :func:`may_manage_clients`, :class:`ValidationError` for a bad name, scope or URI."""
    _organization(db_session, principal, organization_id)
    name = (name or "").strip()
    if not 1 <= len(name) <= 200:
        raise ValidationError("invalid name", errors=[{
            "field": "name", "message": "1 to 200 characters."}])
    if kind not in ("organization", "application"):
        raise ValidationError("invalid kind", errors=[{
            "field": "kind", "message": "organization or application."}])
    allowed = set(ORGANIZATION_SCOPES) if kind == "organization" else set(Scope) - {
        Scope.REVIEW}
    wanted = [str(s) for s in scopes] if scopes else [s.value for s in allowed]
    unknown = [s for s in wanted if s not in {a.value for a in allowed}]
    if unknown:
        raise ValidationError("scope not allowed", errors=[{
            "field": "scopes", "message": f"Not for this kind of client: {', '.join(unknown)}."}])
    uris = [_check_redirect_uri(u) for u in (redirect_uris or [])]
    if kind == "application" and not 1 <= len(uris) <= 10:
        raise ValidationError("redirect URIs required", errors=[{
            "field": "redirect_uris", "message": "An application needs 1 to 10 redirect URIs."}])
    if kind == "organization" and (uris or public):
        raise ValidationError("not for an organisation client", errors=[{
            "field": "redirect_uris" if uris else "public",
            "message": "An organisation's own system uses the client-credentials grant."}])
    live = db_session.scalars(select(OAuthClient.id).where(
        OAuthClient.organization_id == organization_id, OAuthClient.deleted_at.is_(None))).all()
    if len(live) >= MAX_CLIENTS:
        raise ValidationError("too many clients", errors=[{
            "field": "name", "message": f"At most {MAX_CLIENTS} clients per organisation."}])
    secret = None if public else secrets.token_urlsafe(32)
    client = OAuthClient(
        client_id=f"prc_{secrets.token_urlsafe(16)}", name=name, kind=kind,
        client_secret_hash=digest(secret) if secret else None, organization_id=organization_id,
        redirect_uris=uris, scope=" ".join(sorted(set(wanted))),
        token_endpoint_auth_method="none" if public else "client_secret_basic",
        created_by=principal.subject, created_at=utcnow())
    db_session.add(client)
    db_session.flush()
    _audit(db_session, "client.created", principal, subject=client.client_id, detail={
        "organization_id": organization_id, "kind": kind, "scope": client.scope,
        "name": name})
    return NewClient(client, secret)


def list_clients(*, db_session: Session, principal: Principal,
                 organization_id: uuid.UUID) -> list[OAuthClient]:
    """The organisation's live API clients, oldest first (admins only, as
    :func:`create_client`)."""
    _organization(db_session, principal, organization_id)
    return list(db_session.scalars(select(OAuthClient).where(
        OAuthClient.organization_id == organization_id, OAuthClient.deleted_at.is_(None))
        .order_by(OAuthClient.created_at, OAuthClient.client_id)))


def get_client(*, db_session: Session, principal: Principal, organization_id: uuid.UUID,
               client_id: str) -> OAuthClient:
    """One live client of the organisation; :class:`NotFound` otherwise."""
    _organization(db_session, principal, organization_id)
    if not CLIENT_ID_PATTERN.match(client_id):
        raise NotFound(f"No API client {client_id[:80]!r} in this organisation.")
    client = db_session.scalar(select(OAuthClient).where(
        OAuthClient.client_id == client_id, OAuthClient.organization_id == organization_id,
        OAuthClient.deleted_at.is_(None)))
    if client is None:
        raise NotFound(f"No API client {client_id} in this organisation.")
    return client


def delete_client(*, db_session: Session, principal: Principal, organization_id: uuid.UUID,
                  client_id: str) -> int:
    """Delete a client: it authenticates no more, its refresh tokens are revoked and its
    access tokens still valid are refused at once in all three services. Returns how many
    access tokens were revoked."""
    client = get_client(db_session=db_session, principal=principal,
                        organization_id=organization_id, client_id=client_id)
    now = utcnow()
    client.deleted_at = now
    revoked = revoke_client_tokens(db_session=db_session, client_id=client.client_id,
                                   principal=principal, reason="client deleted", now=now)
    _audit(db_session, "client.deleted", principal, subject=client.client_id, detail={
        "organization_id": organization_id, "access_tokens_revoked": revoked})
    return revoked


def revoke_client_tokens(*, db_session: Session, client_id: str, principal: Principal | None,
                         reason: str, now: datetime | None = None) -> int:
    """Revoke every live refresh token and unexpired access token of ``client_id``."""
    now = now or utcnow()
    for row in db_session.scalars(select(RefreshToken).where(
            RefreshToken.client_id == client_id, RefreshToken.revoked_at.is_(None))):
        row.revoked_at = now
    count = 0
    for jti, expires_at in db_session.execute(select(AccessToken.jti, AccessToken.expires_at)
                                              .where(AccessToken.client_id == client_id,
                                                     AccessToken.expires_at > now)):
        count += revoke_jti(db_session=db_session, jti=jti, expires_at=expires_at,
                            principal=principal, reason=reason)
    return count
