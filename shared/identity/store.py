"""Each service's own copy of what verifying tokens needs: the registry's public signing keys
and the revoked token ids, kept in the service's own tables and fed by the registry's identity
events (``registry.identity``); never read from the registry's database.

A service declares::

    class SigningKey(PublishedSigningKeyMixin, Base): __tablename__ = "signing_keys"
    class RevokedToken(RevokedTokenMixin, Base): __tablename__ = "revoked_tokens"

consumes :func:`identity_handlers` (its consumer's handlers) and verifies bearer tokens with
:func:`database_token_verifier` (hooked by
:func:`shared.identity.web.register_bearer_authentication`).
Event data is never trusted: a published JWK is checked with
:func:`shared.identity.tokens.validate_public_jwk` and must carry its RFC 7638 thumbprint as
``kid``, or the event goes to the dead-letter topic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from flask import Flask
from joserfc.jwk import RSAKey
from sqlalchemy import String, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from shared.config import number
from shared.consumer import EventHandler, PoisonEvent
from shared.db import JSONType, UTCDateTime, utcnow
from shared.events.envelope import CloudEvent
from shared.events.types import (
    IDENTITY_SIGNING_KEY_PUBLISHED,
    IDENTITY_SIGNING_KEY_RETIRED,
    IDENTITY_TOKEN_REVOKED,
)
from shared.identity.tokens import (
    CachedKeySet,
    CachedRevocations,
    InvalidKey,
    TokenVerifier,
    issuer,
    validate_public_jwk,
)


class PublishedSigningKeyMixin:
    """A public signing key of the registry: ``kid`` (RFC 7638 thumbprint), the public JWK,
    when it was published, and ``not_after``: from then on tokens it signed are refused (set
    when the registry rotates it out: the expiry of the last token it signed, or at once when
    retired early). Null while the key is in use."""

    kid: Mapped[str] = mapped_column(String(100), primary_key=True)
    public_jwk: Mapped[dict] = mapped_column(JSONType)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime())

    if TYPE_CHECKING:  # the declarative constructor of the service's model
        def __init__(self, **kwargs: Any) -> None: ...


class RevokedTokenMixin:
    """A revoked access token: its ``jti``, its own expiry (after which the row may go), and
    when it was revoked."""

    jti: Mapped[str] = mapped_column(String(100), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    if TYPE_CHECKING:  # the declarative constructor of the service's model
        def __init__(self, **kwargs: Any) -> None: ...


def public_keys_loader(factory: sessionmaker[Session],
                       model: type[PublishedSigningKeyMixin]) -> Callable[[], list[dict]]:
    """A loader for :class:`~shared.identity.tokens.CachedKeySet`: the JWKs of ``model`` whose
    ``not_after`` is unset or still ahead."""

    def load() -> list[dict]:
        now = utcnow()
        with factory() as session:
            return list(session.scalars(select(model.public_jwk).where(
                or_(model.not_after.is_(None), model.not_after > now))))

    return load


def revocations_loader(factory: sessionmaker[Session],
                       model: type[RevokedTokenMixin]) -> Callable[[], list[str]]:
    """A loader for :class:`~shared.identity.tokens.CachedRevocations`: the ``jti`` of
    ``model`` not yet expired."""

    def load() -> list[str]:
        with factory() as session:
            return list(session.scalars(select(model.jti).where(model.expires_at > utcnow())))

    return load


def cache_seconds(app: Flask) -> float:
    """``TOKEN_CACHE_SECONDS`` from the app's config, else the setting (2 s)."""
    raw = app.config.get("TOKEN_CACHE_SECONDS")
    return float(raw if raw is not None else number("TOKEN_CACHE_SECONDS"))


def database_token_verifier(app: Flask, key_model: type[PublishedSigningKeyMixin],
                            revoked_model: type[RevokedTokenMixin]) -> TokenVerifier:
    """A :class:`TokenVerifier` over the app's own tables: keys and revocations read at most
    every ``TOKEN_CACHE_SECONDS`` (plus at once for an unknown ``kid``); issuer from the app's
    config or the settings (:func:`shared.identity.tokens.issuer`)."""
    factory = app.extensions["db_session_factory"]
    ttl = cache_seconds(app)
    return TokenVerifier(
        CachedKeySet(public_keys_loader(factory, key_model), ttl), issuer(app.config),
        revocations=CachedRevocations(revocations_loader(factory, revoked_model), ttl))


def checked_jwk(data: Mapping[str, Any]) -> dict[str, str]:
    """The event's JWK after :func:`validate_public_jwk` and the thumbprint check; raises
    :class:`PoisonEvent` otherwise."""
    try:
        jwk = validate_public_jwk(data.get("jwk"))
    except InvalidKey as exc:
        raise PoisonEvent(f"untrusted signing key: {exc}") from None
    thumbprint = RSAKey.import_key(cast(Any, jwk)).thumbprint()
    if thumbprint != jwk["kid"] or data.get("kid") != jwk["kid"]:
        raise PoisonEvent("untrusted signing key: kid is not the key's RFC 7638 thumbprint")
    return jwk


def identity_handlers(key_model: type[PublishedSigningKeyMixin],
                      revoked_model: type[RevokedTokenMixin]) -> dict[str, EventHandler]:
    """Consumer handlers of the identity events, writing ``key_model`` / ``revoked_model``
    rows in the consumer's transaction (they never commit; safe for atomic batches)."""
    keys: Any = key_model  # a mapped class built on the mixin
    revocations: Any = revoked_model

    def published(session: Session, event: CloudEvent, data: dict[str, Any]) -> None:
        jwk = checked_jwk(data)
        row = session.get(keys, jwk["kid"])
        if row is None:
            session.add(keys(kid=jwk["kid"], public_jwk=jwk,
                                  published_at=data.get("published_at") or utcnow()))
            session.flush()

    def retired(session: Session, event: CloudEvent, data: dict[str, Any]) -> None:
        row = session.get(keys, data["kid"])
        not_after = data["not_after"]
        if row is not None and (row.not_after is None or row.not_after > not_after):
            row.not_after = not_after

    def revoked(session: Session, event: CloudEvent, data: dict[str, Any]) -> None:
        if session.get(revocations, data["jti"]) is None:
            session.add(revocations(jti=data["jti"], expires_at=data["expires_at"],
                                      revoked_at=data.get("revoked_at") or utcnow()))
            session.flush()

    return {IDENTITY_SIGNING_KEY_PUBLISHED: published, IDENTITY_SIGNING_KEY_RETIRED: retired,
            IDENTITY_TOKEN_REVOKED: revoked}


def forget_expired(session: Session, revoked_model: type[RevokedTokenMixin],
                   now: datetime | None = None) -> int:
    """Delete revocations of tokens already expired; returns how many (housekeeping)."""
    from sqlalchemy import delete

    result = session.execute(delete(revoked_model).where(
        revoked_model.expires_at <= (now or utcnow())))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


__all__: list[str] = ["PublishedSigningKeyMixin", "RevokedTokenMixin", "checked_jwk",
                          "database_token_verifier", "forget_expired", "identity_handlers",
                          "public_keys_loader", "revocations_loader"]
