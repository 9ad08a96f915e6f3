"""The lifecycle of an initiative and of its revisions as data (:class:`Workflow`
declarations), and who may act: the permission table's rows for these actions are GENERATED
from the declarations (:mod:`registry.authz.permissions`, aggregates ``initiative`` and
``revision``).

Review workflow of the UN DESA Partnerships for SDGs platform (submitted commitments are
reviewed by the secretariat before publication), extended by issue 8: a member of the owner
organisation drafts and submits; the secretariat approves (publishes), requests changes (the
owner edits and resubmits) or rejects; once published the owner declares completion (with
a closing note; the secretariat confirms or declines it) or withdraws it (with a reason);
the secretariat archives completed initiatives, suspends published ones (with a reason) and
reinstates them. A reviewer never decides on a record of an organisation they belong to
(four eyes: ``REVIEWER_NOT_MEMBER``).

=====================  ==========================================  ===================  ========
action                 from                                        to                   comment
=====================  ==========================================  ===================  ========
submit                 draft, changes_requested                    submitted            optional
approve                submitted                                   published            optional
request_changes        submitted                                   changes_requested    required
reject                 submitted                                   rejected             required
declare_completion     published                                   completion_declared  required
confirm_completion     completion_declared                         completed            optional
decline_completion     completion_declared                         published            required
archive                completed                                   archived             optional
withdraw               published, completion_declared              withdrawn            required
suspend                published, completion_declared              suspended            required
reinstate              suspended                                   published            optional
=====================  ==========================================  ===================  ========
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement

from registry.authz import permissions as table
from registry.authz.permissions import (
    ANYONE,
    ARCHIVED,
    CHANGES_REQUESTED,
    COMPLETED,
    COMPLETION_DECLARED,
    DRAFT,
    OWNER_MEMBER,
    PUBLIC_STATES,
    PUBLISHED,
    REJECTED,
    REVIEWER,
    REVIEWER_NOT_MEMBER,
    SUBMITTED,
    SUSPENDED,
    SYSTEM,
    WITHDRAWN,
    Action,
    Aggregate,
)
from registry.workflow.machine import Rule, Transition, Workflow
from registry.workflow.models import PUBLIC
from shared.events import types as ev
from shared.identity import Principal, Scope

A = Action
W, R = Scope.INITIATIVES_WRITE, Scope.REVIEW
OWNER, DECIDER = (OWNER_MEMBER,), (REVIEWER_NOT_MEMBER,)
STATES = tuple(ev.INITIATIVE_STATUSES)
#: States in which the owner may edit the content directly (a published initiative is
#: edited through a revision).
EDITABLE_STATES = table.EDITABLE
#: States a revision may be opened in (the public sees the approved content meanwhile).
REVISABLE_STATES = frozenset({PUBLISHED})

INITIATIVE_WORKFLOW = Workflow(
    record_type="initiative", aggregate=Aggregate.INITIATIVE, states=STATES,
    rules=(
        Rule(A.VIEW, PUBLIC_STATES, (ANYONE,)),
        Rule(A.VIEW, None, (OWNER_MEMBER, REVIEWER, SYSTEM), Scope.INITIATIVES_READ),
        Rule(A.VIEW_PRIVATE, None, (OWNER_MEMBER, REVIEWER, SYSTEM), Scope.INITIATIVES_READ),
        Rule(A.UPDATE, EDITABLE_STATES, OWNER, W),
        # a published initiative is edited through a revision (registry.initiatives.revisions)
        Rule(A.REVISE, REVISABLE_STATES, OWNER, W),
        # the thread: the owner's members at any time, the secretariat once it was submitted
        Rule(A.COMMENT, None, OWNER, W),
        Rule(A.COMMENT, frozenset(STATES) - {DRAFT}, (REVIEWER,), R),
        # (the system too: operators assign from the CLI)
        Rule(A.ASSIGN, frozenset({SUBMITTED, COMPLETION_DECLARED}), (REVIEWER, SYSTEM), R),
    ),
    transitions=(
        Transition(A.SUBMIT, frozenset({DRAFT, CHANGES_REQUESTED}), SUBMITTED, OWNER,
                   event_type=ev.INITIATIVE_SUBMITTED, scope=W, stamp="submitted_at"),
        Transition(A.APPROVE, frozenset({SUBMITTED}), PUBLISHED, DECIDER,
                   event_type=ev.INITIATIVE_APPROVED, scope=R, stamp="published_at"),
        Transition(A.REQUEST_CHANGES, frozenset({SUBMITTED}), CHANGES_REQUESTED, DECIDER,
                   comment_required=True, event_type=ev.INITIATIVE_CHANGES_REQUESTED,
                   scope=R),
        Transition(A.REJECT, frozenset({SUBMITTED}), REJECTED, DECIDER,
                   comment_required=True, event_type=ev.INITIATIVE_REJECTED, scope=R),
        Transition(A.DECLARE_COMPLETION, frozenset({PUBLISHED}), COMPLETION_DECLARED, OWNER,
                   comment_required=True, event_type=ev.INITIATIVE_COMPLETION_DECLARED,
                   scope=W, visibility=PUBLIC, stamp="completion_declared_at"),
        Transition(A.CONFIRM_COMPLETION, frozenset({COMPLETION_DECLARED}), COMPLETED,
                   DECIDER, event_type=ev.INITIATIVE_COMPLETED, scope=R, visibility=PUBLIC,
                   stamp="completed_at"),
        Transition(A.DECLINE_COMPLETION, frozenset({COMPLETION_DECLARED}), PUBLISHED,
                   DECIDER, comment_required=True,
                   event_type=ev.INITIATIVE_COMPLETION_DECLINED, scope=R, visibility=PUBLIC),
        Transition(A.ARCHIVE, frozenset({COMPLETED}), ARCHIVED, (REVIEWER, SYSTEM),
                   event_type=ev.INITIATIVE_ARCHIVED, scope=R, visibility=PUBLIC,
                   stamp="archived_at"),
        Transition(A.WITHDRAW, frozenset({PUBLISHED, COMPLETION_DECLARED}), WITHDRAWN, OWNER,
                   comment_required=True, event_type=ev.INITIATIVE_WITHDRAWN, scope=W,
                   visibility=PUBLIC, stamp="withdrawn_at"),
        Transition(A.SUSPEND, frozenset({PUBLISHED, COMPLETION_DECLARED}), SUSPENDED,
                   (REVIEWER,), comment_required=True, event_type=ev.INITIATIVE_SUSPENDED,
                   scope=R, visibility=PUBLIC, stamp="suspended_at"),
        Transition(A.REINSTATE, frozenset({SUSPENDED}), PUBLISHED, (REVIEWER,),
                   event_type=ev.INITIATIVE_REINSTATED, scope=R, visibility=PUBLIC),
    ),
)

#: Revision states (``shared.events.types.REVISION_STATUSES``).
REVISION_STATES = tuple(ev.REVISION_STATUSES)
REVISION_EDITABLE = frozenset({"draft", "changes_requested"})

REVISION_WORKFLOW = Workflow(
    record_type="revision", aggregate=Aggregate.REVISION, states=REVISION_STATES,
    rules=(
        Rule(A.VIEW, None, (OWNER_MEMBER, REVIEWER, SYSTEM), Scope.INITIATIVES_READ),
        Rule(A.UPDATE, REVISION_EDITABLE, OWNER, W),
        Rule(A.ASSIGN, frozenset({"submitted"}), (REVIEWER,), R),
    ),
    transitions=(
        Transition(A.SUBMIT, REVISION_EDITABLE, "submitted", OWNER,
                   event_type=ev.INITIATIVE_REVISION_SUBMITTED, scope=W, stamp="submitted_at"),
        Transition(A.APPROVE, frozenset({"submitted"}), "approved", DECIDER,
                   event_type=ev.INITIATIVE_REVISION_APPROVED, scope=R, visibility=PUBLIC,
                   stamp="decided_at"),
        Transition(A.REQUEST_CHANGES, frozenset({"submitted"}), "changes_requested", DECIDER,
                   comment_required=True,
                   event_type=ev.INITIATIVE_REVISION_CHANGES_REQUESTED, scope=R),
        Transition(A.REJECT, frozenset({"submitted"}), "rejected", DECIDER,
                   comment_required=True, event_type=ev.INITIATIVE_REVISION_REJECTED,
                   scope=R, stamp="decided_at"),
        Transition(A.DISCARD, REVISION_EDITABLE, "discarded", OWNER, scope=W,
                   stamp="decided_at"),
    ),
)

#: Every workflow declared here (the permission table generates its rows from them).
WORKFLOWS = (INITIATIVE_WORKFLOW, REVISION_WORKFLOW)

#: The initiative's transitions by action (the service's lookup; 404 for another name).
TRANSITIONS: dict[str, Transition] = {t.action: t for t in INITIATIVE_WORKFLOW.transitions}

#: What ``allowed_actions`` lists for an initiative: edit, revise, comment, assign,
#: transitions.
_ACTIONS = (A.UPDATE, A.REVISE, A.COMMENT, A.ASSIGN, *(A(t.action) for t in
                                                      INITIATIVE_WORKFLOW.transitions))


def is_owner(principal: Principal, initiative: Any) -> bool:
    """A member of the initiative's owner organisation."""
    return table.OWNER_MEMBER.test(principal, initiative)


def can_view(principal: Principal, initiative: Any) -> bool:
    """Public states are public; others only to their owner, the secretariat, the system."""
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
