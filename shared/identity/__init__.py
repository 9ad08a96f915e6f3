"""Identity shared by the three services: who is acting (:class:`Principal`), the role and scope
names (enums: services never spell them as string literals), and, in :mod:`shared.identity.tokens`,
the verification of the registry's access tokens (JWTs), so the notifier and reporting check a
caller themselves without reading the registry's tables.

Role model (UN DESA partnership platform practice: organisations register and own their
commitments; a secretariat reviews them):

- organisation roles, per organisation: :class:`OrgRole` ``member`` or ``admin``;
- secretariat (staff) roles: :class:`StaffRole` ``reviewer`` and ``secretariat_admin``;
- OAuth 2 scopes (:class:`Scope`) bound what a token may do; a browser session or a CLI
  operator acts with every scope of its roles (``scopes is None``).

A :class:`Principal` is immutable and cheap to build; services decide with it through the
registry's permission table, never by comparing strings.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class PrincipalKind(StrEnum):
    """What kind of caller: nobody, a person, an API client acting for itself
    (client-credentials grant), or the system (imports, internal jobs, the CLI operator)."""

    ANONYMOUS = "anonymous"
    USER = "user"
    CLIENT = "client"
    SYSTEM = "system"


class OrgRole(StrEnum):
    """A person's role in one organisation: ``admin`` manages members, invitations and API
    clients; both may draft and submit the organisation's initiatives."""

    MEMBER = "member"
    ADMIN = "admin"


class StaffRole(StrEnum):
    """Secretariat roles: a ``reviewer`` reviews submissions and verifies organisations; a
    ``secretariat_admin`` also grants staff roles (the first one is made by
    ``registry create-admin --email E``)."""

    REVIEWER = "reviewer"
    SECRETARIAT_ADMIN = "secretariat_admin"


class Scope(StrEnum):
    """OAuth 2 scopes (RFC 6749 §3.3) a token may carry; space-separated in the ``scope``
    claim."""

    INITIATIVES_READ = "initiatives:read"
    INITIATIVES_WRITE = "initiatives:write"
    ORGANIZATIONS_WRITE = "organizations:write"
    REVIEW = "review"
    SUBSCRIPTIONS_READ = "subscriptions:read"
    SUBSCRIPTIONS_WRITE = "subscriptions:write"
    REPORTS_READ = "reports:read"
    #: submit progress reports of the initiatives of the token's organisation (issue 9)
    PROGRESS_WRITE = "progress:write"

    @classmethod
    def parse(cls, value: str | Iterable[str] | None) -> frozenset[Scope]:
        """Scopes from a space-separated string or an iterable; unknown names are dropped."""
        if value is None:
            return frozenset()
        names = value.split() if isinstance(value, str) else value
        known = {s.value for s in cls}
        return frozenset(cls(n) for n in names if n in known)


@dataclass(frozen=True)
class Principal:
    """Who is acting in a request, a CLI command or a job.

    - ``kind``: :class:`PrincipalKind`.
    - ``subject``: the user's id (UUID string) or the OAuth client's ``client_id``; None for
      anonymous and system.
    - ``memberships``: organisation id -> :class:`OrgRole` (read-only mapping).
    - ``staff_roles``: the secretariat roles held.
    - ``scopes``: the token's scopes; ``None`` means not limited by a token (browser session,
      CLI operator, system).
    - ``token_id``: the access token's ``jti`` (revocation, audit), if any.
    - ``client_id``: the OAuth client that obtained the token, if any.
    - ``email``, ``locale``: the person's verified e-mail and language (``en``, ``zh``...).
    """

    kind: PrincipalKind
    subject: str | None = None
    memberships: Mapping[uuid.UUID, OrgRole] = field(default_factory=dict)
    staff_roles: frozenset[StaffRole] = frozenset()
    scopes: frozenset[Scope] | None = None
    token_id: str | None = None
    client_id: str | None = None
    email: str | None = None
    locale: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "memberships", MappingProxyType(dict(self.memberships)))

    def __hash__(self) -> int:
        return hash((self.kind, self.subject, self.token_id))

    # -- who -------------------------------------------------------------------------------
    @property
    def is_authenticated(self) -> bool:
        """True for anyone but anonymous."""
        return self.kind is not PrincipalKind.ANONYMOUS

    @property
    def is_system(self) -> bool:
        """The system itself (imports, jobs, CLI operator)."""
        return self.kind is PrincipalKind.SYSTEM

    @property
    def is_staff(self) -> bool:
        """Holds any secretariat role (reviewer or secretariat admin)."""
        return bool(self.staff_roles)

    def has_staff_role(self, role: StaffRole) -> bool:
        """Holds ``role``; a secretariat admin also counts as a reviewer."""
        return role in self.staff_roles or (
            role is StaffRole.REVIEWER and StaffRole.SECRETARIAT_ADMIN in self.staff_roles)

    def role_in(self, organization_id: uuid.UUID | None) -> OrgRole | None:
        """The principal's role in that organisation, or None."""
        return self.memberships.get(organization_id) if organization_id else None

    def is_member_of(self, organization_id: uuid.UUID | None) -> bool:
        """Member or admin of that organisation."""
        return self.role_in(organization_id) is not None

    def is_admin_of(self, organization_id: uuid.UUID | None) -> bool:
        """Admin of that organisation."""
        return self.role_in(organization_id) is OrgRole.ADMIN

    @property
    def organization_ids(self) -> frozenset[uuid.UUID]:
        """The organisations the principal belongs to."""
        return frozenset(self.memberships)

    def has_scope(self, scope: Scope) -> bool:
        """True when no token limits the principal, or its token carries ``scope``."""
        return self.scopes is None or scope in self.scopes

    def as_event_actor(self) -> dict:
        """The ``actor`` object of event payloads: ``{"kind", "subject", "email",
        "organization_ids"}`` (no token, no secret)."""
        return {"kind": self.kind.value, "subject": self.subject, "email": self.email,
                "organization_ids": sorted(str(o) for o in self.memberships)}


ANONYMOUS = Principal(PrincipalKind.ANONYMOUS)
SYSTEM = Principal(PrincipalKind.SYSTEM)

__all__ = ["ANONYMOUS", "SYSTEM", "OrgRole", "Principal", "PrincipalKind", "Scope", "StaffRole"]
