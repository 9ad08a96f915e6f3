"""The registry's permission table: who may do what to which object, in which state.

One row per (aggregate, action, states): the states the object must be in (``None``: any),
the *who-rules* (declared predicates over the :class:`~shared.identity.Principal` and the
object, each also an SQL condition so lists and item reads cannot disagree) and the OAuth
:class:`~shared.identity.Scope` a token-limited caller needs. Several rows for one action are
alternatives (OR). An action nobody declared is denied; no role bypasses the table (the
system principal too is named in the rows it may act in).

Shapes borrowed from ``invenio-records-permissions`` (``can_<action> = [generators]``, each
generator a predicate and a query filter) and the UN DESA Partnerships for SDGs practice
(organisations own their commitments; a secretariat reviews and publishes them).

Decisions (:func:`authorize`): a caller who may not *see* a specific object gets
:class:`~shared.problems.NotFound` (404: no existence leak); one who may see it but not act
gets :class:`~shared.problems.NotAllowed` (403), or :class:`~shared.problems.Unauthenticated`
(401) when anonymous; an action allowed to the caller in another state gets
:class:`~shared.problems.InvalidTransition` (409, naming the state and what it allows).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, true
from sqlalchemy.exc import SQLAlchemyError

from shared.identity import Principal, PrincipalKind, Scope, StaffRole
from shared.problems import InvalidTransition, NotAllowed, NotFound, Unauthenticated

log = logging.getLogger(__name__)


class Aggregate(StrEnum):
    """The registry's aggregates the table speaks about."""

    INITIATIVE = "initiative"
    ORGANIZATION = "organization"
    #: a proposed lead/partner link of an initiative to an organisation (its admin confirms)
    INITIATIVE_LINK = "initiative_link"
    INVITATION = "invitation"
    JOIN_REQUEST = "join_request"
    #: the secretariat's staff roles (``registry.accounts``: grant, revoke, list)
    STAFF = "staff"
    #: the audit log of authentication events and denials (``registry.audit``)
    AUDIT_LOG = "audit_log"
    #: a revision of a published initiative (``registry.initiatives.revisions``)
    REVISION = "revision"
    #: a progress report of an initiative (``registry.progress``, issue 9)
    PROGRESS_REPORT = "progress_report"


class Action(StrEnum):
    """Actions named in the table (stored codes, readable strings)."""

    VIEW = "view"
    VIEW_PRIVATE = "view_private"  # contact e-mail, timeline, review comments, allowed actions
    CREATE = "create"
    UPDATE = "update"
    SUBMIT = "submit"
    APPROVE = "approve"
    REQUEST_CHANGES = "request_changes"
    REJECT = "reject"
    IMPORT = "import"
    # the lifecycle after publication (issue 8)
    DECLARE_COMPLETION = "declare_completion"
    CONFIRM_COMPLETION = "confirm_completion"
    DECLINE_COMPLETION = "decline_completion"
    ARCHIVE = "archive"
    WITHDRAW = "withdraw"
    SUSPEND = "suspend"
    REINSTATE = "reinstate"
    # the review desk: the thread, reviewer assignment, revisions
    COMMENT = "comment"
    ASSIGN = "assign"
    DISCARD = "discard"
    REVISE = "revise"  # open a revision of a published initiative
    VIEW_REVIEW_QUEUE = "view_review_queue"  # the secretariat's queue of pending decisions
    # the reporting traffic light (issue 9, registry.compliance)
    REMIND = "remind"  # "send reminder now" to an active initiative's owner organisation
    VIEW_COMPLIANCE = "view_compliance"  # the secretariat's compliance dashboard
    # progress reports (issue 9, registry.progress): file a new report on an initiative, and
    # declare/change/delete its indicators (the report pages authorize these first)
    REPORT_PROGRESS = "report_progress"
    MANAGE_INDICATORS = "manage_indicators"
    REVIEW = "review"  # open a record's review page (registry.review.pages), in any state
    # organisations
    REGISTER = "register"
    VIEW_MEMBERS = "view_members"
    MANAGE_MEMBERS = "manage_members"  # invite, accept/decline join requests, remove, change role
    MANAGE_CLIENTS = "manage_clients"  # list, register, delete its OAuth API clients (oauth)
    REQUEST_JOIN = "request_join"
    VERIFY = "verify"
    MERGE = "merge"
    # links, invitations, join requests
    CONFIRM = "confirm"
    DECLINE = "decline"
    ACCEPT = "accept"
    # the secretariat's own records
    MANAGE_STAFF = "manage_staff"  # list staff, grant and revoke reviewer / secretariat_admin
    READ_AUDIT_LOG = "read_audit_log"


class ActorRole(StrEnum):
    """The ``actor.role`` label of timeline rows and event payloads (``ActorData`` v1), derived
    from the principal; a label for readers, never a permission."""

    PARTNER = "partner"
    SECRETARIAT = "secretariat"
    SYSTEM = "system"
    CLIENT = "client"
    ANONYMOUS = "anonymous"


# -- who-rules -------------------------------------------------------------------------------
def owner_of(obj: Any) -> uuid.UUID | None:
    """The organisation that owns ``obj``: ``owner_organization_id`` of an initiative (or of a
    creation target), ``organization_id`` of an invitation, join request or link,
    the ``id`` of an organisation."""
    for name in ("owner_organization_id", "organization_id"):
        if hasattr(obj, name):
            return getattr(obj, name)
    return getattr(obj, "id", None)


@dataclass(frozen=True)
class Who:
    """A declared who-rule: ``test(principal, obj)`` answers for one object; ``sql(principal,
    owner_column)`` gives the same rule as an SQL condition over the owner column (None when
    the rule cannot filter lists: it then selects nothing)."""

    name: str
    description: str
    test: Callable[[Principal, Any], bool]
    sql: Callable[[Principal, Any], ColumnElement[bool]] | None = None


def _member_sql(principal: Principal, column: Any) -> ColumnElement[bool]:
    ids = principal.organization_ids
    return column.in_(sorted(ids, key=str)) if ids else false()


def _admin_sql(principal: Principal, column: Any) -> ColumnElement[bool]:
    ids = [o for o in principal.organization_ids if principal.is_admin_of(o)]
    return column.in_(sorted(ids, key=str)) if ids else false()


def _const(value: bool) -> Callable[[Principal, Any], ColumnElement[bool]]:
    return lambda _p, _c: true() if value else false()


ANYONE = Who("anyone", "anyone, signed in or not", lambda _p, _o: True, lambda _p, _c: true())
SIGNED_IN = Who("signed_in", "any signed-in person or API client",
                lambda p, _o: p.is_authenticated and not p.is_system,
                lambda p, _c: _const(p.is_authenticated and not p.is_system)(p, _c))
PERSON = Who("person", "a signed-in person (not an API client)",
             lambda p, _o: p.kind is PrincipalKind.USER,
             lambda p, _c: _const(p.kind is PrincipalKind.USER)(p, _c))
OWNER_MEMBER = Who("owner_member", "member (or admin) of the owner organisation",
                   lambda p, o: p.is_member_of(owner_of(o)), _member_sql)
OWNER_ADMIN = Who("owner_admin", "admin of the owner organisation",
                  lambda p, o: p.is_admin_of(owner_of(o)), _admin_sql)
REVIEWER = Who("reviewer", "secretariat reviewer (a secretariat admin counts as one)",
               lambda p, _o: p.has_staff_role(StaffRole.REVIEWER),
               lambda p, _c: _const(p.has_staff_role(StaffRole.REVIEWER))(p, _c))
SECRETARIAT_ADMIN = Who("secretariat_admin", "secretariat admin",
                        lambda p, _o: p.has_staff_role(StaffRole.SECRETARIAT_ADMIN),
                        lambda p, _c: _const(p.has_staff_role(StaffRole.SECRETARIAT_ADMIN))(
                            p, _c))
REVIEWER_NOT_MEMBER = Who(
    "reviewer_not_member",
    "secretariat reviewer who is not a member of the owner organisation (four eyes)",
    lambda p, o: p.has_staff_role(StaffRole.REVIEWER) and not p.is_member_of(owner_of(o)),
    lambda p, c: (~_member_sql(p, c) if p.organization_ids else true())
    if p.has_staff_role(StaffRole.REVIEWER) else false())
SYSTEM = Who("system", "the system (imports, jobs, CLI operator)",
             lambda p, _o: p.is_system, lambda p, _c: _const(p.is_system)(p, _c))
PERSON_NOT_MEMBER = Who("person_not_member",
                        "a signed-in person who is not yet a member of the organisation",
                        lambda p, o: (p.kind is PrincipalKind.USER
                                      and not p.is_member_of(owner_of(o))))
INVITEE = Who("invitee", "the person the invitation was sent to (signed in, same e-mail)",
              lambda p, o: (p.kind is PrincipalKind.USER and p.email is not None
                            and getattr(o, "email", None) is not None
                            and p.email.casefold() == o.email.casefold()))
REQUESTER = Who("requester", "the person who asked to join",
                lambda p, o: (p.kind is PrincipalKind.USER and p.subject is not None
                              and str(getattr(o, "user_id", "")) == p.subject))

#: Initiative states (``shared.events.types.INITIATIVE_STATUSES``).
DRAFT, SUBMITTED, CHANGES_REQUESTED, PUBLISHED, REJECTED = (
    "draft", "submitted", "changes_requested", "published", "rejected")
COMPLETION_DECLARED, COMPLETED, ARCHIVED, WITHDRAWN, SUSPENDED = (
    "completion_declared", "completed", "archived", "withdrawn", "suspended")
EDITABLE = frozenset({DRAFT, CHANGES_REQUESTED})
#: States anyone may see (issue 8): the rest only the owner and the secretariat.
PUBLIC_STATES = frozenset({PUBLISHED, COMPLETION_DECLARED, COMPLETED, WITHDRAWN, ARCHIVED})
#: Organisation states (verification).
UNVERIFIED, VERIFIED, MERGED = "unverified", "verified", "merged"
ACTIVE_ORG = frozenset({UNVERIFIED, VERIFIED})
PENDING = "pending"


@dataclass(frozen=True)
class Permission:
    """A row of the table: ``who`` (any of) may take ``action`` on an ``aggregate`` object whose
    state is in ``states`` (None: any state), a token-limited caller only with ``scope``."""

    aggregate: Aggregate
    action: Action
    states: frozenset[str] | None
    who: tuple[Who, ...]
    scope: Scope | None = None


def _rows(aggregate: Aggregate, *rows: tuple) -> list[Permission]:
    out = []
    for action, states, who, scope in rows:
        out.append(Permission(aggregate, action, frozenset(states) if states is not None
                              else None, tuple(who), scope))
    return out


#: Actions on no existing object (their ``obj`` is None or a creation target).
CREATION_ACTIONS = frozenset({Action.CREATE, Action.REGISTER, Action.IMPORT,
                              # on the registry as a whole, not one object
                              Action.MANAGE_STAFF, Action.READ_AUDIT_LOG,
                              Action.VIEW_REVIEW_QUEUE, Action.VIEW_COMPLIANCE})

INI, ORG = Aggregate.INITIATIVE, Aggregate.ORGANIZATION
A = Action
S = Scope

TABLE: list[Permission] = [
    # -- initiatives (review workflow of the UN DESA Partnerships for SDGs platform) ---------
    # (view, update, comment, assign and the lifecycle's transitions: generated from the
    # workflow declarations, registry.initiatives.policy, by _workflow_rows below)
    *_rows(INI,
           # a creation target: its owner organisation (staff create on an organisation's behalf)
           (A.CREATE, None, [OWNER_MEMBER, REVIEWER], S.INITIATIVES_WRITE),
           (A.IMPORT, None, [SYSTEM, SECRETARIAT_ADMIN], S.INITIATIVES_WRITE),
           # the review desk's page of an initiative (desk)
           (A.REVIEW, None, [REVIEWER, SYSTEM], S.REVIEW),
           # the reporting light (issue 9): "send reminder now" to an active initiative
           (A.REMIND, {PUBLISHED, COMPLETION_DECLARED}, [REVIEWER, SYSTEM], S.REVIEW),
           # progress reports (issue 9): the owner organisation files them once published
           # (registry.progress.service.create_report) and declares indicators while the
           # initiative is editable or published (registry.progress.policy.INDICATOR_STATES)
           (A.REPORT_PROGRESS, {PUBLISHED, COMPLETION_DECLARED}, [OWNER_MEMBER],
            S.PROGRESS_WRITE),
           (A.MANAGE_INDICATORS, {DRAFT, CHANGES_REQUESTED, PUBLISHED, COMPLETION_DECLARED},
            [OWNER_MEMBER], S.PROGRESS_WRITE)),
    # -- the review desk's page of a revision (desk) -----------------------------------------
    *_rows(Aggregate.REVISION,
           (A.REVIEW, None, [REVIEWER, SYSTEM], S.REVIEW)),
    # -- proposed lead/partner links: the named organisation's admin answers ----------------
    *_rows(Aggregate.INITIATIVE_LINK,
           # the link as something to answer: only the named organisation's admins know of it
           (A.VIEW, None, [OWNER_ADMIN], None),
           (A.CONFIRM, {PENDING}, [OWNER_ADMIN], S.ORGANIZATIONS_WRITE),
           (A.DECLINE, {PENDING}, [OWNER_ADMIN], S.ORGANIZATIONS_WRITE)),
    # -- organisations: public records; members managed by their admins ---------------------
    *_rows(ORG,
           (A.VIEW, None, [ANYONE], None),
           (A.REGISTER, None, [PERSON, REVIEWER, SYSTEM], S.ORGANIZATIONS_WRITE),
           # a record without members (imports name lead entities and partners)
           (A.CREATE, None, [SYSTEM, SECRETARIAT_ADMIN], S.ORGANIZATIONS_WRITE),
           (A.VIEW_MEMBERS, None, [OWNER_MEMBER, REVIEWER], None),
           (A.MANAGE_MEMBERS, ACTIVE_ORG, [OWNER_ADMIN, SYSTEM], S.ORGANIZATIONS_WRITE),
           # --- oauth --- its API clients (registry.oauth.clients)
           (A.MANAGE_CLIENTS, ACTIVE_ORG, [OWNER_ADMIN, SECRETARIAT_ADMIN, SYSTEM],
            S.ORGANIZATIONS_WRITE),
           (A.REQUEST_JOIN, ACTIVE_ORG, [PERSON_NOT_MEMBER], None),
           # (verify: generated from registry.organizations.policy.ORGANIZATION_WORKFLOW)
           (A.MERGE, ACTIVE_ORG, [SECRETARIAT_ADMIN, SYSTEM], S.REVIEW)),
    # -- the secretariat's own records (ASVS 5.0 V8.2: administrative functions) ------------
    *_rows(Aggregate.STAFF,
           (A.MANAGE_STAFF, None, [SECRETARIAT_ADMIN, SYSTEM], None),
           # the review queue (registry.workflow.queue): submissions, revisions, completions
           (A.VIEW_REVIEW_QUEUE, None, [REVIEWER, SYSTEM], S.REVIEW),
           # the compliance dashboard (registry.compliance): counts and lists of the lights
           (A.VIEW_COMPLIANCE, None, [REVIEWER, SYSTEM], S.REVIEW)),
    *_rows(Aggregate.AUDIT_LOG,
           (A.READ_AUDIT_LOG, None, [SECRETARIAT_ADMIN, SYSTEM], None)),
    *_rows(Aggregate.INVITATION,
           (A.VIEW, None, [OWNER_ADMIN, INVITEE], None),
           (A.ACCEPT, {PENDING}, [INVITEE], None),
           (A.DECLINE, {PENDING}, [INVITEE, OWNER_ADMIN], None)),
    *_rows(Aggregate.JOIN_REQUEST,
           (A.VIEW, None, [OWNER_ADMIN, REQUESTER], None),
           (A.ACCEPT, {PENDING}, [OWNER_ADMIN], S.ORGANIZATIONS_WRITE),
           (A.DECLINE, {PENDING}, [OWNER_ADMIN, REQUESTER], S.ORGANIZATIONS_WRITE)),
]

_BY_KEY: dict[tuple[Aggregate, Action], list[Permission]] = {}
_WORKFLOWS_LOADED: list[bool] = []


def _index(rows: list[Permission]) -> None:
    for row in rows:
        _BY_KEY.setdefault((row.aggregate, row.action), []).append(row)


def _workflow_rows() -> None:
    """Add the rows generated from the workflow declarations (``registry.initiatives.policy``:
    the initiative lifecycle, revisions; ``registry.organizations.policy``: verification) to
    :data:`TABLE`, once, on first use (the
    declarations import this module's who-rules)."""
    if _WORKFLOWS_LOADED:
        return
    _WORKFLOWS_LOADED.append(True)
    from registry.initiatives.policy import WORKFLOWS
    from registry.organizations.policy import ORGANIZATION_WORKFLOW
    from registry.progress.policy import WORKFLOWS as PROGRESS_WORKFLOWS
    from registry.workflow.machine import permission_rows

    for workflow in (*WORKFLOWS, ORGANIZATION_WORKFLOW, *PROGRESS_WORKFLOWS):
        rows = [Permission(Aggregate(workflow.aggregate), Action(action), states, tuple(who),
                           scope)
                for action, states, who, scope in permission_rows(workflow)]
        TABLE.extend(rows)
        _index(rows)


_index(TABLE)


def table_rows() -> list[Permission]:
    """Every row of the table, the generated workflow rows included."""
    _workflow_rows()
    return TABLE


def rows_for(aggregate: Aggregate, action: Action | str) -> list[Permission]:
    """The table's rows for ``(aggregate, action)`` (empty: nobody may)."""
    _workflow_rows()
    try:
        return _BY_KEY.get((aggregate, Action(action)), [])
    except ValueError:
        return []


def state_of(aggregate: Aggregate, obj: Any) -> str | None:
    """The state the table's ``states`` are compared with: ``status`` of an initiative,
    invitation, join request or link; an organisation's verification status (``merged``
    once merged into another)."""
    if obj is None:
        return None
    if aggregate is Aggregate.ORGANIZATION:
        if getattr(obj, "merged_into_id", None) is not None:
            return MERGED
        return getattr(obj, "verification_status", None) or UNVERIFIED
    return getattr(obj, "status", None)


def _who_matches(row: Permission, principal: Principal, obj: Any) -> bool:
    return any(w.test(principal, obj) for w in row.who)


def _scope_ok(row: Permission, principal: Principal) -> bool:
    return row.scope is None or principal.has_scope(row.scope)


def can(principal: Principal, action: Action | str, obj: Any,
        aggregate: Aggregate | None = None) -> bool:
    """May ``principal`` take ``action`` on ``obj`` (in its current state) now?

    ``aggregate`` defaults to the object's (:func:`aggregate_of`). An undeclared action is
    denied.
    """
    aggregate = aggregate or aggregate_of(obj)
    state = state_of(aggregate, obj)
    return any((row.states is None or state in row.states) and _who_matches(row, principal, obj)
               and _scope_ok(row, principal) for row in rows_for(aggregate, action))


def may_ever(principal: Principal, action: Action | str, obj: Any,
             aggregate: Aggregate | None = None) -> bool:
    """Would ``principal`` be allowed ``action`` on ``obj`` in some state (so a refusal now is
    about the state: 409, not 403)?"""
    aggregate = aggregate or aggregate_of(obj)
    return any(_who_matches(row, principal, obj) and _scope_ok(row, principal)
               for row in rows_for(aggregate, action))


def allowed_actions(principal: Principal, obj: Any, aggregate: Aggregate | None = None,
                    actions: Iterable[Action] | None = None) -> list[str]:
    """The actions ``principal`` may take on ``obj`` now (the reading rights ``view``,
    ``view_private`` and ``review`` left out), in table order; API responses list them so
    clients and pages don't guess."""
    aggregate = aggregate or aggregate_of(obj)
    names = actions if actions is not None else dict.fromkeys(
        r.action for r in table_rows() if r.aggregate is aggregate)
    return [a.value for a in names if a not in (Action.VIEW, Action.VIEW_PRIVATE,
                                                Action.REVIEW)
            and a not in CREATION_ACTIONS and can(principal, a, obj, aggregate)]


def actions_in_state(aggregate: Aggregate, state: str | None) -> list[str]:
    """Actions someone may take on an ``aggregate`` object in ``state`` (for 409 messages;
    the thread's ``comment``, reviewer ``assign``, the secretariat's ``remind`` and the
    progress actions on an initiative (``report_progress``, ``manage_indicators``: they act on
    its progress reports and indicators) are no lifecycle steps: left out)."""
    return list(dict.fromkeys(
        r.action.value for r in table_rows() if r.aggregate is aggregate
        and r.states is not None and state in r.states
        and r.action not in _NOT_LIFECYCLE))


#: actions :func:`actions_in_state` leaves out of a 409's list
_NOT_LIFECYCLE = frozenset({Action.VIEW, Action.VIEW_PRIVATE, Action.COMMENT, Action.ASSIGN,
                            Action.REMIND, Action.REPORT_PROGRESS, Action.MANAGE_INDICATORS})


def visible_filter(principal: Principal, aggregate: Aggregate, *, model: Any | None = None,
                   action: Action = Action.VIEW) -> ColumnElement[bool]:
    """SQL condition selecting the ``aggregate`` rows ``principal`` may ``action`` (view): the
    same rows as :func:`can`, as a filter for lists. ``model``: the mapped class (its
    ``status``/owner columns are used); defaults to the aggregate's model."""
    model = model if model is not None else _model_of(aggregate)
    owner_column = _owner_column(aggregate, model)
    state_column = getattr(model, "status", None)
    conditions = []
    for row in rows_for(aggregate, action):
        if not _scope_ok(row, principal):
            continue
        who = [w.sql(principal, owner_column) for w in row.who if w.sql is not None]
        if not who:
            continue
        condition = or_(*who) if len(who) > 1 else who[0]
        if row.states is not None and state_column is not None:
            states = sorted(row.states)
            condition = and_(state_column == states[0] if len(states) == 1
                             else state_column.in_(states), condition)
        conditions.append(condition)
    if not conditions:
        return false()
    return or_(*conditions) if len(conditions) > 1 else conditions[0]


def authorize(principal: Principal, action: Action | str, obj: Any,
              aggregate: Aggregate | None = None, *, what: str | None = None,
              record_denial: bool = True) -> None:
    """Raise unless ``principal`` may take ``action`` on ``obj`` now.

    - the object is absent, or the caller may not see it: :class:`NotFound` (404);
    - anonymous: :class:`Unauthenticated` (401);
    - allowed in another state: :class:`InvalidTransition` (409, ``current_status`` and
      ``allowed_actions`` in the problem);
    - a token without the row's scope: :class:`NotAllowed` naming the scope (403);
    - otherwise :class:`NotAllowed` (403).

    ``what``: how messages name the object (default: the aggregate). ``obj`` None with a
    creation action (``create``, ``register``, ``import``) checks the action on no object.
    Denials are recorded in the audit log (:func:`record_denial`).
    """
    aggregate = aggregate or aggregate_of(obj)
    label = what or aggregate.value.replace("_", " ")
    verb = str(Action(action).value if action in Action._value2member_map_ else action)
    verb_text = verb.replace("_", " ")
    creation = verb in CREATION_ACTIONS
    if obj is None and not creation:
        raise NotFound(f"No such {label}.")
    if obj is not None and not creation and verb != Action.VIEW \
            and rows_for(aggregate, Action.VIEW) \
            and not can(principal, Action.VIEW, obj, aggregate):
        _denied(principal, verb, aggregate, obj, 404, record_denial)
        raise NotFound(f"No {label} {getattr(obj, 'id', '')}.".replace("  ", " "))
    if can(principal, verb, obj, aggregate):
        return
    if obj is not None and verb == Action.VIEW:
        _denied(principal, verb, aggregate, obj, 404, record_denial)
        raise NotFound(f"No {label} {getattr(obj, 'id', '')}.")
    if not principal.is_authenticated:
        _denied(principal, verb, aggregate, obj, 401, record_denial)
        raise Unauthenticated(f"Sign in to {verb_text} this {label}.")
    if obj is not None and not creation and may_ever(principal, verb, obj, aggregate):
        state = state_of(aggregate, obj)
        allowed = actions_in_state(aggregate, state)
        raise InvalidTransition(
            f"Cannot {verb_text}: the {label} is {state}. "
            f"Allowed in this state: {', '.join(allowed) or 'none'}.",
            extra={"current_status": state, "allowed_actions": allowed})
    missing = [r.scope for r in rows_for(aggregate, verb)
               if r.scope is not None and _who_matches(r, principal, obj)
               and not principal.has_scope(r.scope)]
    _denied(principal, verb, aggregate, obj, 403, record_denial)
    if obj is not None and _four_eyes(principal, verb, aggregate, obj):
        raise NotAllowed(
            f"Four eyes: you are a member of the organisation that owns this {label}, so "
            f"another reviewer must {verb_text} it.", extra={"reason": "four_eyes"})
    if missing:
        raise NotAllowed(f"The token lacks the scope {missing[0].value} to {verb_text} this "
                         f"{label}.", extra={"required_scope": missing[0].value})
    raise NotAllowed(f"You may not {verb_text} this {label}.")


def _four_eyes(principal: Principal, action: str, aggregate: Aggregate, obj: Any) -> bool:
    """Is the refusal the four-eyes rule's (a reviewer deciding on a record of an
    organisation they belong to)?"""
    return (principal.has_staff_role(StaffRole.REVIEWER)
            and principal.is_member_of(owner_of(obj))
            and any(REVIEWER_NOT_MEMBER in r.who for r in rows_for(aggregate, action)))


def _denied(principal: Principal, action: str, aggregate: Aggregate, obj: Any, status: int,
            record: bool) -> None:
    if record:
        record_denial(principal, action, aggregate, getattr(obj, "id", None), status)


def record_denial(principal: Principal, action: str, aggregate: Aggregate,
                  object_id: Any, status: int) -> None:
    """THE call site recording an authorization denial (ASVS 5.0 V16.3.2): a log line, and in
    a request a row of the audit log (``registry.audit``, event ``authorization.denied``,
    outcome ``denied``): who (principal kind, subject, e-mail), what (aggregate, action,
    object id), the answer's status, the client address and request id; never a token.

    The row is written when the response is ready (``after_this_request``), in the request's
    session after its unfinished work is rolled back (a denied request changes nothing), and
    committed: the refusal itself rolls back everything the service had started.
    """
    detail = {"aggregate": aggregate.value, "action": str(action), "status": status,
              "client_id": principal.client_id}
    log.info("authorization denied", extra={"authz": detail | {
        "kind": principal.kind.value, "subject": principal.subject,
        "object_id": str(object_id) if object_id is not None else None}})
    try:
        from flask import after_this_request, g, has_request_context
    except ImportError:  # pragma: no cover - flask is a dependency
        return
    if not has_request_context():
        return
    pending = g.setdefault("authz_denials", [])
    pending.append((principal, object_id, detail))
    if len(pending) == 1:
        after_this_request(_write_denials)


def _write_denials(response: Any) -> Any:
    """Write the request's recorded denials to the audit log (see :func:`record_denial`)."""
    from flask import g

    from registry import db
    from registry.audit.service import AuditEvent, Outcome, record

    denials = g.pop("authz_denials", [])
    session = db.session()
    try:
        session.rollback()
        for principal, object_id, detail in denials:
            record(db_session=session, event=AuditEvent.AUTHORIZATION_DENIED,
                   outcome=Outcome.DENIED, principal=principal, subject=object_id,
                   detail=detail)
        session.commit()
    except SQLAlchemyError:
        session.rollback()
        log.warning("authorization denials not written to the audit log", exc_info=True)
    return response


# -- aggregates and their models -----------------------------------------------------------
def aggregate_of(obj: Any) -> Aggregate:
    """The aggregate of an object (its ``__aggregate__`` or its model's)."""
    declared = getattr(obj, "__aggregate__", None)
    if declared is not None:
        return Aggregate(declared)
    raise TypeError(f"no aggregate declared for {type(obj).__name__}")


def _model_of(aggregate: Aggregate) -> Any:
    if aggregate is Aggregate.INITIATIVE:
        from registry.initiatives.models import Initiative
        return Initiative
    if aggregate is Aggregate.ORGANIZATION:
        from registry.organizations.models import Organization
        return Organization
    if aggregate is Aggregate.REVISION:
        from registry.initiatives.models import InitiativeRevision
        return InitiativeRevision
    if aggregate is Aggregate.PROGRESS_REPORT:
        from registry.progress.models import ProgressReport
        return ProgressReport
    raise TypeError(f"pass model= for {aggregate}")


def _owner_column(aggregate: Aggregate, model: Any) -> Any:
    for name in ("owner_organization_id", "organization_id"):
        if hasattr(model, name):
            return getattr(model, name)
    return model.id


# -- labels ---------------------------------------------------------------------------------
def actor_role(principal: Principal) -> ActorRole:
    """The ``actor.role`` label of a timeline row or event (``ActorData`` v1)."""
    if principal.is_system:
        return ActorRole.SYSTEM
    if principal.is_staff:
        return ActorRole.SECRETARIAT
    if principal.kind is PrincipalKind.CLIENT:
        return ActorRole.CLIENT
    if principal.kind is PrincipalKind.USER:
        return ActorRole.PARTNER
    return ActorRole.ANONYMOUS


def acting_organization(principal: Principal, obj: Any = None) -> uuid.UUID | None:
    """The organisation the principal acts for on ``obj``: the owner organisation when it is
    a member of it, else its only organisation, else None."""
    owner = owner_of(obj) if obj is not None else None
    if owner is not None and principal.is_member_of(owner):
        return owner
    ids = principal.organization_ids
    return next(iter(ids)) if len(ids) == 1 else None


def actor_data(principal: Principal, obj: Any = None) -> dict[str, Any]:
    """The ``actor`` of event payloads (``ActorData``: role label, organisation, e-mail)."""
    org = acting_organization(principal, obj)
    return {"role": actor_role(principal).value,
            "organization_id": str(org) if org else None, "email": principal.email}


def describe_table() -> list[dict[str, Any]]:
    """The table in plain form (docs, NOTES, the matrix test): one dict per row."""
    return [{"aggregate": r.aggregate.value, "action": r.action.value,
             "states": sorted(r.states) if r.states is not None else None,
             "who": [w.name for w in r.who], "scope": r.scope.value if r.scope else None}
            for r in table_rows()]
