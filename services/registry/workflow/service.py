"""The one authorize -> transition -> timeline -> outbox path of every reviewed record.

:func:`apply` takes a workflow action on a record already read (and locked: the caller reads
it with ``FOR UPDATE`` on PostgreSQL, so of two concurrent decisions one wins and the other
sees the new state: 409, or a stale ``If-Match``: 412). What differs per record type (checks
before a transition, side effects, the timeline row and the event's data) is an
:class:`Adapter` registered for the record type (``registry.initiatives.service`` registers
the initiatives'; ``registry.initiatives.revisions`` the revisions').

Errors: :class:`~shared.problems.NotFound` (404: unknown action, or a record the caller may
not see), :class:`~shared.problems.Unauthenticated` (401), :class:`~shared.problems.NotAllowed`
(403, four eyes included), :class:`~shared.problems.InvalidTransition` (409),
:class:`~shared.problems.ValidationError` (422 naming ``comment``),
:class:`~shared.problems.PreconditionFailed` (412: ``expected_version`` is not the record's
``version``; nothing written).
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.orm import Session

from registry.authz import permissions as authz
from registry.workflow.machine import Transition, Workflow
from registry.workflow.models import Activity
from shared.db import utcnow
from shared.identity import Principal
from shared.problems import NotFound, PreconditionFailed, ValidationError


class Adapter(Protocol):
    """What the machinery needs of a record type."""

    def before(self, db_session: Session, principal: Principal, record: Any,
               transition: Transition, comment: str | None) -> None:
        """Checks and preparations before the state changes (e.g. SMART check on submit)."""

    def after(self, db_session: Session, principal: Principal, record: Any,
              transition: Transition, from_status: str, comment: str | None) -> None:
        """Side effects of the transition on the record (e.g. the public id on approval)."""

    def record(self, db_session: Session, principal: Principal, record: Any,
               transition: Transition, from_status: str, comment: str | None,
               extra_event_data: dict[str, Any] | None) -> Activity:
        """Write the timeline row and the outbox event (same transaction); return the row."""


_ADAPTERS: dict[str, Adapter] = {}


def register_adapter(record_type: str, adapter: Adapter) -> None:
    """Declare how :func:`apply` handles records of ``record_type``."""
    _ADAPTERS[record_type] = adapter


def entity_of(record: Any) -> Any:
    """The mapped row behind ``record`` (an ``InitiativeView`` wraps it as ``entity``)."""
    return getattr(record, "entity", record)


def check_version(record: Any, expected_version: int | None, what: str) -> None:
    """:class:`PreconditionFailed` (412) when ``expected_version`` (the client's ``If-Match``
    or a page's hidden ``version``) is given and is not the record's change counter."""
    if expected_version is not None and record.version != expected_version:
        raise PreconditionFailed(
            f"The {what} changed since you read it (version {expected_version}; it is now "
            f"{record.version}). Reload it and try again.",
            extra={"current_version": record.version, "expected_version": expected_version})


def require_comment(transition: Transition, comment: str | None) -> str | None:
    """The comment stripped; :class:`ValidationError` naming ``comment`` when the transition
    requires one and it is empty."""
    comment = comment.strip() if comment else None
    if transition.comment_required and not comment:
        raise ValidationError("A comment is required.", errors=[{
            "field": "comment",
            "message": f"Say why ({transition.action.replace('_', ' ')}): the comment is "
                       "required."}])
    return comment


def apply(db_session: Session, principal: Principal, workflow: Workflow, record: Any,
          action: str, *, comment: str | None = None, expected_version: int | None = None,
          extra_event_data: dict[str, Any] | None = None) -> Activity:
    """Take ``action`` on ``record`` (read and locked by the caller): authorize (404/401/403/
    409, per the permission table generated from ``workflow``) -> comment rule (422) ->
    version check (412) -> the adapter's checks -> state (``workflow.state_field``),
    ``version + 1`` (``workflow.version_field``), ``updated_at``
    and the transition's ``stamp`` column -> the adapter's side effects -> ONE ``activities``
    row and ONE outbox event. Returns the timeline row. The caller commits."""
    transition = workflow.transition(action)
    if transition is None:
        raise NotFound(f"Unknown action {action!r} for a {workflow.record_type}.")
    what = workflow.record_type
    authz.authorize(principal, action, record, workflow.aggregate, what=what)
    comment = require_comment(transition, comment)
    if workflow.version_field is not None:
        check_version(record, expected_version, what)
    adapter = _ADAPTERS[workflow.record_type]
    adapter.before(db_session, principal, record, transition, comment)
    entity = entity_of(record)
    from_status = getattr(entity, workflow.state_field)
    now = utcnow()
    if transition.target is not None:
        setattr(entity, workflow.state_field, transition.target)
    if workflow.version_field is not None:
        setattr(entity, workflow.version_field, getattr(entity, workflow.version_field) + 1)
    entity.updated_at = now
    if transition.stamp:
        setattr(entity, transition.stamp, now)
    adapter.after(db_session, principal, record, transition, from_status, comment)
    return adapter.record(db_session, principal, record, transition, from_status, comment,
                          extra_event_data)


def allowed_actions(principal: Principal, workflow: Workflow, record: Any) -> list[str]:
    """The actions of ``workflow`` (its rules' edit/comment/assign, then its transitions)
    ``principal`` may take on ``record`` now."""
    actions = [authz.Action(a) for a in workflow.actions
               if a not in (authz.Action.VIEW, authz.Action.VIEW_PRIVATE)]
    return authz.allowed_actions(principal, record, workflow.aggregate, actions)
