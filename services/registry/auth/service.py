"""Interim bearer tokens, mapped onto :class:`shared.identity.Principal`.

Interim scheme (the ``oauth`` work replaces it with Authlib JWTs; ``registry create-token``
stays): a token is 32 random bytes (URL-safe base64) with the prefix ``prt_``; only its
SHA-256 hex digest is stored, so a leaked database leaks no token. A ``partner`` token acts
as a person who is admin of the token's organisation; a ``secretariat`` token as a secretariat
admin (:func:`principal_for_token`).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.auth.models import ApiToken
from registry.organizations.models import Organization
from shared.identity import ANONYMOUS, SYSTEM, OrgRole, Principal, PrincipalKind, StaffRole
from shared.problems import Unauthenticated, ValidationError

#: Kinds of interim token (``api_tokens.role``): what ``registry create-token --role`` takes.
PARTNER_TOKEN = "partner"  # noqa: S105 (a kind, not a secret)
SECRETARIAT_TOKEN = "secretariat"  # noqa: S105
ROLES = (PARTNER_TOKEN, SECRETARIAT_TOKEN)

__all__ = ["ANONYMOUS", "ROLES", "SYSTEM", "Principal", "TokenCache", "authenticate",
           "create_token", "hash_token", "principal_for_token"]


def principal_for_token(*, token_id: uuid.UUID, role: str, organization_id: uuid.UUID | None,
                        email: str | None) -> Principal:
    """The :class:`Principal` of an interim token: ``partner`` -> a person (``USER``) who is
    :attr:`OrgRole.ADMIN` of the token's organisation (none when the token has none yet);
    ``secretariat`` -> a person with :attr:`StaffRole.SECRETARIAT_ADMIN`. Not limited by
    scopes (operator-issued)."""
    if role == SECRETARIAT_TOKEN:
        return Principal(PrincipalKind.USER, token_id=str(token_id), email=email,
                         staff_roles=frozenset({StaffRole.SECRETARIAT_ADMIN}))
    memberships = {organization_id: OrgRole.ADMIN} if organization_id else {}
    return Principal(PrincipalKind.USER, token_id=str(token_id), email=email,
                     memberships=memberships)


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a token (64 characters)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(*, db_session: Session, role: str, organization_id: uuid.UUID | None = None,
                 email: str | None = None) -> tuple[str, ApiToken]:
    """Create a token; returns (the plain token, shown once; the stored row).

    Raises :class:`ValidationError` for an unknown role or organisation.
    """
    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}",
                              errors=[{"field": "role", "message": f"Unknown role {role!r}."}])
    if organization_id is not None and db_session.get(Organization, organization_id) is None:
        raise ValidationError("unknown organisation", errors=[{
            "field": "organization", "message": f"No organisation with id {organization_id}."}])
    plain = "prt_" + secrets.token_urlsafe(32)
    row = ApiToken(token_hash=hash_token(plain), role=role, organization_id=organization_id,
                   email=email)
    db_session.add(row)
    db_session.flush()
    return plain, row


def adopt_organization(*, db_session: Session, principal: Principal,
                       organization_id: uuid.UUID) -> bool:
    """Bind an interim ``partner`` token that has no organisation yet to the one its holder
    just registered (the creator becomes its admin). Returns True when the token changed."""
    if principal.token_id is None or principal.memberships or principal.is_staff:
        return False
    try:
        token_id = uuid.UUID(principal.token_id)
    except ValueError:
        return False
    row = db_session.get(ApiToken, token_id)
    if row is None or row.role != PARTNER_TOKEN or row.organization_id is not None:
        return False
    row.organization_id = organization_id
    return True


class TokenCache:
    """Principals of recently seen valid tokens, by token hash, for ``ttl`` seconds (at most
    ``max_entries``; the oldest half is dropped when full). Saves the token statement of every
    authenticated request; a revocation takes effect within ``ttl`` (``TOKEN_CACHE_SECONDS``,
    2 s). Unknown and revoked tokens are never cached. Thread-safe."""

    def __init__(self, ttl: float, max_entries: int = 10_000):
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, token_hash: str) -> Principal | None:
        """The cached principal, or None when absent or older than ``ttl``."""
        entry = self._entries.get(token_hash)
        if entry is None or _clock() - entry[0] >= self.ttl:
            return None
        return entry[1]

    def put(self, token_hash: str, principal: Principal) -> None:
        """Remember ``principal`` for ``token_hash`` from now on (no-op when ``ttl`` <= 0)."""
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                for key in list(self._entries)[: self.max_entries // 2]:
                    del self._entries[key]
            self._entries[token_hash] = (_clock(), principal)

    def forget(self, token_hash: str) -> None:
        """Drop ``token_hash`` (its principal changed, e.g. it adopted an organisation)."""
        with self._lock:
            self._entries.pop(token_hash, None)


_clock = time.monotonic  # replaced in tests


def authenticate(*, db_session: Session, authorization: str | None,
                 cache: TokenCache | None = None) -> Principal:
    """Principal for an ``Authorization`` header value; no header means anonymous.

    With ``cache``, a token seen valid less than ``cache.ttl`` seconds ago is not read again.
    Raises :class:`Unauthenticated` for a malformed header or an unknown/revoked token.
    """
    if not authorization:
        return ANONYMOUS
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Use 'Authorization: Bearer <token>'.")
    token_hash = hash_token(token.strip())
    principal = cache.get(token_hash) if cache is not None else None
    if principal is not None:
        return principal
    row = db_session.execute(select(
        ApiToken.id, ApiToken.role, ApiToken.organization_id, ApiToken.email,
        ApiToken.revoked_at).where(ApiToken.token_hash == token_hash)).first()
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("The bearer token is unknown or revoked.")
    principal = principal_for_token(token_id=row.id, role=row.role,
                                    organization_id=row.organization_id, email=row.email)
    if cache is not None:
        cache.put(token_hash, principal)
    return principal
