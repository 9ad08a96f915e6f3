"""Workflows as data: a transition table per record type, and the permission rows generated
from it (one declaration: ``registry.authz.permissions`` adds each workflow's rows to the
permission table).

Shapes borrowed from ``invenio-requests`` (review actions as a table of from/to states) and
``invenio-records-permissions`` (who-rules, each also an SQL filter). A :class:`Transition`
says from which states an action may be taken, the state it leads to, who may take it (the
permission table's who-rules), whether a comment is required, the CloudEvent it emits and
the OAuth scope a token-limited caller needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from registry.workflow import models as wf


@dataclass(frozen=True)
class Transition:
    """A workflow action: ``sources`` (states it may be taken from), ``target`` (the state it
    leads to; None: the state does not change), ``who`` (``registry.authz.permissions.Who``
    rules, any of), ``comment_required``, ``event_type`` (CloudEvent type, None: no event),
    ``scope`` (``shared.identity.Scope`` a token-limited caller needs), ``visibility`` of its
    timeline entry (``registry.workflow.models``), ``stamp`` (the record's column set to the
    time of the transition, e.g. ``submitted_at``)."""

    action: str
    sources: frozenset[str]
    target: str | None
    who: tuple[Any, ...]
    comment_required: bool = False
    event_type: str | None = None
    scope: Any = None
    visibility: str = wf.PARTICIPANTS
    stamp: str | None = None

    @property
    def path(self) -> str:
        """The action as a URL segment (``request-changes``)."""
        return self.action.replace("_", "-")


@dataclass(frozen=True)
class Rule:
    """A permission row of a workflow that is not a transition (view, update, comment,
    assign...): ``states`` (None: any), ``who``, ``scope``."""

    action: str
    states: frozenset[str] | None
    who: tuple[Any, ...]
    scope: Any = None


@dataclass(frozen=True)
class Workflow:
    """The workflow of a record type: its ``aggregate`` (``registry.authz.permissions
    .Aggregate``), ``states`` (all of them, in lifecycle order), ``transitions`` and the other
    permission ``rules``; ``state_field`` (the record's column holding its state) and
    ``version_field`` (its change counter, the ETag; None: the record has none)."""

    record_type: str
    aggregate: Any
    states: tuple[str, ...]
    transitions: tuple[Transition, ...]
    rules: tuple[Rule, ...] = field(default=())
    state_field: str = "status"
    version_field: str | None = "version"

    def transition(self, action: str) -> Transition | None:
        """The transition named ``action`` (None: not a transition of this workflow)."""
        for t in self.transitions:
            if t.action == action:
                return t
        return None

    @property
    def actions(self) -> tuple[str, ...]:
        """Every action named (rules first, then transitions), once each."""
        return tuple(dict.fromkeys([*(r.action for r in self.rules),
                                    *(t.action for t in self.transitions)]))

    def by_path(self, path: str) -> Transition | None:
        """The transition whose URL segment is ``path`` (``request-changes``)."""
        return self.transition(path.replace("-", "_"))


def permission_rows(workflow: Workflow) -> list[tuple[str, frozenset[str] | None,
                                                      tuple[Any, ...], Any]]:
    """The permission table's rows of ``workflow``: ``(action, states, who, scope)`` for each
    rule and each transition (its sources)."""
    rows: list[tuple[str, frozenset[str] | None, tuple[Any, ...], Any]] = [
        (r.action, r.states, r.who, r.scope) for r in workflow.rules]
    rows += [(t.action, t.sources, t.who, t.scope) for t in workflow.transitions]
    return rows


#: Actions whose timeline entries are public (after publication: completion, withdrawal,
#: suspension, reinstatement, revision approved; imports)
PUBLIC_ACTIONS = frozenset({"declare_completion", "confirm_completion", "decline_completion",
                            "archive", "withdraw", "suspend", "reinstate", "import",
                            "revision_approved"})


def visibility_of(action: str) -> str:
    """Default visibility of a timeline entry for ``action``: public after publication (see
    :data:`PUBLIC_ACTIONS`), else participants (owner organisation and secretariat)."""
    return wf.PUBLIC if action in PUBLIC_ACTIONS else wf.PARTICIPANTS


def states_except(workflow_states: Iterable[str], *excluded: str) -> frozenset[str]:
    """Every state of ``workflow_states`` but ``excluded``."""
    return frozenset(s for s in workflow_states if s not in excluded)
