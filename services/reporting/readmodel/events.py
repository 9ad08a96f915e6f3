"""Events of the read-model domain: it consumes every ``org.partnership-registry.initiative.*.v1``
type carrying a snapshot from ``registry.initiatives``, the progress report events and the
changes of the reporting light (issue 9) on the same topic, and emits none."""

from reporting.readmodel.service import INITIATIVE_EVENT_TYPES, PROGRESS_EVENT_TYPES
from shared.events.types import INITIATIVE_REPORTING_STATUS_CHANGED, TOPIC_INITIATIVES

TOPICS = (TOPIC_INITIATIVES,)
CONSUMES = (*INITIATIVE_EVENT_TYPES, *PROGRESS_EVENT_TYPES, INITIATIVE_REPORTING_STATUS_CHANGED)
EMITS: tuple[str, ...] = ()
