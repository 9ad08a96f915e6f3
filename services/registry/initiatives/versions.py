"""Approved versions of an initiative: the content shape (built here, once), the field-by-field
diff between two contents, and the ``initiative_versions`` rows.

The **content** of an initiative is what its owner edits and the secretariat approves
(:func:`content_of`), JSON-ready::

    {"title": str, "description": str | None,
     "lead_organization": OrganizationRef | None,
     "partners": [{"organization": OrganizationRef, "role": str}],
     "sdg_goals": [int], "sdg_targets": [str], "countries": [str], "regions": [str],
     "start_date": "YYYY-MM-DD" | None, "end_date": "YYYY-MM-DD" | None,
     "deliverables": [{"id": str | None, "description": str, "due_date": "YYYY-MM-DD" | None,
                       "status": str}],
     "resources": [{"type": str, "details": str | None, "amount_usd": "1234.50" | None}],
     "contact_email": str | None}

``OrganizationRef`` is ``{id, name, acronym, stakeholder_group, country}``
(``shared.events.types.OrganizationRef``; ``id`` and ``name`` are what pages show). The event
snapshot (``service.snapshot``) is this content plus metadata; version rows
(``initiative_versions.content``) and revisions (``initiative_revisions.content``) store it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.authz import permissions as authz
from registry.authz.permissions import Action, Aggregate, authorize
from registry.initiatives.models import Initiative, InitiativeRevision, InitiativeVersion
from shared.db import utcnow
from shared.identity import Principal
from shared.problems import NotFound, ValidationError

#: The content's fields, in the order pages and diffs show them.
CONTENT_FIELDS: tuple[str, ...] = (
    "title", "description", "lead_organization", "partners", "sdg_goals", "sdg_targets",
    "countries", "regions", "start_date", "end_date", "deliverables", "resources",
    "contact_email")
#: Fields holding one value (compared as a whole).
SCALAR_FIELDS: tuple[str, ...] = (
    "title", "description", "lead_organization", "start_date", "end_date", "contact_email")
#: Lists of codes: items compared by the code itself.
CODE_LISTS: tuple[str, ...] = ("sdg_goals", "sdg_targets", "countries", "regions")
#: Lists of records: how items are matched (``partners`` by organisation id,
#: ``deliverables`` by their stable id, ``resources`` by position) and the item fields
#: compared.
RECORD_LISTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "partners": ("organization", ("role",)),
    "deliverables": ("id", ("description", "due_date", "status")),
    "resources": ("position", ("type", "details", "amount_usd")),
}
#: Fields only the owner organisation and the secretariat may see (left out of the public's
#: versions and diffs).
PRIVATE_FIELDS: tuple[str, ...] = ("contact_email",)

_CENT = Decimal("0.01")


# -- the content shape -----------------------------------------------------------------------
def organization_content(org: Any) -> dict[str, Any] | None:
    """An organisation (row or view) as the content holds it (``OrganizationRef``)."""
    if org is None:
        return None
    return {"id": str(org.id), "name": org.name, "acronym": org.acronym,
            "stakeholder_group": org.stakeholder_group, "country": org.country}


def _amount(value: Any) -> Decimal | None:
    """An amount in USD with 2 decimals (``12.5`` and ``12.50`` are one amount)."""
    if value is None:
        return None
    return Decimal(str(value)).quantize(_CENT)


def content_of(initiative: Any, *, json_ready: bool = True) -> dict[str, Any]:
    """The content of ``initiative`` (an ``Initiative``, an ``InitiativeView`` or any object
    with the same attributes) in the shape of the module docstring.

    ``json_ready`` (default): dates as ISO strings, amounts as strings with 2 decimals (what
    version rows, revisions and diffs hold). ``json_ready=False``: dates as ``date``, amounts
    as ``Decimal`` (what the event snapshot's schema dumps). Deliverables without a stored
    status read as ``planned``.
    """
    content: dict[str, Any] = {
        "title": initiative.title,
        "description": initiative.description,
        "lead_organization": organization_content(initiative.lead_organization),
        "partners": [{"organization": organization_content(p.organization), "role": p.role}
                     for p in initiative.partners],
        "sdg_goals": list(initiative.goal_codes),
        "sdg_targets": list(initiative.target_codes),
        "countries": list(initiative.country_codes),
        "regions": list(initiative.region_codes),
        "start_date": initiative.start_date,
        "end_date": initiative.end_date,
        "deliverables": [{"id": str(d.id) if getattr(d, "id", None) else None,
                          "description": d.description, "due_date": d.due_date,
                          "status": getattr(d, "status", None) or "planned"}
                         for d in initiative.deliverables],
        "resources": [{"type": r.type, "details": r.details,
                       "amount_usd": _amount(r.amount_usd)} for r in initiative.resources],
        "contact_email": initiative.contact_email,
    }
    return json_content(content) if json_ready else content


def json_content(value: Any) -> Any:
    """``value`` with dates as ISO strings, decimals as fixed-point strings (2 decimals for
    amounts), UUIDs as strings; dicts and lists converted item by item."""
    if isinstance(value, dict):
        return {k: (amount_text(v) if k == "amount_usd" else json_content(v))
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_content(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def amount_text(value: Any) -> str | None:
    """An amount as text with 2 decimals (``"1000.00"``); None stays None."""
    if value is None:
        return None
    try:
        return format(_amount(value), "f")
    except (InvalidOperation, ValueError):
        return str(value)


def public_content(content: dict[str, Any]) -> dict[str, Any]:
    """``content`` without the fields only the owner and the secretariat see."""
    return {k: v for k, v in content.items() if k not in PRIVATE_FIELDS}


# -- the diff --------------------------------------------------------------------------------
def _same(field: str, a: Any, b: Any) -> bool:
    """Equal values of ``field`` (organisations by id; amounts as numbers; dates in either
    form)."""
    if field in ("lead_organization", "organization"):
        return (a or {}).get("id") == (b or {}).get("id")
    if field == "amount_usd" and a is not None and b is not None:
        try:
            return Decimal(str(a)) == Decimal(str(b))
        except InvalidOperation:
            return a == b
    return json_content(a) == json_content(b)


def _scalar_change(field: str, before: Any, after: Any) -> dict[str, Any] | None:
    if _same(field, before, after):
        return None
    change = "added" if before is None else "removed" if after is None else "changed"
    return {"field": field, "change": change, "before": json_content(before),
            "after": json_content(after)}


def _code_list(before: list[Any], after: list[Any]) -> dict[str, Any]:
    old, new = list(dict.fromkeys(before)), list(dict.fromkeys(after))
    old_set, new_set = set(old), set(new)
    return {"added": [c for c in new if c not in old_set],
            "removed": [c for c in old if c not in new_set],
            "changed": [], "unchanged": len(old_set & new_set)}


def _item_key(field: str, item: dict[str, Any], position: int) -> Any:
    how = RECORD_LISTS[field][0]
    if how == "position":
        return position
    if how == "organization":
        return (item.get("organization") or {}).get("id")
    # deliverables: their stable id; one without an id (an older record) by its position
    return item.get("id") or f"#{position}"


def _record_list(field: str, before: list[dict], after: list[dict]) -> dict[str, Any]:
    compared = RECORD_LISTS[field][1]
    old = {_item_key(field, item, i): item for i, item in enumerate(before)}
    new = {_item_key(field, item, i): item for i, item in enumerate(after)}
    changed, unchanged = [], 0
    for key, item in new.items():
        if key not in old:
            continue
        fields = [name for name in compared
                  if not _same(name, old[key].get(name), item.get(name))]
        if fields:
            changed.append({"key": key, "before": json_content(old[key]),
                            "after": json_content(item), "fields": fields})
        else:
            unchanged += 1
    return {"added": [json_content(item) for key, item in new.items() if key not in old],
            "removed": [json_content(item) for key, item in old.items() if key not in new],
            "changed": changed, "unchanged": unchanged}


def diff_content(before: dict[str, Any], after: dict[str, Any], *, from_: int | None = None,
                 to: int | None = None) -> dict[str, Any]:
    """The field-by-field difference from content ``before`` to content ``after`` (both in
    the :func:`content_of` shape; a field missing from one reads as empty).

    Returns ``{"from": from_, "to": to, "fields": [...], "lists": {...},
    "changed_fields": [...]}``:

    - ``fields``: each one-value field that differs, ``{field, change, before, after}``,
      ``change`` ``added`` (was empty), ``removed`` (now empty) or ``changed``; the lead
      organisation compares by id, dates and amounts by value (``"12.5"`` = ``"12.50"``).
    - ``lists``: each list field that differs, ``{added: [...], removed: [...], changed:
      [{key, before, after, fields}], unchanged: int}``, items matched by code
      (``sdg_goals``, ``sdg_targets``, ``countries``, ``regions``), partners by organisation
      id (a changed role), deliverables by id (description, due date, status), resources by
      position (``key`` 0-based; type, details, amount).
    - ``changed_fields``: the names of the fields that differ, in :data:`CONTENT_FIELDS` order.
    """
    fields: list[dict[str, Any]] = []
    lists: dict[str, dict[str, Any]] = {}
    for name in CONTENT_FIELDS:
        if name in SCALAR_FIELDS:
            change = _scalar_change(name, before.get(name), after.get(name))
            if change:
                fields.append(change)
            continue
        old, new = before.get(name) or [], after.get(name) or []
        result = (_code_list(old, new) if name in CODE_LISTS
                  else _record_list(name, old, new))
        if result["added"] or result["removed"] or result["changed"]:
            lists[name] = result
    changed = {f["field"] for f in fields} | set(lists)
    return {"from": from_, "to": to, "fields": fields, "lists": lists,
            "changed_fields": [name for name in CONTENT_FIELDS if name in changed]}


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The names of the content fields that differ (:func:`diff_content`'s
    ``changed_fields``)."""
    return diff_content(before, after)["changed_fields"]


# -- version rows ----------------------------------------------------------------------------
def _approver(principal: Principal | None) -> tuple[str | None, str | None]:
    """(name, e-mail) of who approved, as the version row keeps them."""
    if principal is None:
        return None, None
    actor = authz.actor_data(principal)
    name = actor.get("name") or principal.email or actor.get("role")
    return name, principal.email


def write_version(*, db_session: Session, principal: Principal | None, initiative: Any,
                  number: int, revision_id: uuid.UUID | None = None,
                  changed: list[str] | None = None,
                  content: dict[str, Any] | None = None,
                  add: bool = True) -> InitiativeVersion:
    """Write approved version ``number`` of ``initiative`` (an ``Initiative`` or an
    ``InitiativeView``): its content (:func:`content_of`, or ``content`` when the caller has
    it), who approved it and when, the revision it came from and the ``changed`` fields (empty
    for version 1); sets ``initiative.approved_version`` to ``number``. Added to the session
    (the caller's transaction). Called at first approval (the initiative workflow's adapter,
    number 1), on import (number 1) and when a revision is approved (:func:`record_version`).
    ``add`` False: the row is returned, not added (the caller inserts it itself, e.g. in one
    statement with the activity and the event)."""
    entity = getattr(initiative, "entity", initiative)
    name, email = _approver(principal)
    row = InitiativeVersion(
        initiative_id=entity.id, number=number,
        content=content if content is not None else content_of(initiative),
        approved_at=utcnow(), approved_by_name=name, approved_by_email=email,
        revision_id=revision_id, changed_fields=list(changed or []))
    entity.approved_version = number
    if not add:
        return row
    if isinstance(entity, Initiative):
        row.initiative = entity  # (the unit of work then inserts a new initiative first)
    db_session.add(row)
    return row


def record_version(db_session: Session, initiative: Any, *, principal: Principal | None,
                   revision_id: uuid.UUID | None = None,
                   changed: list[str] | None = None,
                   content: dict[str, Any] | None = None,
                   add: bool = True) -> InitiativeVersion:
    """Write the NEXT approved version of ``initiative`` (``approved_version + 1``; 1 when it
    has none): :func:`write_version`."""
    entity = getattr(initiative, "entity", initiative)
    return write_version(db_session=db_session, principal=principal, initiative=initiative,
                         number=(entity.approved_version or 0) + 1, revision_id=revision_id,
                         changed=changed, content=content, add=add)


def version_rows(initiative_id: uuid.UUID, content: dict[str, Any], *,
                 principal: Principal | None, approved_at: datetime) -> dict[str, Any]:
    """The ``initiative_versions`` row of version 1 of an imported record, as a dict for
    ``registry.db.bulk_insert`` (an import writes a batch's versions in one statement)."""
    name, email = _approver(principal)
    return {"initiative_id": initiative_id, "number": 1, "content": content,
            "approved_at": approved_at, "approved_by_name": name,
            "approved_by_email": email, "revision_id": None, "changed_fields": []}


def _readable(db_session: Session, principal: Principal, initiative_id: uuid.UUID) -> Any:
    """The initiative if ``principal`` may see it (the initiative's own audience rule);
    NotFound otherwise."""
    initiative = db_session.get(Initiative, initiative_id)
    if initiative is None:
        raise NotFound(f"No initiative {initiative_id}.")
    authorize(principal, Action.VIEW, initiative, Aggregate.INITIATIVE, what="initiative")
    return initiative


def _audience_content(principal: Principal, initiative: Any,
                      content: dict[str, Any]) -> dict[str, Any]:
    if authz.can(principal, Action.VIEW_PRIVATE, initiative, Aggregate.INITIATIVE):
        return content
    return public_content(content)


@dataclass
class VersionView:
    """An approved version as answered: ``number``, ``approved_at`` (UTC),
    ``approved_by_name`` (and ``approved_by_email`` for owner and secretariat only),
    ``revision_number`` (the revision it came from; null for version 1), ``changed_fields``,
    and ``content`` (the public's without the contact e-mail) when one version is read."""

    initiative_id: uuid.UUID
    number: int
    approved_at: datetime
    approved_by_name: str | None
    approved_by_email: str | None
    revision_number: int | None
    changed_fields: list[str]
    content: dict[str, Any] | None = None
    current: bool = False


def _view(principal: Principal, initiative: Any, row: Any, revision_number: int | None,
          with_content: bool) -> VersionView:
    private = authz.can(principal, Action.VIEW_PRIVATE, initiative, Aggregate.INITIATIVE)
    return VersionView(
        initiative_id=row.initiative_id, number=row.number, approved_at=row.approved_at,
        approved_by_name=row.approved_by_name,
        approved_by_email=row.approved_by_email if private else None,
        revision_number=revision_number, changed_fields=list(row.changed_fields or []),
        content=_audience_content(principal, initiative, row.content) if with_content
        else None,
        current=row.number == initiative.approved_version)


def list_versions(*, db_session: Session, principal: Principal,
                  initiative_id: uuid.UUID) -> list[VersionView]:
    """The approved versions of an initiative, oldest first, without their content (one
    statement). Visible to whoever may see the initiative (anyone for a public one);
    :class:`NotFound` otherwise. Empty before the first approval."""
    initiative = _readable(db_session, principal, initiative_id)
    rows = db_session.execute(
        select(InitiativeVersion.initiative_id, InitiativeVersion.number,
               InitiativeVersion.approved_at, InitiativeVersion.approved_by_name,
               InitiativeVersion.approved_by_email, InitiativeVersion.changed_fields,
               InitiativeRevision.number.label("revision_number"))
        .outerjoin(InitiativeRevision, InitiativeRevision.id == InitiativeVersion.revision_id)
        .where(InitiativeVersion.initiative_id == initiative_id)
        .order_by(InitiativeVersion.number))
    return [_view(principal, initiative, row, row.revision_number, False) for row in rows]


def _version_row(db_session: Session, initiative_id: uuid.UUID, number: int) -> Any:
    return db_session.execute(
        select(InitiativeVersion, InitiativeRevision.number)
        .outerjoin(InitiativeRevision, InitiativeRevision.id == InitiativeVersion.revision_id)
        .where(InitiativeVersion.initiative_id == initiative_id,
               InitiativeVersion.number == number)).first()


def get_version(*, db_session: Session, principal: Principal, initiative_id: uuid.UUID,
                number: int) -> VersionView:
    """Version ``number`` of an initiative with its content (the public's without the
    contact e-mail). :class:`NotFound` when the initiative is absent or invisible, or has no
    such version."""
    initiative = _readable(db_session, principal, initiative_id)
    found = _version_row(db_session, initiative_id, number)
    if found is None:
        raise NotFound(f"Initiative {initiative_id} has no version {number}"
                       + (f" (versions 1 to {initiative.approved_version})."
                          if initiative.approved_version else ": it was never approved."))
    row, revision_number = found
    return _view(principal, initiative, row, revision_number, True)


def diff_versions(*, db_session: Session, principal: Principal, initiative_id: uuid.UUID,
                  from_: int | None = None, to: int | None = None) -> dict[str, Any]:
    """The difference between two approved versions (:func:`diff_content`'s shape, with
    ``from`` and ``to``). ``to`` defaults to the current approved version, ``from`` to the
    one before ``to`` (or ``to`` itself for version 1); an initiative never approved, asked
    without ``from``/``to``, has an empty diff (``from``, ``to`` null). The public's diff
    leaves out the contact e-mail. Raises :class:`NotFound` (initiative absent or invisible),
    :class:`ValidationError` (422) naming ``from`` or ``to`` when that version does not
    exist."""
    initiative = _readable(db_session, principal, initiative_id)
    last = initiative.approved_version or 0
    if not last and from_ is None and to is None:  # never approved: nothing to compare
        return diff_content({}, {}, from_=None, to=None)
    to = last if to is None else to
    from_ = (max(to - 1, 1) if to else 0) if from_ is None else from_
    errors = [{"field": name, "message": (f"No version {value}: this initiative has versions "
                                          f"1 to {last}." if last else
                                          "This initiative has no approved version yet.")}
              for name, value in (("from", from_), ("to", to)) if not 1 <= value <= last]
    if errors:
        raise ValidationError("Unknown version.", errors=errors)
    contents: dict[int, dict[str, Any]] = dict(db_session.execute(
        select(InitiativeVersion.number, InitiativeVersion.content).where(
            InitiativeVersion.initiative_id == initiative_id,
            InitiativeVersion.number.in_({from_, to}))).all())
    before = _audience_content(principal, initiative, contents[from_])
    after = _audience_content(principal, initiative, contents[to])
    return diff_content(before, after, from_=from_, to=to)


def initiatives_missing_their_version(db_session: Session) -> list[uuid.UUID]:
    """Ids of initiatives whose ``approved_version`` has no ``initiative_versions`` row, in
    publication order: records published before migration 0008 (which set their
    ``approved_version`` to 1 without content: the content of the moment of publication was
    not kept before the review desk). One statement (anti-join on the version's key)."""
    missing = ~select(InitiativeVersion.number).where(
        InitiativeVersion.initiative_id == Initiative.id,
        InitiativeVersion.number == Initiative.approved_version).exists()
    return list(db_session.scalars(
        select(Initiative.id).where(Initiative.approved_version.is_not(None), missing)
        .order_by(Initiative.published_at, Initiative.id)))


def backfill_versions(*, db_session: Session, initiative_ids: list[uuid.UUID]) -> int:
    """Write the missing version row of each of ``initiative_ids`` (see
    :func:`initiatives_missing_their_version`): number ``approved_version``, the record's
    current content (the best record of it there is: before the review desk a published
    initiative could not change), approved at its ``published_at`` (else ``updated_at``), by
    nobody named. Rows that appeared meanwhile are skipped. Children are loaded in one
    statement each (``selectinload``), not per record. Does not commit; returns how many rows
    were written."""
    from sqlalchemy.orm import selectinload

    if not initiative_ids:
        return 0
    have = {(row[0], row[1]) for row in db_session.execute(
        select(InitiativeVersion.initiative_id, InitiativeVersion.number).where(
            InitiativeVersion.initiative_id.in_(initiative_ids)))}
    rows = db_session.scalars(
        select(Initiative).where(Initiative.id.in_(initiative_ids),
                                 Initiative.approved_version.is_not(None))
        .options(selectinload(Initiative.lead_organization),
                 selectinload(Initiative.partners), selectinload(Initiative.targets),
                 selectinload(Initiative.goals), selectinload(Initiative.countries),
                 selectinload(Initiative.regions), selectinload(Initiative.deliverables),
                 selectinload(Initiative.resources))).all()
    written = 0
    for initiative in rows:
        if (initiative.id, initiative.approved_version) in have:
            continue
        db_session.add(InitiativeVersion(
            initiative_id=initiative.id, number=initiative.approved_version,
            content=content_of(initiative),
            approved_at=initiative.published_at or initiative.updated_at,
            approved_by_name=None, approved_by_email=None, revision_id=None,
            changed_fields=[]))
        written += 1
    db_session.flush()
    return written
