"""The acting principal of the registry's service functions, during the move to
:mod:`shared.identity`.

Bearer tokens are the registry's signed JWTs now (:mod:`registry.oauth.service`, verified by
:mod:`shared.identity.web`); the request's principal is a :class:`shared.identity.Principal`.
The service functions still take this module's interim :class:`Principal` (``role``,
``token_id``, ``organization_id``) until the ``authz`` branch moves them onto
``shared.identity`` and its permission table; :func:`from_identity` maps one onto the other.
``create_token`` stays here for the tests and scripts that import it from this module.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from shared.identity import Principal as Identity
from shared.identity import PrincipalKind

ROLES = ("partner", "secretariat")


@dataclass(frozen=True)
class Principal:
    """Who is acting: ``role`` is ``anonymous``, ``partner``, ``secretariat`` or ``system``
    (imports and other internal jobs). ``token_id`` identifies the acting identity (the owner
    of what a partner creates); ``organization_id`` the partner's organisation, if any."""

    role: str
    token_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None
    email: str | None = None

    @property
    def is_authenticated(self) -> bool:
        """True for anyone but ``anonymous``."""
        return self.role != "anonymous"

    def as_event_actor(self) -> dict:
        """The ``actor`` object of event payloads."""
        return {"role": self.role,
                "organization_id": str(self.organization_id) if self.organization_id else None,
                "email": self.email}


ANONYMOUS = Principal("anonymous")
SYSTEM = Principal("system")


def subject_uuid(subject: str) -> uuid.UUID:
    """A UUID for a token subject: the subject itself when it is one (user ids), else a
    name-based UUID of it (client ids)."""
    try:
        return uuid.UUID(subject)
    except ValueError:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"urn:partnership-registry:subject:{subject}")


def from_identity(identity: Identity) -> Principal:
    """The interim principal of a :class:`shared.identity.Principal`: staff -> ``secretariat``;
    a person or API client -> ``partner`` of its (first) organisation; identity = subject."""
    if identity.kind is PrincipalKind.ANONYMOUS:
        return ANONYMOUS
    if identity.kind is PrincipalKind.SYSTEM:
        return SYSTEM
    org = min(identity.memberships, key=str) if identity.memberships else None
    return Principal("secretariat" if identity.is_staff else "partner",
                     subject_uuid(identity.subject) if identity.subject else None, org,
                     identity.email)


def create_token(*, db_session, role: str, organization_id: uuid.UUID | None = None,
                 email: str | None = None, expires_in: int | None = None):
    """A signed access token for an interim role (see :func:`registry.oauth.service.create_token`);
    returns ``(jwt, claims)``. Raises ``ValidationError`` for an unknown role or organisation."""
    from registry.oauth.service import CLI_TOKEN_SECONDS
    from registry.oauth.service import create_token as _create

    return _create(db_session=db_session, role=role, organization_id=organization_id,
                   email=email, expires_in=expires_in or CLI_TOKEN_SECONDS)
