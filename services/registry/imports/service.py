"""Import of UN Ocean Conference voluntary commitments (the #OceanAction registry).

Input format: JSON Lines as in ``ocean_commitments.jsonl`` (one commitment per line; fields
``ocean_action_id``, ``title``, ``entity_types``, ``lead_entity``, ``partners`` (free text),
``description``, ``sdgs``, ``sdg14_targets``, ``start_date``, ``completion_date``,
``deliverables`` [{date, description}], ``resources`` [{type, details}], ``countries`` (names),
``url`` …; see data/sample/README.md).

Rules:

* A file that is not valid JSON Lines (a line that is not a JSON object) loads NOTHING:
  :class:`MalformedFile` names the line.
* Each record goes through the same input schema as the API (never trust a file) and the
  initiatives service (``import_initiatives``, the bulk form of
  ``register_imported_initiative``), so it gets a public id, a timeline entry and its
  ``initiative.imported.v1`` event.
* A record that cannot be mapped (no id, no title, no lead entity, invalid after mapping, or a
  duplicate id in the file) is skipped and reported with its line number and reason. A
  record already imported (same ``source_ref``) is skipped, so re-running is harmless.
* Lead entities and free-text partners become organisation records, reusing one organisation
  per normalised name. A partner fragment holding an e-mail address or a telephone number is
  personal data, never an organisation: it is dropped and reported as a warning on its line
  (without the detail itself); a lead entity loses the detail
  (``registry.organizations.names``). The entity type becomes the stakeholder group; country
  names are matched to ISO alpha-3 (names that are not countries, such as "European
  Commission", are warnings).
* Progress reports (``progress_reports`` [{title, status, submitted}], newest first in the
  file) become APPROVED progress reports of the record (``source`` ``import``), numbered
  1, 2, … oldest first: the date is ``reported_on`` and, at 00:00 UTC, ``submitted_at`` and
  ``approved_at``; the platform's status label maps to ``PROGRESS_STATUSES`` (empty -> null,
  "Inactive" -> ``inactive``); the title is kept as the narrative; the link is the record's
  page on the platform (where the report is listed). ``source_ref`` is ``<date>#<k>``, the
  k-th report of that day (the file holds identical reports of one day: every one is kept).
  The initiative gets ``progress_reports_count`` and ``last_progress_report_on``. A report
  without a valid date is dropped with a warning (it could not anchor the reporting cycle).
* Publication date: the source has none (see NOTES-importer.md). ``published_at`` is the
  opening day of the UN Ocean Conference whose registration the record belongs to (by its
  platform node id: :data:`CONFERENCES`), or the day of its first progress report when that
  is earlier (a record is published before anyone reports on it).
* The record arrives with its reporting light as of the import (``registry.compliance.rule``:
  anchor = the later of that publication and its last report; ``reporting_status``,
  ``_since``, ``reporting_anchor_on`` and a first ``reporting_status_changes`` row; its
  ``initiative.imported.v1`` snapshot carries it, so no separate change event).
* Re-importing is idempotent: a record already imported is not imported again, but its
  progress reports missing from the registry (a newer file) are added, numbered after the
  ones it has; the reports already there (same ``source_ref``) are left alone.
* Work is committed in batches of ``batch_size`` records, each written in one unit of work
  (progress callback after each).
"""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, cast

from marshmallow import ValidationError as SchemaError
from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from registry.authz.permissions import Action, Aggregate, authorize
from registry.compliance import rule
from registry.compliance.models import ReportingStatusChange
from registry.compliance.service import refresh_initiative, thresholds
from registry.db import bulk_insert
from registry.initiatives.models import Initiative
from registry.initiatives.schemas import InitiativeInputSchema
from registry.initiatives.service import ImportedRecord, import_initiatives
from registry.organizations.models import Organization
from registry.organizations.names import contact_details_in, without_contact_details
from registry.organizations.service import add_organizations, adopt_stakeholder_group
from registry.progress.models import ProgressReport
from registry.reference import (
    ENTITY_TYPE_TO_STAKEHOLDER_GROUP,
    RESOURCE_TYPES,
    country_by_name,
    normalize_name,
)
from registry.workflow import models as wf
from registry.workflow.actors import actor_columns
from registry.workflow.models import Activity
from shared import reference
from shared.db import new_uuid, utcnow
from shared.events.types import PROGRESS_STATUSES
from shared.identity import SYSTEM, Principal
from shared.inputs import clean_single_line, is_http_url
from shared.problems import field_errors

SOURCE = "un-ocean-conference"

_RESOURCE_TYPES = {label: code for code, label in RESOURCE_TYPES.items()}
_OCEAN_ID = re.compile(r"^#OceanAction\d{1,9}$")
_ROLE_NOTE = re.compile(r"\s*\([^)]{0,120}\)\s*")
_URL = re.compile(r"https?://|www\.", re.I)
_AMOUNT = re.compile(r"^\s*(?:US\$|USD|\$)?\s*([0-9][0-9,.\s]*)\s*(?:USD|US\$|\$)?\s*$", re.I)
MAX_PARTNERS = 60

#: The Ocean platform's progress status labels -> ``PROGRESS_STATUSES`` (empty -> null).
PROGRESS_STATUS_BY_LABEL = {
    "on track": "on_track", "off track": "off_track", "completed": "completed",
    "financial issues": "financial_issues", "cancelled": "cancelled", "canceled": "cancelled",
    "inactive": "inactive",
}
assert set(PROGRESS_STATUS_BY_LABEL.values()) == set(PROGRESS_STATUSES)
#: (first platform node id, opening day) of the UN Ocean Conferences, oldest first: a
#: record's node id (Drupal numbers pages in creation order) tells which conference's
#: registration it belongs to. Bounds read off the file (NOTES-importer.md): nodes
#: 40557-43999 are the 2017 commitments (first reports from 2017-09), 44000-53999 the 2022
#: ones (first reports from 2022-06), 54000 and later the 2025 ones. Conferences: New York
#: 5-9 June 2017, Lisbon 27 June-1 July 2022, Nice 9-13 June 2025 (un.org/oceanconference).
CONFERENCES: tuple[tuple[int, date], ...] = (
    (0, date(2017, 6, 5)), (44_000, date(2022, 6, 27)), (54_000, date(2025, 6, 9)))


class MalformedFile(ValueError):
    """The file is not JSON Lines; ``line`` is the 1-based line number of the first problem."""

    def __init__(self, line: int, reason: str):
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


class UnmappableRecord(ValueError):
    """A record that cannot become an initiative; the message says why."""


@dataclass
class RowProblem:
    """A skipped record or a warning: 1-based line number, the record id if any, the reason."""

    line: int
    ref: str | None
    reason: str


@dataclass
class ImportReport:
    """Outcome of an import: counts, skipped rows and warnings (line numbers, reasons)."""

    total: int = 0
    imported: int = 0
    already_present: int = 0
    #: progress reports written (of new records and added to records already present)
    progress_reports: int = 0
    skipped: list[RowProblem] = field(default_factory=list)
    warnings: list[RowProblem] = field(default_factory=list)


def read_records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """All records of a JSON Lines file as (line number, object); blank lines are ignored.

    Raises :class:`MalformedFile` at the first line that is not a JSON object (and for a file
    that is not UTF-8), so a broken file loads nothing.
    """
    records: list[tuple[int, dict[str, Any]]] = []
    try:
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise MalformedFile(number, f"not valid JSON ({exc.msg} at column "
                                                f"{exc.colno})") from exc
                if not isinstance(value, dict):
                    raise MalformedFile(number, "not a JSON object")
                records.append((number, value))
    except UnicodeDecodeError as exc:
        raise MalformedFile(0, f"the file is not UTF-8 ({exc.reason})") from exc
    return records


def _text(value: Any, limit: int | None = None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise UnmappableRecord(f"expected text, got {type(value).__name__}")
    value = value.strip()
    if not value:
        return None
    return value[:limit] if limit else value


def _date(value: Any, name: str, warnings: list[str]) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        warnings.append(f"{name} {value!r} is not an ISO date; left empty")
        return None


def split_partners(text: str | None, lead: str,
                   dropped: list[str] | None = None) -> list[str]:
    """Organisation names in a free-text partner list (best effort).

    Splits on ``;`` or new lines when present, else on commas; drops role notes in
    parentheses, trailing country names, URLs, and the lead entity itself; drops fragments
    holding an e-mail address or a telephone number, appending to ``dropped`` why (the kind
    of detail and the fragment's position, never the detail).
    """
    if not text:
        return []
    parts = re.split(r"[;\n]+", text) if re.search(r"[;\n]", text) else text.split(",")
    names: list[str] = []
    seen = {normalize_name(lead)}
    for part in parts:
        name = clean_single_line(_ROLE_NOTE.sub(" ", part)).strip(" .,-–—:")
        if "," in name:  # "Org name, Country" -> "Org name"
            head, _, tail = name.rpartition(",")
            if country_by_name(tail.strip()) is not None:
                name = head.strip(" .,")
        if not name:
            continue
        details = contact_details_in(name)
        if details:
            if dropped is not None:
                dropped.append(f"a partner name was dropped: it holds {_kinds(details)}")
            continue
        if _URL.search(name) or len(name) < 3 or len(name) > 150:
            continue
        if country_by_name(name) is not None and "," not in part:
            continue  # a bare country name is geography, not a partner
        key = normalize_name(name)
        if not key or key in seen:
            continue
        seen.add(key)
        names.append(name)
    return names[:MAX_PARTNERS]


def _kinds(details: list[str]) -> str:
    """``["e-mail address", "telephone number"]`` -> "an e-mail address and a telephone number"."""
    return " and ".join(("an " if d[0] in "aeiou" else "a ") + d for d in details)


def _amount(details: str | None) -> Decimal | None:
    if not details:
        return None
    match = _AMOUNT.match(details)
    if not match:
        return None
    digits = re.sub(r"[,\s]", "", match.group(1))
    if digits.count(".") > 1:
        digits = digits.replace(".", "")
    try:
        value = Decimal(digits)
    except InvalidOperation:
        return None
    return value if 0 <= value < 10**15 else None


@dataclass(frozen=True)
class MappedReport:
    """A progress report of the file, ready to be written: ``source_ref`` (``<date>#<k>``),
    the date, the overall status (``PROGRESS_STATUSES`` or None), the title, the links."""

    source_ref: str
    reported_on: date
    overall_status: str | None
    title: str | None
    links: tuple[str, ...]


@dataclass
class MappedRecord:
    """A record ready for the service: initiative fields, organisations to resolve, warnings,
    its progress reports (oldest first) and its publication date."""

    ref: str
    url: str | None
    data: dict[str, Any]
    lead_name: str
    lead_group: str
    partner_names: list[str]
    warnings: list[str]
    reports: list[MappedReport] = field(default_factory=list)
    published_on: date | None = None


def map_progress_reports(items: Any, url: str | None,
                         warnings: list[str]) -> list[MappedReport]:
    """The file's ``progress_reports`` (newest first) as :class:`MappedReport`, oldest first.

    A report without a valid ISO date is dropped (warning); an unknown status label becomes
    null (warning); an empty one is null. ``source_ref`` numbers the reports of one day in
    file order from the oldest, so a newer file listing more reports keeps the old refs.
    """
    if items is None:
        return []
    if not isinstance(items, list):
        warnings.append("progress_reports is not a list; dropped")
        return []
    out: list[MappedReport] = []
    per_day: dict[date, int] = {}
    for position, item in enumerate(reversed(items), start=1):
        if not isinstance(item, dict):
            warnings.append(f"progress report {position} is not an object; dropped")
            continue
        day = _date(item.get("submitted"), f"progress report {position} date", warnings)
        if day is None:
            warnings.append(f"progress report {position} has no date; dropped")
            continue
        label = item.get("status")
        status = None
        if isinstance(label, str) and label.strip():
            status = PROGRESS_STATUS_BY_LABEL.get(label.strip().lower())
            if status is None:
                warnings.append(f"progress report {position}: unknown status "
                                f"{label.strip()[:40]!r}; left empty")
        title = item.get("title")
        title = clean_single_line(title)[:500] if isinstance(title, str) else None
        per_day[day] = per_day.get(day, 0) + 1
        out.append(MappedReport(source_ref=f"{day.isoformat()}#{per_day[day]}",
                                reported_on=day, overall_status=status,
                                title=title or None, links=(url,) if url else ()))
    return out


def publication_date(record: dict[str, Any], reports: list[MappedReport]) -> date:
    """When the record was published, as far as the file tells (it has no such date): the
    opening day of the conference of :data:`CONFERENCES` its platform node id belongs to
    (``node_id``, else the number of ``ocean_action_id``), or its first progress report's
    day when earlier."""
    node = None
    for value in (record.get("node_id"), str(record.get("ocean_action_id") or "")[12:]):
        if isinstance(value, (str, int)) and str(value).isdigit():
            node = int(value)
            break
    published = CONFERENCES[0][1]
    for first_node, opening in CONFERENCES:
        if node is not None and node >= first_node:
            published = opening
    if reports:
        published = min(published, min(r.reported_on for r in reports))
    return published


def map_record(record: dict[str, Any]) -> MappedRecord:
    """Map one commitment to initiative fields; raises :class:`UnmappableRecord` with the reason.

    Organisation ids are filled in later (they may not exist yet).
    """
    warnings: list[str] = []
    ref = _text(record.get("ocean_action_id"))
    if not ref or not _OCEAN_ID.match(ref):
        raise UnmappableRecord(f"ocean_action_id {ref!r} is missing or not like #OceanAction123")
    title = _text(record.get("title"), 500)
    if not title or len(title) < 3:
        raise UnmappableRecord("title is missing")
    lead = _text(record.get("lead_entity"), 300)
    lead = clean_single_line(lead) if lead else lead
    if lead and contact_details_in(lead):
        warnings.append(f"lead_entity: {_kinds(contact_details_in(lead))} removed from the name")
        lead = without_contact_details(lead)
    if not lead:
        raise UnmappableRecord("lead_entity is missing")
    entity_types = record.get("entity_types") or []
    if not isinstance(entity_types, list):
        raise UnmappableRecord("entity_types is not a list")
    group = "other"
    if entity_types:
        group = ENTITY_TYPE_TO_STAKEHOLDER_GROUP.get(str(entity_types[0]), "other")
        if str(entity_types[0]) not in ENTITY_TYPE_TO_STAKEHOLDER_GROUP:
            warnings.append(f"unknown entity type {entity_types[0]!r}; stakeholder group other")

    goals: set[int] = set()
    for g in record.get("sdgs") or []:
        if isinstance(g, int) and 1 <= g <= 17:
            goals.add(g)
        else:
            warnings.append(f"SDG {g!r} is not a goal number 1-17; dropped")
    targets: list[str] = []
    for t in record.get("sdg14_targets") or []:
        if isinstance(t, str) and t in reference.targets():
            targets.append(t)
        else:
            warnings.append(f"SDG target {t!r} is not in the framework; dropped")

    countries: list[str] = []
    for name in record.get("countries") or []:
        country = country_by_name(str(name))
        if country is None:
            warnings.append(f"country {str(name)[:80]!r} not matched to UN M49; dropped")
        elif country.iso_alpha3 not in countries:
            countries.append(country.iso_alpha3)

    start = _date(record.get("start_date"), "start_date", warnings)
    end = _date(record.get("completion_date"), "completion_date", warnings)
    if start and end and end < start:
        warnings.append(f"completion_date {end} is before start_date {start}; left empty")
        end = None

    deliverables = []
    for d in record.get("deliverables") or []:
        if not isinstance(d, dict):
            continue
        text = _text(d.get("description"), 5000)
        if text:
            deliverables.append({"description": text,
                                 "due_date": _date(d.get("date"), "deliverable date", warnings)})
    resources = []
    for r in record.get("resources") or []:
        if not isinstance(r, dict):
            continue
        code = _RESOURCE_TYPES.get(r.get("type") or "", "other")
        details = _text(r.get("details"), 5000)
        resources.append({"type": code, "details": details,
                          "amount_usd": _amount(details) if code == "financing" else None})

    data = {
        "title": title,
        "description": _text(record.get("description"), 20_000),
        "sdg_targets": targets,
        "sdg_goals": sorted(goals),
        "countries": countries,
        "start_date": start,
        "end_date": end,
        "deliverables": deliverables[:200],
        "resources": resources[:100],
    }
    dropped: list[str] = []
    partner_names = split_partners(_text(record.get("partners")), lead, dropped)
    warnings.extend(dropped)
    url = _text(record.get("url"), 500)
    if url and not is_http_url(url):
        warnings.append("url is not an http(s) link; dropped")
        url = None
    reports = map_progress_reports(record.get("progress_reports"), url, warnings)
    return MappedRecord(ref=ref, url=url, data=data, lead_name=lead, lead_group=group,
                        partner_names=partner_names, warnings=warnings, reports=reports,
                        published_on=publication_date(record, reports))


_INPUT_SCHEMA = InitiativeInputSchema()


def _validate(data: dict[str, Any]) -> dict[str, Any]:
    """Run the API's input schema over mapped data (JSON round trip), as for any input."""
    raw = json.loads(json.dumps(data, default=str))
    try:
        return _INPUT_SCHEMA.load(raw)
    except SchemaError as exc:
        problems = field_errors(exc.normalized_messages())
        raise UnmappableRecord("; ".join(f"{p['field']}: {p['message']}"
                                         for p in problems[:5])) from exc


@dataclass
class _Ready:
    """A record mapped and validated, waiting for its batch to be written."""

    line: int
    mapped: MappedRecord
    data: dict[str, Any]


def import_commitments(path: Path, *, session_factory: sessionmaker[Session],
                       principal: Principal = SYSTEM, batch_size: int = 200,
                       limit: int | None = None,
                       progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Import a commitments file (see the module docstring); returns the :class:`ImportReport`.

    Records are mapped and validated first; then each batch of ``batch_size`` records is
    written in one unit of work: the organisations it names read in one query (the known
    names are read once up front), new ones added with their events, a block of public ids
    reserved, the initiatives with their children, timeline entries and events flushed
    together at the batch's commit.

    Raises :class:`MalformedFile` (nothing loaded) and ``shared.problems.NotAllowed`` /
    ``Unauthenticated`` unless the permission table allows ``initiative``/``import`` (the
    system, a secretariat admin).
    """
    # checked up front: per record, the service's refusal would only skip every record
    authorize(principal, Action.IMPORT, None, Aggregate.INITIATIVE, what="initiative")
    records = read_records(path)
    if limit is not None:
        records = records[:limit]
    report = ImportReport(total=len(records))
    seen_refs: set[str] = set()
    session = session_factory()
    try:
        existing: dict[str, uuid.UUID] = {
            ref: iid for ref, iid in session.execute(select(
                Initiative.source_ref, Initiative.id).where(Initiative.source == SOURCE))
            if ref is not None}
        present: list[tuple[uuid.UUID, MappedRecord]] = []  # their reports may be missing
        # every known organisation once (normalised name -> id), instead of a query per name
        org_ids: dict[str, Any] = {
            name: oid for name, oid in session.execute(select(Organization.normalized_name,
                                                              Organization.id))}
        batch: list[_Ready] = []
        for done, (line, record) in enumerate(records, start=1):
            ref = record.get("ocean_action_id") if isinstance(
                record.get("ocean_action_id"), str) else None
            try:
                mapped = map_record(record)
                if mapped.ref in seen_refs:
                    raise UnmappableRecord(f"{mapped.ref} appears twice in the file")
                seen_refs.add(mapped.ref)
                if mapped.ref in existing:
                    report.already_present += 1
                    if mapped.reports:
                        present.append((existing[mapped.ref], mapped))
                else:
                    batch.append(_Ready(line, mapped, _validate(mapped.data)))
            except UnmappableRecord as exc:
                report.skipped.append(RowProblem(line, ref, str(exc)))
            if len(batch) >= batch_size or (done == len(records) and batch):
                _write_batch(session, principal, batch, org_ids, report)
                session.commit()
                session.expunge_all()
                batch = []
            if len(present) >= batch_size or (done == len(records) and present):
                report.progress_reports += _add_missing_reports(session, principal, present)
                session.commit()
                present = []
            if progress is not None and (done % batch_size == 0 or done == len(records)):
                progress(done, len(records))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    return report


def _write_batch(session: Session, principal: Principal, batch: list[_Ready],
                 org_ids: dict[str, Any], report: ImportReport) -> None:
    """Write a batch of validated records: its organisations (read in one query, new ones
    added with their events and flushed), then its initiatives in bulk."""
    keys = {normalize_name(r.mapped.lead_name) for r in batch}
    for r in batch:
        keys.update(normalize_name(n) for n in r.mapped.partner_names)
    known = [org_ids[k] for k in keys if k in org_ids]
    orgs: dict[str, Organization] = {}
    for start in range(0, len(known), 500):  # SQLite allows a few hundred parameters per IN
        for org in session.scalars(select(Organization).where(
                Organization.id.in_(known[start:start + 500]))):
            orgs[org.normalized_name] = org
    new: dict[str, dict[str, Any]] = {}  # organisations first named in this batch
    for ready in batch:
        _name_organization(ready.mapped.lead_name, ready.mapped.lead_group, orgs, new)
        for name in ready.mapped.partner_names:
            _name_organization(name, "other", orgs, new)
    if new:
        for org in add_organizations(db_session=session, principal=principal,
                                     items=list(new.values())):
            orgs[org.normalized_name] = org
            org_ids[org.normalized_name] = org.id
    records = []
    now, limits = utcnow(), thresholds()
    for ready in batch:
        mapped, data = ready.mapped, ready.data
        lead = orgs[normalize_name(mapped.lead_name)]
        data["lead_organization_id"] = lead.id
        data["partners"] = []
        by_id = {lead.id: lead}
        for name in mapped.partner_names:
            org = orgs[normalize_name(name)]
            if org.id not in by_id:
                by_id[org.id] = org
                data["partners"].append({"organization_id": org.id, "role": "partner"})
        last_on = max((r.reported_on for r in mapped.reports), default=None)
        published_on = mapped.published_on or now.date()
        anchor_on = rule.anchor(published_on, last_on)
        assert anchor_on is not None  # published_on is set
        columns: dict[str, Any] = {
            "published_at": _midnight(published_on) if mapped.published_on else now,
            "progress_reports_count": len(mapped.reports), "last_progress_report_on": last_on,
            # the light as of now (the compliance rule): the record arrives with it
            "reporting_status": rule.light(limits.cycle(anchor_on), now),
            "reporting_status_since": now, "reporting_anchor_on": anchor_on}
        records.append(ImportedRecord(data=data, source=SOURCE, source_ref=mapped.ref,
                                      source_url=mapped.url, organizations=by_id,
                                      columns=columns))
    ids = import_initiatives(db_session=session, principal=principal, records=records)
    report.imported += len(records)
    # the lights' history starts: none -> the light the record arrived with
    bulk_insert(session, cast(Table, ReportingStatusChange.__table__), [
        {"id": new_uuid(), "initiative_id": iid, "from_status": None,
         "to_status": r.columns["reporting_status"], "as_of": now,
         "anchor_on": r.columns["reporting_anchor_on"]} for iid, r in zip(ids, records,
                                                                           strict=True)])
    report.progress_reports += _write_reports(session, principal, [
        (iid, ready.mapped.reports, 1) for iid, ready in zip(ids, batch, strict=True)])
    for ready in batch:
        report.warnings.extend(RowProblem(ready.line, ready.mapped.ref, w)
                               for w in ready.mapped.warnings)


def _name_organization(name: str, group: str, orgs: dict[str, Organization],
                       new: dict[str, dict[str, Any]]) -> None:
    """Note ``name``: a known organisation may adopt ``group``; an unknown one joins ``new``
    (normalised name -> fields; the first group seen other than ``other`` wins)."""
    key = normalize_name(name)
    org = orgs.get(key)
    if org is not None:
        adopt_stakeholder_group(org, group)
    elif key not in new:
        new[key] = {"name": name[:300], "normalized_name": key, "stakeholder_group": group,
                    "country": None}
    elif new[key]["stakeholder_group"] == "other":
        new[key]["stakeholder_group"] = group


def _midnight(day: date) -> datetime:
    """00:00 UTC of ``day`` (the source gives dates, not times)."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _write_reports(session: Session, principal: Principal,
                   items: list[tuple[uuid.UUID, list[MappedReport], int]]) -> int:
    """Write approved progress reports in bulk: for each (initiative id, reports oldest
    first, first number), the reports numbered from that number, each with an ``import``
    entry on its timeline. Returns how many were written."""
    now = utcnow()
    actor = actor_columns(session, principal)
    table = cast(Table, ProgressReport.__table__)
    reports: list[dict[str, Any]] = []
    activities: list[dict[str, Any]] = []
    for initiative_id, mapped, first_number in items:
        for number, item in enumerate(mapped, start=first_number):
            at = _midnight(item.reported_on)
            rid = new_uuid()
            row = {c.name: None for c in table.columns} | {
                "id": rid, "initiative_id": initiative_id, "number": number,
                "status": "approved", "reported_on": item.reported_on,
                "overall_status": item.overall_status,
                "narrative_html": f"<p>{html.escape(item.title)}</p>" if item.title else None,
                "resources_mobilised": [], "milestones": [], "links": list(item.links),
                "source": "import", "source_ref": item.source_ref, "version": 1,
                "submitted_at": at, "approved_at": at, "created_at": now, "updated_at": now}
            reports.append(row)
            activities.append({
                "id": new_uuid(), "record_type": wf.PROGRESS_REPORT, "record_id": rid,
                "revision_number": None, "kind": wf.TRANSITION, "action": "import",
                "from_status": None, "to_status": "approved", "body": None,
                "visibility": wf.PUBLIC, "reply_to_id": None, **actor, "changes": None,
                "created_at": now})
    bulk_insert(session, table, reports)
    bulk_insert(session, cast(Table, Activity.__table__), activities)
    return len(reports)


def _add_missing_reports(session: Session, principal: Principal,
                         present: list[tuple[uuid.UUID, MappedRecord]]) -> int:
    """Add to records imported before the reports of the file they lack (by ``source_ref``),
    numbered after their last report, and refresh their ``progress_reports_count``,
    ``last_progress_report_on`` and light (``registry.compliance.service
    .refresh_initiative``: a change row and event when it changed). Returns how many were
    added."""
    ids = [iid for iid, _ in present]
    known: dict[uuid.UUID, set[str]] = {iid: set() for iid in ids}
    last_number: dict[uuid.UUID, int] = dict.fromkeys(ids, 0)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for iid, ref, source, number in session.execute(select(
                ProgressReport.initiative_id, ProgressReport.source_ref,
                ProgressReport.source, ProgressReport.number).where(
                ProgressReport.initiative_id.in_(chunk))):
            if source == "import" and ref:
                known[iid].add(ref)
            last_number[iid] = max(last_number[iid], number)
    items = []
    for iid, mapped in present:
        missing = [r for r in mapped.reports if r.source_ref not in known[iid]]
        if missing:
            items.append((iid, missing, last_number[iid] + 1))
    added = _write_reports(session, principal, items)
    if added:
        changed = [iid for iid, _, _ in items]
        approved = select(ProgressReport.initiative_id).where(
            ProgressReport.status == "approved",
            ProgressReport.initiative_id == Initiative.id)
        session.execute(update(Initiative).where(Initiative.id.in_(changed)).values(
            progress_reports_count=approved.with_only_columns(func.count()).scalar_subquery(),
            last_progress_report_on=approved.with_only_columns(
                func.max(ProgressReport.reported_on)).scalar_subquery()),
            execution_options={"synchronize_session": False})
        now = utcnow()
        for initiative in session.scalars(select(Initiative).where(
                Initiative.id.in_(changed))):
            # a newer report may restart the cycle: the light (change row, event) follows
            refresh_initiative(session, initiative, now)
    return added
