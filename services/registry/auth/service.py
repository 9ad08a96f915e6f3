"""Tokens and principals.

Interim bearer-token scheme (the identity issue replaces it with Authlib/OIDC; the
``registry create-token`` command stays): a token is 32 random bytes (URL-safe base64) with the
prefix ``prt_``; only its SHA-256 hex digest is stored, so a leaked database leaks no token.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.auth.models import ApiToken
from registry.organizations.models import Organization
from shared.problems import Unauthenticated, ValidationError

ROLES = ("partner", "secretariat")


@dataclass(frozen=True)
class Principal:
    """Who is acting: ``role`` is ``anonymous``, ``partner``, ``secretariat`` or ``system``
    (imports and other internal jobs). ``token_id`` identifies the token (the owner of what a
    partner creates); ``organization_id`` the partner's organisation, if any."""

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
    principal = Principal(row.role, row.id, row.organization_id, row.email)
    if cache is not None:
        cache.put(token_hash, principal)
    return principal
