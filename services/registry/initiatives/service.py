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

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.auth.service import Principal
from registry.initiatives import policy
from registry.initiatives.models import (
    Deliverable,
    Initiative,
    InitiativeActivity,
    InitiativeCountry,
    InitiativeGoal,
    InitiativePartner,
    InitiativeRegion,
    InitiativeTarget,
    PublicIdCounter,
    Resource,
)
from registry.organizations.models import Organization
from registry.organizations.service import organization_ref
from registry.outbox.models import OutboxEvent
from shared import reference
from shared.db import utcnow
from shared.events import types as ev
from shared.outbox import record_event
from shared.problems import (
    InvalidTransition,
    NotAllowed,
    NotFound,
    Unauthenticated,
    ValidationError,
)

SOURCE = "/registry"

EVENT_FOR_ACTION = {
    "create": ev.INITIATIVE_CREATED,
    "update": ev.INITIATIVE_UPDATED,
    "submit": ev.INITIATIVE_SUBMITTED,
    "approve": ev.INITIATIVE_APPROVED,
    "request_changes": ev.INITIATIVE_CHANGES_REQUESTED,
    "reject": ev.INITIATIVE_REJECTED,
    "import": ev.INITIATIVE_IMPORTED,
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


# -- shapes ----------------------------------------------------------------------------------
def snapshot(initiative: Initiative) -> dict[str, Any]:
    """The initiative as an ``InitiativeSnapshot`` (``shared.events.types``)."""
    return {
        "id": str(initiative.id),
        "public_id": initiative.public_id,
        "status": initiative.status,
        "version": initiative.version,
        "title": initiative.title,
        "description": initiative.description,
        "lead_organization": (organization_ref(initiative.lead_organization)
                              if initiative.lead_organization else None),
        "partners": [{"organization": organization_ref(p.organization), "role": p.role}
                     for p in initiative.partners],
        "sdg_goals": initiative.goal_codes,
        "sdg_targets": initiative.target_codes,
        "countries": initiative.country_codes,
        "regions": initiative.region_codes,
        "start_date": initiative.start_date,
        "end_date": initiative.end_date,
        "deliverables": [{"description": d.description, "due_date": d.due_date}
                         for d in initiative.deliverables],
        "resources": [{"type": r.type, "details": r.details, "amount_usd": r.amount_usd}
                      for r in initiative.resources],
        "contact_email": initiative.contact_email,
        "source": initiative.source,
        "source_ref": initiative.source_ref,
        "created_at": initiative.created_at,
        "updated_at": initiative.updated_at,
        "published_at": initiative.published_at,
    }


def _content(initiative: Initiative) -> dict[str, Any]:
    """The editable content in JSON-ready form (for the audit's before/after)."""

    def plain(value: Any) -> Any:
        if isinstance(value, date | datetime):
            return value.isoformat()
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, uuid.UUID):
            return str(value)
        return value

    return {
        "title": initiative.title,
        "description": initiative.description,
        "lead_organization_id": plain(initiative.lead_organization_id),
        "partners": [{"organization_id": str(p.organization_id), "role": p.role}
                     for p in initiative.partners],
        "sdg_targets": initiative.target_codes,
        "sdg_goals": initiative.goal_codes,
        "countries": initiative.country_codes,
        "regions": initiative.region_codes,
        "start_date": plain(initiative.start_date),
        "end_date": plain(initiative.end_date),
        "deliverables": [{"description": d.description, "due_date": plain(d.due_date)}
                         for d in initiative.deliverables],
        "resources": [{"type": r.type, "details": r.details, "amount_usd": plain(r.amount_usd)}
                      for r in initiative.resources],
        "contact_email": initiative.contact_email,
    }


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {k: {"before": before.get(k), "after": after[k]} for k in after
            if before.get(k) != after[k]}


# -- writing ---------------------------------------------------------------------------------
def _check_organizations(db_session: Session, data: dict[str, Any]) -> None:
    wanted: dict[uuid.UUID, str] = {}
    if data.get("lead_organization_id"):
        wanted[data["lead_organization_id"]] = "lead_organization_id"
    for i, partner in enumerate(data.get("partners") or []):
        wanted.setdefault(partner["organization_id"], f"partners.{i}.organization_id")
    if not wanted:
        return
    found = set(db_session.scalars(select(Organization.id).where(
        Organization.id.in_(list(wanted)))))
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


def _apply_content(db_session: Session, initiative: Initiative, data: dict[str, Any]) -> None:
    """Set the fields present in ``data`` (a loaded ``InitiativeInputSchema``)."""
    _check_organizations(db_session, data)
    for name in ("title", "description", "lead_organization_id", "start_date", "end_date",
                 "contact_email"):
        if name in data:
            setattr(initiative, name, data[name].strip() if isinstance(data[name], str)
                    else data[name])
    if "lead_organization_id" in data:
        initiative.lead_organization = (db_session.get(Organization, data["lead_organization_id"])
                                        if data["lead_organization_id"] else None)
    start, end = initiative.start_date, initiative.end_date
    if start and end and end < start:
        raise ValidationError("end_date is before start_date.", errors=[{
            "field": "end_date", "message": f"end_date {end} is before start_date {start}."}])
    if data.get("partners") is not None:
        initiative.partners = [
            InitiativePartner(organization_id=p["organization_id"], role=p["role"], position=i,
                              organization=db_session.get(Organization, p["organization_id"]))
            for i, p in enumerate(data["partners"])]
    targets = data.get("sdg_targets")
    goals = data.get("sdg_goals")
    # goals derived from the targets held BEFORE this change (read before replacing them)
    derived_before = {reference.goal_of_target(t.target_code) for t in initiative.targets}
    if targets is not None:
        initiative.targets = [InitiativeTarget(target_code=t) for t in dict.fromkeys(targets)]
    if targets is not None or goals is not None:
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
    if data.get("deliverables") is not None:
        initiative.deliverables = [
            Deliverable(description=d["description"].strip(), due_date=d.get("due_date"),
                        position=i) for i, d in enumerate(data["deliverables"])]
    if data.get("resources") is not None:
        initiative.resources = [
            Resource(type=r["type"], details=r.get("details"), amount_usd=r.get("amount_usd"),
                     position=i) for i, r in enumerate(data["resources"])]


def _record(db_session: Session, initiative: Initiative, principal: Principal, action: str,
            from_status: str | None, comment: str | None = None,
            changes: dict[str, Any] | None = None) -> None:
    """Timeline entry + outbox event for a change (same transaction)."""
    db_session.flush()
    db_session.add(InitiativeActivity(
        initiative_id=initiative.id, action=action, from_status=from_status,
        to_status=initiative.status, comment=comment, actor_role=principal.role,
        actor_token_id=principal.token_id, actor_organization_id=principal.organization_id,
        actor_email=principal.email, changes=changes or None))
    record_event(db_session, OutboxEvent, EVENT_FOR_ACTION[action], source=SOURCE,
                 subject=str(initiative.id), data={
                     "action": action, "from_status": from_status,
                     "to_status": initiative.status, "comment": comment,
                     "actor": principal.as_event_actor(), "initiative": snapshot(initiative)})


def create_initiative(*, db_session: Session, principal: Principal,
                      data: dict[str, Any]) -> Initiative:
    """Create a draft owned by the caller (a partner, or the secretariat on a partner's behalf).

    ``data`` is a loaded ``InitiativeInputSchema``. Emits ``initiative.created.v1``.
    """
    if principal.role not in ("partner", "secretariat"):
        if not principal.is_authenticated:
            raise Unauthenticated("Sign in (Authorization: Bearer <token>) to register an "
                                  "initiative.")
        raise NotAllowed(f"A {principal.role} may not create initiatives.")
    initiative = Initiative(status="draft", version=1, title=data["title"].strip(),
                            owner_token_id=principal.token_id,
                            owner_organization_id=principal.organization_id,
                            partners=[], targets=[], goals=[], countries=[], regions=[],
                            deliverables=[], resources=[])
    db_session.add(initiative)
    _apply_content(db_session, initiative, data)
    db_session.flush()
    _record(db_session, initiative, principal, "create", None,
            changes=_diff({}, _content(initiative)))
    return initiative


def _load_for(db_session: Session, principal: Principal, initiative_id: uuid.UUID,
              action: str) -> Initiative:
    initiative = db_session.get(Initiative, initiative_id)
    if initiative is None or not policy.can_view(principal, initiative):
        raise NotFound(f"No initiative with id {initiative_id}.")
    if not policy.can(principal, action, initiative):
        if not policy.may_ever(principal, action, initiative):
            if not principal.is_authenticated:
                raise Unauthenticated(f"Sign in to {action.replace('_', ' ')} initiatives.")
            raise NotAllowed(f"A {principal.role} may not {action.replace('_', ' ')} this "
                             "initiative.")
        allowed = policy.actions_in_state(initiative.status)
        raise InvalidTransition(
            f"Cannot {action.replace('_', ' ')}: the initiative is {initiative.status}. "
            f"Allowed in this state: {', '.join(allowed) or 'none'}.",
            extra={"current_status": initiative.status, "allowed_actions": allowed})
    return initiative


def update_initiative(*, db_session: Session, principal: Principal, initiative_id: uuid.UUID,
                      data: dict[str, Any]) -> Initiative:
    """Edit a draft or an initiative sent back for changes (owner only); emits
    ``initiative.updated.v1`` with the changed fields in the timeline."""
    initiative = _load_for(db_session, principal, initiative_id, "update")
    before = _content(initiative)
    _apply_content(db_session, initiative, data)
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
        "sdg_targets": bool(initiative.targets or initiative.goals),
        "countries": bool(initiative.countries or initiative.regions),
        "start_date": initiative.start_date is not None,
        "end_date": initiative.end_date is not None,
        "deliverables": bool(initiative.deliverables),
        "resources": bool(initiative.resources),
        "contact_email": bool(initiative.contact_email),
    }
    errors = [{"field": f, "message": f"Required to submit: {why}"}
              for f, why in SUBMIT_REQUIREMENTS if not present[f]]
    for i, d in enumerate(initiative.deliverables):
        if d.due_date is None:
            errors.append({"field": f"deliverables.{i}.due_date",
                           "message": "Required to submit: each deliverable needs a due date."})
    return errors


def _next_public_id(db_session: Session, year: int) -> str:
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
    counter.last_number += 1
    return f"PR-{year}-{counter.last_number:05d}"


def transition(*, db_session: Session, principal: Principal, initiative_id: uuid.UUID,
               action: str, comment: str | None = None) -> Initiative:
    """Take a workflow ``action`` (``submit``, ``approve``, ``request_changes``, ``reject``).

    Submitting checks the SMART requirements (422 listing each missing field). Approving
    publishes the initiative and gives it its public id ``PR-<year>-<nnnnn>`` (year of
    publication, numbered from 1 each year). Emits the matching ``initiative.*.v1`` event.
    """
    rule = policy.TRANSITIONS.get(action)
    if rule is None:
        raise NotFound(f"Unknown action {action!r}.")
    initiative = _load_for(db_session, principal, initiative_id, action)
    comment = comment.strip() if comment else None
    if rule.comment_required and not comment:
        raise ValidationError("A comment is required.", errors=[{
            "field": "comment",
            "message": f"Say why, so the partner can act on it ({action.replace('_', ' ')})."}])
    if action == "submit":
        errors = submission_errors(initiative)
        if errors:
            raise ValidationError("The initiative is not complete enough to submit.",
                                  errors=errors)
    from_status = initiative.status
    now = utcnow()
    initiative.status = rule.target
    initiative.version += 1
    initiative.updated_at = now
    if action == "submit":
        initiative.submitted_at = now
    if action == "approve":
        initiative.published_at = now
        if initiative.public_id is None:
            initiative.public_id = _next_public_id(db_session, now.year)
    _record(db_session, initiative, principal, action, from_status, comment=comment)
    return initiative


def register_imported_initiative(*, db_session: Session, principal: Principal,
                                 data: dict[str, Any], source: str, source_ref: str,
                                 source_url: str | None = None) -> Initiative:
    """Register an already-published record from another registry (system or secretariat).

    ``data`` has the ``InitiativeInputSchema`` fields (validated by the caller). The record is
    published at once with a new public id; emits ``initiative.imported.v1`` (which notifies
    nobody). Raises :class:`NotAllowed` for other principals.
    """
    if principal.role not in ("system", "secretariat"):
        raise NotAllowed("Only the secretariat may import initiatives.")
    now = utcnow()
    initiative = Initiative(status="published", version=1, title=data["title"].strip(),
                            source=source, source_ref=source_ref, source_url=source_url,
                            partners=[], targets=[], goals=[], countries=[], regions=[],
                            deliverables=[], resources=[], published_at=now,
                            public_id=_next_public_id(db_session, now.year))
    db_session.add(initiative)
    _apply_content(db_session, initiative, data)
    _record(db_session, initiative, principal, "import", None)
    return initiative


# -- reading ---------------------------------------------------------------------------------
def get_initiative(*, db_session: Session, principal: Principal,
                   initiative_id: uuid.UUID | None = None,
                   public_id: str | None = None) -> Initiative:
    """One initiative by id or public id; :class:`NotFound` when absent or not visible."""
    if public_id is not None:
        initiative = db_session.scalar(select(Initiative).where(
            Initiative.public_id == public_id))
    else:
        initiative = db_session.get(Initiative, initiative_id)
    if initiative is None or not policy.can_view(principal, initiative):
        raise NotFound(f"No initiative {public_id or initiative_id}.")
    return initiative


def timeline(*, db_session: Session, initiative: Initiative) -> list[InitiativeActivity]:
    """The initiative's activities, oldest first."""
    return list(db_session.scalars(select(InitiativeActivity).where(
        InitiativeActivity.initiative_id == initiative.id).order_by(
        InitiativeActivity.created_at)))


def can_see_private(principal: Principal, initiative: Initiative) -> bool:
    """Owner and secretariat see contact, timeline and comments; the public does not."""
    return principal.role in ("secretariat", "system") or policy.is_owner(principal, initiative)


def _filtered(principal: Principal, *, sdg: int | None, target: str | None,
              country: str | None, region: str | None, status: str | None,
              q: str | None) -> Select:
    query = select(Initiative).where(policy.visible_filter(principal))
    if sdg is not None:
        query = query.where(Initiative.goals.any(InitiativeGoal.goal == sdg))
    if target:
        query = query.where(Initiative.targets.any(InitiativeTarget.target_code == target))
    if country:
        query = query.where(Initiative.countries.any(InitiativeCountry.country == country))
    if region:
        query = query.where(Initiative.regions.any(InitiativeRegion.region == region))
    if status:
        query = query.where(Initiative.status == status)
    if q:
        term = q.strip()
        query = query.where(or_(
            Initiative.title.icontains(term, autoescape=True),
            Initiative.description.icontains(term, autoescape=True),
            Initiative.public_id == term.upper(),
            Initiative.source_ref == term,
            Initiative.lead_organization.has(Organization.name.icontains(term,
                                                                         autoescape=True)),
        ))
    return query


def list_initiatives(*, db_session: Session, principal: Principal, sdg: int | None = None,
                     target: str | None = None, country: str | None = None,
                     region: str | None = None, status: str | None = None,
                     q: str | None = None, page: int = 1,
                     per_page: int = 20) -> tuple[list[Initiative], int]:
    """A page of the initiatives ``principal`` may see, newest first, and the total count.

    Filters: ``sdg`` goal number, ``target`` code, ``country`` alpha-3, ``region`` M49 code,
    ``status``, ``q`` (title, description, lead entity name, public id or source reference).
    """
    query = _filtered(principal, sdg=sdg, target=target, country=country, region=region,
                      status=status, q=q)
    total = db_session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = list(db_session.scalars(
        query.order_by(Initiative.published_at.desc().nulls_last(),
                       Initiative.updated_at.desc(), Initiative.id)
        .offset((page - 1) * per_page).limit(per_page)))
    return items, total
