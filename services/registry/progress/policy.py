"""The progress report's workflow as data (:data:`PROGRESS_REPORT_WORKFLOW`) and who may act:
the permission table's rows for aggregate ``progress_report`` are GENERATED from this
declaration (``registry.authz.permissions``).

After publication a partner reports progress every year (UN DESA Partnerships for SDGs
platform; the Ocean commitments' progress reports): a member of the owner organisation drafts
(leniently) and submits (strictly); the secretariat approves or requests changes with the
machinery of initiatives (``registry.workflow``). A reviewer never decides on a report of an
organisation they belong to (four eyes: ``REVIEWER_NOT_MEMBER``). Approved reports are public
(when their initiative is) and restart the reporting cycle (``registry.compliance``).

A partner's own system reports with an organisation API client holding ``progress:write``
(``shared.identity.Scope.PROGRESS_WRITE``): every owner row below names that scope.

=================  ==========================  =================  ========  ==========
action             from                        to                 comment   who
=================  ==========================  =================  ========  ==========
submit             draft, changes_requested    submitted          optional  owner
approve            submitted                   approved           optional  reviewer*
request_changes    submitted                   changes_requested  required  reviewer*
=================  ==========================  =================  ========  ==========

(* not a member of the owner organisation). Other rows: ``create`` (owner: a new report,
the initiative's indicators), ``view`` (anyone once approved; the
owner organisation, the secretariat and the system always), ``update`` (owner; draft,
changes_requested), ``discard`` (owner; draft: the draft is deleted), ``comment`` (the owner
organisation always, the secretariat once submitted), ``review`` (the secretariat's page).
"""

from __future__ import annotations

from typing import Any

from registry.authz import permissions as table
from registry.authz.permissions import (
    ANYONE,
    OWNER_MEMBER,
    REVIEWER,
    REVIEWER_NOT_MEMBER,
    SYSTEM,
    Action,
    Aggregate,
)
from registry.workflow.machine import Rule, Transition, Workflow
from registry.workflow.models import PUBLIC
from shared.events import types as ev
from shared.identity import Principal, Scope

A = Action
PW, R, READ = Scope.PROGRESS_WRITE, Scope.REVIEW, Scope.INITIATIVES_READ
OWNER, DECIDER = (OWNER_MEMBER,), (REVIEWER_NOT_MEMBER,)
#: ``shared.events.types.PROGRESS_REPORT_STATES``
STATES = tuple(ev.PROGRESS_REPORT_STATES)
DRAFT, SUBMITTED, CHANGES_REQUESTED, APPROVED = STATES
#: States in which the owner edits the report.
EDITABLE_STATES = frozenset({DRAFT, CHANGES_REQUESTED})
#: Initiative states in which progress is reported (those with a reporting light:
#: ``registry.compliance``); a report is created, submitted and approved only then.
REPORTING_STATES = frozenset({"published", "completion_declared"})
#: Initiative states in which its indicators may be declared or changed (editable or
#: published: the IATI result model is part of the commitment and of its reports).
INDICATOR_STATES = frozenset({"draft", "changes_requested", "published",
                              "completion_declared"})

PROGRESS_REPORT_WORKFLOW = Workflow(
    record_type="progress_report", aggregate=Aggregate.PROGRESS_REPORT, states=STATES,
    rules=(
        Rule(A.VIEW, frozenset({APPROVED}), (ANYONE,)),
        Rule(A.VIEW, None, (OWNER_MEMBER, REVIEWER, SYSTEM), READ),
        # a partner's system with progress:write alone reads what it reports
        Rule(A.VIEW, None, OWNER, PW),
        # a new report of the initiative (its owner organisation; the initiative's state is
        # the service's check: 409) and the initiative's indicators
        Rule(A.CREATE, None, OWNER, PW),
        Rule(A.UPDATE, EDITABLE_STATES, OWNER, PW),
        Rule(A.DISCARD, frozenset({DRAFT}), OWNER, PW),
        Rule(A.COMMENT, None, OWNER, PW),
        Rule(A.COMMENT, frozenset(STATES) - {DRAFT}, (REVIEWER,), R),
        Rule(A.REVIEW, None, (REVIEWER, SYSTEM), R),
    ),
    transitions=(
        Transition(A.SUBMIT, EDITABLE_STATES, SUBMITTED, OWNER,
                   event_type=ev.PROGRESS_REPORT_SUBMITTED, scope=PW, stamp="submitted_at"),
        Transition(A.APPROVE, frozenset({SUBMITTED}), APPROVED, DECIDER,
                   event_type=ev.PROGRESS_REPORT_APPROVED, scope=R, visibility=PUBLIC,
                   stamp="approved_at"),
        Transition(A.REQUEST_CHANGES, frozenset({SUBMITTED}), CHANGES_REQUESTED, DECIDER,
                   comment_required=True, event_type=ev.PROGRESS_REPORT_CHANGES_REQUESTED,
                   scope=R),
    ),
)

#: Every workflow declared here (the permission table generates its rows from them).
WORKFLOWS = (PROGRESS_REPORT_WORKFLOW,)


def can(principal: Principal, action: str, report: Any) -> bool:
    """May ``principal`` take ``action`` on ``report`` in its current state?"""
    return table.can(principal, action, report, Aggregate.PROGRESS_REPORT)


def allowed_actions(principal: Principal, report: Any) -> list[str]:
    """The actions ``principal`` may take on ``report`` now (``update``, ``discard``,
    ``comment`` and the transitions), from the permission table."""
    from registry.workflow.service import allowed_actions as workflow_allowed

    return [a for a in workflow_allowed(principal, PROGRESS_REPORT_WORKFLOW, report)
            if a != A.REVIEW]
