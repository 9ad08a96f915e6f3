"""Interim token roles, mapped onto :class:`shared.identity.Principal`, over the registry's JWT
access tokens.

Bearer tokens are the registry's signed JWTs (:mod:`registry.oauth.service`, verified for every
request by :mod:`shared.identity.web`). ``registry create-token --role`` and the tests still
name the two interim roles: a ``partner`` token acts as a person who is admin of the token's
organisation; a ``secretariat`` token as a secretariat admin (:func:`principal_for_token`).
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from shared.identity import ANONYMOUS, SYSTEM, OrgRole, Principal, PrincipalKind, StaffRole

#: Kinds of interim token: what ``registry create-token --role`` takes.
PARTNER_TOKEN = "partner"  # noqa: S105 (a kind, not a secret)
SECRETARIAT_TOKEN = "secretariat"  # noqa: S105
ROLES = (PARTNER_TOKEN, SECRETARIAT_TOKEN)
#: subject prefix of the identities interim-role tokens act as (no user account behind them)
INTERIM_SUBJECT_PREFIX = "token:"

__all__ = ["ANONYMOUS", "ROLES", "SYSTEM", "Principal", "adopt_organization", "create_token",
           "principal_for_token"]


def principal_for_token(*, role: str, organization_id: uuid.UUID | None,
                        email: str | None, subject: str | None = None) -> Principal:
    """The :class:`Principal` of an interim role: ``partner`` -> a person (``USER``) who is
    :attr:`OrgRole.ADMIN` of ``organization_id`` (none when not given); ``secretariat`` -> a
    person with :attr:`StaffRole.SECRETARIAT_ADMIN`. Each token is an identity of its own, as
    each interim token was: subject ``token:<uuid>``, which names no user account (a person's
    own token comes from ``create-token --email``). Not limited by scopes (operator-issued)."""
    subject = subject or f"{INTERIM_SUBJECT_PREFIX}{uuid.uuid4()}"
    if role == SECRETARIAT_TOKEN:
        return Principal(PrincipalKind.USER, subject=subject, email=email,
                         staff_roles=frozenset({StaffRole.SECRETARIAT_ADMIN}))
    memberships = {organization_id: OrgRole.ADMIN} if organization_id else {}
    return Principal(PrincipalKind.USER, subject=subject, email=email, memberships=memberships)


def create_token(*, db_session: Session, role: str, organization_id: uuid.UUID | None = None,
                 email: str | None = None, expires_in: int | None = None):
    """A signed access token for an interim role (see
    :func:`registry.oauth.service.create_token`); returns ``(jwt, claims)``. Raises
    ``ValidationError`` for an unknown role or organisation."""
    from registry.oauth.service import CLI_TOKEN_SECONDS
    from registry.oauth.service import create_token as _create

    return _create(db_session=db_session, role=role, organization_id=organization_id,
                   email=email, expires_in=expires_in or CLI_TOKEN_SECONDS)


def adopt_organization(*, db_session: Session, principal: Principal,
                       organization_id: uuid.UUID) -> bool:
    """An interim ``partner`` identity without an organisation (``create-token --role
    partner`` without ``--organization``) becomes admin of the first organisation it
    registers, as interim tokens did: recorded in ``interim_token_organizations`` and added
    to its principal on its next requests (:func:`with_adopted_organization`). Returns True
    when it adopted it. User accounts get their memberships from the organisations domain."""
    from registry.oauth.models import InterimTokenOrganization

    subject = principal.subject or ""
    if (not subject.startswith(INTERIM_SUBJECT_PREFIX) or principal.memberships
            or principal.is_staff or principal.client_id is not None):
        return False
    if db_session.get(InterimTokenOrganization, subject) is not None:
        return False
    db_session.add(InterimTokenOrganization(subject=subject, organization_id=organization_id))
    return True


def with_adopted_organization(*, db_session: Session, principal: Principal) -> Principal:
    """``principal`` with the organisation its interim identity adopted, if any (one
    primary-key read, only for interim ``partner`` identities without an organisation)."""
    from dataclasses import replace

    from registry.oauth.models import InterimTokenOrganization

    subject = principal.subject or ""
    if (not subject.startswith(INTERIM_SUBJECT_PREFIX) or principal.memberships
            or principal.is_staff or principal.client_id is not None):
        return principal
    row = db_session.get(InterimTokenOrganization, subject)
    if row is None:
        return principal
    return replace(principal, memberships={row.organization_id: OrgRole.ADMIN})
