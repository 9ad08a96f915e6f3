"""Events of the read-model domain: it consumes every ``org.partnership-registry.initiative.*.v1``
type from ``registry.initiatives`` (each carries the whole snapshot) and emits none."""

from reporting.readmodel.service import INITIATIVE_EVENT_TYPES
from shared.events.types import TOPIC_INITIATIVES

TOPICS = (TOPIC_INITIATIVES,)
CONSUMES = INITIATIVE_EVENT_TYPES
EMITS: tuple[str, ...] = ()
