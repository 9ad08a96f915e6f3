"""Interim token roles, mapped onto :class:`shared.identity.Principal`, over the registry's JWT
access tokens.

Bearer tokens are the registry's signed JWTs (:mod:`registry.oauth.service`, verified for every
request by :mod:`shared.identity.web`). ``registry create-token --role`` and the tests still
name the two interim roles: a ``partner`` token acts as a person who is admin of the token's
organisation; a ``secretariat`` token as a secretariat admin (:func:`principal_for_token`).
"""

from __future__ import annotations

import time
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


#: ``session.info`` key: interim identities that adopted an organisation in this transaction
ADOPTED_KEY = "registry.auth.adopted"
#: subject -> (organisation id or None, monotonic time read): what interim identities adopted;
#: a found organisation never changes, "none yet" is read again after NO_ADOPTION_SECONDS (an
#: adoption committed in this process is known at once: :func:`remember_adoptions`)
_adopted: dict[str, tuple[uuid.UUID | None, float]] = {}
NO_ADOPTION_SECONDS = 2.0


def _interim_without_organization(principal: Principal) -> bool:
    return ((principal.subject or "").startswith(INTERIM_SUBJECT_PREFIX)
            and not principal.memberships and not principal.is_staff
            and principal.client_id is None)


def adopt_organization(*, db_session: Session, principal: Principal,
                       organization_id: uuid.UUID) -> bool:
    """An interim ``partner`` identity without an organisation (``create-token --role
    partner`` without ``--organization``) becomes admin of the first organisation it
    registers, as interim tokens did: recorded in ``interim_token_organizations`` and added
    to its principal on its next requests (:func:`with_adopted_organization`). Returns True
    when it adopted it. User accounts get their memberships from the organisations domain."""
    from registry.oauth.models import InterimTokenOrganization

    if not _interim_without_organization(principal):
        return False
    subject = principal.subject or ""
    if db_session.get(InterimTokenOrganization, subject) is not None:
        return False
    db_session.add(InterimTokenOrganization(subject=subject, organization_id=organization_id))
    db_session.info.setdefault(ADOPTED_KEY, {})[subject] = organization_id
    return True


def remember_adoptions(session: Session) -> None:
    """After a commit: the adoptions it made are known to this process at once."""
    for subject, organization_id in session.info.pop(ADOPTED_KEY, {}).items():
        _adopted[subject] = (organization_id, time.monotonic())


def with_adopted_organization(*, db_session: Session, principal: Principal) -> Principal:
    """``principal`` with the organisation its interim identity adopted, if any (read at most
    every :data:`NO_ADOPTION_SECONDS` while there is none; only for interim ``partner``
    identities without an organisation)."""
    from dataclasses import replace

    from registry.oauth.models import InterimTokenOrganization

    if not _interim_without_organization(principal):
        return principal
    subject = principal.subject or ""
    known = _adopted.get(subject)
    now = time.monotonic()
    if known is None or (known[0] is None and now - known[1] >= NO_ADOPTION_SECONDS):
        row = db_session.get(InterimTokenOrganization, subject)
        if len(_adopted) >= 10_000:
            _adopted.clear()
        known = _adopted[subject] = (row.organization_id if row is not None else None, now)
    if known[0] is None:
        return principal
    return replace(principal, memberships={known[0]: OrgRole.ADMIN})
