"""Who may do what to an initiative, and in which state: the workflow as data.

Review workflow of the UN DESA Partnerships for SDGs platform (submitted commitments are
reviewed by the secretariat before publication): a partner drafts and submits; the secretariat
approves (publishes), requests changes (the partner edits and resubmits) or rejects.

Each rule answers both "may this principal act on this initiative?" (:func:`can`) and "which
initiatives may this principal see?" (:func:`visible_filter`, an SQL filter), so item and list
endpoints cannot disagree. An action nobody declared is denied; no role bypasses the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, or_, true

from registry.auth.service import Principal
from registry.initiatives.models import Initiative

if TYPE_CHECKING:  # the service reads initiatives as views too (no import cycle at run time)
    from registry.initiatives.service import InitiativeView


@dataclass(frozen=True)
class Transition:
    """A workflow action: allowed source states, target state, who, and whether a comment is
    required."""

    action: str
    sources: frozenset[str]
    target: str
    who: str  # "owner" | "secretariat"
    comment_required: bool = False


TRANSITIONS: dict[str, Transition] = {t.action: t for t in [
    Transition("submit", frozenset({"draft", "changes_requested"}), "submitted", "owner"),
    Transition("approve", frozenset({"submitted"}), "published", "secretariat"),
    Transition("request_changes", frozenset({"submitted"}), "changes_requested", "secretariat",
               comment_required=True),
    Transition("reject", frozenset({"submitted"}), "rejected", "secretariat",
               comment_required=True),
]}

#: States in which the owner may edit the content.
EDITABLE_STATES = frozenset({"draft", "changes_requested"})



def is_owner(principal: Principal, initiative: Initiative | InitiativeView) -> bool:
    """The partner who created it, or a partner of the same organisation."""
    if principal.role != "partner":
        return False
    if principal.token_id is not None and initiative.owner_token_id == principal.token_id:
        return True
    return (principal.organization_id is not None
            and initiative.owner_organization_id == principal.organization_id)


def can_view(principal: Principal, initiative: Initiative | InitiativeView) -> bool:
    """Published ones are public; others only to their owner, the secretariat and the system."""
    if initiative.status == "published":
        return True
    if principal.role in ("secretariat", "system"):
        return True
    return is_owner(principal, initiative)


def visible_filter(principal: Principal) -> ColumnElement[bool]:
    """SQL condition selecting the initiatives ``principal`` may see (same rule as can_view)."""
    if principal.role in ("secretariat", "system"):
        return true()
    published = Initiative.status == "published"
    if principal.role != "partner":
        return published
    owned = [Initiative.owner_token_id == principal.token_id] if principal.token_id else []
    if principal.organization_id:
        owned.append(Initiative.owner_organization_id == principal.organization_id)
    return or_(published, *owned) if owned else published


def can(principal: Principal, action: str, initiative: Initiative | InitiativeView) -> bool:
    """May ``principal`` take ``action`` on ``initiative`` in its current state?"""
    if action == "view":
        return can_view(principal, initiative)
    if action == "update":
        return is_owner(principal, initiative) and initiative.status in EDITABLE_STATES
    transition = TRANSITIONS.get(action)
    if transition is None:
        return False
    if initiative.status not in transition.sources:
        return False
    return _is_actor(principal, transition.who, initiative)


def may_ever(principal: Principal, action: str, initiative: Initiative | InitiativeView) -> bool:
    """Would ``principal`` be allowed ``action`` in some state (i.e. is it a state problem)?"""
    if action == "update":
        return is_owner(principal, initiative)
    transition = TRANSITIONS.get(action)
    return transition is not None and _is_actor(principal, transition.who, initiative)


def allowed_actions(principal: Principal, initiative: Initiative | InitiativeView) -> list[str]:
    """The actions ``principal`` may take now (API responses list them for clients)."""
    return [a for a in ("update", *TRANSITIONS) if can(principal, a, initiative)]


def actions_in_state(status: str) -> list[str]:
    """Actions that some role may take in ``status`` (for 409 messages)."""
    out = ["update"] if status in EDITABLE_STATES else []
    return out + [t.action for t in TRANSITIONS.values() if status in t.sources]


def _is_actor(principal: Principal, who: str, initiative: Initiative | InitiativeView) -> bool:
    if who == "owner":
        return is_owner(principal, initiative)
    if who == "secretariat":
        return principal.role == "secretariat"
    return False
