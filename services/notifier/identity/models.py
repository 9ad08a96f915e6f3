"""``signing_keys`` and ``revoked_tokens``: the notifier's copy of what verifying the registry's
access tokens needs (see :mod:`shared.identity.store`)."""

from __future__ import annotations

from notifier.db import Base
from shared.identity.store import PublishedSigningKeyMixin, RevokedTokenMixin


class SigningKey(PublishedSigningKeyMixin, Base):
    """A public signing key of the registry (``identity.signing-key.published.v1``), refused
    from ``not_after`` (``identity.signing-key.retired.v1``)."""

    __tablename__ = "signing_keys"


class RevokedToken(RevokedTokenMixin, Base):
    """A revoked access token (``identity.token.revoked.v1``), refused until it expires."""

    __tablename__ = "revoked_tokens"
