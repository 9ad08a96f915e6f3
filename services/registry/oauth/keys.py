"""The registry's signing keys: creation, the current key, rotation, retirement, the public key
set (JWKS), and their identity events.

Rotation without downtime (``registry rotate-signing-key``): a new key becomes current at once;
the previous key signs nothing more but keeps verifying until ``not_after``, the expiry of the
last token it signed (read from ``access_tokens``), then is retired. ``--retire-now`` (a key
believed compromised) refuses its tokens at once in all three services. Each new key is
published as ``identity.signing-key.published.v1`` and each rotated-out one as
``identity.signing-key.retired.v1`` (with its ``not_after``), through the outbox, so the
notifier and reporting follow without reading this database.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from joserfc.jwk import RSAKey
from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from registry.oauth.models import AccessToken, SigningKey
from registry.outbox.models import OutboxEvent
from shared.config import setting
from shared.db import utcnow
from shared.events.types import IDENTITY_SIGNING_KEY_PUBLISHED, IDENTITY_SIGNING_KEY_RETIRED
from shared.identity.tokens import ALGORITHM, generate_signing_key, public_jwk
from shared.outbox import record_event

log = logging.getLogger(__name__)

SOURCE = "/registry"
#: PostgreSQL advisory lock taken while the first key is made (two processes never make two)
_ADVISORY_LOCK = 0x5052_4B45  # "PRKE"

#: ``session.info`` key: the key set changed in this transaction (verifiers reload after commit)
KEYS_CHANGED_KEY = "registry.oauth.keys_changed"

_private_cache: dict[str, RSAKey] = {}
_private_lock = threading.Lock()


def _passphrase() -> bytes | None:
    value = setting("SIGNING_KEY_PASSPHRASE")
    return value.encode("utf-8") if value else None


def _serialize_private(key: RSAKey) -> tuple[str, bool]:
    """PKCS#8 PEM of ``key``, encrypted with ``SIGNING_KEY_PASSPHRASE`` when set."""
    from cryptography.hazmat.primitives import serialization

    passphrase = _passphrase()
    encryption = (serialization.BestAvailableEncryption(passphrase) if passphrase
                  else serialization.NoEncryption())
    pem = key.private_key.private_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    return pem.decode("ascii"), passphrase is not None


def private_key(row: SigningKey) -> RSAKey:
    """The private key of ``row`` (decrypted with ``SIGNING_KEY_PASSPHRASE`` when encrypted),
    kept in this process once loaded. Raises ``RuntimeError`` when the passphrase is missing or
    wrong (the message never holds key material)."""
    cached = _private_cache.get(row.kid)
    if cached is not None:
        return cached
    from cryptography.hazmat.primitives import serialization

    passphrase = _passphrase() if row.encrypted else None
    if row.encrypted and passphrase is None:
        raise RuntimeError(f"signing key {row.kid} is encrypted: set SIGNING_KEY_PASSPHRASE")
    try:
        native = serialization.load_pem_private_key(row.private_key.encode("ascii"), passphrase)
    except (ValueError, TypeError):
        raise RuntimeError(f"signing key {row.kid} cannot be decrypted with "
                           "SIGNING_KEY_PASSPHRASE") from None
    key = RSAKey.import_key(native, parameters={"kid": row.kid})  # type: ignore[arg-type]
    with _private_lock:
        _private_cache[row.kid] = key
    return key


def create_signing_key(*, db_session: Session) -> SigningKey:
    """A new current signing key (the caller rotates the previous one out) and its
    ``identity.signing-key.published.v1`` event, in the session's transaction."""
    key = generate_signing_key()
    pem, encrypted = _serialize_private(key)
    jwk = public_jwk(key)
    now = utcnow()
    row = SigningKey(kid=jwk["kid"], algorithm=ALGORITHM, public_jwk=jwk, private_key=pem,
                     encrypted=encrypted, created_at=now)
    db_session.add(row)
    record_event(db_session, OutboxEvent, IDENTITY_SIGNING_KEY_PUBLISHED, source=SOURCE,
                 subject=row.kid, data={"kid": row.kid, "jwk": jwk, "published_at": now})
    with _private_lock:
        _private_cache[row.kid] = key
    db_session.info[KEYS_CHANGED_KEY] = True
    log.info("signing key created", extra={"kid": row.kid, "encrypted": encrypted})
    return row


def current_signing_key(*, db_session: Session) -> SigningKey:
    """The key that signs new tokens; the first one is made (and published) on first use,
    under an advisory lock on PostgreSQL so concurrent processes make only one."""
    row = _current(db_session)
    if row is not None:
        return row
    if db_session.get_bind().dialect.name == "postgresql":
        db_session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK})
        row = _current(db_session)
        if row is not None:
            return row
    row = create_signing_key(db_session=db_session)
    db_session.flush()
    return row


def _current(db_session: Session) -> SigningKey | None:
    return db_session.scalars(select(SigningKey).where(
        SigningKey.rotated_out_at.is_(None), SigningKey.retired_at.is_(None))
        .order_by(SigningKey.created_at.desc()).limit(1)).first()


def last_expiry(db_session: Session, kid: str) -> datetime | None:
    """The latest ``expires_at`` of the tokens ``kid`` signed (None if it signed none)."""
    return db_session.scalar(select(func.max(AccessToken.expires_at)).where(
        AccessToken.kid == kid))


def rotate_signing_key(*, db_session: Session, retire_now: bool = False
                       ) -> tuple[SigningKey, list[SigningKey]]:
    """Make a new current key; the previous current key(s) sign no more and verify until the
    expiry of the last token they signed (``retire_now``: not at all from now on). Emits the
    published and retired events. Also retires keys whose ``not_after`` has passed. Returns
    ``(new key, keys rotated out now)``."""
    now = utcnow()
    previous = list(db_session.scalars(select(SigningKey).where(
        SigningKey.rotated_out_at.is_(None), SigningKey.retired_at.is_(None))))
    new = create_signing_key(db_session=db_session)
    for row in previous:
        row.rotated_out_at = now
        expiry = None if retire_now else last_expiry(db_session, row.kid)
        row.not_after = max(expiry, now) if expiry else now
        if row.not_after <= now:
            row.retired_at = now
        record_event(db_session, OutboxEvent, IDENTITY_SIGNING_KEY_RETIRED, source=SOURCE,
                     subject=row.kid, data={"kid": row.kid, "not_after": row.not_after})
    retire_expired_keys(db_session=db_session, now=now)
    return new, previous


def retire_expired_keys(*, db_session: Session, now: datetime | None = None) -> list[str]:
    """Mark retired the rotated-out keys whose ``not_after`` has passed; returns their kids
    (they already stopped verifying at ``not_after``: this is bookkeeping)."""
    now = now or utcnow()
    rows = list(db_session.scalars(select(SigningKey).where(
        SigningKey.rotated_out_at.is_not(None), SigningKey.retired_at.is_(None),
        SigningKey.not_after <= now)))
    for row in rows:
        row.retired_at = now
    if rows:
        db_session.info[KEYS_CHANGED_KEY] = True
    return [r.kid for r in rows]


def verification_jwks(*, db_session: Session, now: datetime | None = None) -> list[dict]:
    """Public JWKs that verify tokens now: the current key and rotated-out keys before their
    ``not_after`` (what ``/.well-known/jwks.json`` publishes)."""
    now = now or utcnow()
    return list(db_session.scalars(select(SigningKey.public_jwk).where(
        SigningKey.retired_at.is_(None),
        or_(SigningKey.rotated_out_at.is_(None), SigningKey.not_after > now))
        .order_by(SigningKey.created_at.desc())))


def republish_signing_keys(*, db_session: Session) -> int:
    """Emit the published (and, for rotated-out keys, retired) events of every key still
    verifying again, e.g. for a service whose tables were reset; returns how many keys."""
    rows = list(db_session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))))
    for row in rows:
        record_event(db_session, OutboxEvent, IDENTITY_SIGNING_KEY_PUBLISHED, source=SOURCE,
                     subject=row.kid, data={"kid": row.kid, "jwk": row.public_jwk,
                                            "published_at": row.created_at})
        if row.rotated_out_at is not None and row.not_after is not None:
            record_event(db_session, OutboxEvent, IDENTITY_SIGNING_KEY_RETIRED, source=SOURCE,
                         subject=row.kid, data={"kid": row.kid, "not_after": row.not_after})
    return len(rows)
