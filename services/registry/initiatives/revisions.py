"""Revisions of published initiatives (issue 8): editing a published initiative proposes a
change the secretariat reviews; the public keeps seeing the approved content until the
revision is approved, which applies it and makes the next approved version.

A revision holds the WHOLE proposed content (``versions.content_of``'s shape), starting from
the approved content; each edit (the initiative's input fields, any subset) is applied to
it (:func:`apply_input`). At most one revision per initiative is open (draft, submitted,
changes_requested).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.authz import permissions as authz
from registry.authz.permissions import Action, Aggregate
from registry.initiatives import policy, versions
from registry.initiatives.models import (
    OPEN_REVISION_STATES,
    Initiative,
    InitiativeRevision,
    InitiativeVersion,
)
from registry.workflow import models as wf_models
from registry.workflow import service as workflow_service
from registry.workflow.actors import actor_columns
from registry.workflow.models import Activity
from shared import reference
from shared.db import new_uuid, utcnow
from shared.events.types import REVISION_STATUSES
from shared.identity import Principal
from shared.problems import (
    Conflict,
    InvalidTransition,
    NotFound,
    Unauthenticated,
    ValidationError,
)

_TEXT_FIELDS = ("title", "description", "contact_email")


def _text(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _target_order(codes: list[str]) -> list[str]:
    order = {code: i for i, code in enumerate(reference.targets())}
    return sorted(dict.fromkeys(codes), key=lambda c: order.get(c, 10**6))


def _derived_goals(targets: list[str]) -> set[int]:
    return {reference.goal_of_target(t) for t in targets}


def apply_input(content: dict[str, Any], data: dict[str, Any],
                organizations: dict[uuid.UUID, Any]) -> dict[str, Any]:
    """A new content: ``content`` (``versions.content_of``'s shape) with the fields present in
    ``data`` (a loaded ``InitiativePatchSchema``) set, as ``service._apply_content`` sets them
    on an initiative: text stripped; goals = those of the targets plus goals tagged without a
    target (kept when ``sdg_goals`` is absent); deliverables naming an ``id`` of the content
    keep it (and their status unless given), others get a new id and status ``planned``.

    ``organizations``: every organisation ``data`` names, by id (checked by the caller).
    Raises :class:`ValidationError` naming ``deliverables.<i>.id`` for an id the content does
    not hold, ``end_date`` when it precedes ``start_date``.
    """
    new = {name: content.get(name) for name in versions.CONTENT_FIELDS}
    for name in _TEXT_FIELDS:
        if name in data:
            new[name] = _text(data[name])
    for name in ("start_date", "end_date"):
        if name in data:
            new[name] = data[name].isoformat() if isinstance(data[name], date) else data[name]
    if "lead_organization_id" in data:
        oid = data["lead_organization_id"]
        new["lead_organization"] = versions.json_content(
            versions.organization_content(organizations[oid])) if oid else None
    if data.get("partners") is not None:
        new["partners"] = [{"organization": versions.organization_content(
            organizations[p["organization_id"]]), "role": p["role"]} for p in data["partners"]]
    targets, goals = data.get("sdg_targets"), data.get("sdg_goals")
    old_targets = list(content.get("sdg_targets") or [])
    if targets is not None:
        new["sdg_targets"] = _target_order(targets)
    if targets is not None or goals is not None:
        explicit = set(goals) if goals is not None else (
            set(content.get("sdg_goals") or []) - _derived_goals(old_targets))
        new["sdg_goals"] = sorted(_derived_goals(new["sdg_targets"] or []) | explicit)
    for name in ("countries", "regions"):
        if data.get(name) is not None:
            new[name] = list(dict.fromkeys(data[name]))
    if data.get("deliverables") is not None:
        known = {d.get("id"): d for d in content.get("deliverables") or [] if d.get("id")}
        items, seen = [], set()
        for i, d in enumerate(data["deliverables"]):
            did = str(d["id"]) if d.get("id") else None
            if did is not None and did not in known:
                raise ValidationError("Unknown deliverable.", errors=[{
                    "field": f"deliverables.{i}.id",
                    "message": f"No deliverable {did} in this initiative: leave the id out "
                               "to add a new deliverable."}])
            if did is not None and did in seen:
                raise ValidationError("Deliverable listed twice.", errors=[{
                    "field": f"deliverables.{i}.id",
                    "message": f"Deliverable {did} is listed twice."}])
            seen.add(did)
            due = d.get("due_date")
            items.append({"id": did or str(new_uuid()), "description": _text(d["description"]),
                          "due_date": due.isoformat() if isinstance(due, date) else due,
                          "status": d.get("status") or (known[did].get("status")
                                                        if did else None) or "planned"})
        new["deliverables"] = items
    if data.get("resources") is not None:
        new["resources"] = [{"type": r["type"], "details": _text(r.get("details")),
                             "amount_usd": versions.amount_text(r.get("amount_usd"))}
                            for r in data["resources"]]
    start, end = new.get("start_date"), new.get("end_date")
    if start and end and end < start:
        raise ValidationError("end_date is before start_date.", errors=[{
            "field": "end_date", "message": f"end_date {end} is before start_date {start}."}])
    return versions.json_content(new)


def input_of(content: dict[str, Any]) -> dict[str, Any]:
    """The ``InitiativeInputSchema`` data setting every field to ``content`` (what
    ``service._apply_content`` takes when a revision is approved): organisation ids as UUIDs,
    dates as ``date``, amounts as ``Decimal``, deliverables with their ids and status."""
    def day(value: str | None) -> date | None:
        return date.fromisoformat(value) if value else None

    lead = content.get("lead_organization")
    return {
        "title": content["title"],
        "description": content.get("description"),
        "lead_organization_id": uuid.UUID(lead["id"]) if lead else None,
        "partners": [{"organization_id": uuid.UUID(p["organization"]["id"]),
                      "role": p["role"]} for p in content.get("partners") or []],
        "sdg_targets": list(content.get("sdg_targets") or []),
        "sdg_goals": list(content.get("sdg_goals") or []),
        "countries": list(content.get("countries") or []),
        "regions": list(content.get("regions") or []),
        "start_date": day(content.get("start_date")),
        "end_date": day(content.get("end_date")),
        "deliverables": [{"id": uuid.UUID(d["id"]) if d.get("id") else None,
                          "description": d["description"], "due_date": day(d.get("due_date")),
                          "status": d.get("status") or "planned"}
                         for d in content.get("deliverables") or []],
        "resources": [{"type": r["type"], "details": r.get("details"),
                       "amount_usd": Decimal(r["amount_usd"])
                       if r.get("amount_usd") is not None else None}
                      for r in content.get("resources") or []],
        "contact_email": content.get("contact_email"),
    }


# -- the workflow ----------------------------------------------------------------------------
#: The revision workflow (``policy.REVISION_WORKFLOW``, whose rows the permission table
#: generates: aggregate ``revision``; deciders are reviewers who are not members of the owner
#: organisation, four eyes). States: ``shared.events.types.REVISION_STATUSES``.
WORKFLOW = policy.REVISION_WORKFLOW
DRAFT, SUBMITTED, CHANGES_REQUESTED, APPROVED, REJECTED, DISCARDED = REVISION_STATUSES
#: Open states: at most one revision per initiative is in one of them.
OPEN_STATES = frozenset(OPEN_REVISION_STATES)
#: Initiative states in which the owner may propose a revision (``policy``).
REVISABLE_STATES = policy.REVISABLE_STATES


def allowed_actions(principal: Principal, revision: Any) -> list[str]:
    """The actions ``principal`` may take on ``revision`` now (``update``, ``assign`` and the
    transitions), from the permission table."""
    return workflow_service.allowed_actions(principal, WORKFLOW, revision)


# -- reading ---------------------------------------------------------------------------------
@dataclass
class RevisionView:
    """A revision as answered: the row's fields plus ``changed_fields`` (against the version
    it was based on) and the caller's ``allowed_actions``."""

    id: uuid.UUID
    initiative_id: uuid.UUID
    number: int
    status: str
    base_version: int | None
    version: int
    content: dict[str, Any]
    changed_fields: list[str]
    assigned_reviewer_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    decided_at: datetime | None
    allowed_actions: list[str] = field(default_factory=list)


def _initiative(db_session: Session, principal: Principal | None, initiative_id: uuid.UUID,
                *, action: Action = Action.VIEW_PRIVATE, lock: bool = False) -> Initiative:
    """The initiative (locked with ``lock``, PostgreSQL) if ``principal`` may take
    ``action`` on it (the permission table, aggregate ``initiative``: ``view_private`` —
    owner organisation, secretariat, system — to read its revisions; ``revise`` to open one;
    ``revise`` to edit a published one); NotFound / Unauthenticated / NotAllowed /
    InvalidTransition otherwise. ``principal`` None: no check (the revision's own rules
    decide)."""
    initiative = db_session.get(Initiative, initiative_id, with_for_update=lock or None)
    if initiative is None:
        raise NotFound(f"No initiative {initiative_id}.")
    if principal is not None:
        authz.authorize(principal, action, initiative, Aggregate.INITIATIVE, what="initiative")
    return initiative


def _private_side(db_session: Session, principal: Principal, initiative_id: uuid.UUID, *,
                  lock: bool = False) -> Initiative:
    """The initiative if ``principal`` may see its private side (``view_private``: owner
    organisation, secretariat, system), where its revisions are; 404 for anyone else (401
    anonymous): the route's gate (``registry.authz.routes``)."""
    initiative = _initiative(db_session, None, initiative_id, lock=lock)
    if not authz.can(principal, Action.VIEW_PRIVATE, initiative, Aggregate.INITIATIVE):
        if not principal.is_authenticated:
            raise Unauthenticated("Sign in to see the revisions of this initiative.")
        raise NotFound(f"No initiative {initiative_id}.")
    return initiative


def _visible_revision(db_session: Session, principal: Principal, initiative_id: uuid.UUID,
                      number: int) -> InitiativeRevision:
    """Revision ``number`` if ``principal`` may see it (aggregate ``revision``: owner
    organisation, secretariat, system); NotFound otherwise."""
    _initiative(db_session, None, initiative_id)
    revision = _revision(db_session, initiative_id, number)
    authz.authorize(principal, Action.VIEW, revision, Aggregate.REVISION, what="revision")
    return revision


def _revision(db_session: Session, initiative_id: uuid.UUID, number: int, *,
              lock: bool = False) -> InitiativeRevision:
    query = select(InitiativeRevision).where(InitiativeRevision.initiative_id == initiative_id,
                                             InitiativeRevision.number == number)
    revision = db_session.scalar(query.with_for_update() if lock else query)
    if revision is None:
        raise NotFound(f"Initiative {initiative_id} has no revision {number}.")
    return revision


def _base_contents(db_session: Session, initiative_id: uuid.UUID,
                   numbers: set[int]) -> dict[int, dict[str, Any]]:
    if not numbers:
        return {}
    return dict(db_session.execute(select(InitiativeVersion.number, InitiativeVersion.content)
                                   .where(InitiativeVersion.initiative_id == initiative_id,
                                          InitiativeVersion.number.in_(numbers))).all())


def _view(principal: Principal, revision: InitiativeRevision,
          bases: dict[int, dict[str, Any]]) -> RevisionView:
    base = bases.get(revision.base_version or 0, {})
    return RevisionView(
        id=revision.id, initiative_id=revision.initiative_id, number=revision.number,
        status=revision.status, base_version=revision.base_version, version=revision.version,
        content=revision.content,
        changed_fields=versions.changed_fields(base, revision.content) if base else [],
        assigned_reviewer_id=revision.assigned_reviewer_id, created_at=revision.created_at,
        updated_at=revision.updated_at, submitted_at=revision.submitted_at,
        decided_at=revision.decided_at, allowed_actions=allowed_actions(principal, revision))


def _answer(db_session: Session, principal: Principal, revision: InitiativeRevision,
            known: dict[int, dict[str, Any]] | None = None) -> RevisionView:
    """``known``: version contents already read (an approval's), by number."""
    wanted = {revision.base_version} if revision.base_version else set()
    bases = ({n: known[n] for n in wanted} if known is not None and wanted <= set(known)
             else _base_contents(db_session, revision.initiative_id, wanted))
    return _view(principal, revision, bases)


def list_revisions(*, db_session: Session, principal: Principal,
                   initiative_id: uuid.UUID) -> list[RevisionView]:
    """The revisions of an initiative, newest first (owner organisation and secretariat
    only; NotFound for anyone else). Two statements (revisions, their base versions)."""
    _private_side(db_session, principal, initiative_id)
    rows = list(db_session.scalars(select(InitiativeRevision).where(
        InitiativeRevision.initiative_id == initiative_id).order_by(
        InitiativeRevision.number.desc())))
    bases = _base_contents(db_session, initiative_id,
                           {r.base_version for r in rows if r.base_version})
    return [_view(principal, r, bases) for r in rows]


def open_revision(*, db_session: Session, principal: Principal,
                  initiative_id: uuid.UUID) -> RevisionView | None:
    """The initiative's open revision (draft, submitted or changes_requested), or None
    (owner organisation and secretariat only; NotFound for anyone else)."""
    _private_side(db_session, principal, initiative_id)
    revision = db_session.scalar(select(InitiativeRevision).where(
        InitiativeRevision.initiative_id == initiative_id,
        InitiativeRevision.status.in_(OPEN_STATES)))
    return _answer(db_session, principal, revision) if revision is not None else None


def get_revision(*, db_session: Session, principal: Principal, initiative_id: uuid.UUID,
                 number: int) -> RevisionView:
    """Revision ``number`` with its proposed content (owner organisation and secretariat
    only). NotFound when absent or not visible."""
    return _answer(db_session, principal,
                   _visible_revision(db_session, principal, initiative_id, number))


def diff_revision(*, db_session: Session, principal: Principal, initiative_id: uuid.UUID,
                  number: int) -> dict[str, Any]:
    """The difference between the current approved version and revision ``number``'s
    proposed content (``versions.diff_content``'s shape; ``from`` the approved version,
    ``to`` null, ``revision`` the number). Owner organisation and secretariat only."""
    revision = _visible_revision(db_session, principal, initiative_id, number)
    initiative = _initiative(db_session, None, initiative_id)
    current = initiative.approved_version
    base = _base_contents(db_session, initiative_id, {current} if current else set()).get(
        current or 0) or versions.content_of(initiative)
    return versions.diff_content(base, revision.content, from_=current, to=None) | {
        "revision": number}


# -- writing ---------------------------------------------------------------------------------
def _activity(db_session: Session, principal: Principal, initiative: Initiative,
              revision: InitiativeRevision, action: str, from_status: str | None, *,
              kind: str, comment: str | None = None,
              changes: dict[str, Any] | None = None) -> Activity:
    """A timeline entry of the initiative about ``revision`` (no event: a draft's edits and
    discarding concern only its authors)."""
    activity = Activity(
        id=new_uuid(), record_type=wf_models.INITIATIVE, record_id=initiative.id,
        revision_number=revision.number, kind=kind, action=action, from_status=from_status,
        to_status=revision.status, body=comment, visibility=wf_models.PARTICIPANTS,
        reply_to_id=None, **actor_columns(db_session, principal, initiative),
        changes=changes or None, created_at=utcnow())
    db_session.add(activity)
    return activity


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The audit's ``{field: {before, after}}`` of the fields that differ."""
    names = versions.changed_fields(before, after)
    return {name: {"before": before.get(name), "after": after.get(name)} for name in names}


def _organizations(db_session: Session, data: dict[str, Any]) -> dict[uuid.UUID, Any]:
    from registry.initiatives.service import _check_organizations

    return _check_organizations(db_session, data)


def create_revision(*, db_session: Session, principal: Principal, initiative_id: uuid.UUID,
                    data: dict[str, Any]) -> RevisionView:
    """Open a draft revision of a published initiative with ``data`` (a loaded
    ``InitiativePatchSchema``: any subset of the fields) applied to the approved content.

    Owner organisation's members only (403 otherwise; 404 for whoever may not see the
    initiative's private side). 409 when the initiative is not published (edit a draft
    directly) or a revision is already open (its number in ``open_revision``: edit that one).
    422 naming the field for invalid data. The initiative itself does not change; a timeline
    entry ``revision_create`` (participants) is written.
    """
    initiative = _private_side(db_session, principal, initiative_id, lock=True)
    authz.authorize(principal, Action.REVISE, initiative, Aggregate.INITIATIVE,
                    what="initiative")
    return _open(db_session, principal, initiative, data)


def _open(db_session: Session, principal: Principal, initiative: Initiative,
          data: dict[str, Any]) -> RevisionView:
    """Open revision ``max + 1`` of ``initiative`` (``revise`` already authorized): 409 when
    one is open."""
    initiative_id = initiative.id
    open_number = db_session.scalar(select(InitiativeRevision.number).where(
        InitiativeRevision.initiative_id == initiative_id,
        InitiativeRevision.status.in_(OPEN_STATES)))
    if open_number is not None:
        raise Conflict(f"Revision {open_number} of this initiative is still open: edit it "
                       f"(PATCH …/revisions/{open_number}) or discard it first.",
                       extra={"open_revision": open_number})
    base = versions.content_of(initiative)
    content = apply_input(base, data, _organizations(db_session, data))
    number = (db_session.scalar(select(func.max(InitiativeRevision.number)).where(
        InitiativeRevision.initiative_id == initiative_id)) or 0) + 1
    now = utcnow()
    from registry.workflow.actors import user_id_of

    revision = InitiativeRevision(
        id=new_uuid(), initiative_id=initiative_id, number=number, status=DRAFT,
        content=content, base_version=initiative.approved_version, version=1,
        owner_organization_id=initiative.owner_organization_id, assigned_reviewer_id=None,
        created_by_user_id=user_id_of(principal), created_at=now, updated_at=now,
        submitted_at=None, decided_at=None)
    db_session.add(revision)
    _activity(db_session, principal, initiative, revision, "revision_create", None,
              kind=wf_models.EDIT, changes=_changes(base, content))
    try:
        db_session.flush()
    except IntegrityError as exc:  # a concurrent creation won (unique open revision); the
        # caller's error handling rolls the transaction back
        raise Conflict("Another revision of this initiative was opened at the same time: "
                       "reload and edit it.") from exc
    return _answer(db_session, principal, revision)


def update_revision(*, db_session: Session, principal: Principal, initiative_id: uuid.UUID,
                    number: int, data: dict[str, Any],
                    expected_version: int | None = None) -> RevisionView:
    """Apply ``data`` (any subset of the fields) to an open revision's proposed content
    (owner organisation's members; draft or changes_requested). 412 when
    ``expected_version`` is not the revision's ``version`` (nothing written); 409 in another
    state; 422 naming the field. The change counter ``version`` goes up by one when the
    content changes; a timeline entry ``revision_update`` lists the changed fields."""
    initiative = _initiative(db_session, None, initiative_id)
    revision = _revision(db_session, initiative_id, number, lock=True)
    authz.authorize(principal, Action.UPDATE, revision, Aggregate.REVISION, what="revision")
    workflow_service.check_version(revision, expected_version, "revision")
    before = revision.content
    content = apply_input(before, data, _organizations(db_session, data))
    changes = _changes(before, content)
    if changes:
        revision.content = content
        revision.version += 1
        revision.updated_at = utcnow()
        _activity(db_session, principal, initiative, revision, "revision_update",
                  revision.status, kind=wf_models.EDIT, changes=changes)
    return _answer(db_session, principal, revision)


def edit_published(*, db_session: Session, principal: Principal, initiative_id: uuid.UUID,
                   data: dict[str, Any], expected_version: int | None = None) -> RevisionView:
    """An edit of a published initiative (``PATCH /api/v1/initiatives/{id}``, the owner's
    page): updates its open revision when it is a draft or sent back for changes, else opens
    a new one. ``expected_version`` applies to the open revision. Authorized as ``revise``
    of the initiative (owner organisation; published)."""
    initiative = _initiative(db_session, principal, initiative_id, action=Action.REVISE,
                             lock=True)
    open_revision = db_session.scalar(select(InitiativeRevision).where(
        InitiativeRevision.initiative_id == initiative_id,
        InitiativeRevision.status.in_(OPEN_STATES)))
    if open_revision is None:
        return _open(db_session, principal, initiative, data)
    return update_revision(db_session=db_session, principal=principal,
                           initiative_id=initiative_id, number=open_revision.number, data=data,
                           expected_version=expected_version)


def revision_action(*, db_session: Session, principal: Principal, initiative_id: uuid.UUID,
                    number: int, action: str, comment: str | None = None,
                    expected_version: int | None = None) -> RevisionView:
    """Take ``action`` on revision ``number`` through the workflow machinery
    (``registry.workflow.service.apply`` with :data:`WORKFLOW`): ``submit`` (owner),
    ``approve``, ``request_changes``, ``reject`` (a reviewer who is not a member of the owner
    organisation: four eyes), ``discard`` (owner).

    Order of checks: visibility (404), who (401/403), state (409 with the allowed actions),
    comment (422 ``comment`` for request_changes and reject), ``expected_version`` (412: the
    revision's ``version``; nothing written). The initiative and the revision rows are locked
    first (PostgreSQL), so of two concurrent decisions one wins. Approving applies the
    proposed content to the initiative (``service._apply_content``), raises its ``version``
    and ``approved_version`` by one and writes the version row (its ``changed_fields``
    against the previous version). Each transition but discard emits its
    ``initiative.revision-*.v1`` event (the initiative's snapshot after it, ``revision``:
    number, status, base version, changed fields); every one writes a timeline entry
    ``revision_<action>`` (public for an approval).
    """
    if WORKFLOW.transition(action) is None:
        raise NotFound(f"Unknown revision action {action!r}.")
    if action == "approve":
        # the locked read with everything the content holds (one statement): what the
        # approval compares the revision with, and the content of the fields it leaves
        from registry.initiatives import service

        view = service._load_view(db_session, initiative_id=initiative_id, for_update=True)
        if view is None:
            raise NotFound(f"No initiative {initiative_id}.")
    else:
        _initiative(db_session, None, initiative_id, lock=True)
    revision = _revision(db_session, initiative_id, number, lock=True)
    approval = _Approval(view) if action == "approve" else None
    with _approving(db_session, revision, approval):
        workflow_service.apply(db_session, principal, WORKFLOW, revision, action,
                               comment=comment, expected_version=expected_version)
    return _answer(db_session, principal, revision,
                   approval.contents if approval is not None else None)


class _Approval:
    """What a revision's approval read once and passes from step to step: the initiative
    as read with its lock (``view``), the version contents read (by number) and the
    initiative after the change as the event's snapshot reads it (``applied``)."""

    def __init__(self, view: Any):
        self.view = view
        self.contents: dict[int, dict[str, Any]] = {}
        self.applied: Any = None


_APPROVAL = "registry.revisions.approval"


@contextlib.contextmanager
def _approving(db_session: Session, revision: InitiativeRevision,
               approval: _Approval | None) -> Iterator[None]:
    if approval is None:
        yield
        return
    db_session.info.setdefault(_APPROVAL, {})[revision.id] = approval
    try:
        yield
    finally:
        db_session.info.get(_APPROVAL, {}).pop(revision.id, None)


def _approval_of(db_session: Session, revision: InitiativeRevision) -> _Approval | None:
    return db_session.info.get(_APPROVAL, {}).get(revision.id)


#: content field -> the attribute ``versions.content_of`` reads it from
_CONTENT_ATTRIBUTES = {"sdg_goals": "goal_codes", "sdg_targets": "target_codes",
                       "countries": "country_codes", "regions": "region_codes"}
#: content field -> the ``InitiativeInputSchema`` key ``input_of`` gives it under
_INPUT_KEYS = {"lead_organization": "lead_organization_id"}


class _Applied:
    """The initiative after a revision's approval, as ``versions.content_of`` and the
    event's snapshot read it: the fields the approval applied from the row (their
    collections were loaded to change them), every other content field from the view read
    with the lock (unchanged, so no collection is loaded again), the rest from the row."""

    def __init__(self, entity: Initiative, view: Any, applied: set[str]):
        self._entity = entity
        self._view = view
        self._from_view = {_CONTENT_ATTRIBUTES.get(f, f)
                           for f in versions.CONTENT_FIELDS if f not in applied}

    def __getattr__(self, name: str) -> Any:
        source = self._view if name in self._from_view else self._entity
        return getattr(source, name)


def _changed_fields(db_session: Session, revision: InitiativeRevision) -> list[str]:
    """The fields ``revision`` changes against the version it was based on."""
    base = _base_contents(db_session, revision.initiative_id,
                          {revision.base_version} if revision.base_version else set())
    return versions.changed_fields(base.get(revision.base_version or 0) or {},
                                   revision.content)


class _RevisionAdapter:
    """The revision's part of the workflow machinery (``registry.workflow.service``)."""

    def before(self, db_session: Session, principal: Principal, record: Any,
               transition: Any, comment: str | None) -> None:
        if transition.action == "submit":
            # the SMART check of a submission applies to the proposed content (422 per field)
            from registry.initiatives.service import content_submission_errors

            errors = content_submission_errors(record.content)
            if errors:
                raise ValidationError("The revision is not ready to submit.", errors=errors)
        initiative = db_session.get_one(Initiative, record.initiative_id)  # (identity map)
        if transition.action == "approve" and initiative.status not in REVISABLE_STATES:
            raise InvalidTransition(
                f"Cannot approve the revision: the initiative is {initiative.status}.",
                extra={"current_status": initiative.status, "allowed_actions": []})

    def after(self, db_session: Session, principal: Principal, record: Any, transition: Any,
              from_status: str, comment: str | None) -> None:
        if transition.action != "approve":
            return
        from registry.initiatives import service

        initiative = db_session.get_one(Initiative, record.initiative_id)  # (identity map)
        approval = _approval_of(db_session, record)
        if approval is None:  # (not through revision_action: read it now)
            approval = _Approval(service._load_view(db_session, initiative_id=initiative.id))
        current = initiative.approved_version
        # the current version and the revision's base (the event's changed fields): one read
        # (the revision's new state is written with the rest, in the one flush)
        with db_session.no_autoflush:
            approval.contents = _base_contents(
                db_session, initiative.id, {n for n in (current, record.base_version) if n})
        live = versions.content_of(approval.view)
        changed = versions.changed_fields(approval.contents.get(current or 0) or live,
                                          record.content)
        # apply only the fields the revision changes against the initiative as it is (the
        # goals with the targets: goals are derived from them); the others stay as they are
        applied = set(versions.changed_fields(live, record.content))
        if applied & {"sdg_goals", "sdg_targets"}:
            applied |= {"sdg_goals", "sdg_targets"}
        full = input_of(record.content)
        data = {_INPUT_KEYS.get(f, f): full[_INPUT_KEYS.get(f, f)] for f in applied}
        proposed: list[Any] = []
        if "deliverables" in data:
            existing = {d.id for d in approval.view.deliverables}
            proposed = [d["id"] for d in data["deliverables"]]
            for row in data["deliverables"]:  # a deliverable the revision added is new here
                if row["id"] not in existing:
                    row["id"] = None
        with db_session.no_autoflush:  # one flush, at the end (the collections load once)
            service._apply_content(db_session, initiative, data,
                                   organizations=_organizations(db_session, data),
                                   principal=principal)
            if "deliverables" in data:
                for deliverable, did in zip(initiative.deliverables, proposed, strict=True):
                    if deliverable.id not in existing and did is not None:
                        deliverable.id = did  # (not flushed yet) the id the revision showed
            initiative.version += 1
            initiative.updated_at = record.decided_at or utcnow()
            approval.applied = _Applied(initiative, approval.view, applied)
            versions.record_version(db_session, initiative, principal=principal,
                                    revision_id=record.id, changed=changed,
                                    content=versions.content_of(approval.applied))
        record.assigned_reviewer_id = None  # the review is over

    def record(self, db_session: Session, principal: Principal, record: Any, transition: Any,
               from_status: str, comment: str | None,
               extra_event_data: dict[str, Any] | None) -> Activity:
        initiative = db_session.get_one(Initiative, record.initiative_id)
        if transition.event_type is None:  # discard: a timeline entry only
            activity = _activity(db_session, principal, initiative, record,
                                 f"revision_{transition.action}", from_status,
                                 kind=wf_models.TRANSITION, comment=comment)
            db_session.flush()
            return activity
        from registry.initiatives import service

        # who hears of it: the owner organisation's members and the revision's reviewer
        audience = SimpleNamespace(owner_organization_id=initiative.owner_organization_id,
                                   assigned_reviewer_id=record.assigned_reviewer_id)
        approval = _approval_of(db_session, record)
        with db_session.no_autoflush:
            if (approval is not None and record.base_version
                    and record.base_version in approval.contents):
                changed = versions.changed_fields(approval.contents[record.base_version],
                                                  record.content)
            else:
                changed = _changed_fields(db_session, record)
            recipients = service.event_recipients(db_session, audience, principal)
        data = {"revision": {"number": record.number, "status": record.status,
                             "base_version": record.base_version,
                             "changed_fields": changed},
                "recipients": recipients,
                **service.event_links(initiative, record.number), **(extra_event_data or {})}
        return service._record(
            db_session, initiative, principal, f"revision_{transition.action}",
            initiative.status, comment=comment, kind=wf_models.TRANSITION,
            visibility=transition.visibility, event_type=transition.event_type,
            revision_number=record.number, extra_event_data=data, recipients=recipients,
            view=approval.applied if approval is not None else None)


workflow_service.register_adapter(WORKFLOW.record_type, _RevisionAdapter())


# the version reads, beside the revision ones (pages and the CLI import one module)
list_versions = versions.list_versions
get_version = versions.get_version
diff_versions = versions.diff_versions
