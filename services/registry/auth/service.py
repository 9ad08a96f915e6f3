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
    """Interim tokens could adopt the organisation their holder registered; a signed JWT cannot
    change, so this is always False: the creator's admin membership is recorded by the
    organisations domain, and a token minted afterwards carries it."""
    return False
