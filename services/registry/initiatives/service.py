"""Initiative service functions: create, edit, review workflow, read, import.

Every function takes a keyword-only ``db_session`` and the acting ``principal``, checks the
permission (``policy``), changes the data, and writes in the SAME transaction the timeline /
audit entry (``initiative_activities``) and the CloudEvent (``outbox_events``). The caller
commits. Errors raised: :class:`~shared.problems.NotFound` (404: absent or invisible to the
caller), :class:`~shared.problems.NotAllowed` (403), :class:`~shared.problems.Unauthenticated`
(401), :class:`~shared.problems.InvalidTransition` (409: names the current state and the
actions allowed in it), :class:`~shared.problems.ValidationError` (422, per field).
"""

from __future__ import annotations

import functools
import json
import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    Select,
    Table,
    any_,
    bindparam,
    cast,
    column,
    func,
    inspect,
    literal,
    literal_column,
    select,
    text,
    union,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement, TextClause
from sqlalchemy.sql.visitors import InternalTraversal

from registry.accounts.service import vet_contact_email
from registry.authz import permissions as authz
from registry.authz.permissions import Action, Aggregate, authorize
from registry.db import bulk_insert
from registry.initiatives import policy, search, versions
from registry.initiatives.models import (
    ACTIVE_STATES,
    Deliverable,
    Initiative,
    InitiativeCountry,
    InitiativeCoveredRegion,
    InitiativeGoal,
    InitiativePartner,
    InitiativeRegion,
    InitiativeTarget,
    InitiativeVersion,
    PublicIdCounter,
    Resource,
)
from registry.organizations.models import VERIFIED, Organization
from registry.outbox.models import OutboxEvent
from registry.workflow import models as wf
from registry.workflow.actors import actor_columns, actor_event_data
from registry.workflow.models import Activity
from shared import reference
from shared.db import new_uuid, utcnow
from shared.events import types as ev
from shared.identity import Principal
from shared.outbox import outbox_row, record_event
from shared.problems import Conflict, NotFound, ValidationError

SOURCE = "/registry"

EVENT_FOR_ACTION = {
    "create": ev.INITIATIVE_CREATED,
    "update": ev.INITIATIVE_UPDATED,
    "submit": ev.INITIATIVE_SUBMITTED,
    "approve": ev.INITIATIVE_APPROVED,
    "request_changes": ev.INITIATIVE_CHANGES_REQUESTED,
    "reject": ev.INITIATIVE_REJECTED,
    "import": ev.INITIATIVE_IMPORTED,
    # the lifecycle after publication, the thread, assignment (issue 8)
    **{t.action: t.event_type for t in policy.INITIATIVE_WORKFLOW.transitions
       if t.event_type},
    "comment": ev.INITIATIVE_COMMENTED,
    "assign": ev.INITIATIVE_REVIEW_ASSIGNED,
}

#: What submitting requires (SMART: specific, measurable, achievable, resource-based,
#: time-bound — the UN DESA Partnerships for SDGs platform's criteria for commitments).
SUBMIT_REQUIREMENTS: tuple[tuple[str, str], ...] = (
    ("description", "Describe the initiative (specific)."),
    ("lead_organization_id", "Name the lead entity."),
    ("sdg_targets", "Tag at least one SDG target or goal (measurable)."),
    ("countries", "Name at least one country or M49 region where it acts."),
    ("start_date", "Give the start date (time-bound)."),
    ("end_date", "Give the end date (time-bound)."),
    ("deliverables", "List at least one deliverable with its due date (measurable)."),
    ("resources", "List at least one resource (resource-based)."),
    ("contact_email", "Give a contact e-mail for progress reporting."),
)


# -- shapes ---------------------------------------------------------------------------------
# (rev) the content shape is built once, in ``versions.content_of``; the snapshot adds the
# metadata to it
def snapshot(initiative: Initiative | InitiativeView,
             contact_email_verified: bool = False) -> dict[str, Any]:
    """The initiative as an ``InitiativeSnapshot`` (``shared.events.types``): its content
    (:func:`registry.initiatives.versions.content_of`, typed: dates and decimals) plus id,
    status, version and times; ``contact_email_verified`` from
    ``registry.accounts.service.vet_contact_email``."""
    return {
        "id": str(initiative.id),
        "public_id": initiative.public_id,
        "status": initiative.status,
        "version": initiative.version,
        **versions.content_of(initiative, json_ready=False),
        "contact_email_verified": contact_email_verified,
        "source": initiative.source,
        "source_ref": initiative.source_ref,
        "created_at": initiative.created_at,
        "updated_at": initiative.updated_at,
        "published_at": initiative.published_at,
        "approved_version": initiative.approved_version,
        "owner_organization_id": (str(initiative.owner_organization_id)
                                  if initiative.owner_organization_id else None),
        # (progress) issue 9: the reporting light (registry.compliance: null until its
        # column exists and is computed) and the progress rolled up from approved reports
        "reporting_status": getattr(initiative, "reporting_status", None),
        "last_progress_report_on": initiative.last_progress_report_on,
        "progress_percent": initiative.progress_percent,
        "progress_reports_count": initiative.progress_reports_count or 0,
    }


_content = versions.content_of  # the editable content, JSON-ready (the audit's before/after)
# (rev) end


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {k: {"before": before.get(k), "after": after[k]} for k in after
            if before.get(k) != after[k]}


# -- writing ---------------------------------------------------------------------------------
def _check_organizations(db_session: Session,
                         data: dict[str, Any]) -> dict[uuid.UUID, Organization]:
    """The organisations ``data`` names, by id, read in one statement; ValidationError for
    an unknown or repeated one."""
    wanted: dict[uuid.UUID, str] = {}
    if data.get("lead_organization_id"):
        wanted[data["lead_organization_id"]] = "lead_organization_id"
    for i, partner in enumerate(data.get("partners") or []):
        wanted.setdefault(partner["organization_id"], f"partners.{i}.organization_id")
    if not wanted:
        return {}
    # whole rows, kept (the identity map holds them weakly): the content and the event
    # snapshot need no further statement
    found = {o.id: o for o in db_session.scalars(select(Organization).where(
        Organization.id.in_(list(wanted))))}
    errors = [{"field": name, "message": f"No organisation with id {oid}."}
              for oid, name in wanted.items() if oid not in found]
    if errors:
        raise ValidationError("Unknown organisation.", errors=errors)
    seen: set[uuid.UUID] = set()
    for i, partner in enumerate(data.get("partners") or []):
        if partner["organization_id"] in seen:
            raise ValidationError("Duplicate partner.", errors=[{
                "field": f"partners.{i}.organization_id",
                "message": "This organisation is already a partner."}])
        seen.add(partner["organization_id"])
    return found


def link_confirmed(principal: Principal | None, organization_id: uuid.UUID) -> bool:
    """Is a lead/partner link to ``organization_id`` made by ``principal`` confirmed at once?
    Yes for a member of that organisation, the secretariat and the system (``None``: an
    import); otherwise it is *proposed* until that organisation's admin confirms it."""
    return (principal is None or principal.is_system or principal.is_staff
            or principal.is_member_of(organization_id))


def _apply_content(db_session: Session, initiative: Initiative, data: dict[str, Any],
                   organizations: dict[uuid.UUID, Organization] | None = None,
                   principal: Principal | None = None) -> None:
    """Set the fields present in ``data`` (a loaded ``InitiativeInputSchema``).

    ``organizations``: every organisation ``data`` names, already checked by the caller (a
    bulk import), so none is read here. ``principal``: who names the lead and partners (a
    link to an organisation it is not a member of is only proposed: :func:`link_confirmed`;
    a link kept from before keeps its state).
    """
    if organizations is None:
        organizations = _check_organizations(db_session, data)

    def organization(oid: uuid.UUID) -> Organization | None:
        return organizations[oid]

    lead_before = initiative.lead_organization_id
    if "lead_organization_id" in data and data["lead_organization_id"] != lead_before:
        initiative.lead_confirmed = (data["lead_organization_id"] is None
                                     or link_confirmed(principal,
                                                       data["lead_organization_id"]))
    elif initiative.lead_confirmed is None:
        initiative.lead_confirmed = True
    for name in ("title", "description", "lead_organization_id", "start_date", "end_date",
                 "contact_email"):
        if name in data:
            setattr(initiative, name, data[name].strip() if isinstance(data[name], str)
                    else data[name])
    if "lead_organization_id" in data:
        initiative.lead_organization = (organization(data["lead_organization_id"])
                                        if data["lead_organization_id"] else None)
    start, end = initiative.start_date, initiative.end_date
    if start and end and end < start:
        raise ValidationError("end_date is before start_date.", errors=[{
            "field": "end_date", "message": f"end_date {end} is before start_date {start}."}])
    if data.get("partners") is not None:
        # a partner kept from before keeps its row (and its confirmation): replacing it by a
        # new row would INSERT the same (initiative, organisation) before the old row's
        # DELETE, which the unique constraint refuses
        kept = {p.organization_id: p for p in initiative.partners}
        partners = []
        for i, p in enumerate(data["partners"]):
            row = kept.get(p["organization_id"])
            if row is None:
                row = InitiativePartner(id=new_uuid(), organization_id=p["organization_id"],
                                        confirmed=link_confirmed(principal,
                                                                 p["organization_id"]),
                                        organization=organization(p["organization_id"]))
            row.role, row.position = p["role"], i
            partners.append(row)
        initiative.partners = partners
    targets = data.get("sdg_targets")
    goals = data.get("sdg_goals")
    if targets is not None or goals is not None:
        # goals derived from the targets held BEFORE this change (read before replacing
        # them; not read at all when neither changes)
        derived_before = {reference.goal_of_target(t.target_code) for t in initiative.targets}
        if targets is not None:
            initiative.targets = [InitiativeTarget(target_code=t)
                                  for t in dict.fromkeys(targets)]
        explicit = set(goals if goals is not None else [])
        if goals is None:  # keep goals tagged without a target
            explicit = {g.goal for g in initiative.goals} - derived_before
        derived = {reference.goal_of_target(t.target_code) for t in initiative.targets}
        initiative.goals = [InitiativeGoal(goal=g) for g in sorted(derived | explicit)]
    if data.get("countries") is not None:
        initiative.countries = [InitiativeCountry(country=c) for c in dict.fromkeys(
            data["countries"])]
    if data.get("regions") is not None:
        initiative.regions = [InitiativeRegion(region=r) for r in dict.fromkeys(data["regions"])]
    if data.get("countries") is not None or data.get("regions") is not None:
        covered = reference.region_codes_for(initiative.country_codes, initiative.region_codes)
        initiative.covered_regions = [InitiativeCoveredRegion(region=r) for r in sorted(covered)]
    if "title" in data or "description" in data:
        initiative.search_document = search.search_document(initiative.title,
                                                            initiative.description)
    if data.get("deliverables") is not None:
        initiative.deliverables = _deliverables(initiative, data["deliverables"])
    if data.get("resources") is not None:
        initiative.resources = [
            Resource(id=new_uuid(), type=r["type"], details=r.get("details"),
                     amount_usd=r.get("amount_usd"), position=i)
            for i, r in enumerate(data["resources"])]


def _deliverables(initiative: Initiative, rows: list[dict[str, Any]]) -> list[Deliverable]:
    """The deliverables after an edit: a row naming an existing deliverable's ``id`` updates
    that one (its id is stable: versions compare deliverables by it), a row without ``id`` is
    new (``status`` default ``planned``); ValidationError naming ``deliverables.<i>.id`` for
    an id the initiative has no deliverable with, or one named twice."""
    existing = {d.id: d for d in initiative.deliverables}
    errors, seen = [], set()
    for i, row in enumerate(rows):
        did = row.get("id")
        if did is not None and (did not in existing or did in seen):
            errors.append({"field": f"deliverables.{i}.id", "message": (
                f"This initiative has no deliverable {did}." if did not in existing
                else f"Deliverable {did} is listed twice.")})
        seen.add(did)
    if errors:
        raise ValidationError("Unknown deliverable.", errors=errors)
    out = []
    for i, row in enumerate(rows):
        kept = existing.get(row.get("id"))  # type: ignore[arg-type]
        if kept is None:
            out.append(Deliverable(id=new_uuid(), description=row["description"].strip(),
                                   due_date=row.get("due_date"), position=i,
                                   status=row.get("status") or "planned",
                                   weight=row.get("weight") or Decimal(1)))
            continue
        kept.description = row["description"].strip()
        kept.due_date = row.get("due_date")
        kept.position = i
        if row.get("status"):
            kept.status = row["status"]
        if row.get("weight") is not None:  # (progress) issue 9: absent keeps the weight
            kept.weight = row["weight"]
        out.append(kept)
    return out


def _record(db_session: Session, initiative: Initiative, principal: Principal, action: str,
            from_status: str | None, comment: str | None = None,
            changes: dict[str, Any] | None = None,
            view: InitiativeView | None = None, *, kind: str | None = None,
            visibility: str | None = None, event_type: str | None = None,
            extra_event_data: dict[str, Any] | None = None,
            revision_number: int | None = None, reply_to_id: uuid.UUID | None = None,
            recipients: list[dict[str, Any]] | None = None,
            emit: bool = True, activity_id: uuid.UUID | None = None,
            before_write: Callable[[], list[Any] | None] | None = None) -> Activity:
    """Timeline entry + outbox event for a change, in the same transaction: both rows in ONE
    INSERT (:func:`_insert_graph`; the change itself, pending in the session, is flushed just
    before it). The entry joins ``view``'s timeline when it was read with it (the response
    then needs no read). ``kind`` (default ``edit`` for ``update``, else ``transition``),
    ``visibility`` (default :func:`registry.workflow.machine.visibility_of`), ``event_type``
    (default by action), ``extra_event_data`` merged into the event's data. The event carries
    ``recipients`` (:func:`event_recipients`, or ``recipients`` when given), ``review_url``
    and ``owner_url``. ``emit`` False: the timeline row only (internal notes).
    ``before_write``: called after the reads (actor, contact, recipients: done without
    autoflush, so the pending change is written once, right before the insert) and before
    the event's snapshot is built (approval takes the year's public-id counter there, so its
    row lock is held only for the writes that follow and the commit); the rows it returns
    are inserted in the same statement as the activity and the event."""
    from registry.workflow.machine import visibility_of

    with db_session.no_autoflush:
        actor = actor_columns(db_session, principal, initiative)
    activity = Activity(
        id=activity_id or new_uuid(), record_type=wf.INITIATIVE, record_id=initiative.id,
        revision_number=revision_number,
        kind=kind or (wf.EDIT if action == "update" else wf.TRANSITION), action=action,
        from_status=from_status, to_status=initiative.status, body=comment,
        visibility=visibility or visibility_of(action), reply_to_id=reply_to_id, **actor,
        changes=changes or None, created_at=utcnow())
    if not emit:
        extra = (before_write() if before_write is not None else None) or []
        db_session.flush()
        _insert_graph(db_session, [activity, *extra])
        _remember(view, activity)
        return activity
    with db_session.no_autoflush:
        # accounts (issue 7): the contact gets mail only once its address is verified
        contact_verified = vet_contact_email(db_session=db_session,
                                             email=initiative.contact_email,
                                             principal=principal, ask=action != "import")
        if action != "import" and recipients is None:
            recipients = event_recipients(db_session, initiative, principal)
    extra = (before_write() if before_write is not None else None) or []
    data: dict[str, Any] = {
            "action": action, "from_status": from_status, "to_status": initiative.status,
            "comment": comment if activity.visibility != wf.INTERNAL else None,
            "actor": actor_event_data(actor),
            "initiative": snapshot(view if view is not None else initiative, contact_verified),
            **event_links(initiative)}
    if action != "import":
        data["recipients"] = recipients
    if extra_event_data:
        data.update(extra_event_data)
    db_session.flush()  # the change itself (one flush), before its NOTIFY and rows
    event_row, _ = outbox_row(db_session, OutboxEvent, event_type or EVENT_FOR_ACTION[action],
                              source=SOURCE, subject=str(initiative.id), data=data)
    _insert_graph(db_session, [activity, event_row, *extra])
    _remember(view, activity)
    return activity


def _remember(view: Any, activity: Activity) -> None:
    """Add a row just written to ``view``'s timeline when it was read with it."""
    known = view.__dict__.get("known_timeline") if view is not None else None
    if known is not None:
        known.append(activity)


def event_links(initiative: Any, revision_number: int | None = None) -> dict[str, str | None]:
    """``review_url`` (``PUBLIC_BASE_URL/secretariat/review/<id>``, a revision's
    ``…/revisions/<n>``) and ``owner_url`` (``PUBLIC_BASE_URL/my/initiatives/<id>``) of an
    initiative's events."""
    from registry.accounts.service import base_url

    base = base_url()  # the app's PUBLIC_BASE_URL, else the setting, else the address served
    review = f"{base}/secretariat/review/{initiative.id}"
    if revision_number is not None:
        review += f"/revisions/{revision_number}"
    return {"review_url": review, "owner_url": f"{base}/my/initiatives/{initiative.id}"}


def event_recipients(db_session: Session, initiative: Any,
                     principal: Principal | None) -> list[dict[str, Any]]:
    """Who should hear of a step of ``initiative`` (``EventRecipient`` dicts): the verified
    members of the owner organisation (role ``owner``, in their account language) and the
    assigned reviewer (role ``reviewer``), minus the actor (``principal``). One statement."""
    from registry.accounts.models import User
    from registry.organizations.models import OrganizationMembership
    from registry.workflow.actors import user_id_of

    owner = getattr(initiative, "owner_organization_id", None)
    reviewer = getattr(initiative, "assigned_reviewer_id", None)
    if owner is None and reviewer is None:
        return []
    conditions = []
    if owner is not None:
        conditions.append(User.id.in_(select(OrganizationMembership.user_id).where(
            OrganizationMembership.organization_id == owner)))
    if reviewer is not None:
        conditions.append(User.id == reviewer)
    from sqlalchemy import or_

    rows = db_session.execute(select(User.id, User.email, User.locale).where(
        or_(*conditions), User.email_verified_at.is_not(None),
        User.disabled_at.is_(None)).order_by(User.email)).all()
    actor = user_id_of(principal) if principal is not None else None
    out = []
    for uid, email, locale in rows:
        if uid == actor or (principal is not None and principal.email
                            and email.casefold() == principal.email.casefold()):
            continue
        out.append({"email": email, "locale": locale or "en",
                    "role": "reviewer" if uid == reviewer else "owner", "user_id": str(uid)})
    return out


@dataclass(frozen=True)
class _NewInitiative:
    """What the permission table sees of a draft about to be created: its owner."""

    owner_organization_id: uuid.UUID | None
    __aggregate__ = Aggregate.INITIATIVE.value


def owner_for_new_initiative(principal: Principal, data: dict[str, Any]) -> uuid.UUID | None:
    """The organisation a new draft belongs to: ``owner_organization_id`` when given; else
    the caller's only organisation; else (the secretariat drafting on an organisation's
    behalf) the lead entity. None when it cannot be told."""
    if data.get("owner_organization_id"):
        return data["owner_organization_id"]
    ids = principal.organization_ids
    if len(ids) == 1:
        return next(iter(ids))
    if principal.is_staff and data.get("lead_organization_id"):
        return data["lead_organization_id"]
    return None


def create_initiative(*, db_session: Session, principal: Principal,
                      data: dict[str, Any]) -> Initiative:
    """Create a draft owned by an organisation (:func:`owner_for_new_initiative`): a member
    drafts for its organisation, the secretariat on an organisation's behalf (the draft then
    belongs to that organisation, whose members edit and submit it).

    ``data`` is a loaded ``InitiativeInputSchema``. Emits ``initiative.created.v1``. Raises
    401/403 per the permission table (``initiative``/``create`` on the owner), 422 when the
    owner cannot be told (``owner_organization_id``) or does not exist.
    """
    if not principal.is_authenticated:
        authorize(principal, Action.CREATE, None, Aggregate.INITIATIVE, what="initiative")
    owner = owner_for_new_initiative(principal, data)
    if owner is None:
        if principal.is_authenticated and not principal.organization_ids \
                and not principal.is_staff:
            authorize(principal, Action.CREATE, _NewInitiative(None), what="initiative")
        raise ValidationError("Name the organisation the draft belongs to.", errors=[{
            "field": "owner_organization_id",
            "message": "Required: you act for several organisations, or for none."}])
    authorize(principal, Action.CREATE, _NewInitiative(owner), what="initiative")
    if db_session.get(Organization, owner) is None:
        raise ValidationError("Unknown organisation.", errors=[{
            "field": "owner_organization_id", "message": f"No organisation with id {owner}."}])
    now = utcnow()
    initiative = Initiative(id=new_uuid(), status="draft", version=1,
                            title=data["title"].strip(), description=None,
                            lead_organization_id=None, contact_email=None, start_date=None,
                            end_date=None, owner_token_id=actor_columns(None, principal)[
                                "actor_token_id"],
                            owner_organization_id=owner,
                            public_id=None, source=None, source_ref=None, source_url=None,
                            created_at=now, updated_at=now, submitted_at=None,
                            published_at=None, search_document=None,
                            lead_organization=None, partners=[], targets=[], goals=[],
                            countries=[], regions=[], covered_regions=[], deliverables=[],
                            resources=[], progress_percent=None, progress_reports_count=0,
                            last_progress_report_on=None)
    _apply_content(db_session, initiative, data, principal=principal)
    actor = actor_columns(db_session, principal, initiative)
    activity = Activity(
        id=new_uuid(), record_type=wf.INITIATIVE, record_id=initiative.id,
        revision_number=None, kind=wf.TRANSITION, action="create", from_status=None,
        to_status="draft", body=None, visibility=wf.PARTICIPANTS, reply_to_id=None, **actor,
        changes=_diff({}, _content(initiative)) or None, created_at=now)
    children: list[Any] = [*initiative.partners, *initiative.targets, *initiative.goals,
                *initiative.countries, *initiative.regions, *initiative.covered_regions,
                *initiative.deliverables, *initiative.resources]
    for child in children:  # what the unit of work would copy from the parent at flush
        child.initiative_id = initiative.id
    # the rows in one statement (the objects stay out of the session: no unit of work)
    # (and its event: the row, its children, the activity and the outbox row in one INSERT)
    event_row, _ = outbox_row(db_session, OutboxEvent, EVENT_FOR_ACTION["create"],
                              source=SOURCE, subject=str(initiative.id), data={
                                  "action": "create", "from_status": None,
                                  "to_status": "draft", "comment": None,
                                  "actor": actor_event_data(actor),
                                  **event_links(initiative),
                                  "recipients": event_recipients(db_session, initiative,
                                                                 principal),
                                  "initiative": snapshot(initiative, vet_contact_email(
                                      db_session=db_session, email=initiative.contact_email,
                                      principal=principal))})
    _insert_graph(db_session, [initiative, *children, activity, event_row])
    vars(initiative)["known_timeline"] = [activity]  # the response needs no read
    return initiative


def _insert_graph(db_session: Session, objects: list[Any]) -> None:
    """INSERT new, fully-populated ORM objects (parents before children) as rows.

    PostgreSQL: ONE statement (data-modifying CTEs, one per table; foreign keys are checked
    at its end), instead of one round trip per table. Each table's rows travel as one JSON
    parameter (``jsonb_populate_recordset``), so the statement's text depends only on which
    tables get rows: SQLAlchemy compiles it once (a multi-row ``VALUES`` is never cached:
    compiling it was ~3 ms of every create) and psycopg prepares it on the server. SQLite
    (in-process): one executemany per table.
    """
    tables: dict[Any, list[dict[str, Any]]] = {}
    for obj in objects:
        mapper = inspect(type(obj))
        table = mapper.local_table
        numbered = table.autoincrement_column  # left to the database when unset (outbox seq)
        tables.setdefault(table, []).append(
            {attr.columns[0].name: getattr(obj, attr.key) for attr in mapper.column_attrs
             if attr.columns[0] is not numbered or getattr(obj, attr.key) is not None})
    if db_session.get_bind().dialect.name != "postgresql":
        for table, rows in tables.items():
            db_session.execute(table.insert(), rows)
        return
    shape = tuple((table.name, tuple(rows[0])) for table, rows in tables.items())
    db_session.execute(_graph_insert(shape), {
        f"rows_{i}": json.dumps(rows, default=_json_value, ensure_ascii=False)
        for i, rows in enumerate(tables.values())})


def _json_value(value: Any) -> str:
    """JSON text of the column values ``json`` has no form for (PostgreSQL parses them back
    with the column's type: uuid, date, timestamptz in ISO 8601, numeric as exact text)."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    raise TypeError(f"no JSON form for {type(value).__name__}")


@functools.lru_cache(maxsize=64)
def _graph_insert(shape: tuple[tuple[str, tuple[str, ...]], ...]) -> TextClause:
    """``WITH insert_<a> AS (INSERT INTO <a> (…) SELECT … FROM jsonb_populate_recordset(
    NULL::<a>, :rows_0)), … INSERT INTO <last> …`` for ``shape``: (table, its columns) pairs,
    parents first; parameter ``rows_<i>`` holds table i's rows as a JSON array of objects."""

    def insert(i: int, table: str, names: tuple[str, ...]) -> str:
        columns = ", ".join(f'"{name}"' for name in names)
        # table and column names come from the models (``shape``), rows are a bind
        # parameter: no input reaches the SQL text
        return (f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM '  # nosec B608
                f'jsonb_populate_recordset(NULL::"{table}", CAST(:rows_{i} AS jsonb))')

    *first, last = shape
    ctes = ", ".join(f"insert_{table} AS ({insert(i, table, names)})"
                     for i, (table, names) in enumerate(first))
    return text((f"WITH {ctes} " if ctes else "") + insert(len(first), *last))


def _load_for(db_session: Session, principal: Principal, initiative_id: uuid.UUID,
              action: str, *, as_view: bool = False, lock: bool = False) -> Any:
    """The initiative (``as_view``: an :class:`InitiativeView`, one statement) if ``principal``
    may take ``action`` on it; else NotFound / Unauthenticated / NotAllowed /
    InvalidTransition."""
    locking = lock and db_session.get_bind().dialect.name == "postgresql"
    initiative = (_load_view(db_session, initiative_id=initiative_id, timeline="secretariat",
                             for_update=lock)
                  if as_view
                  else db_session.get(Initiative, initiative_id, with_for_update=locking or None,
                                      populate_existing=locking))
    if initiative is None:
        raise NotFound(f"No initiative with id {initiative_id}.")
    authorize(principal, action, initiative, Aggregate.INITIATIVE, what="initiative")
    return initiative


def update_initiative(*, db_session: Session, principal: Principal, initiative_id: uuid.UUID,
                      data: dict[str, Any],
                      expected_version: int | None = None) -> Initiative:
    """Edit a draft or an initiative sent back for changes (owner only); emits
    ``initiative.updated.v1`` with the changed fields in the timeline. A published one is
    edited through its open revision (``revisions.edit_published``; ``expected_version``
    names the initiative's version there too): the initiative, as the public sees it, is
    returned unchanged. Otherwise the row is locked (PostgreSQL) and ``expected_version``
    (``If-Match``) checked first: 412 when stale."""
    # (rev) editing a published initiative proposes a revision
    from registry.initiatives import revisions
    from registry.workflow.service import check_version

    current = db_session.get(Initiative, initiative_id)
    if current is not None and current.status in revisions.REVISABLE_STATES:
        # ``revise`` in the permission table: 404 (invisible), 401, 403 (not the owner's)
        authorize(principal, Action.REVISE, current, Aggregate.INITIATIVE, what="initiative")
        check_version(current, expected_version, "initiative")
        revisions.edit_published(db_session=db_session, principal=principal,
                                 initiative_id=initiative_id, data=data)
        return current
    # (rev) end
    initiative = _load_for(db_session, principal, initiative_id, "update", lock=True)
    check_version(initiative, expected_version, "initiative")
    before = _content(initiative)
    _apply_content(db_session, initiative, data, principal=principal)
    changes = _diff(before, _content(initiative))
    if not changes:
        return initiative
    initiative.version += 1
    initiative.updated_at = utcnow()
    _record(db_session, initiative, principal, "update", initiative.status, changes=changes)
    return initiative


def submission_errors(initiative: Initiative) -> list[dict[str, str]]:
    """What keeps a draft from being submitted: ``[{field, message}]`` (empty when ready)."""
    present = {
        "description": bool(initiative.description and initiative.description.strip()),
        "lead_organization_id": initiative.lead_organization_id is not None,
        "sdg_targets": bool(initiative.target_codes or initiative.goal_codes),
        "countries": bool(initiative.country_codes or initiative.region_codes),
        "start_date": initiative.start_date is not None,
        "end_date": initiative.end_date is not None,
        "deliverables": bool(initiative.deliverables),
        "resources": bool(initiative.resources),
        "contact_email": bool(initiative.contact_email),
    }
    return _missing(present, [d.due_date for d in initiative.deliverables])


def content_submission_errors(content: dict[str, Any]) -> list[dict[str, str]]:
    """The same SMART check as :func:`submission_errors` over a content dict
    (``versions.content_of``'s shape: a revision's proposed content), so a revision that
    drops every deliverable cannot be submitted any more than a draft could."""

    def given(name: str) -> bool:
        value = content.get(name)
        return bool(value.strip()) if isinstance(value, str) else bool(value)

    present = {
        "description": given("description"),
        "lead_organization_id": bool(content.get("lead_organization")),
        "sdg_targets": given("sdg_targets") or given("sdg_goals"),
        "countries": given("countries") or given("regions"),
        "start_date": given("start_date"),
        "end_date": given("end_date"),
        "deliverables": given("deliverables"),
        "resources": given("resources"),
        "contact_email": given("contact_email"),
    }
    return _missing(present, [d.get("due_date") for d in content.get("deliverables") or []])


def _missing(present: dict[str, bool], due_dates: list[Any]) -> list[dict[str, str]]:
    """``SUBMIT_REQUIREMENTS`` not met, then each deliverable without a due date."""
    errors = [{"field": f, "message": f"Required to submit: {why}"}
              for f, why in SUBMIT_REQUIREMENTS if not present[f]]
    for i, due in enumerate(due_dates):
        if due is None:
            errors.append({"field": f"deliverables.{i}.due_date",
                           "message": "Required to submit: each deliverable needs a due date."})
    return errors


def _next_public_id(db_session: Session, year: int) -> str:
    return reserve_public_ids(db_session, year, 1)[0]


@functools.lru_cache(maxsize=1)
def _counter_upsert() -> Any:
    """``INSERT INTO public_id_counters (year, last_number) VALUES (:year, :count) ON CONFLICT
    (year) DO UPDATE SET last_number = last_number + :count RETURNING last_number``."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    table = typing.cast(Table, PublicIdCounter.__table__)
    statement = pg_insert(table).values(year=bindparam("year"),
                                        last_number=bindparam("count"))
    return statement.on_conflict_do_update(
        index_elements=[table.c.year],
        set_={"last_number": table.c.last_number + bindparam("count")},
    ).returning(table.c.last_number)


def reserve_public_ids(db_session: Session, year: int, count: int) -> list[str]:
    """``count`` consecutive public ids ``PR-<year>-<nnnnn>`` (the year's counter row is
    locked until the transaction ends, so concurrent reservations never overlap).

    PostgreSQL: one statement (``INSERT … ON CONFLICT DO UPDATE … RETURNING``: creates the
    year's row or bumps it, locking it), instead of a locking read and a flushed update.
    """
    if db_session.get_bind().dialect.name == "postgresql":
        last = db_session.execute(_counter_upsert(), {"year": year, "count": count}).scalar_one()
        return [f"PR-{year}-{n:05d}" for n in range(last - count + 1, last + 1)]
    counter = db_session.get(PublicIdCounter, year, with_for_update=True)
    if counter is None:
        # the year's first number: a concurrent transaction may insert the row too, so insert
        # in a savepoint and, if it lost that race, lock the row the other one committed
        try:
            with db_session.begin_nested():
                db_session.add(PublicIdCounter(year=year, last_number=0))
        except IntegrityError:
            pass
        counter = db_session.get(PublicIdCounter, year, with_for_update=True,
                                 populate_existing=True)
    assert counter is not None  # inserted above when missing
    first = counter.last_number + 1
    counter.last_number += count
    return [f"PR-{year}-{n:05d}" for n in range(first, first + count)]


def transition(*, db_session: Session, principal: Principal, initiative_id: uuid.UUID,
               action: str, comment: str | None = None,
               expected_version: int | None = None) -> InitiativeView:
    """Take a lifecycle ``action`` (``policy.INITIATIVE_WORKFLOW``: ``submit``, ``approve``,
    ``request_changes``, ``reject``, ``declare_completion``, ``confirm_completion``,
    ``decline_completion``, ``archive``, ``withdraw``, ``suspend``, ``reinstate``) through the
    workflow machinery (:func:`registry.workflow.service.apply`).

    The row is locked first (``FOR UPDATE`` on PostgreSQL): of two concurrent decisions one
    wins, the other gets 409 (state) or 412 (``expected_version``, the ``If-Match`` ETag).
    Submitting checks the SMART requirements (422 listing each missing field). Approving
    publishes the initiative, gives it its public id ``PR-<year>-<nnnnn>`` (year of
    publication, numbered from 1 each year) and approved version 1
    (``versions.record_version``). Emits the transition's
    ``initiative.*.v1`` event (with ``recipients``, ``review_url``, ``owner_url``). Returns the
    initiative as an :class:`InitiativeView` (read in one statement; the response needs no
    re-read). Errors: 404 (unknown action, invisible), 401, 403 (four eyes included), 409,
    412, 422.
    """
    from registry.workflow.service import apply

    if action not in policy.TRANSITIONS:
        raise NotFound(f"Unknown action {action!r}.")
    view = _load_view(db_session, initiative_id=initiative_id, timeline="secretariat",
                      for_update=True, owner=action == "approve")
    if view is None:
        raise NotFound(f"No initiative with id {initiative_id}.")
    apply(db_session, principal, policy.INITIATIVE_WORKFLOW, view, action, comment=comment,
          expected_version=expected_version)
    return view


class _InitiativeAdapter:
    """The initiative's part of the workflow machinery (``registry.workflow.service``)."""

    def before(self, db_session: Session, principal: Principal, record: Any,
               transition: Any, comment: str | None) -> None:
        if transition.action == "submit":
            errors = submission_errors(record)
            if errors:
                raise ValidationError("The initiative is not complete enough to submit.",
                                      errors=errors)
        if transition.action == "approve":
            _require_verified_owner(db_session, record)

    def after(self, db_session: Session, principal: Principal, record: Any, transition: Any,
              from_status: str, comment: str | None) -> None:
        entity = record.entity
        if transition.target in (authz.PUBLISHED, authz.REJECTED, authz.COMPLETED):
            # the review is over: the queue no longer shows it as anyone's
            entity.assigned_reviewer_id = None

    def record(self, db_session: Session, principal: Principal, record: Any, transition: Any,
               from_status: str, comment: str | None,
               extra_event_data: dict[str, Any] | None) -> Activity:
        first_approval = None
        if transition.action == "approve" and (record.public_id is None
                                               or record.entity.approved_version is None):
            def first_approval() -> list[Any]:
                # last, after every read: the year's counter row stays locked from here to
                # the commit, so concurrent approvals queue only for the writes; then
                # version 1 (its content carries the public id)
                if record.public_id is None:
                    with db_session.no_autoflush:  # the row's UPDATE: once, with the id
                        record.entity.public_id = _next_public_id(db_session, utcnow().year)
                if record.entity.approved_version is not None:
                    return []
                # inserted with the activity and the event: one statement less
                return [versions.record_version(db_session, record, principal=principal,
                                                add=False)]
        activity = _record(db_session, record.entity, principal, transition.action,
                           from_status, comment=comment, view=record,
                           visibility=transition.visibility, event_type=transition.event_type,
                           extra_event_data=extra_event_data, before_write=first_approval)
        if transition.target == authz.PUBLISHED:
            # issue 9: the reporting light starts at publication (its event after this one)
            from registry.compliance.service import refresh_initiative

            refresh_initiative(db_session, record.entity, activity.created_at)
        return activity


def _register_adapter() -> None:
    from registry.workflow.service import register_adapter

    register_adapter("initiative", _InitiativeAdapter())


_register_adapter()


def _require_verified_owner(db_session: Session, initiative: Any) -> None:
    """Publishing needs a verified organisation (issue 7: initiatives of an unverified
    organisation are drafted and submitted, published once it is verified): the owner
    organisation, or the lead entity of a draft without one. :class:`Conflict` (409)
    naming it otherwise."""
    known = getattr(initiative, "__dict__", {}).get("owner_verification", _UNREAD)
    if known is not _UNREAD:  # read with the locked initiative (_load_view(owner=True))
        org = known
    else:
        organization_id = (initiative.owner_organization_id
                           or initiative.lead_organization_id)
        if organization_id is None:
            return
        org = db_session.get(Organization, organization_id)
    if org is not None and org.verification_status != VERIFIED:
        raise Conflict(
            f"{org.name} is not verified yet: the secretariat verifies the organisation "
            "before its initiatives are published.",
            extra={"reason": "organization_unverified", "organization_id": str(org.id)})


# -- proposed links --------------------------------------------------------------------------
@dataclass(frozen=True)
class ProposedLink:
    """A lead or partner link of an initiative that the named organisation has not answered:
    ``kind`` ``lead`` or ``partner`` (with ``role``); ``status`` ``pending``."""

    initiative_id: uuid.UUID
    initiative_title: str
    initiative_owner_id: uuid.UUID | None  # (not the link's owner: the named organisation)
    organization_id: uuid.UUID
    organization_name: str
    kind: str
    role: str | None
    status: str = authz.PENDING
    __aggregate__ = Aggregate.INITIATIVE_LINK.value


def proposed_links(*, db_session: Session, principal: Principal,
                   organization_ids: list[uuid.UUID] | None = None) -> list[ProposedLink]:
    """The unconfirmed links naming organisations ``principal`` administers (or only
    ``organization_ids`` of them): what its admins may confirm or decline."""
    admin_of = [o for o in principal.organization_ids if principal.is_admin_of(o)]
    if organization_ids is not None:
        admin_of = [o for o in admin_of if o in set(organization_ids)]
    if not admin_of:
        return []
    out = [ProposedLink(i.id, i.title, i.owner_organization_id, o.id, o.name, "lead", None)
           for i, o in db_session.execute(select(Initiative, Organization).join(
               Organization, Organization.id == Initiative.lead_organization_id).where(
               Initiative.lead_organization_id.in_(admin_of),
               Initiative.lead_confirmed.is_(False)))]
    out += [ProposedLink(i.id, i.title, i.owner_organization_id, o.id, o.name, "partner",
                         p.role)
            for p, i, o in db_session.execute(select(InitiativePartner, Initiative,
                                                     Organization)
                                              .join(Initiative,
                                                    Initiative.id == InitiativePartner
                                                    .initiative_id)
                                              .join(Organization, Organization.id
                                                    == InitiativePartner.organization_id)
                                              .where(InitiativePartner.organization_id
                                                     .in_(admin_of),
                                                     InitiativePartner.confirmed.is_(False)))]
    return sorted(out, key=lambda link: (link.organization_name, link.initiative_title))


def answer_link(*, db_session: Session, principal: Principal, initiative_id: uuid.UUID,
                organization_id: uuid.UUID, confirm: bool) -> Initiative:
    """The named organisation's admin confirms a proposed lead/partner link, or declines it
    (the link is removed: the lead entity cleared, the partner dropped). Timeline entry
    ``update`` with the change and ``initiative.updated.v1``. 404 when there is no proposed
    link of that organisation on that initiative (or the caller may not know of it)."""
    initiative = db_session.get(Initiative, initiative_id)
    if initiative is None:
        raise NotFound(f"No proposed link of organisation {organization_id} on initiative "
                       f"{initiative_id}.")
    link = None
    if initiative.lead_organization_id == organization_id and not initiative.lead_confirmed:
        link = ProposedLink(initiative.id, initiative.title, initiative.owner_organization_id,
                            organization_id, "", "lead", None)
    else:
        for partner in initiative.partners:
            if partner.organization_id == organization_id and not partner.confirmed:
                link = ProposedLink(initiative.id, initiative.title,
                                    initiative.owner_organization_id, organization_id, "",
                                    "partner", partner.role)
    if link is None:
        raise NotFound(f"No proposed link of organisation {organization_id} on initiative "
                       f"{initiative_id}.")
    # (``view``: nobody but the named organisation's admins may know of it: 404)
    authorize(principal, Action.CONFIRM if confirm else Action.DECLINE, link,
              what="proposed link")
    before = _content(initiative)
    if link.kind == "lead":
        if confirm:
            initiative.lead_confirmed = True
        else:
            initiative.lead_organization_id = None
            initiative.lead_organization = None
            initiative.lead_confirmed = True
    else:
        for partner in list(initiative.partners):
            if partner.organization_id == organization_id:
                if confirm:
                    partner.confirmed = True
                else:
                    initiative.partners.remove(partner)
    changes = _diff(before, _content(initiative)) or {
        f"{link.kind}_confirmed": {"before": False, "after": True}}
    initiative.version += 1
    initiative.updated_at = utcnow()
    _record(db_session, initiative, principal, "update", initiative.status, changes=changes,
            comment=None)
    return initiative


def relink_organization(*, db_session: Session, principal: Principal, from_id: uuid.UUID,
                        to_id: uuid.UUID) -> dict[str, int]:
    """Re-point every initiative link from organisation ``from_id`` to ``to_id`` (a merge of
    duplicates): ownership, lead entity, partner rows (a partner already linked to ``to_id``
    keeps that row). Each re-pointed initiative gets an ``update`` timeline entry and
    ``initiative.updated.v1`` (read models follow). Returns counts per kind of link."""
    moved = {"owned_initiatives": 0, "lead": 0, "partner": 0}
    touched: dict[uuid.UUID, Initiative] = {}
    befores: dict[uuid.UUID, dict[str, Any]] = {}

    def touch(initiative: Initiative) -> None:
        if initiative.id not in touched:
            touched[initiative.id] = initiative
            befores[initiative.id] = _content(initiative)

    target = db_session.get(Organization, to_id)
    if target is None:
        raise NotFound(f"No organisation with id {to_id}.")
    for initiative in db_session.scalars(select(Initiative).where(
            (Initiative.owner_organization_id == from_id)
            | (Initiative.lead_organization_id == from_id))):
        touch(initiative)
        if initiative.owner_organization_id == from_id:
            initiative.owner_organization_id = to_id
            moved["owned_initiatives"] += 1
        if initiative.lead_organization_id == from_id:
            initiative.lead_organization_id = to_id
            initiative.lead_organization = target
            moved["lead"] += 1
    for partner in list(db_session.scalars(select(InitiativePartner).where(
            InitiativePartner.organization_id == from_id))):
        initiative = db_session.get_one(Initiative, partner.initiative_id)
        touch(initiative)
        if any(p.organization_id == to_id for p in initiative.partners):
            initiative.partners.remove(partner)
        else:
            partner.organization_id = to_id
            partner.organization = target
        moved["partner"] += 1
    for iid, initiative in touched.items():
        initiative.version += 1
        initiative.updated_at = utcnow()
        db_session.flush()
        changes = _diff(befores[iid], _content(initiative)) or {
            "owner_organization_id": {"before": str(from_id), "after": str(to_id)}}
        _record(db_session, initiative, principal, "update", initiative.status,
                changes=changes, comment="Organisation merged into another.")
    return moved


def register_imported_initiative(*, db_session: Session, principal: Principal,
                                 data: dict[str, Any], source: str, source_ref: str,
                                 source_url: str | None = None,
                                 public_id: str | None = None,
                                 organizations: dict[uuid.UUID, Organization] | None = None,
                                 ) -> Initiative:
    """Register an already-published record from another registry (system or secretariat).

    ``data`` has the ``InitiativeInputSchema`` fields (validated by the caller). The record is
    published at once with a new public id (or ``public_id``, one the caller reserved with
    :func:`reserve_public_ids`); emits ``initiative.imported.v1`` (which notifies
    nobody). ``organizations``: the lead and partner organisations by id when the caller
    has them (a bulk import), else they are read and checked here. Nothing is flushed: the
    caller's commit writes a whole batch in one unit of work. Raises :class:`NotAllowed` for
    other principals.
    """
    authorize(principal, Action.IMPORT, None, Aggregate.INITIATIVE, what="initiative")
    now = utcnow()
    initiative = Initiative(id=new_uuid(), status="published", version=1, approved_version=1,
                            title=data["title"].strip(), source=source, source_ref=source_ref,
                            source_url=source_url, created_at=now, updated_at=now,
                            search_document=None, lead_organization=None, partners=[],
                            targets=[], goals=[], countries=[], regions=[],
                            covered_regions=[], deliverables=[], resources=[],
                            published_at=now, progress_percent=None,
                            progress_reports_count=0, last_progress_report_on=None,
                            public_id=public_id or _next_public_id(db_session, now.year))
    _apply_content(db_session, initiative, data, organizations)
    db_session.add(initiative)  # after the checks: a refused record adds nothing
    versions.write_version(db_session=db_session, principal=principal, initiative=initiative,
                           number=1)  # (rev) version 1
    _record(db_session, initiative, principal, "import", None)
    return initiative


@dataclass
class ImportedRecord:
    """An already-published record for :func:`import_initiatives`: ``data`` has the
    ``InitiativeInputSchema`` fields (validated, with ``lead_organization_id`` and
    ``partners`` filled in), ``organizations`` every organisation they name, by id."""

    data: dict[str, Any]
    source: str
    source_ref: str
    source_url: str | None
    organizations: dict[uuid.UUID, Organization]
    #: the initiative's columns the source gives beyond ``data``, written over the defaults:
    #: ``published_at`` (the original publication, default now), ``progress_reports_count``,
    #: ``last_progress_report_on`` (the imported reports, ``registry.imports``)
    columns: dict[str, Any] = field(default_factory=dict)


def import_initiatives(*, db_session: Session, principal: Principal,
                       records: list[ImportedRecord]) -> list[uuid.UUID]:
    """Register a batch of already-published records from another registry (system or
    secretariat): what :func:`register_imported_initiative` does for one, in bulk.

    Each gets a public id (one block reserved), its children, covered regions and search
    document, an ``import`` timeline entry and its ``initiative.imported.v1`` event, the rows
    written in bulk per table (``registry.db.bulk_insert``: COPY on PostgreSQL). The
    organisations must be in the database (flushed) already. Returns the new ids in order.
    Raises :class:`NotAllowed` for other principals, :class:`ValidationError` when an
    ``end_date`` precedes its ``start_date`` (nothing of the batch is added then).
    """
    authorize(principal, Action.IMPORT, None, Aggregate.INITIATIVE, what="initiative")
    actor = actor_columns(db_session, principal)
    for record in records:
        start, end = record.data.get("start_date"), record.data.get("end_date")
        if start and end and end < start:
            raise ValidationError("end_date is before start_date.", errors=[{
                "field": "end_date", "message": f"end_date {end} is before start_date {start}."}])
    if not records:
        return []
    now = utcnow()
    public_ids = reserve_public_ids(db_session, now.year, len(records))
    rows: dict[Any, list[dict[str, Any]]] = {table: [] for table in (
        Initiative.__table__, InitiativePartner.__table__, InitiativeTarget.__table__,
        InitiativeGoal.__table__, InitiativeCountry.__table__, InitiativeRegion.__table__,
        InitiativeCoveredRegion.__table__, Deliverable.__table__, Resource.__table__,
        Activity.__table__, InitiativeVersion.__table__)}
    events = []
    ids = []
    for record, public_id in zip(records, public_ids, strict=True):
        data, orgs = record.data, record.organizations
        iid = new_uuid()
        ids.append(iid)
        title = data["title"].strip()
        description = data["description"].strip() if data.get("description") else None
        targets = list(dict.fromkeys(data.get("sdg_targets") or []))
        goals = sorted({reference.goal_of_target(t) for t in targets}
                       | set(data.get("sdg_goals") or []))
        countries = list(dict.fromkeys(data.get("countries") or []))
        regions = list(dict.fromkeys(data.get("regions") or []))
        lead_id = data.get("lead_organization_id")
        partners = [PartnerView(orgs[p["organization_id"]], p["role"])
                    for p in data.get("partners") or []]
        deliverables = [DeliverableView(d["description"].strip(), d.get("due_date"),
                                        new_uuid(), d.get("status") or "planned",
                                        d.get("weight") or Decimal(1))
                        for d in data.get("deliverables") or []]
        resources = [ResourceView(r["type"], r.get("details"), r.get("amount_usd"))
                     for r in data.get("resources") or []]
        row = {"id": iid, "public_id": public_id, "status": "published", "version": 1,
               "title": title, "description": description, "lead_organization_id": lead_id,
               "lead_confirmed": True,
               "contact_email": data.get("contact_email"), "start_date": data.get("start_date"),
               "end_date": data.get("end_date"), "owner_token_id": None,
               "owner_organization_id": None, "source": record.source,
               "source_ref": record.source_ref, "source_url": record.source_url,
               "created_at": now, "updated_at": now, "submitted_at": None,
               "published_at": now, "completion_declared_at": None, "completed_at": None,
               "archived_at": None, "withdrawn_at": None, "suspended_at": None,
               "approved_version": 1, "assigned_reviewer_id": None,
               "search_document": search.search_document(title, description),
               # (progress) issue 9: no approved progress report yet
               "progress_percent": None, "progress_reports_count": 0,
               "last_progress_report_on": None}
        rows[Initiative.__table__].append(row)
        rows[InitiativePartner.__table__].extend(
            {"id": new_uuid(), "initiative_id": iid, "organization_id": p.organization.id,
             "role": p.role, "position": i, "confirmed": True}
            for i, p in enumerate(partners))
        rows[InitiativeTarget.__table__].extend(
            {"initiative_id": iid, "target_code": t} for t in targets)
        rows[InitiativeGoal.__table__].extend({"initiative_id": iid, "goal": g} for g in goals)
        rows[InitiativeCountry.__table__].extend(
            {"initiative_id": iid, "country": c} for c in countries)
        rows[InitiativeRegion.__table__].extend(
            {"initiative_id": iid, "region": r} for r in regions)
        rows[InitiativeCoveredRegion.__table__].extend(
            {"initiative_id": iid, "region": r}
            for r in sorted(reference.region_codes_for(countries, regions)))
        rows[Deliverable.__table__].extend(
            {"id": d.id, "initiative_id": iid, "position": i,
             "description": d.description, "due_date": d.due_date, "status": d.status,
             "weight": d.weight}
            for i, d in enumerate(deliverables))
        rows[Resource.__table__].extend(
            {"id": new_uuid(), "initiative_id": iid, "position": i, "type": r.type,
             "details": r.details, "amount_usd": r.amount_usd}
            for i, r in enumerate(resources))
        rows[Activity.__table__].append(
            {"id": new_uuid(), "record_type": wf.INITIATIVE, "record_id": iid,
             "revision_number": None, "kind": wf.TRANSITION, "action": "import",
             "from_status": None, "to_status": "published", "body": None,
             "visibility": wf.PUBLIC, "reply_to_id": None, **actor,
             "changes": None, "created_at": now})
        # the light (issue 9, migration 0010): none unless the importer computed it; then
        # the source's own dates and counts (registry.imports)
        row.update({"reporting_status": None, "reporting_status_since": None,
                    "reporting_anchor_on": None} | record.columns)
        view = _ImportedView(row, orgs[lead_id] if lead_id else None, partners, goals,
                             _target_order(targets), countries, regions, deliverables,
                             resources)
        events.append((iid, snapshot(view)))  # type: ignore[arg-type]
        # (rev) version 1 of the imported record
        rows[InitiativeVersion.__table__].append(versions.version_rows(
            iid, versions.content_of(view), principal=principal,
            approved_at=row["published_at"]))
    for table, table_rows in rows.items():
        bulk_insert(db_session, table, table_rows)
    for iid, snap in events:
        record_event(db_session, OutboxEvent, EVENT_FOR_ACTION["import"], source=SOURCE,
                     subject=str(iid), data={
                         "action": "import", "from_status": None, "to_status": "published",
                         "comment": None, "actor": actor_event_data(actor),
                         "initiative": snap})
    return ids


class _ImportedView:
    """What :func:`snapshot` reads, for a row written by :func:`import_initiatives`."""

    def __init__(self, row, lead, partners, goals, targets, countries, regions, deliverables,
                 resources):
        self.__dict__.update(row)
        self.lead_organization = lead
        self.partners = partners
        self.goal_codes = goals
        self.target_codes = targets
        self.country_codes = countries
        self.region_codes = regions
        self.deliverables = deliverables
        self.resources = resources


# -- reading ---------------------------------------------------------------------------------
#: Up to this many matches ``total`` is an exact count; past it, PostgreSQL's estimate
#: (``total_is_estimate``). Counting every match of a common filter at 100,000+ records costs
#: more than the page itself.
EXACT_COUNT_LIMIT = 1000
#: Shortest ``q`` also searched in lead entity names: a trigram index serves 3 characters
#: and more; shorter ones would scan every organisation (full text still finds "海洋").
MIN_NAME_SEARCH = 3


@dataclass(frozen=True)
class OrganizationView:
    """An organisation as read with an initiative (the fields ``OrganizationSchema`` shows)."""

    id: uuid.UUID
    name: str
    acronym: str | None
    stakeholder_group: str
    country: str | None
    created_at: datetime | None = None


@dataclass(frozen=True)
class PartnerView:
    """A partner as read: the organisation, its role, and whether it confirmed the link."""

    organization: OrganizationView | Organization
    role: str
    confirmed: bool = True


@dataclass(frozen=True)
class ActivityView:
    """A timeline entry as read with the initiative (what ``ActivitySchema`` shows)."""

    id: uuid.UUID
    kind: str
    action: str
    from_status: str | None
    to_status: str | None
    body: str | None
    visibility: str
    reply_to_id: uuid.UUID | None
    revision_number: int | None
    actor_role: str
    actor_user_id: uuid.UUID | None
    actor_email: str | None
    actor_name: str | None
    changes: dict[str, Any] | None
    created_at: datetime | None

    @property
    def comment(self) -> str | None:
        """The entry's text (``body``)."""
        return self.body


@dataclass(frozen=True)
class DeliverableView:
    """A deliverable as read: description, due date, stable id, status, weight in the
    initiative's progress (issue 9; default 1)."""

    description: str
    due_date: date | None
    id: uuid.UUID | None = None
    status: str = "planned"
    weight: Decimal = Decimal(1)


@dataclass(frozen=True)
class ResourceView:
    """A resource as read (``amount_usd`` with 2 decimals)."""

    type: str
    details: str | None
    amount_usd: Decimal | None


class InitiativeView:
    """An initiative read in ONE statement: the row (``entity``, its scalar attributes are
    readable here) plus its lead organisation, partners, codes, deliverables and resources.

    ``snapshot()``, ``submission_errors()``, the policy and the output schemas accept it in
    place of the ORM object; nothing on it loads lazily.
    """

    def __init__(self, entity: Initiative, lead_organization: OrganizationView | None,
                 children: dict[str, list[Any]]):
        self.entity = entity
        self.lead_organization = lead_organization
        self.partners: list[PartnerView] = children["partners"]
        self.goal_codes: list[int] = children["goals"]
        self.target_codes: list[str] = _target_order(children["targets"])
        self.country_codes: list[str] = children["countries"]
        self.region_codes: list[str] = children["regions"]
        self.deliverables: list[DeliverableView] = children["deliverables"]
        self.resources: list[ResourceView] = children["resources"]
        self.known_timeline: list[ActivityView] | None = None  # read with it, when asked
        self.timeline_audience: str | None = None  # whose entries known_timeline holds
        #: who reads it (:func:`audience_of`: ``public``, ``participants`` for the owner
        #: organisation, ``secretariat``), set by :func:`get_initiative`: the API and the
        #: pages choose the output shape (public or private fields) from it
        self.audience: str | None = None
        #: the owner organisation's id, name and verification status when read with it
        #: (``_load_view(owner=True)``: approval); ``_UNREAD`` otherwise
        self.owner_verification: Any = _UNREAD

    def __getattr__(self, name: str) -> Any:
        return getattr(self.entity, name)


@dataclass
class InitiativeSummary:
    """An initiative in a list: what ``InitiativeSummarySchema`` shows, nothing more."""

    id: uuid.UUID
    public_id: str | None
    status: str
    title: str
    lead_organization: OrganizationView | None
    goal_codes: list[int]
    target_codes: list[str]
    country_codes: list[str]
    region_codes: list[str]
    start_date: date | None
    end_date: date | None
    published_at: datetime | None
    updated_at: datetime

    @property
    def countries(self) -> list[str]:
        """Alias of ``country_codes`` (templates test it for emptiness)."""
        return self.country_codes


@dataclass
class InitiativePage:
    """A page of summaries; ``total`` is exact unless ``total_is_estimate``."""

    items: list[InitiativeSummary]
    total: int
    total_is_estimate: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _target_order(codes: list[str]) -> list[str]:
    order = _target_positions()
    return sorted(codes, key=lambda c: order.get(c, 10**6))


_TARGET_POSITIONS: dict[str, int] = {}


def _target_positions() -> dict[str, int]:
    if not _TARGET_POSITIONS:
        _TARGET_POSITIONS.update({code: i for i, code in enumerate(reference.targets())})
    return _TARGET_POSITIONS


#: Child collections read as JSON arrays by correlated sub-queries:
#: name -> (FROM clause, foreign key, ORDER BY, [(key, SQL expression)]).
_CHILDREN: dict[str, tuple[str, str, str, list[tuple[str, str]]]] = {
    "partners": ("initiative_partners cp JOIN organizations co ON co.id = cp.organization_id",
                 "cp.initiative_id", "cp.position",
                 [("role", "cp.role"), ("confirmed", "cp.confirmed"), ("id", "co.id"),
                  ("name", "co.name"),
                  ("acronym", "co.acronym"), ("stakeholder_group", "co.stakeholder_group"),
                  ("country", "co.country"), ("created_at", "co.created_at")]),
    "goals": ("initiative_goals cg", "cg.initiative_id", "cg.goal", [("v", "cg.goal")]),
    "targets": ("initiative_targets ct", "ct.initiative_id", "ct.target_code",
                [("v", "ct.target_code")]),
    "countries": ("initiative_countries cc", "cc.initiative_id", "cc.country",
                  [("v", "cc.country")]),
    "regions": ("initiative_regions cr", "cr.initiative_id", "cr.region", [("v", "cr.region")]),
    "deliverables": ("deliverables cd", "cd.initiative_id", "cd.position",
                     [("description", "cd.description"), ("due_date", "cd.due_date"),
                      ("id", "cd.id"), ("status", "cd.status"),
                      ("weight", "CAST(cd.weight AS TEXT)")]),
    "resources": ("resources cs", "cs.initiative_id", "cs.position",
                  [("type", "cs.type"), ("details", "cs.details"),
                   ("amount_usd", "CAST(cs.amount_usd AS TEXT)")]),
}
_CODES = ("goals", "targets", "countries", "regions")
#: the timeline, read with the initiative only for callers who may see it (``with_timeline``:
#: the visibilities the caller may see, ``TIMELINE_AUDIENCES``)
_TIMELINE_COLUMNS = [
    ("id", "ca.id"), ("kind", "ca.kind"), ("action", "ca.action"),
    ("from_status", "ca.from_status"), ("to_status", "ca.to_status"), ("body", "ca.body"),
    ("visibility", "ca.visibility"), ("reply_to_id", "ca.reply_to_id"),
    ("revision_number", "ca.revision_number"), ("actor_role", "ca.actor_role"),
    ("actor_user_id", "ca.actor_user_id"), ("actor_email", "ca.actor_email"),
    ("actor_name", "ca.actor_name"), ("changes", "ca.changes"), ("created_at", "ca.created_at")]
#: audience -> the visibilities of the timeline entries it sees
TIMELINE_AUDIENCES = {"public": ("public",), "participants": ("participants", "public"),
                      "secretariat": ("internal", "participants", "public")}


def _timeline_source(audience: str) -> tuple[str, str, str, list[tuple[str, str]]]:
    seen = ", ".join(f"'{v}'" for v in TIMELINE_AUDIENCES[audience])
    return ("activities ca", f"ca.record_type = 'initiative' AND ca.visibility IN ({seen}) "
            "AND ca.record_id", "ca.created_at, ca.id", _TIMELINE_COLUMNS)


def _children_column(dialect: str, name: str, outer_id: str):
    """A correlated sub-query giving collection ``name`` of the row ``outer_id`` as JSON (on
    PostgreSQL the code collections as an array)."""
    from_, fk, order, columns = (_timeline_source(name.split(":", 1)[1])
                                 if name.startswith("timeline:") else _CHILDREN[name])
    # names and expressions from the module's constants (_CHILDREN, _TIMELINE_COLUMNS), the
    # outer id a column reference: no input reaches the SQL text
    inner = (f"SELECT {', '.join(f'{expr} AS {key}' for key, expr in columns)} FROM {from_} "  # nosec B608
             f"WHERE {fk} = {outer_id} ORDER BY {order}")
    if dialect == "postgresql" and name in _CODES:
        # an array, not JSON: psycopg reads a short text[]/int2[] several times cheaper than
        # it decodes a JSON document (a list page has 80 of them)
        sql = f"ARRAY({inner})"
    elif dialect == "postgresql":
        sql = f"(SELECT coalesce(json_agg(t), '[]') FROM ({inner}) t)"  # nosec B608 # constants
    else:
        # (the JSON column ``changes`` is text on SQLite: json() keeps it an object)
        value = "t.v" if name in _CODES else (
            "json_object(" + ", ".join(f"'{key}', json(t.{key})" if key == "changes"
                                       else f"'{key}', t.{key}" for key, _ in columns) + ")")
        sql = f"(SELECT json_group_array({value}) FROM ({inner}) t)"  # nosec B608 # constants
    return literal_column(sql).label(f"children_{name.split(':', 1)[0]}")


def _aware(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _uuid(value: Any) -> uuid.UUID | None:
    """A UUID read from JSON (PostgreSQL: canonical text; SQLite: 32 hex digits)."""
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(str(value))


def _parse_children(name: str, raw: Any) -> list[Any]:
    rows = json.loads(raw) if isinstance(raw, str) else (raw or [])
    if name in _CODES:
        return [int(v) for v in rows] if name == "goals" else rows
    if name == "partners":
        return [PartnerView(OrganizationView(uuid.UUID(str(r["id"])), r["name"], r["acronym"],
                                             r["stakeholder_group"], r["country"],
                                             _aware(r["created_at"])), r["role"],
                            bool(r.get("confirmed", True)))
                for r in rows]
    if name == "timeline":
        return [ActivityView(uuid.UUID(str(r["id"])), r["kind"], r["action"], r["from_status"],
                             r["to_status"], r["body"], r["visibility"],
                             _uuid(r["reply_to_id"]), r["revision_number"], r["actor_role"],
                             _uuid(r["actor_user_id"]), r["actor_email"], r["actor_name"],
                             r["changes"], _aware(r["created_at"])) for r in rows]
    if name == "deliverables":
        return [DeliverableView(r["description"], date.fromisoformat(r["due_date"][:10])
                                if r["due_date"] else None, _uuid(r.get("id")),
                                r.get("status") or "planned",
                                Decimal(str(r["weight"])) if r.get("weight") is not None
                                else Decimal(1)) for r in rows]
    return [ResourceView(r["type"], r["details"], Decimal(r["amount_usd"]).quantize(
        Decimal("0.01")) if r["amount_usd"] is not None else None) for r in rows]


_ORG_COLUMNS = (Organization.id, Organization.name, Organization.acronym,
                Organization.stakeholder_group, Organization.country, Organization.created_at)


def _organization_view(row: Any, prefix: str = "org_") -> OrganizationView | None:
    oid = getattr(row, f"{prefix}id")
    if oid is None:
        return None
    return OrganizationView(oid, getattr(row, f"{prefix}name"), getattr(row, f"{prefix}acronym"),
                            getattr(row, f"{prefix}stakeholder_group"),
                            getattr(row, f"{prefix}country"),
                            getattr(row, f"{prefix}created_at"))


_UNREAD = object()
#: what approval checks of the owner organisation (else the lead entity), read with the row
_OWNER_COLUMNS = ("id", "name", "verification_status")


@functools.lru_cache(maxsize=16)
def _view_statement(dialect: str, by_public_id: bool, timeline: str | None,
                    owner: bool = False) -> Select:
    """The statement of :func:`_load_view`, built once (parameter ``key``: the id or public
    id), which saves building it and its cache key on every detail and action.
    ``timeline``: the audience whose timeline entries are read with it (None: none).
    ``owner``: the owner organisation's (else the lead entity's) id, name and verification
    status too (approval checks it: one statement less)."""
    names = [*_CHILDREN, f"timeline:{timeline}"] if timeline else list(_CHILDREN)
    owner_org = aliased(Organization)
    query = (select(Initiative, *(c.label(f"org_{c.key}") for c in _ORG_COLUMNS),
                    *(_children_column(dialect, name, "initiatives.id") for name in names),
                    *((getattr(owner_org, c).label(f"owner_{c}") for c in _OWNER_COLUMNS)
                      if owner else ()))
             .outerjoin(Organization, Organization.id == Initiative.lead_organization_id))
    if owner:
        query = query.outerjoin(owner_org, owner_org.id == func.coalesce(
            Initiative.owner_organization_id, Initiative.lead_organization_id))
    return query.where(Initiative.public_id == bindparam("key") if by_public_id
                       else Initiative.id == bindparam("key", type_=Initiative.id.type))


def _load_view(db_session: Session, *, initiative_id: uuid.UUID | None = None,
               public_id: str | None = None, timeline: str | None = None,
               for_update: bool = False, owner: bool = False) -> InitiativeView | None:
    """The initiative with everything its detail shows, in one statement; None if absent.
    ``timeline``: the audience (``TIMELINE_AUDIENCES``) whose activities are read too
    (``known_timeline``; :func:`timeline` reads no more). ``for_update``: lock the row
    (``SELECT … FOR UPDATE OF initiatives`` on PostgreSQL) before the caller checks its
    state and version (transitions)."""
    dialect = db_session.get_bind().dialect.name
    by_public_id = public_id is not None
    statement = _view_statement(dialect, by_public_id, timeline, owner)
    if for_update and dialect == "postgresql":
        statement = statement.with_for_update(of=Initiative).execution_options(
            populate_existing=True)
    row = db_session.execute(statement, {
        "key": public_id if by_public_id else initiative_id}).first()
    if row is None:
        return None
    names = [*_CHILDREN, "timeline"] if timeline else list(_CHILDREN)
    children = {name: _parse_children(name, getattr(row, f"children_{name}"))
                for name in names}
    view = InitiativeView(row[0], _organization_view(row), children)
    if timeline:
        view.known_timeline = children["timeline"]
        view.timeline_audience = timeline
    if owner:
        view.owner_verification = (SimpleNamespace(
            id=row.owner_id, name=row.owner_name,
            verification_status=row.owner_verification_status)
            if row.owner_id is not None else None)
    return view


def audience_of(principal: Principal, initiative: Any = None) -> str:
    """Which timeline entries ``principal`` sees (``TIMELINE_AUDIENCES``): ``secretariat``
    (staff, system: internal notes too), ``participants`` (members of the owner
    organisation), ``public`` (anyone else)."""
    if principal.is_staff or principal.is_system:
        return "secretariat"
    if initiative is not None and policy.is_owner(principal, initiative):
        return "participants"
    return "public"


def get_initiative(*, db_session: Session, principal: Principal,
                   initiative_id: uuid.UUID | None = None,
                   public_id: str | None = None) -> InitiativeView:
    """One initiative by id or public id, as an :class:`InitiativeView` (one statement) with
    its ``audience`` (``public``, ``participants``, ``secretariat``) and the timeline entries
    that audience sees (``known_timeline``); :class:`NotFound` when absent or not visible."""
    # signed-in callers are the ones who may see the private timeline: read it in the same
    # statement (staff: with internal notes; anyone else: participants' entries, filtered
    # to the public ones below when not a member of the owner organisation)
    audience = None
    if principal.is_authenticated:
        audience = "secretariat" if (principal.is_staff or principal.is_system) \
            else "participants"
    initiative = _load_view(db_session, initiative_id=initiative_id, public_id=public_id,
                            timeline=audience)
    if initiative is None:
        raise NotFound(f"No initiative {public_id or initiative_id}.")
    authorize(principal, Action.VIEW, initiative, Aggregate.INITIATIVE, what="initiative")
    if audience == "participants" and not policy.is_owner(principal, initiative):
        seen = TIMELINE_AUDIENCES["public"]
        initiative.known_timeline = [e for e in initiative.known_timeline or []
                                     if e.visibility in seen]
        initiative.timeline_audience = "public"
    initiative.audience = audience_of(principal, initiative)
    return initiative


def timeline(*, db_session: Session, initiative: Initiative | InitiativeView,
             audience: str) -> list[Any]:
    """The initiative's activities ``audience`` may see (``TIMELINE_AUDIENCES``; pass
    :func:`audience_of` the caller: internal notes are for ``secretariat`` only), oldest
    first (those read or written with it: no read)."""
    seen = TIMELINE_AUDIENCES[audience]
    known = initiative.__dict__.get("known_timeline") if isinstance(
        initiative, Initiative) else getattr(initiative, "known_timeline", None)
    if known is not None:
        return [e for e in known if e.visibility in seen]
    return list(db_session.scalars(select(Activity).where(
        Activity.record_type == wf.INITIATIVE, Activity.record_id == initiative.id,
        Activity.visibility.in_(seen)).order_by(Activity.created_at, Activity.id)))


def can_see_private(principal: Principal, initiative: Initiative | InitiativeView) -> bool:
    """Owner and secretariat see contact, timeline and comments; the public does not
    (``view_private`` in the permission table)."""
    return policy.can_see_private(principal, initiative)


def _search_conditions(dialect: str, q: str) -> list[Any]:
    """The branches of a search for ``q``, each a condition one index serves: the public id,
    the source reference, the lead organisation's name (``ILIKE``, trigram index on
    PostgreSQL; wildcards escaped), full text (GIN / FTS5). Callers run them as separate
    queries and UNION the results, never one OR across them (which no index can serve)."""
    term = q.replace("\x00", "").strip()  # PostgreSQL text cannot hold NUL
    if not term:
        return []
    conditions: list[Any] = [Initiative.public_id == term.upper(),
                             Initiative.source_ref == term]
    if len(term) >= MIN_NAME_SEARCH:
        organizations = select(Organization.id).where(Organization.name.icontains(
            term, autoescape=True))
        if dialect == "postgresql":
            # = ANY(ARRAY(sub-query)): the organisations first (trigram index), then their
            # initiatives by ix_initiatives_lead_organization_id; as IN (...) the planner
            # may walk the ordering index instead, probing every row
            conditions.append(Initiative.lead_organization_id == any_(func.array(
                organizations.scalar_subquery())))
        else:
            conditions.append(Initiative.lead_organization_id.in_(organizations))
    if dialect == "postgresql":
        tsquery = search.pg_tsquery(term)
        if tsquery:
            conditions.append(Initiative.search_document.op("@@")(
                cast(literal(tsquery), TSQUERY)))
    else:
        match = search.fts5_query(term)
        if match:
            fts = text("SELECT rowid FROM initiatives_fts WHERE initiatives_fts MATCH "
                       ":fts_match").bindparams(fts_match=match).columns(column("rowid"))
            conditions.append(literal_column("initiatives.rowid").in_(fts))
    return conditions


def _filtered(principal: Principal, *, sdg: int | None, target: str | None,
              country: str | None, region: str | None, status: str | None,
              reporting_status: str | None = None) -> Select:
    """The visible initiatives after the structured filters (ids and ordering columns)."""
    query = select(Initiative.id, Initiative.published_at, Initiative.updated_at).where(
        policy.visible_filter(principal))
    if sdg is not None:
        query = query.where(Initiative.goals.any(InitiativeGoal.goal == sdg))
    if target:
        query = query.where(Initiative.targets.any(InitiativeTarget.target_code == target))
    if country:
        query = query.where(Initiative.countries.any(InitiativeCountry.country == country))
    if region:
        # the regions covered (derived from countries and tagged regions), not only the tags
        query = query.where(Initiative.covered_regions.any(
            InitiativeCoveredRegion.region == region))
    if reporting_status:
        # the reporting light (issue 9, registry.compliance): active initiatives only have one
        query = query.where(Initiative.reporting_status == reporting_status)
    if status:
        query = query.where(Initiative.status == status)
    elif not principal.is_authenticated:
        # the public list shows the active initiatives unless asked for another public state
        query = query.where(Initiative.status.in_(ACTIVE_STATES))
    return query


def _ordering(dialect: str, columns: Any) -> list[Any]:
    """The public ordering (newest publication first), as ix_initiatives_public_order has it
    (SQLite puts NULLs last in DESC already and has no NULLS LAST in indexes)."""
    published = columns.published_at.desc()
    if dialect == "postgresql":
        published = published.nulls_last()
    return [published, columns.updated_at.desc(), columns.id]


def _union(parts: list[Select]) -> Any:
    """UNION of ``parts`` (each wrapped, since SQLite allows no ORDER BY/LIMIT in a member)."""
    wrapped = []
    for part in parts:
        sub = part.subquery()
        wrapped.append(select(sub.c.id, sub.c.published_at, sub.c.updated_at))
    return union(*wrapped).subquery("u")


class _Explain(Executable, ClauseElement):
    """``EXPLAIN (FORMAT JSON) <select>`` as a statement SQLAlchemy compiles once and caches
    like any other (compiling the query by hand for every request cost milliseconds)."""

    inherit_cache = True
    _traverse_internals = [("element", InternalTraversal.dp_clauseelement)]

    def __init__(self, element: Select):
        self.element = element

    @property
    def _all_selected_columns(self) -> list[Any]:  # one column: the plan (for the result)
        return [column("QUERY PLAN")]


@compiles(_Explain, "postgresql")
def _compile_explain(element: _Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.element, **kw)


def _explain_rows(db_session: Session, explain: _Explain) -> int:
    """The planner's row estimate of an ``EXPLAIN`` statement (PostgreSQL; nothing executed)."""
    plan = db_session.execute(explain).scalar_one()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


def _count(db_session: Session, dialect: str, base: Select,
           conditions: list[Any]) -> tuple[int, bool]:
    """(total, is_estimate). PostgreSQL: the planner's estimate when it is past
    EXACT_COUNT_LIMIT; else a count stopped at EXACT_COUNT_LIMIT + 1 (exact below it, else
    the estimate). SQLite (the embedded mode, small registries) always counts exactly."""
    explain, capped_count = _count_statements(dialect, base, tuple(conditions))
    if dialect != "postgresql":
        return db_session.scalar(capped_count) or 0, False
    estimate = _explain_rows(db_session, explain)
    if estimate > EXACT_COUNT_LIMIT:
        return estimate, True
    capped = db_session.scalar(capped_count) or 0
    if capped <= EXACT_COUNT_LIMIT:
        return capped, False
    return max(estimate, EXACT_COUNT_LIMIT + 1), True


@functools.lru_cache(maxsize=128)
def _count_statements(dialect: str, base: Select, conditions: tuple[Any, ...]
                      ) -> tuple[Any, Select]:
    """(``EXPLAIN`` of the matches (PostgreSQL), count of the matches: on PostgreSQL stopped
    at EXACT_COUNT_LIMIT + 1, on SQLite all) for ``base`` (a :func:`_list_statements` one,
    so the same object for the same request) and ``conditions``; built once each."""
    def matches(limit: int | None) -> Select:
        if not conditions:
            return base.limit(limit) if limit else base
        parts = [base.where(c).limit(limit) if limit else base.where(c) for c in conditions]
        u = _union(parts)
        query = select(u.c.id)
        return query.limit(limit) if limit else query

    if dialect != "postgresql":
        return None, select(func.count()).select_from(matches(None).subquery())
    return (_Explain(matches(None)),
            select(func.count()).select_from(matches(EXACT_COUNT_LIMIT + 1).subquery()))


@functools.lru_cache(maxsize=128)
def _list_statements(dialect: str, principal: Principal, sdg: int | None, target: str | None,
                     country: str | None, region: str | None, status: str | None,
                     q: str | None, page: int, per_page: int,
                     reporting_status: str | None = None
                     ) -> tuple[Select, list[Any], Select]:
    """(filtered base, search conditions, page statement) of a list request, built once per
    distinct request: SQLAlchemy statements are immutable and memoize their cache key, so a
    repeated list (the public first page above all) skips building the statement and its
    cache key (~0.5 ms). Keyed on every argument (``Principal`` is a frozen dataclass)."""
    base = _filtered(principal, sdg=sdg, target=target, country=country, region=region,
                     status=status, reporting_status=reporting_status)
    conditions = _search_conditions(dialect, q) if q else []
    offset = (page - 1) * per_page
    if conditions:
        top = offset + per_page
        u = _union([base.where(c).order_by(*_ordering(dialect, Initiative)).limit(top)
                    for c in conditions])
        page_rows = (select(u.c.id, u.c.published_at, u.c.updated_at)
                     .order_by(*_ordering(dialect, u.c)).offset(offset).limit(per_page))
    else:
        page_rows = (base.order_by(*_ordering(dialect, Initiative))
                     .offset(offset).limit(per_page))
    p = page_rows.subquery("p")
    columns = (Initiative.id, Initiative.public_id, Initiative.status, Initiative.title,
               Initiative.start_date, Initiative.end_date, Initiative.published_at,
               Initiative.updated_at)
    statement = (select(*columns, *(c.label(f"org_{c.key}") for c in _ORG_COLUMNS),
                        *(_children_column(dialect, name, "initiatives.id")
                          for name in _CODES))
                 .join(p, p.c.id == Initiative.id)
                 .outerjoin(Organization, Organization.id == Initiative.lead_organization_id)
                 .order_by(*_ordering(dialect, p.c)))
    return base, conditions, statement


def search_initiatives(*, db_session: Session, principal: Principal, sdg: int | None = None,
                       target: str | None = None, country: str | None = None,
                       region: str | None = None, status: str | None = None,
                       q: str | None = None, page: int = 1,
                       per_page: int = 20,
                       reporting_status: str | None = None) -> InitiativePage:
    """A page of the initiatives ``principal`` may see, newest publication first.

    Filters: ``sdg`` goal number, ``target`` code, ``country`` alpha-3, ``region`` M49 code
    (initiatives covering it: a country in it or the region or one inside it tagged,
    ``shared.reference.region_codes_for``), ``status`` (anonymous callers: default
    ``published`` + ``completion_declared``, the "active" ones; any public state on
    request), ``reporting_status`` (the reporting light: ``green``, ``yellow``, ``red``;
    issue 9, ``registry.compliance``), ``q`` (full text over title and
    description, every word as a prefix, Chinese by character bigrams — see ``search``; or a
    public id, a source reference, part of the lead entity's name — from 3 characters).

    With ``q``, each search branch takes its own first ``page * per_page`` rows in the public
    ordering (so each is served by its index, or walks the ordering index when its term is
    common) and the page is cut from their UNION. Statements: the page, then (only when the
    page is full) on PostgreSQL an EXPLAIN for the estimate and a count stopped past
    ``EXACT_COUNT_LIMIT``. Items are :class:`InitiativeSummary` (codes read as JSON
    aggregates; no child rows loaded).
    """
    dialect = db_session.get_bind().dialect.name
    base, conditions, statement = _list_statements(dialect, principal, sdg, target, country,
                                                   region, status, q, page, per_page,
                                                   reporting_status)
    offset = (page - 1) * per_page
    items = []
    for row in db_session.execute(statement):
        codes = {name: _parse_children(name, getattr(row, f"children_{name}"))
                 for name in _CODES}
        items.append(InitiativeSummary(
            id=row.id, public_id=row.public_id, status=row.status, title=row.title,
            lead_organization=_organization_view(row), goal_codes=codes["goals"],
            target_codes=_target_order(codes["targets"]), country_codes=codes["countries"],
            region_codes=codes["regions"], start_date=row.start_date, end_date=row.end_date,
            published_at=row.published_at, updated_at=row.updated_at))
    if len(items) < per_page and (items or page == 1):
        return InitiativePage(items, offset + len(items))
    total, estimate = _count(db_session, dialect, base, conditions)
    return InitiativePage(items, total, estimate)


def list_initiatives(**kwargs: Any) -> tuple[list[InitiativeSummary], int]:
    """``(items, total)`` of :func:`search_initiatives` (same arguments)."""
    result = search_initiatives(**kwargs)
    return result.items, result.total


@dataclass(frozen=True)
class OrganizationInitiative:
    """An initiative an organisation takes part in, as its page lists it: ``role`` is
    ``owner`` (it registered it), ``lead`` (the confirmed lead entity) or ``partner`` (a
    confirmed partner); the first that applies."""

    id: uuid.UUID
    public_id: str | None
    title: str
    status: str
    published_at: datetime | None
    role: str


def organization_initiatives(*, db_session: Session, principal: Principal,
                             organization_id: uuid.UUID,
                             limit: int = 100) -> list[OrganizationInitiative]:
    """The initiatives ``principal`` may see that organisation ``organization_id`` owns, leads
    (confirmed) or is a confirmed partner of, newest publication first, at most ``limit``.
    One statement (the permission table's visibility filter, ``policy.visible_filter``)."""
    from sqlalchemy import or_

    partner = select(InitiativePartner.initiative_id).where(
        InitiativePartner.organization_id == organization_id,
        InitiativePartner.confirmed.is_(True))
    published = Initiative.published_at.desc()
    if db_session.get_bind().dialect.name == "postgresql":
        published = published.nulls_last()
    rows = db_session.execute(
        select(Initiative.id, Initiative.public_id, Initiative.title, Initiative.status,
               Initiative.published_at, Initiative.owner_organization_id,
               Initiative.lead_organization_id, Initiative.lead_confirmed)
        .where(policy.visible_filter(principal),
               or_(Initiative.owner_organization_id == organization_id,
                   (Initiative.lead_organization_id == organization_id)
                   & Initiative.lead_confirmed.is_(True),
                   Initiative.id.in_(partner)))
        .order_by(published, Initiative.updated_at.desc(), Initiative.id).limit(limit)).all()
    return [OrganizationInitiative(
        r.id, r.public_id, r.title, r.status, r.published_at,
        "owner" if r.owner_organization_id == organization_id
        else "lead" if r.lead_organization_id == organization_id and r.lead_confirmed
        else "partner") for r in rows]


# -- the owner's list (partner pages: /my/initiatives) ---------------------------------------
def list_owned_initiatives(*, db_session: Session, principal: Principal,
                           limit: int = 500) -> list[Initiative]:
    """The initiatives owned by ``principal``'s organisations (any state), last updated
    first, at most ``limit``: the rows only (status, version, title, dates), no children.
    Empty for a caller without organisations."""
    ids = list(principal.organization_ids)
    if not ids:
        return []
    return list(db_session.scalars(
        select(Initiative).where(Initiative.owner_organization_id.in_(ids))
        .order_by(Initiative.updated_at.desc(), Initiative.id).limit(limit)))


def open_revisions(*, db_session: Session,
                   initiative_ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """The open revision (draft, submitted, changes requested) of each of ``initiative_ids``
    that has one, by initiative id (one statement; the caller already may see them)."""
    from registry.initiatives.models import OPEN_REVISION_STATES, InitiativeRevision

    if not initiative_ids:
        return {}
    return {r.initiative_id: r for r in db_session.scalars(select(InitiativeRevision).where(
        InitiativeRevision.initiative_id.in_(initiative_ids),
        InitiativeRevision.status.in_(OPEN_REVISION_STATES)))}
