"""Events of the identity domain: the reporting consumes the registry's ``registry.identity``
topic (signing keys published and retired, tokens revoked) and emits none."""

from shared.events.types import (
    IDENTITY_SIGNING_KEY_PUBLISHED,
    IDENTITY_SIGNING_KEY_RETIRED,
    IDENTITY_TOKEN_REVOKED,
    TOPIC_IDENTITY,
)

TOPICS = (TOPIC_IDENTITY,)
CONSUMES = (IDENTITY_SIGNING_KEY_PUBLISHED, IDENTITY_SIGNING_KEY_RETIRED, IDENTITY_TOKEN_REVOKED)
EMITS: tuple[str, ...] = ()
