"""The review workflow of an initiative as data, and who may act: a view onto the registry's
one permission table (:mod:`registry.authz.permissions`, aggregate ``initiative``).

Review workflow of the UN DESA Partnerships for SDGs platform (submitted commitments are
reviewed by the secretariat before publication): a member of the owner organisation drafts
and submits; the secretariat approves (publishes), requests changes (the owner edits and
resubmits) or rejects. Who may act, and from which states, is in the table; this module adds
each action's target state and whether it needs a comment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement

from registry.authz import permissions as table
from registry.authz.permissions import Action, Aggregate
from shared.identity import Principal


@dataclass(frozen=True)
class Transition:
    """A workflow action: its allowed source states (from the permission table), target state,
    and whether a comment is required."""

    action: str
    sources: frozenset[str]
    target: str
    comment_required: bool = False


def _sources(action: Action) -> frozenset[str]:
    return frozenset().union(*(r.states or () for r in table.rows_for(Aggregate.INITIATIVE,
                                                                        action)))


TRANSITIONS: dict[str, Transition] = {t.action: t for t in [
    Transition(Action.SUBMIT.value, _sources(Action.SUBMIT), table.SUBMITTED),
    Transition(Action.APPROVE.value, _sources(Action.APPROVE), table.PUBLISHED),
    Transition(Action.REQUEST_CHANGES.value, _sources(Action.REQUEST_CHANGES),
               table.CHANGES_REQUESTED, comment_required=True),
    Transition(Action.REJECT.value, _sources(Action.REJECT), table.REJECTED,
               comment_required=True),
]}

#: States in which the owner may edit the content.
EDITABLE_STATES = table.EDITABLE

_ACTIONS = (Action.UPDATE, Action.SUBMIT, Action.APPROVE, Action.REQUEST_CHANGES,
            Action.REJECT)


def is_owner(principal: Principal, initiative: Any) -> bool:
    """A member of the initiative's owner organisation."""
    return table.OWNER_MEMBER.test(principal, initiative)


def can_view(principal: Principal, initiative: Any) -> bool:
    """Published ones are public; others only to their owner, the secretariat, the system."""
    return table.can(principal, Action.VIEW, initiative, Aggregate.INITIATIVE)


def can_see_private(principal: Principal, initiative: Any) -> bool:
    """Contact, timeline and comments: owner, secretariat, system."""
    return table.can(principal, Action.VIEW_PRIVATE, initiative, Aggregate.INITIATIVE)


def visible_filter(principal: Principal) -> ColumnElement[bool]:
    """SQL condition selecting the initiatives ``principal`` may see (same rule as can_view)."""
    return table.visible_filter(principal, Aggregate.INITIATIVE)


def can(principal: Principal, action: str, initiative: Any) -> bool:
    """May ``principal`` take ``action`` on ``initiative`` in its current state?"""
    return table.can(principal, action, initiative, Aggregate.INITIATIVE)


def allowed_actions(principal: Principal, initiative: Any) -> list[str]:
    """The actions ``principal`` may take now (API responses list them for clients)."""
    return table.allowed_actions(principal, initiative, Aggregate.INITIATIVE, _ACTIONS)


def actions_in_state(status: str) -> list[str]:
    """Actions that someone may take in ``status`` (for 409 messages)."""
    return [a for a in table.actions_in_state(Aggregate.INITIATIVE, status)
            if a in {x.value for x in _ACTIONS}]
