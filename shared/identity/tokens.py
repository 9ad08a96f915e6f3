"""The registry's access tokens: JWTs signed with the registry's RSA key, verified by all three
services with the same code (:class:`TokenVerifier`), so the notifier and reporting check a caller
without reading the registry's tables.

Contract (RFC 7519 JWT, RFC 9068 "JWT profile for OAuth 2.0 access tokens"):

- header: ``alg`` = ``RS256`` (the only algorithm accepted: ``none``, ``HS256`` and every other
  value are refused before any key is looked at), ``kid`` = the signing key's RFC 7638
  thumbprint, ``typ`` = ``at+jwt``;
- claims: ``iss`` (the registry's issuer URL, :func:`issuer`), ``aud`` = :data:`AUDIENCE`,
  ``sub`` (user id or OAuth ``client_id``), ``exp``/``iat``/``nbf`` (NumericDate, seconds),
  ``jti`` (unique id: revocation, audit), ``kind`` (:class:`~shared.identity.PrincipalKind`),
  ``scope`` (space-separated :class:`~shared.identity.Scope` values), ``orgs``
  (``{organisation id: OrgRole}``), ``staff`` (``[StaffRole]``), ``email``, ``locale``,
  ``client_id``.

Keys (RFC 7517 JWK): RSA, 2048 to 8192 bits, public exponent 65537, ``use`` ``sig`` when given.
A key set (:class:`KeySet`, usually a :class:`CachedKeySet` over a service's own table) gives
the public key of a ``kid``; a revocation list (:class:`Revocations`) says whether a ``jti``
was revoked. Verification failures all raise :class:`shared.problems.Unauthenticated` (401),
whose detail never echoes the token.
"""

from __future__ import annotations

import base64
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from shared.config import public_base_url, setting
from shared.identity import OrgRole, Principal, PrincipalKind, Scope, StaffRole
from shared.problems import Unauthenticated

log = logging.getLogger(__name__)

#: the ``aud`` of every access token: the three services are one resource server
AUDIENCE = "partnership-registry"
#: the only signing algorithm (RFC 9068 §2.1 requires RS256 support of every resource server)
ALGORITHM = "RS256"
#: RSA modulus bounds in bits (NIST SP 800-57: 2048 is the minimum; 8192 bounds verify cost)
MIN_RSA_BITS = 2048
MAX_RSA_BITS = 8192
#: size of newly generated signing keys
NEW_KEY_BITS = 2048
#: longest accepted token (bytes): a bearer token is a header value, never a document
MAX_TOKEN_LENGTH = 8192
#: clock skew tolerated on exp/nbf/iat (seconds)
LEEWAY_SECONDS = 30
#: RFC 9068 §2.1 media type (without "application/")
TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type, not a secret

_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_KID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def issuer(config: Mapping[str, Any] | None = None) -> str:
    """The registry's issuer URL (``OAUTH_ISSUER``, else ``PUBLIC_BASE_URL``, else its default
    ``http://127.0.0.1:$PORT``: ``shared.config.public_base_url``), without a trailing slash.
    ``config`` (a Flask config) wins over the environment."""
    for name in ("OAUTH_ISSUER", "PUBLIC_BASE_URL"):
        value = (config or {}).get(name) or setting(name)
        if value:
            return str(value).rstrip("/")
    return public_base_url()


# -- keys ----------------------------------------------------------------------------------------
class InvalidKey(ValueError):
    """A JWK that is not an acceptable public signing key (reason in the message)."""


def generate_signing_key() -> RSAKey:
    """A new private RSA signing key (:data:`NEW_KEY_BITS` bits) whose ``kid`` is its RFC 7638
    thumbprint."""
    return RSAKey.generate_key(NEW_KEY_BITS, private=True, auto_kid=True)


def public_jwk(key: RSAKey) -> dict[str, str]:
    """The public JWK of ``key`` as published (``kty``, ``n``, ``e``, ``kid``, ``alg``, ``use``)."""
    data = dict(key.as_dict(private=False))
    data.update({"kid": key.kid or key.thumbprint(), "alg": ALGORITHM, "use": "sig"})
    return {k: str(data[k]) for k in ("kty", "n", "e", "kid", "alg", "use")}


def validate_public_jwk(data: Any) -> dict[str, str]:
    """Check a public JWK received from elsewhere (an event, a JWKS document) before it is
    stored or used; returns the normalised JWK (``kty``, ``n``, ``e``, ``kid``, ``alg``,
    ``use``).

    Accepted: ``kty`` ``RSA``; modulus of :data:`MIN_RSA_BITS`..:data:`MAX_RSA_BITS` bits;
    ``e`` = 65537; ``alg`` absent or ``RS256``; ``use`` absent or ``sig``; no private member
    (``d``, ``p``, ...); ``kid`` of 1-100 URL-safe characters. Raises :class:`InvalidKey`.
    """
    if not isinstance(data, Mapping):
        raise InvalidKey("a JWK must be a JSON object")
    if data.get("kty") != "RSA":
        raise InvalidKey(f"kty must be RSA, not {str(data.get('kty'))[:20]!r}")
    if any(member in data for member in _PRIVATE_MEMBERS):
        raise InvalidKey("a public JWK must not carry private key members")
    if data.get("alg") not in (None, ALGORITHM):
        raise InvalidKey(f"alg must be {ALGORITHM}")
    if data.get("use") not in (None, "sig"):
        raise InvalidKey("use must be sig")
    kid = data.get("kid")
    if not isinstance(kid, str) or not _KID.match(kid):
        raise InvalidKey("kid must be 1-100 URL-safe characters")
    n, e = data.get("n"), data.get("e")
    if not isinstance(n, str) or not isinstance(e, str) or len(n) > 2 * MAX_RSA_BITS // 6:
        raise InvalidKey("n and e must be base64url strings")
    modulus, exponent = _b64_int(n), _b64_int(e)
    if modulus is None or exponent is None:
        raise InvalidKey("n and e must be base64url strings (not an RSA public key)")
    bits = modulus.bit_length()
    if not MIN_RSA_BITS <= bits <= MAX_RSA_BITS:
        raise InvalidKey(f"RSA modulus of {bits} bits (allowed {MIN_RSA_BITS}-{MAX_RSA_BITS})")
    if exponent != 65537:
        raise InvalidKey("RSA public exponent must be 65537")
    if modulus % 2 == 0:
        raise InvalidKey("not an RSA public key (even modulus)")
    return {"kty": "RSA", "n": n, "e": e, "kid": kid, "alg": ALGORITHM, "use": "sig"}


def _b64_int(value: str) -> int | None:
    """The unsigned big-endian integer of a base64url string (RFC 7518 §6.3.1), or None."""
    if not value or not _B64URL.match(value):
        return None
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    return int.from_bytes(raw, "big")


class KeySet(Protocol):
    """Where a verifier finds public keys: ``key(kid)`` is the key or None when unknown."""

    def key(self, kid: str) -> RSAKey | None: ...


class StaticKeySet:
    """A fixed set of public keys (JWK dicts, validated with :func:`validate_public_jwk`)."""

    def __init__(self, jwks: Iterable[Mapping[str, Any]]):
        self._keys = {d["kid"]: RSAKey.import_key(cast(Any, d))
                      for d in (validate_public_jwk(j) for j in jwks)}

    def key(self, kid: str) -> RSAKey | None:
        """The public key of ``kid`` or None."""
        return self._keys.get(kid)


class CachedKeySet:
    """Public keys from ``load()`` (an iterable of JWK dicts: a service's ``signing_keys`` rows
    still valid), reloaded when older than ``ttl`` seconds, and at once (at most once per
    :attr:`MIN_RELOAD_SECONDS`) when a token names an unknown ``kid`` (a key just published).
    A JWK that fails :func:`validate_public_jwk` is skipped and logged. Thread-safe."""

    MIN_RELOAD_SECONDS = 0.5

    def __init__(self, load: Callable[[], Iterable[Mapping[str, Any]]], ttl: float):
        self._load = load
        self.ttl = ttl
        self._keys: dict[str, RSAKey] = {}
        self._loaded_at = -math.inf
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        """Read the keys again on the next use (after a local change)."""
        self._loaded_at = -math.inf

    def _reload(self) -> None:
        keys: dict[str, RSAKey] = {}
        for raw in self._load():
            try:
                jwk = validate_public_jwk(raw)
            except InvalidKey as exc:
                log.warning("signing key skipped", extra={"error": str(exc)})
                continue
            keys[jwk["kid"]] = RSAKey.import_key(cast(Any, jwk))
        self._keys = keys
        self._loaded_at = clock()

    def key(self, kid: str) -> RSAKey | None:
        """The public key of ``kid``, or None when the source has no such key."""
        age = clock() - self._loaded_at
        if age >= self.ttl:
            with self._lock:
                if clock() - self._loaded_at >= self.ttl:
                    self._reload()
        found = self._keys.get(kid)
        if found is None and clock() - self._loaded_at >= min(self.ttl, self.MIN_RELOAD_SECONDS):
            with self._lock:
                self._reload()
            found = self._keys.get(kid)
        return found


class Revocations(Protocol):
    """Where a verifier learns that a token was revoked: ``is_revoked(jti)``."""

    def is_revoked(self, jti: str) -> bool: ...


class CachedRevocations:
    """Revoked ``jti`` values from ``load()`` (the ones not yet expired), reloaded when older
    than ``ttl`` seconds (``TOKEN_CACHE_SECONDS``): a revocation made elsewhere is honoured
    within ``ttl``; one made in this process is honoured at once (:meth:`add`). Thread-safe."""

    def __init__(self, load: Callable[[], Iterable[str]], ttl: float):
        self._load = load
        self.ttl = ttl
        self._revoked: frozenset[str] = frozenset()
        self._loaded_at = -math.inf
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        """Read the list again on the next use."""
        self._loaded_at = -math.inf

    def add(self, jti: str) -> None:
        """Refuse ``jti`` from now on in this process (the table is the lasting record)."""
        with self._lock:
            self._revoked = self._revoked | {jti}

    def is_revoked(self, jti: str) -> bool:
        """True when ``jti`` is on the (at most ``ttl`` seconds old) list."""
        if clock() - self._loaded_at >= self.ttl:
            with self._lock:
                if clock() - self._loaded_at >= self.ttl:
                    self._revoked = frozenset(self._load())
                    self._loaded_at = clock()
        return jti in self._revoked


class NoRevocations:
    """Nothing is revoked (tests, tools)."""

    def is_revoked(self, jti: str) -> bool:
        """Always False."""
        return False


clock = time.monotonic  # replaced in tests


# -- claims <-> principal ------------------------------------------------------------------------
def claims_for(principal: Principal, *, issuer_url: str, expires_in: int,
               now: int | None = None, jti: str | None = None) -> dict[str, Any]:
    """The claims of an access token for ``principal`` valid ``expires_in`` seconds from ``now``
    (Unix seconds). ``scope`` is the principal's scopes; a principal not limited by a token
    (``scopes is None``: CLI operator, browser session) gets every :class:`Scope`."""
    if principal.kind in (PrincipalKind.ANONYMOUS, PrincipalKind.SYSTEM):
        raise ValueError(f"no access token for a {principal.kind} principal")
    if not principal.subject:
        raise ValueError("an access token needs the principal's subject")
    if expires_in <= 0:
        raise ValueError("expires_in must be positive")
    now = int(time.time()) if now is None else now
    scopes = principal.scopes if principal.scopes is not None else frozenset(Scope)
    claims: dict[str, Any] = {
        "iss": issuer_url, "aud": AUDIENCE, "sub": principal.subject,
        "iat": now, "nbf": now, "exp": now + int(expires_in),
        "jti": jti or uuid.uuid4().hex,
        "kind": principal.kind.value,
        "scope": " ".join(sorted(s.value for s in scopes)),
        "orgs": {str(org): role.value for org, role in sorted(principal.memberships.items(),
                                                               key=lambda i: str(i[0]))},
        "staff": sorted(r.value for r in principal.staff_roles),
    }
    for name, value in (("email", principal.email), ("locale", principal.locale),
                        ("client_id", principal.client_id)):
        if value:
            claims[name] = value
    return claims


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """The :class:`Principal` an access token's (verified) claims describe. Raises
    :class:`Unauthenticated` when a claim has the wrong shape or names an unknown role."""
    try:
        kind = PrincipalKind(claims["kind"])
        if kind not in (PrincipalKind.USER, PrincipalKind.CLIENT):
            raise ValueError(kind)
        orgs = claims.get("orgs", {})
        staff = claims.get("staff", [])
        scope = claims.get("scope")
        if not isinstance(orgs, dict) or not isinstance(staff, list) or not isinstance(
                scope, str):
            raise TypeError("orgs/staff/scope")
        memberships = {uuid.UUID(str(org)): OrgRole(role) for org, role in orgs.items()}
        staff_roles = frozenset(StaffRole(r) for r in staff)
        optional = {n: claims.get(n) for n in ("email", "locale", "client_id")}
        if any(v is not None and not isinstance(v, str) for v in optional.values()):
            raise TypeError("email/locale/client_id")
    except (KeyError, ValueError, TypeError, AttributeError):
        raise Unauthenticated("The access token's claims are malformed.") from None
    return Principal(kind, subject=claims["sub"], memberships=memberships,
                     staff_roles=staff_roles, scopes=Scope.parse(scope),
                     token_id=claims["jti"], client_id=optional["client_id"],
                     email=optional["email"], locale=optional["locale"])


def sign(claims: Mapping[str, Any], key: RSAKey) -> str:
    """The compact JWS of ``claims`` signed with the private ``key`` (header ``alg``, ``kid``,
    ``typ``)."""
    if not key.is_private:
        raise ValueError("signing needs the private key")
    header = {"alg": ALGORITHM, "kid": key.kid or key.thumbprint(), "typ": TOKEN_TYPE}
    return jwt.encode(header, dict(claims), key, algorithms=[ALGORITHM])


def issue_token(principal: Principal, key: RSAKey, *, issuer_url: str, expires_in: int,
                now: int | None = None, jti: str | None = None) -> tuple[str, dict[str, Any]]:
    """Sign an access token for ``principal``; returns ``(token, claims)``.
    See :func:`claims_for` and :func:`sign`."""
    claims = claims_for(principal, issuer_url=issuer_url, expires_in=expires_in, now=now,
                        jti=jti)
    return sign(claims, key), claims


# -- verification --------------------------------------------------------------------------------
_REQUIRED = ("iss", "aud", "sub", "exp", "iat", "jti", "kind", "scope")


@dataclass
class TokenVerifier:
    """Verifies bearer JWTs into :class:`Principal` objects.

    ``keyset`` gives the public key of the header's ``kid``; ``revocations`` says whether a
    ``jti`` was revoked; ``issuer_url`` and ``audience`` must match ``iss`` and ``aud``.
    ``now`` (Unix seconds) is for tests.

    A token that verified is remembered (its exact string -> principal, expiry, kid, jti; at
    most :attr:`MAX_REMEMBERED` tokens): a client sends the same token with every request for
    its whole life, and the signature check is most of the cost. Each later use still checks
    the expiry, that the key still verifies (``keyset``) and that the ``jti`` is not revoked,
    so a remembered token is refused exactly when a fresh verification would refuse it; any
    other string (a forged signature, another key) takes the full path.
    """

    keyset: KeySet
    issuer_url: str
    revocations: Revocations | None = None
    audience: str = AUDIENCE
    leeway: int = LEEWAY_SECONDS
    now: Callable[[], float] = time.time
    remembered: dict[str, tuple[Principal, float, str]] = field(default_factory=dict,
                                                                 repr=False)

    MAX_REMEMBERED = 10_000

    def verify(self, token: str) -> Principal:
        """The principal of a valid token. Raises :class:`Unauthenticated` when the token is
        malformed, uses another algorithm than RS256 (``none`` included), names an unknown
        ``kid``, has a bad signature, is expired or not yet valid, has the wrong ``iss`` or
        ``aud``, lacks a required claim, or was revoked."""
        known = self.remembered.get(token)
        if known is not None:
            principal, exp, kid = known
            if exp <= self.now() - self.leeway:
                self.remembered.pop(token, None)
                raise Unauthenticated("The bearer token has expired.")
            if self.keyset.key(kid) is None:
                self.remembered.pop(token, None)
                raise Unauthenticated("The bearer token is signed by an unknown key.")
            if self.revocations is not None and self.revocations.is_revoked(
                    principal.token_id or ""):
                raise Unauthenticated("The bearer token was revoked.")
            return principal
        if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise Unauthenticated("The bearer token is not a JWT.")
        try:
            decoded = jwt.decode(token, self._resolve, algorithms=[ALGORITHM])
        except _UnknownKey:
            raise Unauthenticated("The bearer token is signed by an unknown key.") from None
        except JoseError as exc:
            raise Unauthenticated(f"The bearer token is invalid ({exc.error}).") from None
        except (ValueError, TypeError, UnicodeError):
            raise Unauthenticated("The bearer token is not a JWT.") from None
        header, claims = decoded.header, decoded.claims
        if header.get("typ") not in (None, TOKEN_TYPE, "JWT"):
            raise Unauthenticated("The bearer token is not an access token.")
        self._check_claims(claims)
        if self.revocations is not None and self.revocations.is_revoked(claims["jti"]):
            raise Unauthenticated("The bearer token was revoked.")
        principal = principal_from_claims(claims)
        if len(self.remembered) >= self.MAX_REMEMBERED:
            self.remembered.clear()
        self.remembered[token] = (principal, float(claims["exp"]), header["kid"])
        return principal

    def _resolve(self, obj: Any) -> RSAKey:
        headers = obj.headers()
        if headers.get("alg") != ALGORITHM:
            raise Unauthenticated("The bearer token's algorithm is not accepted.")
        kid = headers.get("kid")
        key = self.keyset.key(kid) if isinstance(kid, str) and _KID.match(kid) else None
        if key is None:
            raise _UnknownKey
        return key

    def _check_claims(self, claims: dict[str, Any]) -> None:
        missing = [c for c in _REQUIRED if claims.get(c) in (None, "")]
        if missing:
            raise Unauthenticated(f"The bearer token lacks {', '.join(missing)}.")
        if claims["iss"] != self.issuer_url:
            raise Unauthenticated("The bearer token was issued by another issuer.")
        aud = claims["aud"]
        if aud != self.audience and not (isinstance(aud, list) and self.audience in aud):
            raise Unauthenticated("The bearer token is meant for another audience.")
        now = self.now()
        for name in ("exp", "iat", "nbf"):
            value = claims.get(name)
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, int | float)):
                raise Unauthenticated(f"The bearer token's {name} is not a number.")
        if claims["exp"] <= now - self.leeway:
            raise Unauthenticated("The bearer token has expired.")
        if claims.get("nbf", 0) > now + self.leeway or claims["iat"] > now + self.leeway:
            raise Unauthenticated("The bearer token is not valid yet.")
        if not isinstance(claims["jti"], str) or not isinstance(claims["sub"], str):
            raise Unauthenticated("The access token's claims are malformed.")


class _UnknownKey(Exception):
    """Internal: the header's kid names no key of the set."""


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value; None without a header.
    Raises :class:`Unauthenticated` for another scheme or an empty token (RFC 6750 §2.1)."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Use 'Authorization: Bearer <token>'.")
    return token.strip()


__all__ = ["ALGORITHM", "AUDIENCE", "CachedKeySet", "CachedRevocations", "InvalidKey",
           "KeySet", "NoRevocations", "Revocations", "StaticKeySet", "TokenVerifier",
           "bearer_token", "claims_for", "generate_signing_key", "issue_token", "issuer",
           "principal_from_claims", "public_jwk", "sign", "validate_public_jwk"]
