"""Events of the initiatives domain: it emits every ``initiative.*.v1`` type on
``registry.initiatives`` (see ``service.EVENT_FOR_ACTION``)."""

from registry.initiatives.service import EVENT_FOR_ACTION

EMITS = tuple(EVENT_FOR_ACTION.values())
