"""Events of the organisations domain: it emits ``organization.created.v1``."""

from shared.events.types import ORGANIZATION_CREATED

EMITS = (ORGANIZATION_CREATED,)
