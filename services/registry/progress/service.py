"""Progress report and indicator service functions.

Every function takes a keyword-only ``db_session`` and the acting ``principal``, checks the
permission table (aggregate ``progress_report``, generated from
``registry.progress.policy.PROGRESS_REPORT_WORKFLOW``; indicators: the initiative's rows),
changes the data and writes, in the SAME transaction, the timeline entry (``activities``,
record type ``progress_report``) and the CloudEvent (``outbox_events``). The caller commits.

Errors: :class:`~shared.problems.NotFound` (404: absent, or invisible to the caller),
:class:`~shared.problems.Unauthenticated` (401), :class:`~shared.problems.NotAllowed` (403,
four eyes and a token without ``progress:write`` included),
:class:`~shared.problems.InvalidTransition` (409: the report's or the initiative's state),
:class:`~shared.problems.Conflict` (409: a concurrent creation, a ``source_ref`` already
used), :class:`~shared.problems.PreconditionFailed` (412: stale ``If-Match``),
:class:`~shared.problems.ValidationError` (422 naming the field).

Progress roll-up (issue 9, "deliverables may carry weights and roll up into the initiative's
progress", after decidim-accountability's weighted progress): when an approved report gives
no ``progress_percent`` of its own, the initiative's progress is the weighted share of its
deliverables the report says are ``achieved`` (``cancelled`` ones leave the denominator; a
deliverable the report does not mention counts with its current status):
``round(100 * sum(weight of achieved) / sum(weight of not cancelled))``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import nh3
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.authz import permissions as authz
from registry.authz.permissions import Action, Aggregate
from registry.initiatives.models import Deliverable, Initiative
from registry.outbox.models import OutboxEvent
from registry.progress import policy
from registry.progress.models import (
    IndicatorValue,
    InitiativeIndicator,
    ProgressDeliverableUpdate,
    ProgressReport,
)
from registry.workflow import models as wf
from registry.workflow import service as workflow_service
from registry.workflow.actors import actor_columns, actor_event_data, user_id_of
from registry.workflow.machine import Transition
from registry.workflow.models import Activity
from shared import reference
from shared.db import new_uuid, utcnow
from shared.events import types as ev
from shared.identity import Principal
from shared.outbox import record_event
from shared.problems import Conflict, InvalidTransition, NotFound, ValidationError

SOURCE = "/registry"
WORKFLOW = policy.PROGRESS_REPORT_WORKFLOW
RECORD_TYPE = WORKFLOW.record_type

#: Tags, attributes and URL schemes a narrative keeps (nh3, the Rust ``ammonia`` sanitiser):
#: paragraphs, emphasis, lists, headings, quotes and links; everything else (scripts,
#: styles, event handlers, images, iframes) is removed.
NARRATIVE_TAGS = frozenset({"p", "br", "strong", "b", "em", "i", "u", "ul", "ol", "li",
                            "h3", "h4", "blockquote", "a"})
NARRATIVE_ATTRIBUTES = {"a": {"href", "title"}}
NARRATIVE_URL_SCHEMES = frozenset({"http", "https", "mailto"})
#: What submitting requires (the UN platform's progress report: the period, the overall
#: status and a narrative).
SUBMIT_REQUIREMENTS: tuple[tuple[str, str], ...] = (
    ("period_start", "Give the start of the period reported on."),
    ("period_end", "Give the end of the period reported on."),
    ("overall_status", "Say how the initiative stands overall."),
    ("narrative_html", "Describe the progress made."),
)


def sanitize_narrative(html: str | None) -> str | None:
    """``html`` with only :data:`NARRATIVE_TAGS` kept (nh3; links get ``rel="noopener
    noreferrer"``); None for None or nothing left but whitespace."""
    if html is None:
        return None
    clean = nh3.clean(html, tags=set(NARRATIVE_TAGS), attributes={
        k: set(v) for k, v in NARRATIVE_ATTRIBUTES.items()},
        url_schemes=set(NARRATIVE_URL_SCHEMES), link_rel="noopener noreferrer").strip()
    return clean or None


def _text_of(html: str | None) -> str:
    return nh3.clean(html or "", tags=set()).strip()


# -- reading ---------------------------------------------------------------------------------
@dataclass
class ReportView:
    """A report as answered: the row's fields, its deliverable lines (with the deliverable's
    description) and indicator values (with the indicator's title), the caller's
    ``allowed_actions`` and the ``warnings`` that keep it from being submitted."""

    id: uuid.UUID
    initiative_id: uuid.UUID
    number: int
    status: str
    period_start: date | None
    period_end: date | None
    reported_on: date | None
    overall_status: str | None
    progress_percent: int | None
    narrative_html: str | None
    deliverable_updates: list[dict[str, Any]]
    indicator_values: list[dict[str, Any]]
    resources_mobilised: list[dict[str, Any]]
    milestones: list[dict[str, Any]]
    links: list[str]
    source: str
    source_ref: str | None
    version: int
    assigned_reviewer_id: uuid.UUID | None
    submitted_at: datetime | None
    approved_at: datetime | None
    created_at: datetime
    updated_at: datetime
    owner_organization_id: uuid.UUID | None = None
    allowed_actions: list[str] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    #: who reads it: ``public`` (approved only, no private fields) or ``private``
    audience: str = "private"


def resolve_initiative(db_session: Session, ref: uuid.UUID | str, *,
                       lock: bool = False) -> Initiative:
    """The initiative named by its UUID or public id (``PR-2026-00042``); NotFound
    otherwise. ``lock``: ``FOR UPDATE`` on PostgreSQL."""
    locking = lock and db_session.get_bind().dialect.name == "postgresql"
    initiative_id: uuid.UUID | None = None
    if isinstance(ref, uuid.UUID):
        initiative_id = ref
    else:
        try:
            initiative_id = uuid.UUID(str(ref))
        except ValueError:
            initiative_id = db_session.scalar(select(Initiative.id).where(
                Initiative.public_id == str(ref).strip().upper()))
    initiative = (db_session.get(Initiative, initiative_id, with_for_update=locking or None,
                                 populate_existing=locking) if initiative_id else None)
    if initiative is None:
        raise NotFound(f"No initiative {ref}.")
    return initiative


def _visible_initiative(db_session: Session, principal: Principal, ref: uuid.UUID | str, *,
                        lock: bool = False) -> Initiative:
    initiative = resolve_initiative(db_session, ref, lock=lock)
    authz.authorize(principal, Action.VIEW, initiative, Aggregate.INITIATIVE,
                    what="initiative")
    return initiative


def _report(db_session: Session, report_id: uuid.UUID | str, *,
            lock: bool = False) -> ProgressReport:
    try:
        rid = report_id if isinstance(report_id, uuid.UUID) else uuid.UUID(str(report_id))
    except ValueError as exc:
        raise NotFound(f"No progress report {report_id}.") from exc
    locking = lock and db_session.get_bind().dialect.name == "postgresql"
    report = db_session.get(ProgressReport, rid, with_for_update=locking or None,
                            populate_existing=locking)
    if report is None:
        raise NotFound(f"No progress report {report_id}.")
    return report


def _authorize(principal: Principal, action: str, report: ProgressReport,
               initiative: Initiative | None = None) -> None:
    """The report's row of the permission table; an approved report of an initiative the
    caller may not see is not visible either (404)."""
    if initiative is not None and not authz.can(principal, Action.VIEW, initiative,
                                                 Aggregate.INITIATIVE) \
            and not authz.can(principal, Action.VIEW_PRIVATE, initiative, Aggregate.INITIATIVE):
        raise NotFound(f"No progress report {report.id}.")
    authz.authorize(principal, action, report, Aggregate.PROGRESS_REPORT,
                    what="progress report")


def _private(principal: Principal, report: ProgressReport) -> bool:
    """Does the caller see the report's private side (owner organisation, secretariat,
    system)?"""
    return principal.is_system or principal.is_staff \
        or principal.is_member_of(report.owner_organization_id)


def _children(db_session: Session, report_ids: list[uuid.UUID]) -> tuple[dict, dict]:
    """The deliverable lines (with the deliverable's description) and indicator values (with
    the indicator's title) of ``report_ids``, by report: two statements whatever their
    number."""
    lines: dict[uuid.UUID, list[Any]] = {}
    values: dict[uuid.UUID, list[Any]] = {}
    if not report_ids:
        return lines, values
    for u, d in db_session.execute(
            select(ProgressDeliverableUpdate, Deliverable.description)
            .outerjoin(Deliverable, Deliverable.id == ProgressDeliverableUpdate.deliverable_id)
            .where(ProgressDeliverableUpdate.report_id.in_(report_ids))
            .order_by(ProgressDeliverableUpdate.position)):
        lines.setdefault(u.report_id, []).append((u, d))
    for v, t in db_session.execute(
            select(IndicatorValue, InitiativeIndicator.title)
            .join(InitiativeIndicator, InitiativeIndicator.id == IndicatorValue.indicator_id)
            .where(IndicatorValue.report_id.in_(report_ids))
            .order_by(IndicatorValue.position)):
        values.setdefault(v.report_id, []).append((v, t))
    return lines, values


def _view(db_session: Session, principal: Principal, report: ProgressReport,
          initiative: Initiative | None = None,
          children: tuple[dict, dict] | None = None) -> ReportView:
    """The answer for ``report`` (``children``: :func:`_children` read already; else two
    statements)."""
    if children is None:
        children = _children(db_session, [report.id])
    lines, values = children[0].get(report.id, []), children[1].get(report.id, [])
    private = _private(principal, report)
    warnings: list[dict[str, str]] = []
    if private and report.status in policy.EDITABLE_STATES:
        warnings = submission_errors(report)
    return ReportView(
        id=report.id, initiative_id=report.initiative_id, number=report.number,
        status=report.status, period_start=report.period_start, period_end=report.period_end,
        reported_on=report.reported_on, overall_status=report.overall_status,
        progress_percent=report.progress_percent, narrative_html=report.narrative_html,
        deliverable_updates=[{"deliverable_id": u.deliverable_id, "description": d,
                              "status": u.status, "note": u.note} for u, d in lines],
        indicator_values=[{"indicator_id": v.indicator_id, "title": t, "value": v.value,
                           "period_start": v.period_start, "period_end": v.period_end,
                           "comment": v.comment} for v, t in values],
        resources_mobilised=list(report.resources_mobilised or []),
        milestones=list(report.milestones or []), links=list(report.links or []),
        source=report.source, source_ref=report.source_ref if private else None,
        version=report.version,
        assigned_reviewer_id=report.assigned_reviewer_id if private else None,
        submitted_at=report.submitted_at, approved_at=report.approved_at,
        created_at=report.created_at, updated_at=report.updated_at,
        owner_organization_id=report.owner_organization_id,
        allowed_actions=policy.allowed_actions(principal, report) if private else [],
        warnings=warnings, audience="private" if private else "public")


def get_report(*, db_session: Session, principal: Principal,
               report_id: uuid.UUID | str) -> ReportView:
    """One report: anyone for an approved report of a public initiative; the owner
    organisation, the secretariat and the system for any. NotFound otherwise."""
    report = _report(db_session, report_id)
    initiative = db_session.get_one(Initiative, report.initiative_id)
    _authorize(principal, Action.VIEW, report, initiative)
    return _view(db_session, principal, report, initiative)


def list_reports(*, db_session: Session, principal: Principal,
                 initiative_id: uuid.UUID | str) -> list[ReportView]:
    """An initiative's reports, newest first: the approved ones for the public (of a public
    initiative), all for its owner organisation, the secretariat and the system. NotFound
    when the initiative is not visible to the caller. Four statements after the
    initiative's (the reports, their lines, their values)."""
    initiative = _visible_initiative(db_session, principal, initiative_id)
    query = select(ProgressReport).where(ProgressReport.initiative_id == initiative.id)
    if not (principal.is_system or principal.is_staff
            or principal.is_member_of(initiative.owner_organization_id)):
        query = query.where(ProgressReport.status == policy.APPROVED)
    rows = [r for r in db_session.scalars(query.order_by(ProgressReport.number.desc()))
            if authz.can(principal, Action.VIEW, r, Aggregate.PROGRESS_REPORT)]
    children = _children(db_session, [r.id for r in rows])
    return [_view(db_session, principal, r, initiative, children) for r in rows]


def submission_errors(report: ProgressReport) -> list[dict[str, str]]:
    """What keeps ``report`` from being submitted: ``[{field, message}]`` (empty: ready)."""
    present = {"period_start": report.period_start is not None,
               "period_end": report.period_end is not None,
               "overall_status": bool(report.overall_status),
               "narrative_html": bool(_text_of(report.narrative_html))}
    return [{"field": name, "message": message} for name, message in SUBMIT_REQUIREMENTS
            if not present[name]]


# -- writing ---------------------------------------------------------------------------------
def _apply(db_session: Session, initiative: Initiative, report: ProgressReport,
           data: dict[str, Any]) -> dict[str, Any]:
    """Set the fields present in ``data`` (a loaded ``ProgressReportInputSchema``) on
    ``report``; the deliverable lines and indicator values are replaced when given. 422
    naming ``deliverable_updates.<i>.deliverable_id`` / ``indicator_values.<i>.indicator_id``
    for one the initiative does not have (or named twice), ``period_end`` before
    ``period_start``. Returns the audit's ``{field: {before, after}}``."""
    before = _content(report)
    for name in ("period_start", "period_end", "overall_status", "progress_percent"):
        if name in data:
            setattr(report, name, data[name])
    if "narrative_html" in data:
        report.narrative_html = sanitize_narrative(data["narrative_html"])
    if "source_ref" in data and data["source_ref"] is not None:
        report.source_ref = data["source_ref"]
    if data.get("resources_mobilised") is not None:
        report.resources_mobilised = [
            {"amount": format(r["amount"].quantize(Decimal("0.01")), "f"),
             "currency": r["currency"], "description": r.get("description")}
            for r in data["resources_mobilised"]]
    if data.get("milestones") is not None:
        report.milestones = [{"date": m["date"].isoformat(), "title": m["title"],
                              "achieved": m.get("achieved", True)}
                             for m in sorted(data["milestones"], key=lambda m: m["date"])]
    if data.get("links") is not None:
        report.links = list(dict.fromkeys(data["links"]))
    if report.period_start and report.period_end and report.period_end < report.period_start:
        raise ValidationError("period_end is before period_start.", errors=[{
            "field": "period_end",
            "message": f"period_end {report.period_end} is before period_start "
                       f"{report.period_start}."}])
    if data.get("deliverable_updates") is not None:
        known = set(db_session.scalars(select(Deliverable.id).where(
            Deliverable.initiative_id == initiative.id)))
        errors, seen = [], set()
        for i, row in enumerate(data["deliverable_updates"]):
            did = row["deliverable_id"]
            if did not in known or did in seen:
                errors.append({"field": f"deliverable_updates.{i}.deliverable_id",
                               "message": f"This initiative has no deliverable {did}."
                               if did not in known else f"Deliverable {did} is listed twice."})
            seen.add(did)
        if errors:
            raise ValidationError("Unknown deliverable.", errors=errors)
        report.deliverable_updates = [
            ProgressDeliverableUpdate(id=new_uuid(), deliverable_id=row["deliverable_id"],
                                      position=i, status=row["status"], note=row.get("note"))
            for i, row in enumerate(data["deliverable_updates"])]
    if data.get("indicator_values") is not None:
        known = set(db_session.scalars(select(InitiativeIndicator.id).where(
            InitiativeIndicator.initiative_id == initiative.id)))
        errors = [{"field": f"indicator_values.{i}.indicator_id",
                   "message": f"This initiative has no indicator {row['indicator_id']}."}
                  for i, row in enumerate(data["indicator_values"])
                  if row["indicator_id"] not in known]
        for i, row in enumerate(data["indicator_values"]):
            start, end = row.get("period_start"), row.get("period_end")
            if start and end and end < start:
                errors.append({"field": f"indicator_values.{i}.period_end",
                               "message": f"period_end {end} is before period_start {start}."})
        if errors:
            raise ValidationError("Unknown indicator.", errors=errors)
        report.indicator_values = [
            IndicatorValue(id=new_uuid(), indicator_id=row["indicator_id"], position=i,
                           period_start=row.get("period_start"),
                           period_end=row.get("period_end"), value=row.get("value"),
                           comment=row.get("comment"))
            for i, row in enumerate(data["indicator_values"])]
    after = _content(report)
    return {k: {"before": before.get(k), "after": v} for k, v in after.items()
            if before.get(k) != v}


def _content(report: ProgressReport) -> dict[str, Any]:
    """The report's fields as JSON (the audit's before/after)."""
    def iso(value: Any) -> Any:
        return value.isoformat() if isinstance(value, date) else value

    return {
        "period_start": iso(report.period_start), "period_end": iso(report.period_end),
        "overall_status": report.overall_status, "progress_percent": report.progress_percent,
        "narrative_html": report.narrative_html,
        "deliverable_updates": [{"deliverable_id": str(u.deliverable_id), "status": u.status,
                                 "note": u.note} for u in report.deliverable_updates],
        "indicator_values": [{"indicator_id": str(v.indicator_id),
                              "value": format(v.value, "f") if v.value is not None else None,
                              "period_start": iso(v.period_start),
                              "period_end": iso(v.period_end), "comment": v.comment}
                             for v in report.indicator_values],
        "resources_mobilised": list(report.resources_mobilised or []),
        "milestones": list(report.milestones or []), "links": list(report.links or []),
        "source_ref": report.source_ref}


@dataclass(frozen=True)
class _NewReport:
    """What the permission table sees of a report about to be created: its owner (the
    initiative's) in state ``draft``."""

    owner_organization_id: uuid.UUID | None
    status: str = policy.DRAFT
    __aggregate__ = Aggregate.PROGRESS_REPORT.value


def _check_reporting_state(initiative: Initiative, what: str) -> None:
    if initiative.status not in policy.REPORTING_STATES:
        raise InvalidTransition(
            f"Cannot {what}: the initiative is {initiative.status}; progress is reported on "
            f"{' or '.join(sorted(policy.REPORTING_STATES))} initiatives.",
            extra={"current_status": initiative.status,
                   "initiative_status": initiative.status, "allowed_actions": []})


def create_report(*, db_session: Session, principal: Principal,
                  initiative_id: uuid.UUID | str, data: dict[str, Any],
                  source: str = "form") -> ReportView:
    """A new draft report of a published initiative (or one whose completion was
    declared), numbered ``max + 1`` per initiative, with ``data`` (a loaded
    ``ProgressReportInputSchema``: lenient); ``data["submit"]`` true submits it at once
    (strictly checked, emits ``progress-report.submitted.v1``: a partner's system with
    ``progress:write``). Owner organisation's members only (``create``: 403 otherwise, 404
    when the initiative is not visible; a token needs ``progress:write``). 409 when the
    initiative is in another state, or ``source_ref`` is already used for this initiative;
    422 naming the field. ``source``: ``form``, ``api``.
    The timeline gets a ``create`` entry (participants); no event for a draft."""
    initiative = _visible_initiative(db_session, principal, initiative_id, lock=True)
    target = _NewReport(initiative.owner_organization_id)
    authz.authorize(principal, Action.CREATE, target, Aggregate.PROGRESS_REPORT,
                    what="progress report")
    _check_reporting_state(initiative, "report progress")
    if data.get("source_ref") and db_session.scalar(select(ProgressReport.id).where(
            ProgressReport.initiative_id == initiative.id,
            ProgressReport.source == source, ProgressReport.source_ref == data["source_ref"])):
        raise Conflict(f"A progress report with source_ref {data['source_ref']!r} exists "
                       "already for this initiative.", extra={"field": "source_ref"})
    number = (db_session.scalar(select(func.max(ProgressReport.number)).where(
        ProgressReport.initiative_id == initiative.id)) or 0) + 1
    now = utcnow()
    report = ProgressReport(
        id=new_uuid(), initiative_id=initiative.id, number=number, status=policy.DRAFT,
        period_start=None, period_end=None, reported_on=None, overall_status=None,
        progress_percent=None, narrative_html=None, resources_mobilised=[], milestones=[],
        links=[], source=source, source_ref=None, version=1,
        owner_organization_id=initiative.owner_organization_id,
        created_by_user_id=user_id_of(principal), assigned_reviewer_id=None,
        submitted_at=None, approved_at=None, created_at=now, updated_at=now,
        deliverable_updates=[], indicator_values=[])
    changes = _apply(db_session, initiative, report, data)
    db_session.add(report)
    _activity(db_session, principal, report, "create", None, kind=wf.EDIT, changes=changes)
    try:
        db_session.flush()
    except IntegrityError as exc:
        raise Conflict("Another progress report of this initiative was created at the same "
                       "time: reload and try again.") from exc
    if data.get("submit"):
        workflow_service.apply(db_session, principal, WORKFLOW, report, "submit")
    return _view(db_session, principal, report, initiative)


def update_report(*, db_session: Session, principal: Principal, report_id: uuid.UUID | str,
                  data: dict[str, Any], expected_version: int | None = None) -> ReportView:
    """Edit a draft or a report sent back for changes (owner organisation's members;
    ``progress:write`` for a token): 409 in another state, 412 when ``expected_version``
    (``If-Match``) is stale (nothing written), 422 naming the field. ``version`` goes up by
    one when something changed; the timeline gets an ``update`` entry with the changes."""
    report = _report(db_session, report_id, lock=True)
    initiative = db_session.get_one(Initiative, report.initiative_id)
    _authorize(principal, Action.UPDATE, report, initiative)
    workflow_service.check_version(report, expected_version, "progress report")
    changes = _apply(db_session, initiative, report, data)
    if changes:
        report.version += 1
        report.updated_at = utcnow()
        _activity(db_session, principal, report, "update", report.status, kind=wf.EDIT,
                  changes=changes)
        db_session.flush()
    return _view(db_session, principal, report, initiative)


def delete_draft(*, db_session: Session, principal: Principal, report_id: uuid.UUID | str,
                 expected_version: int | None = None) -> None:
    """Delete a draft (owner organisation's members; ``discard`` in the table): 409 once
    submitted, 412 when stale. Its own timeline entries go with it (they concerned only its
    authors); the initiative's timeline records the deletion (``progress_report_discard``,
    participants, with the draft's number and content)."""
    report = _report(db_session, report_id, lock=True)
    initiative = db_session.get_one(Initiative, report.initiative_id)
    _authorize(principal, Action.DISCARD, report, initiative)
    workflow_service.check_version(report, expected_version, "progress report")
    _indicator_activity(db_session, principal, initiative, "progress_report_discard",
                        {"number": {"before": report.number, "after": None},
                         "content": {"before": _content(report), "after": None}})
    db_session.execute(delete(Activity).where(Activity.record_type == RECORD_TYPE,
                                              Activity.record_id == report.id))
    db_session.delete(report)
    db_session.flush()


def report_action(*, db_session: Session, principal: Principal, report_id: uuid.UUID | str,
                  action: str, comment: str | None = None,
                  expected_version: int | None = None) -> ReportView:
    """Take ``action`` on a report through the workflow machinery
    (``registry.workflow.service.apply`` with :data:`WORKFLOW`): ``submit`` (owner; strict
    check: 422 per field, the initiative must be reporting), ``approve`` and
    ``request_changes`` (a reviewer who is not a member of the owner organisation: four eyes;
    a comment is required to request changes).

    Order of checks: visibility (404), who (401/403), state (409 with the allowed actions),
    comment (422 ``comment``), ``expected_version`` (412). The initiative and the report rows
    are locked first (PostgreSQL), so of two concurrent decisions one wins. Submitting sets
    ``reported_on`` (today, UTC). Approving rolls the report up into the initiative
    (``progress_percent``, ``progress_reports_count``, ``last_progress_report_on``) and
    restarts its reporting cycle (``registry.compliance.service.refresh_initiative``), in the
    same transaction. Each emits its ``progress-report.*.v1`` event."""
    if WORKFLOW.transition(action) is None:
        raise NotFound(f"Unknown progress report action {action!r}.")
    report = _report(db_session, report_id)
    initiative = resolve_initiative(db_session, report.initiative_id, lock=True)
    report = _report(db_session, report.id, lock=True)
    _authorize(principal, Action.VIEW, report, initiative)
    workflow_service.apply(db_session, principal, WORKFLOW, report, action, comment=comment,
                           expected_version=expected_version)
    return _view(db_session, principal, report, initiative)


def _activity(db_session: Session, principal: Principal, report: ProgressReport, action: str,
              from_status: str | None, *, kind: str, comment: str | None = None,
              changes: dict[str, Any] | None = None, visibility: str = wf.PARTICIPANTS,
              activity_id: uuid.UUID | None = None) -> Activity:
    """A timeline entry of the report (record type ``progress_report``)."""
    activity = Activity(
        id=activity_id or new_uuid(), record_type=RECORD_TYPE, record_id=report.id,
        revision_number=None, kind=kind, action=action, from_status=from_status,
        to_status=report.status, body=comment, visibility=visibility, reply_to_id=None,
        **actor_columns(db_session, principal, report), changes=changes or None,
        created_at=utcnow())
    db_session.add(activity)
    return activity


# -- roll-up ----------------------------------------------------------------------------------
def rolled_up_progress(deliverables: list[Any],
                       updates: dict[uuid.UUID, str] | None = None) -> int | None:
    """The weighted share (0-100) of ``deliverables`` achieved: each counts with its
    ``weight`` (default 1) and its status in ``updates`` (deliverable id -> status; else its
    own ``status``); ``cancelled`` ones are left out; None when no weight remains."""
    updates = updates or {}
    total = achieved = Decimal(0)
    for d in deliverables:
        status = updates.get(d.id, getattr(d, "status", None) or "planned")
        weight = Decimal(str(getattr(d, "weight", None) if getattr(d, "weight", None)
                             is not None else 1))
        if status == "cancelled" or weight <= 0:
            continue
        total += weight
        if status == "achieved":
            achieved += weight
    if total == 0:
        return None
    return int((achieved * 100 / total).quantize(Decimal(1), rounding="ROUND_HALF_UP"))


def _roll_up(db_session: Session, initiative: Initiative, report: ProgressReport) -> None:
    """An approved report's effect on its initiative: the number of approved reports, the
    date of the last one and, when this report is the latest, the initiative's progress
    (the report's ``progress_percent``, else :func:`rolled_up_progress`, then also kept as
    the report's own figure: the chart's point)."""
    count = db_session.scalar(select(func.count()).select_from(ProgressReport).where(
        ProgressReport.initiative_id == initiative.id,
        ProgressReport.status == policy.APPROVED, ProgressReport.id != report.id)) or 0
    initiative.progress_reports_count = count + 1
    last = initiative.last_progress_report_on
    if report.reported_on is not None and (last is None or report.reported_on >= last):
        initiative.last_progress_report_on = report.reported_on
        percent = report.progress_percent
        if percent is None:
            deliverables = list(db_session.scalars(select(Deliverable).where(
                Deliverable.initiative_id == initiative.id)))
            percent = rolled_up_progress(deliverables, {
                u.deliverable_id: u.status for u in report.deliverable_updates
                if u.deliverable_id is not None})
        if percent is not None:
            initiative.progress_percent = percent
            # the report keeps the figure it rolled up to (the chart's point)
            report.progress_percent = percent


def _refresh_compliance(db_session: Session, initiative: Initiative, now: datetime) -> None:
    """Restart the initiative's reporting cycle at once (``registry.compliance``: the light
    turns green, its change row and event in this transaction)."""
    from registry.compliance.service import refresh_initiative

    refresh_initiative(db_session, initiative, now)


# -- events ----------------------------------------------------------------------------------
def report_data(report: ProgressReport) -> dict[str, Any]:
    """``ProgressReportData`` of ``report`` (``shared.events.types``)."""
    return {
        "id": str(report.id), "number": report.number, "status": report.status,
        "period_start": report.period_start, "period_end": report.period_end,
        "reported_on": report.reported_on, "overall_status": report.overall_status,
        "progress_percent": report.progress_percent, "narrative_html": report.narrative_html,
        "deliverable_updates": [{"deliverable_id": str(u.deliverable_id), "status": u.status,
                                 "note": u.note} for u in report.deliverable_updates
                                if u.deliverable_id is not None],
        "indicator_values": [{"indicator_id": str(v.indicator_id), "value": v.value,
                              "period_start": v.period_start, "period_end": v.period_end,
                              "comment": v.comment} for v in report.indicator_values],
        "resources_mobilised": [{"amount": Decimal(r["amount"]), "currency": r["currency"],
                                 "description": r.get("description")}
                                for r in report.resources_mobilised or []],
        "milestones": [{"date": date.fromisoformat(m["date"]), "title": m["title"],
                        "achieved": m.get("achieved", True)}
                       for m in report.milestones or []],
        "links": list(report.links or []), "source": report.source,
        "submitted_at": report.submitted_at, "approved_at": report.approved_at}


def report_links(report: ProgressReport) -> dict[str, str]:
    """``review_url`` (``PUBLIC_BASE_URL/secretariat/review/progress/<report id>``) and
    ``owner_url`` (``PUBLIC_BASE_URL/my/initiatives/<initiative id>/progress/<number>``)."""
    from registry.accounts.service import base_url

    base = base_url()
    return {"review_url": f"{base}/secretariat/review/progress/{report.id}",
            "owner_url": f"{base}/my/initiatives/{report.initiative_id}/progress/"
                         f"{report.number}"}


def report_recipients(db_session: Session, report: ProgressReport, action: str,
                      principal: Principal) -> list[dict[str, Any]]:
    """Who hears of a step (``EventRecipient`` dicts, the actor left out): the owner
    organisation's verified members (role ``owner``, in their language) and, on submission,
    the assigned reviewer (role ``reviewer``), else the secretariat (every verified reviewer
    and secretariat admin not of the owner organisation, role ``secretariat``)."""
    from registry.initiatives.service import event_recipients

    owners = event_recipients(db_session, SimpleNamespace(
        owner_organization_id=report.owner_organization_id, assigned_reviewer_id=None),
        principal)
    if action != "submit":
        return owners
    if report.assigned_reviewer_id is not None:
        return owners + event_recipients(db_session, SimpleNamespace(
            owner_organization_id=None, assigned_reviewer_id=report.assigned_reviewer_id),
            principal)
    from registry.accounts.models import User, UserStaffRole
    from registry.organizations.models import OrganizationMembership

    members = select(OrganizationMembership.user_id).where(
        OrganizationMembership.organization_id == report.owner_organization_id)
    query = select(User.id, User.email, User.locale).where(
        User.id.in_(select(UserStaffRole.user_id).where(
            UserStaffRole.role.in_(("reviewer", "secretariat_admin")))),
        User.email_verified_at.is_not(None), User.disabled_at.is_(None))
    if report.owner_organization_id is not None:  # four eyes: not who decides on their own
        query = query.where(User.id.not_in(members))
    rows = db_session.execute(query.order_by(User.email)).all()
    actor = user_id_of(principal)
    return owners + [{"email": email, "locale": locale or "en", "role": "secretariat",
                      "user_id": str(uid)} for uid, email, locale in rows if uid != actor]


def initiative_snapshot(db_session: Session, initiative: Initiative) -> dict[str, Any]:
    """The initiative's ``InitiativeSnapshot`` as the report's events carry it (one read of
    its content; its progress fields as they are now)."""
    from registry.initiatives import service

    view = service._load_view(db_session, initiative_id=initiative.id)
    return service.snapshot(view if view is not None else initiative)


class _ReportAdapter:
    """The progress report's part of the workflow machinery (``registry.workflow.service``).
    """

    def before(self, db_session: Session, principal: Principal, record: Any,
               transition: Transition, comment: str | None) -> None:
        initiative = db_session.get_one(Initiative, record.initiative_id)
        if transition.action in ("submit", "approve"):
            _check_reporting_state(initiative, f"{transition.action} the progress report")
        if transition.action == "submit":
            errors = submission_errors(record)
            if errors:
                raise ValidationError("The progress report is not ready to submit.",
                                      errors=errors)

    def after(self, db_session: Session, principal: Principal, record: Any,
              transition: Transition, from_status: str, comment: str | None) -> None:
        now = record.updated_at
        if transition.action == "submit" and record.source != "import":
            record.reported_on = now.date()
        if transition.action == "approve":
            initiative = db_session.get_one(Initiative, record.initiative_id)
            record.assigned_reviewer_id = None  # the review is over
            _roll_up(db_session, initiative, record)
            db_session.flush()
            _refresh_compliance(db_session, initiative, now)

    def record(self, db_session: Session, principal: Principal, record: Any,
               transition: Transition, from_status: str, comment: str | None,
               extra_event_data: dict[str, Any] | None) -> Activity:
        with db_session.no_autoflush:
            actor = actor_columns(db_session, principal, record)
            recipients = report_recipients(db_session, record, transition.action, principal)
        activity = Activity(
            id=new_uuid(), record_type=RECORD_TYPE, record_id=record.id, revision_number=None,
            kind=wf.TRANSITION, action=transition.action, from_status=from_status,
            to_status=record.status, body=comment, visibility=transition.visibility,
            reply_to_id=None, **actor, changes=None, created_at=utcnow())
        db_session.add(activity)
        db_session.flush()
        initiative = db_session.get_one(Initiative, record.initiative_id)
        if transition.event_type is not None:
            data = {"action": transition.action, "from_status": from_status,
                    "to_status": record.status, "comment": comment,
                    "actor": actor_event_data(actor), "report": report_data(record),
                    "initiative": initiative_snapshot(db_session, initiative),
                    "recipients": recipients, **report_links(record),
                    **(extra_event_data or {})}
            record_event(db_session, OutboxEvent, transition.event_type, source=SOURCE,
                         subject=str(record.initiative_id), data=data)
        return activity


workflow_service.register_adapter(RECORD_TYPE, _ReportAdapter())


# -- the thread ------------------------------------------------------------------------------
def report_thread(*, db_session: Session, principal: Principal,
                  report_id: uuid.UUID | str) -> list[Activity]:
    """The report's timeline entries the caller may see, oldest first: the public ones
    (approval) for anyone who may see the report; participants' entries for the owner
    organisation; internal notes too for the secretariat."""
    report = _report(db_session, report_id)
    initiative = db_session.get_one(Initiative, report.initiative_id)
    _authorize(principal, Action.VIEW, report, initiative)
    if principal.is_staff or principal.is_system:
        seen: tuple[str, ...] = (wf.PUBLIC, wf.PARTICIPANTS, wf.INTERNAL)
    elif principal.is_member_of(report.owner_organization_id):
        seen = (wf.PUBLIC, wf.PARTICIPANTS)
    else:
        seen = (wf.PUBLIC,)
    return list(db_session.scalars(select(Activity).where(
        Activity.record_type == RECORD_TYPE, Activity.record_id == report.id,
        Activity.visibility.in_(seen)).order_by(Activity.created_at, Activity.id)))


def comment_on_report(*, db_session: Session, principal: Principal,
                      report_id: uuid.UUID | str, body: str,
                      visibility: str = wf.PARTICIPANTS) -> Activity:
    """A comment on the report's thread (the owner organisation's members always, the
    secretariat once submitted: ``comment`` in the table). ``visibility`` ``internal`` is a
    secretariat note (403 for others). ``body`` 1-10,000 characters (422 naming ``body``).
    No event: the thread is read on the report's pages."""
    from registry.workflow.thread import MAX_BODY

    report = _report(db_session, report_id)
    initiative = db_session.get_one(Initiative, report.initiative_id)
    _authorize(principal, Action.COMMENT, report, initiative)
    text = (body or "").strip()
    if not text or len(text) > MAX_BODY:
        raise ValidationError("The comment is empty or too long.", errors=[{
            "field": "body", "message": f"Write between 1 and {MAX_BODY} characters."}])
    if visibility not in (wf.PARTICIPANTS, wf.INTERNAL):
        raise ValidationError("Unknown visibility.", errors=[{
            "field": "visibility", "message": "One of participants, internal."}])
    if visibility == wf.INTERNAL and not principal.is_staff:
        from shared.problems import NotAllowed

        raise NotAllowed("Only the secretariat may write internal notes (field visibility).",
                         extra={"field": "visibility"})
    activity = _activity(db_session, principal, report, "comment", report.status,
                         kind=wf.NOTE if visibility == wf.INTERNAL else wf.COMMENT,
                         comment=text, visibility=visibility)
    db_session.flush()
    return activity


# -- indicators ------------------------------------------------------------------------------
def _indicator_initiative(db_session: Session, principal: Principal,
                          initiative_id: uuid.UUID | str, *, write: bool) -> Initiative:
    """The initiative if the caller may see it (and, ``write``, change its indicators: a
    member of its owner organisation — ``create`` of the report's table, i.e.
    ``progress:write`` for a token — while it is editable or published: 409 otherwise)."""
    initiative = _visible_initiative(db_session, principal, initiative_id, lock=write)
    if write:
        authz.authorize(principal, Action.CREATE, _NewReport(initiative.owner_organization_id),
                        Aggregate.PROGRESS_REPORT, what="initiative's indicators")
        if initiative.status not in policy.INDICATOR_STATES:
            raise InvalidTransition(
                f"Cannot change the indicators: the initiative is {initiative.status}.",
                extra={"current_status": initiative.status, "allowed_actions": []})
    return initiative


def _check_sdg_indicator(code: str | None) -> str | None:
    if code is None or not code.strip():
        return None
    code = code.strip()
    if code not in reference.indicators():
        raise ValidationError("Unknown SDG indicator.", errors=[{
            "field": "sdg_indicator_code",
            "message": f"{code} is none of the 251 official SDG indicators (e.g. 14.5.1)."}])
    return code


def list_indicators(*, db_session: Session, principal: Principal,
                    initiative_id: uuid.UUID | str) -> list[InitiativeIndicator]:
    """An initiative's indicators in order (whoever may see the initiative)."""
    initiative = _visible_initiative(db_session, principal, initiative_id)
    return list(db_session.scalars(select(InitiativeIndicator).where(
        InitiativeIndicator.initiative_id == initiative.id).order_by(
        InitiativeIndicator.position, InitiativeIndicator.created_at)))


def create_indicator(*, db_session: Session, principal: Principal,
                     initiative_id: uuid.UUID | str,
                     data: dict[str, Any]) -> InitiativeIndicator:
    """Declare an indicator (a loaded ``IndicatorInputSchema``) of an initiative (owner
    organisation's members, while editable or published). 422 naming
    ``sdg_indicator_code`` for a code that is not an official SDG indicator."""
    initiative = _indicator_initiative(db_session, principal, initiative_id, write=True)
    position = (db_session.scalar(select(func.max(InitiativeIndicator.position)).where(
        InitiativeIndicator.initiative_id == initiative.id)) or 0) + 1
    now = utcnow()
    indicator = InitiativeIndicator(
        id=new_uuid(), initiative_id=initiative.id, position=position,
        title=data["title"], unit=data.get("unit"), measure=data.get("measure") or "unit",
        ascending=data.get("ascending", True), baseline_value=data.get("baseline_value"),
        baseline_year=data.get("baseline_year"), target_value=data.get("target_value"),
        target_year=data.get("target_year"),
        sdg_indicator_code=_check_sdg_indicator(data.get("sdg_indicator_code")),
        created_at=now, updated_at=now)
    db_session.add(indicator)
    _indicator_activity(db_session, principal, initiative, "indicator_create",
                        {"title": {"before": None, "after": indicator.title}})
    db_session.flush()
    return indicator


def _indicator(db_session: Session, initiative: Initiative,
               indicator_id: uuid.UUID | str) -> InitiativeIndicator:
    try:
        iid = uuid.UUID(str(indicator_id))
    except ValueError as exc:
        raise NotFound(f"No indicator {indicator_id}.") from exc
    indicator = db_session.get(InitiativeIndicator, iid)
    if indicator is None or indicator.initiative_id != initiative.id:
        raise NotFound(f"Initiative {initiative.id} has no indicator {indicator_id}.")
    return indicator


def update_indicator(*, db_session: Session, principal: Principal,
                     initiative_id: uuid.UUID | str, indicator_id: uuid.UUID | str,
                     data: dict[str, Any]) -> InitiativeIndicator:
    """Change an indicator's fields present in ``data`` (``IndicatorPatchSchema``); same
    rules as :func:`create_indicator`; 422 naming ``target_year`` when it precedes the
    baseline year."""
    initiative = _indicator_initiative(db_session, principal, initiative_id, write=True)
    indicator = _indicator(db_session, initiative, indicator_id)
    if "sdg_indicator_code" in data:
        data = data | {"sdg_indicator_code": _check_sdg_indicator(data["sdg_indicator_code"])}
    changes = {}
    for name, value in data.items():
        before = getattr(indicator, name)
        if before != value:
            changes[name] = {"before": str(before) if before is not None else None,
                             "after": str(value) if value is not None else None}
            setattr(indicator, name, value)
    base, target = indicator.baseline_year, indicator.target_year
    if base and target and target < base:
        raise ValidationError("target_year is before baseline_year.", errors=[{
            "field": "target_year",
            "message": f"target_year {target} is before baseline_year {base}."}])
    if changes:
        indicator.updated_at = utcnow()
        _indicator_activity(db_session, principal, initiative, "indicator_update", changes)
        db_session.flush()
    return indicator


def delete_indicator(*, db_session: Session, principal: Principal,
                     initiative_id: uuid.UUID | str, indicator_id: uuid.UUID | str) -> None:
    """Remove an indicator; 409 when an approved report recorded a value of it (the public
    history keeps it)."""
    initiative = _indicator_initiative(db_session, principal, initiative_id, write=True)
    indicator = _indicator(db_session, initiative, indicator_id)
    used = db_session.scalar(select(func.count()).select_from(IndicatorValue).join(
        ProgressReport, ProgressReport.id == IndicatorValue.report_id).where(
        IndicatorValue.indicator_id == indicator.id,
        ProgressReport.status != policy.DRAFT))
    if used:
        raise Conflict(f"The indicator has {used} value(s) in submitted or approved progress "
                       "reports: it stays.", extra={"values": used})
    _indicator_activity(db_session, principal, initiative, "indicator_delete",
                        {"title": {"before": indicator.title, "after": None}})
    db_session.delete(indicator)
    db_session.flush()


def _indicator_activity(db_session: Session, principal: Principal, initiative: Initiative,
                        action: str, changes: dict[str, Any]) -> None:
    db_session.add(Activity(
        id=new_uuid(), record_type=wf.INITIATIVE, record_id=initiative.id,
        revision_number=None, kind=wf.EDIT, action=action, from_status=initiative.status,
        to_status=initiative.status, body=None, visibility=wf.PARTICIPANTS, reply_to_id=None,
        **actor_columns(db_session, principal, initiative), changes=changes,
        created_at=utcnow()))


def set_deliverable_weights(*, db_session: Session, principal: Principal,
                            initiative_id: uuid.UUID | str,
                            weights: list[dict[str, Any]]) -> list[Deliverable]:
    """Set the weights of an initiative's deliverables in its progress (``weights``:
    ``[{deliverable_id, weight}]``, weight 0-1000; deliverables not named keep theirs).
    Owner organisation's members while the initiative is editable or published (the same
    rule as its indicators: a published initiative's weights change without a revision,
    they are no part of its reviewed content). 422 naming ``weights.<i>.deliverable_id``
    for a deliverable the initiative does not have. Returns the deliverables in order; the
    initiative's timeline gets a ``deliverable_weights`` entry with the changes."""
    initiative = _indicator_initiative(db_session, principal, initiative_id, write=True)
    deliverables = list(db_session.scalars(select(Deliverable).where(
        Deliverable.initiative_id == initiative.id).order_by(Deliverable.position)))
    by_id = {d.id: d for d in deliverables}
    errors = [{"field": f"weights.{i}.deliverable_id",
               "message": f"This initiative has no deliverable {w['deliverable_id']}."}
              for i, w in enumerate(weights) if w["deliverable_id"] not in by_id]
    if errors:
        raise ValidationError("Unknown deliverable.", errors=errors)
    changes = {}
    for w in weights:
        d = by_id[w["deliverable_id"]]
        if Decimal(d.weight) != Decimal(w["weight"]):
            changes[str(d.id)] = {"before": format(Decimal(d.weight), "f"),
                                  "after": format(Decimal(w["weight"]), "f")}
            d.weight = w["weight"]
    if changes:
        _indicator_activity(db_session, principal, initiative, "deliverable_weights", changes)
        db_session.flush()
    return deliverables


# -- the chart -------------------------------------------------------------------------------
def progress_series(db_session: Session, initiative_id: uuid.UUID | str, *,
                    principal: Principal | None = None) -> dict[str, Any]:
    """The public chart data of an initiative's APPROVED reports, oldest first:
    ``{"progress": [(reported_on, percent)], "indicators": [{id, title, unit,
    baseline_value, baseline_year, target_value, target_year, actuals: [(period_end,
    value)]}]}`` (values ``Decimal``; an actual's ``period_end`` defaults to its report's
    period end, else its ``reported_on``). ``principal``: checked to see the initiative
    (None: the caller did). Two statements after the initiative."""
    if principal is not None:
        initiative = _visible_initiative(db_session, principal, initiative_id)
    else:
        initiative = resolve_initiative(db_session, initiative_id)
    reports = db_session.execute(
        select(ProgressReport.id, ProgressReport.reported_on, ProgressReport.progress_percent,
               ProgressReport.period_end)
        .where(ProgressReport.initiative_id == initiative.id,
               ProgressReport.status == policy.APPROVED)
        .order_by(ProgressReport.reported_on, ProgressReport.number)).all()
    progress = [(r.reported_on, r.progress_percent) for r in reports
                if r.reported_on is not None and r.progress_percent is not None]
    ends = {r.id: r.period_end or r.reported_on for r in reports}
    indicators = list(db_session.scalars(select(InitiativeIndicator).where(
        InitiativeIndicator.initiative_id == initiative.id).order_by(
        InitiativeIndicator.position)))
    values = db_session.execute(
        select(IndicatorValue.indicator_id, IndicatorValue.report_id,
               IndicatorValue.period_end, IndicatorValue.value)
        .join(ProgressReport, ProgressReport.id == IndicatorValue.report_id)
        .where(ProgressReport.initiative_id == initiative.id,
               ProgressReport.status == policy.APPROVED)).all() if indicators else []
    actuals: dict[uuid.UUID, list[tuple[date, Decimal | None]]] = {}
    for v in values:
        when = v.period_end or ends.get(v.report_id)
        if when is not None:
            actuals.setdefault(v.indicator_id, []).append((when, v.value))
    return {
        "initiative_id": initiative.id,
        "progress": progress,
        "indicators": [{"id": i.id, "title": i.title, "unit": i.unit,
                        "baseline_value": i.baseline_value, "baseline_year": i.baseline_year,
                        "target_value": i.target_value, "target_year": i.target_year,
                        "actuals": sorted(actuals.get(i.id, []), key=lambda a: a[0])}
                       for i in indicators]}


def report_form_context(*, db_session: Session, principal: Principal,
                        initiative_id: uuid.UUID | str,
                        report_id: uuid.UUID | str | None = None) -> dict[str, Any]:
    """What the report form needs: the ``initiative``, its ``deliverables`` (with weights
    and current status) and ``indicators``, the ``report`` (a :class:`ReportView`, None for
    a new one), ``rolled_up`` (the progress the deliverables' statuses give now) and the
    vocabularies (``overall_statuses``, ``deliverable_statuses``). 404/403 as the report's
    ``update``."""
    from registry.progress.schemas import FORM_PROGRESS_STATUSES

    initiative = _visible_initiative(db_session, principal, initiative_id)
    report = None
    if report_id is not None:
        report = get_report(db_session=db_session, principal=principal, report_id=report_id)
        if report.initiative_id != initiative.id:
            raise NotFound(f"Initiative {initiative.id} has no progress report {report_id}.")
    else:
        authz.authorize(principal, Action.CREATE, _NewReport(initiative.owner_organization_id),
                        Aggregate.PROGRESS_REPORT, what="progress report")
    deliverables = list(db_session.scalars(select(Deliverable).where(
        Deliverable.initiative_id == initiative.id).order_by(Deliverable.position)))
    indicators = list(db_session.scalars(select(InitiativeIndicator).where(
        InitiativeIndicator.initiative_id == initiative.id).order_by(
        InitiativeIndicator.position)))
    return {"initiative": initiative, "deliverables": deliverables, "indicators": indicators,
            "report": report, "rolled_up": rolled_up_progress(deliverables),
            "overall_statuses": FORM_PROGRESS_STATUSES,
            "deliverable_statuses": ev.DELIVERABLE_STATUSES}


def report_by_number(*, db_session: Session, principal: Principal,
                     initiative_id: uuid.UUID | str, number: int) -> ReportView:
    """Report ``number`` of an initiative (the owner's page ``…/progress/<n>``)."""
    initiative = _visible_initiative(db_session, principal, initiative_id)
    report_id = db_session.scalar(select(ProgressReport.id).where(
        ProgressReport.initiative_id == initiative.id, ProgressReport.number == number))
    if report_id is None:
        raise NotFound(f"Initiative {initiative.id} has no progress report {number}.")
    return get_report(db_session=db_session, principal=principal, report_id=report_id)
