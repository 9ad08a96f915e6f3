"""Applying initiative snapshots to the read model.

Every ``org.partnership-registry.initiative.*.v1`` event carries the whole
:class:`~shared.events.types.InitiativeSnapshot` after the change (event-carried state
transfer), so one rule serves every type — the review desk's too (issue 8: completion,
archive, withdrawal, suspension, revisions, comments, assignments): upsert the snapshot, unless
the read model already holds the same or a newer ``version`` of that initiative. That makes the
read model independent of delivery order and of replays: a late or repeated snapshot changes
nothing. An approved revision (``revision-approved``) carries the revised content with a newer
version, so the record and the counters follow it; a comment or an assignment changes no field
of the initiative and carries its current snapshot, which is then either the version held
(ignored) or, if the registry counted the step as a change, the same content again (the row's
counters move by zero).
(Idempotency per event id is handled besides by ``shared.consumer.EventConsumer``.)
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from reporting.readmodel.models import (
    ACTIVE_STATUSES,
    UNSPECIFIED_REGION,
    UNSPECIFIED_STAKEHOLDER_GROUP,
    ReportInitiative,
    ReportInitiativeCountry,
    ReportInitiativeGoal,
    ReportInitiativeRegion,
    ReportInitiativeRegionName,
    ReportInitiativeTarget,
    ReportSummaryCount,
)
from shared.consumer import EventHandler, PoisonEvent
from shared.db import utcnow
from shared.events import CloudEvent
from shared.events.types import (
    EVENT_TYPES,
    INITIATIVE_REPORTING_STATUS_CHANGED,
    PREFIX,
    PROGRESS_REPORT_APPROVED,
    PROGRESS_REPORT_CHANGES_REQUESTED,
    PROGRESS_REPORT_SUBMITTED,
    REPORTING_STATUSES,
    TOPIC_INITIATIVES,
    InitiativeEventData,
)
from shared.reference import region_names_for

log = logging.getLogger(__name__)

#: Every initiative event type carrying a snapshot (``org.partnership-registry.initiative.*.v1``
#: whose payload is ``InitiativeEventData``) — all feed the read model. Issue 9's
#: ``initiative.reporting-status-changed.v1`` and ``…progress-reminder-due.v1`` carry a compact
#: reference instead (``ComplianceInitiativeRef``): the first has its own handler, the second
#: is not reporting's business.
INITIATIVE_EVENT_TYPES: tuple[str, ...] = tuple(
    t for t, (topic, schema) in EVENT_TYPES.items()
    if topic == TOPIC_INITIATIVES and t.startswith(f"{PREFIX}.initiative.") and t.endswith(".v1")
    and schema is InitiativeEventData
)
#: The progress report events (issue 9): their ``initiative`` snapshot carries the progress
#: and the light after the step (an approval restarts the cycle); applied like a snapshot, and
#: with the SAME version as the one held too (the registry may not count a report's approval
#: as a change of the initiative) as a patch of the progress fields.
PROGRESS_EVENT_TYPES: tuple[str, ...] = (PROGRESS_REPORT_SUBMITTED, PROGRESS_REPORT_APPROVED,
                                         PROGRESS_REPORT_CHANGES_REQUESTED)


def region_names(countries: list[str], regions: list[str]) -> list[str]:
    """Top-level M49 region names of the tags (``shared.reference.region_names_for``), or
    ``["Unspecified"]`` when no country or region maps to one."""
    return region_names_for(countries, regions) or [UNSPECIFIED_REGION]


#: Column widths of the read model for string fields the snapshot schema leaves unbounded.
_WIDTHS = {"public_id": 100, "stakeholder_group": 100, "country": 3, "sdg_targets": 10}


def unstorable_fields(snapshot: dict[str, Any]) -> list[str]:
    """Fields of a validated snapshot too long for the read model's columns (empty when fine).

    ``InitiativeSnapshot`` bounds ``countries``/``regions`` (3 characters) and names (500) but
    not these; PostgreSQL would refuse them, so the consumer dead-letters such a snapshot.
    """
    lead = snapshot.get("lead_organization") or {}
    problems = []
    if len(snapshot.get("public_id") or "") > _WIDTHS["public_id"]:
        problems.append("public_id")
    if len(lead.get("stakeholder_group") or "") > _WIDTHS["stakeholder_group"]:
        problems.append("lead_organization.stakeholder_group")
    if len(lead.get("country") or "") > _WIDTHS["country"]:
        problems.append("lead_organization.country")
    problems += [f"sdg_targets.{i}" for i, t in enumerate(snapshot.get("sdg_targets") or [])
                 if len(t) > _WIDTHS["sdg_targets"]]
    return problems


#: (child model, its value column, the ``tags`` key) — the tag lists of a snapshot
_TAG_TABLES = (
    (ReportInitiativeGoal, "goal", "goals"),
    (ReportInitiativeTarget, "target", "targets"),
    (ReportInitiativeCountry, "country", "countries"),
    (ReportInitiativeRegion, "region_code", "regions"),
    (ReportInitiativeRegionName, "region_name", "region_names"),
)

#: ``session.info`` key set when a transaction changed the read model (see ``reporting.app``)
CHANGED_KEY = "reporting.read_model_changed"

# NUL (PostgreSQL text cannot hold it) and lone surrogates (no UTF-8 form): dropped from text
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(value: str | None) -> str | None:
    return None if value is None else _UNSTORABLE.sub("", value)


def snapshot_tags(snapshot: dict[str, Any]) -> dict[str, list]:
    """The tag lists of a snapshot as stored: sorted, without duplicates, and the derived
    top-level region names (:func:`region_names`)."""
    countries = sorted(set(snapshot.get("countries") or []))
    regions = sorted(set(snapshot.get("regions") or []))
    return {"goals": sorted(set(snapshot.get("sdg_goals") or [])),
            "targets": sorted(set(snapshot.get("sdg_targets") or [])),
            "countries": countries, "regions": regions,
            "region_names": sorted(set(region_names(countries, regions)))}


def summary_contributions(status: str, stakeholder_group: str | None,
                          tags: dict[str, list], reporting_status: str | None = None) -> Counter:
    """What one initiative adds to the summary's counters: ``{(dimension, key): 1}``.

    Every initiative counts under ``("status", status)``; an active one (``ACTIVE_STATUSES``:
    published, completion declared) also under
    ``("total", "")``, each of its goals, each of its region names, its lead
    organisation's stakeholder group (``unspecified`` without one) and its reporting light
    (``("reporting_status", "green"|"yellow"|"red")``, issue 9; none while it has no light) —
    the definitions of ``reporting.summaries.service``.
    """
    out: Counter = Counter({("status", status): 1})
    if status in ACTIVE_STATUSES:
        out[("total", "")] += 1
        out[("stakeholder_group", stakeholder_group or UNSPECIFIED_STAKEHOLDER_GROUP)] += 1
        out.update(("goal", str(g)) for g in tags["goals"])
        out.update(("region", n) for n in tags["region_names"])
        if reporting_status in REPORTING_STATUSES:
            out[("reporting_status", reporting_status)] += 1
    return out


def _stored_tags(db_session: Session, initiative_id: str) -> dict[str, list]:
    """The tag lists of a row applied before ``tags`` existed, from the child tables."""
    tags = {}
    for model, column, key in _TAG_TABLES:
        col = getattr(model, column)
        tags[key] = sorted(db_session.scalars(select(col).where(
            model.initiative_id == initiative_id)))
    return tags


def _upsert_counts(db_session: Session, deltas: Counter) -> None:
    """Add ``deltas`` to ``report_summary_counts``: one INSERT … ON CONFLICT DO UPDATE (arrays
    on PostgreSQL, executemany on SQLite), rows in key order so concurrent transactions lock
    them in the same order."""
    rows = [(d, k, n) for (d, k), n in sorted(deltas.items()) if n]
    if not rows:
        return
    conn = db_session.connection()
    table = cast(Table, ReportSummaryCount.__table__)
    if conn.dialect.name == "postgresql":
        _insert_unnest(conn, table.name,
                       {"dimension": "varchar", "key": "varchar", "count": "integer"}, rows,
                       "ON CONFLICT (dimension, key) DO UPDATE "
                       "SET count = report_summary_counts.count + excluded.count")
        return
    stmt = sqlite.insert(table)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["dimension", "key"], set_={"count": table.c.count + stmt.excluded.count}),
        [{"dimension": d, "key": k, "count": n} for d, k, n in rows])


#: ``session.info`` key: snapshots handled in this transaction, applied before it commits
PENDING_KEY = "reporting.pending_snapshots"
_CHUNK = 500  # ids per IN (…) list
#: the columns a change of the light or a progress event may patch on a row (issue 9)
_PATCH_COLUMNS = ("reporting_status", "reporting_status_as_of", "reporting_anchor_on",
                  "last_progress_report_on", "progress_percent", "progress_reports_count",
                  "applied_at")
_PARENT_COLUMNS = ("public_id", "status", "version", "title", "lead_organization_name",
                   "lead_stakeholder_group", "lead_country", "start_date", "end_date",
                   "published_at", "updated_at", "tags", *_PATCH_COLUMNS)


#: kinds of queued changes: a snapshot (applied when newer), a progress event's snapshot
#: (newer: applied; same version: its progress fields patched), a change of the light
SNAPSHOT, PROGRESS, LIGHT = "snapshot", "progress", "light"


def queue_initiative_snapshot(snapshot: dict[str, Any], *, db_session: Session,
                              kind: str = SNAPSHOT) -> None:
    """Note a validated snapshot (or, ``kind`` :data:`LIGHT`, a change of the light:
    ``{"id", "reporting_status", "from_status", "as_of", "anchor_on"}``) for
    :func:`apply_pending_snapshots`, which ``reporting.app`` runs just before the session
    commits (``before_commit``) — so the changes of a whole batch of events (one
    transaction, ``shared.consumer``'s batches) are written with a few set-wise statements
    instead of a few statements each, in the order of the events. Same transaction, same
    outcome."""
    db_session.info.setdefault(PENDING_KEY, []).append((kind, snapshot))


def apply_pending_snapshots(db_session: Session) -> int:
    """Apply the changes queued in this session's transaction (see
    :func:`queue_initiative_snapshot`); returns how many initiatives they changed."""
    changes = db_session.info.pop(PENDING_KEY, None)
    return apply_read_model_changes(changes, db_session=db_session) if changes else 0


def discard_pending_snapshots(db_session: Session) -> None:
    """Forget queued snapshots (the transaction rolled back)."""
    db_session.info.pop(PENDING_KEY, None)


def _row_values(snapshot: dict[str, Any], tags: dict[str, list], now) -> dict[str, Any]:
    lead = snapshot.get("lead_organization") or None
    return {
        "id": snapshot["id"],
        "public_id": _storable(snapshot.get("public_id")),
        "status": snapshot["status"],
        "version": snapshot["version"],
        "title": _storable(snapshot["title"]),
        "lead_organization_name": _storable(lead["name"]) if lead else None,
        "lead_stakeholder_group": _storable(lead["stakeholder_group"]) if lead else None,
        "lead_country": _storable(lead.get("country")) if lead else None,
        "start_date": snapshot.get("start_date"),
        "end_date": snapshot.get("end_date"),
        "published_at": snapshot.get("published_at"),
        "updated_at": snapshot["updated_at"],
        "applied_at": now,
        "tags": tags,
        **_progress_values(snapshot),
    }


def _progress_values(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The issue 9 fields of a snapshot as stored (an unknown light is stored as none)."""
    light = snapshot.get("reporting_status")
    percent = snapshot.get("progress_percent")
    return {"reporting_status": light if light in REPORTING_STATUSES else None,
            "last_progress_report_on": snapshot.get("last_progress_report_on"),
            "progress_percent": percent if isinstance(percent, int) and 0 <= percent <= 100
            else None,
            "progress_reports_count": max(0, int(snapshot.get("progress_reports_count") or 0))}


#: PostgreSQL array element types of ``report_initiatives``' columns, in insert order
_PARENT_TYPES = {"id": "varchar", "public_id": "varchar", "status": "varchar",
                 "version": "integer", "title": "text", "lead_organization_name": "varchar",
                 "lead_stakeholder_group": "varchar", "lead_country": "varchar",
                 "start_date": "date", "end_date": "date", "published_at": "timestamptz",
                 "updated_at": "timestamptz", "applied_at": "timestamptz", "tags": "json",
                 "reporting_status": "varchar", "reporting_status_as_of": "timestamptz",
                 "reporting_anchor_on": "date", "last_progress_report_on": "date",
                 "progress_percent": "integer", "progress_reports_count": "integer"}

#: PostgreSQL array types of the tag tables' value columns
_PG_TYPES = {"goal": "integer", "target": "varchar", "country": "varchar",
             "region_code": "varchar", "region_name": "varchar"}


def _insert_unnest(conn, table: str, columns: dict[str, str], rows: list[tuple],
                   suffix: str = "") -> None:
    """PostgreSQL: ``INSERT INTO table (…) SELECT * FROM json_to_recordset(:rows) AS x(…)
    suffix`` — all rows in one statement with ONE parameter, a JSON array of row objects
    (one round trip, one cached statement, whatever the number of rows). ``columns`` maps
    each column to its PostgreSQL type, in ``rows``' order; dates and datetimes go as ISO
    8601. One ``json.dumps`` (C) replaces per-element escaping of text arrays in the driver
    (the previous ``unnest`` of one array per column: ~25 % of the consumer's Python time).
    Names come from this module, never from input."""
    names = list(columns)
    record = ", ".join(f"{n} {columns[n]}" for n in names)
    payload = json.dumps([dict(zip(names, row, strict=True)) for row in rows],
                         default=_iso, separators=(",", ":"))
    conn.execute(text(f"INSERT INTO {table} ({', '.join(names)}) "  # noqa: S608  # nosec B608 # names are this module's constants, rows a bind parameter
                      f"SELECT * FROM json_to_recordset(CAST(:rows AS json)) AS x({record}) "
                      f"{suffix}"), {"rows": payload})


def _iso(value: Any) -> str:
    """JSON fallback for dates and datetimes (ISO 8601, offsets kept)."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _chunks(rows: list) -> list[list]:
    return [rows[i:i + _CHUNK] for i in range(0, len(rows), _CHUNK)]


def _dialect_insert(db_session: Session):
    return (postgresql if db_session.get_bind().dialect.name == "postgresql" else sqlite).insert


def apply_initiative_snapshots(snapshots: list[dict[str, Any]], *,
                               db_session: Session) -> int:
    """Upsert validated snapshots (``InitiativeSnapshot().load`` output), in order, into the
    read model and move the summary counters by the difference they make; returns how many
    changed it. See :func:`apply_read_model_changes`."""
    return apply_read_model_changes([(SNAPSHOT, s) for s in snapshots], db_session=db_session)


def apply_read_model_changes(changes: list[tuple[str, dict[str, Any]]], *,
                             db_session: Session) -> int:
    """Apply queued changes (``(kind, payload)``, :func:`queue_initiative_snapshot`), in order,
    to the read model and move the summary counters by the difference they make; returns how
    many initiatives changed.

    * :data:`SNAPSHOT` — a snapshot whose ``version`` is not greater than the one held
      (stored, or applied earlier in the list) is ignored. Tag lists are replaced as a whole
      (duplicates collapse); a list that did not change is not rewritten.
    * :data:`PROGRESS` — the same, except that a snapshot of the SAME version patches the
      progress fields (light, last report date, progress, report count).
    * :data:`LIGHT` — a change of the light (issue 9's ``reporting-status-changed``) patches
      ``reporting_status``, ``reporting_status_as_of`` and ``reporting_anchor_on`` of a known
      initiative when it changes the light held (none yet, or its ``from_status``); one from
      another light is a replayed old event and changes nothing. Event order decides, not
      ``as_of`` (the job may run "as of" a past date). For an initiative the read model does
      not know yet it is ignored (its first snapshot brings its light).

    NUL characters and lone surrogates are dropped from text fields. Does not commit: the
    caller's transaction (the consumer's) does, so the counters always match the rows. SQL,
    whatever the number of changes (up to 500 ids per ``IN`` list): one ``SELECT … FOR
    UPDATE`` of the rows concerned, one ``INSERT … ON CONFLICT DO UPDATE`` of the rows, per
    changed tag table one DELETE and one INSERT, one executemany UPDATE of the patched rows,
    one upsert of the counters — Core statements compiled once, no ORM flush. On PostgreSQL
    the rows, the tag rows and the counters go as one JSON parameter
    (``INSERT … SELECT * FROM json_to_recordset(…)``): one statement and one round trip for
    any number of rows, where an executemany (SQLite) still costs the driver a query per row.
    """
    table = cast(Table, ReportInitiative.__table__)
    conn = db_session.connection()  # Core on the session's connection: no ORM statement path
    ids = sorted({payload["id"] for _kind, payload in changes})  # one lock order
    held: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(ids):
        for row in conn.execute(
                select(table.c.id, table.c.version, table.c.status,
                       table.c.lead_stakeholder_group, table.c.tags,
                       *(table.c[c] for c in _PATCH_COLUMNS))
                .where(table.c.id.in_(chunk)).order_by(table.c.id).with_for_update()):
            state = dict(row._mapping)
            state["tags"] = row.tags or _stored_tags(db_session, row.id)  # null: before 0002
            held[row.id] = state
    original_tags = {iid: state["tags"] for iid, state in held.items()}
    deltas: Counter = Counter()
    changed: dict[str, dict[str, Any]] = {}
    patched: set[str] = set()
    now = utcnow()

    def contributions(state: dict[str, Any]) -> Counter:
        return summary_contributions(state["status"], state["lead_stakeholder_group"],
                                     state["tags"], state["reporting_status"])

    def patch(iid: str, values: dict[str, Any]) -> None:
        current = held[iid]
        deltas.subtract(contributions(current))
        current.update(values, applied_at=now)
        deltas.update(contributions(current))
        if iid in changed:
            changed[iid].update(values, applied_at=now)
        else:
            patched.add(iid)

    for kind, payload in changes:
        iid = payload["id"]
        current = held.get(iid)
        if kind == LIGHT:
            if current is None:
                log.info("light of an unknown initiative ignored", extra={"initiative_id": iid})
            elif current["reporting_status"] not in (None, payload["from_status"],
                                                      payload["reporting_status"]):
                # not a change from the light held: a replayed old event (the registry's
                # events of one initiative arrive in order: same key, same partition)
                log.info("light change not from the light held ignored",
                         extra={"initiative_id": iid, "held": current["reporting_status"],
                                "from_status": payload["from_status"]})
            else:
                patch(iid, {"reporting_status": payload["reporting_status"],
                            "reporting_status_as_of": payload["as_of"],
                            "reporting_anchor_on": payload["anchor_on"]})
            continue
        if current is not None and current["version"] >= payload["version"]:
            if kind == PROGRESS and current["version"] == payload["version"]:
                patch(iid, _progress_values(payload))
                continue
            log.info("older or same snapshot ignored",
                     extra={"initiative_id": iid, "stored_version": current["version"],
                            "snapshot_version": payload["version"]})
            continue
        tags = snapshot_tags(payload)
        values = _row_values(payload, tags, now)
        values["reporting_status_as_of"] = current["reporting_status_as_of"] if current else None
        values["reporting_anchor_on"] = current["reporting_anchor_on"] if current else None
        if current is not None:
            deltas.subtract(contributions(current))
        state = {"version": payload["version"], "status": values["status"],
                 "lead_stakeholder_group": values["lead_stakeholder_group"], "tags": tags,
                 **{c: values[c] for c in _PATCH_COLUMNS}}
        deltas.update(contributions(state))
        held[iid] = state
        changed[iid] = values
        patched.discard(iid)
    if not changed and not patched:
        return 0
    if changed:
        if conn.dialect.name == "postgresql":
            names = list(_PARENT_TYPES)
            _insert_unnest(conn, table.name, _PARENT_TYPES,
                           [tuple(v[n] for n in names) for v in changed.values()],
                           "ON CONFLICT (id) DO UPDATE SET "  # nosec B608 # column constants
                           + ", ".join(f"{c} = excluded.{c}" for c in _PARENT_COLUMNS))
        else:
            stmt = _dialect_insert(db_session)(table)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["id"], set_={c: stmt.excluded[c] for c in _PARENT_COLUMNS}),
                list(changed.values()))
        empty: dict[str, list] = {}
        for model, column, key in _TAG_TABLES:
            rewrite = [iid for iid, values in changed.items()
                       if values["tags"][key] != original_tags.get(iid, empty).get(key, [])]
            stale = [iid for iid in rewrite if iid in original_tags]
            for chunk in _chunks(stale):
                conn.execute(delete(model).where(model.initiative_id.in_(chunk)))
            rows = [(iid, v) for iid in rewrite for v in changed[iid]["tags"][key]]
            if rows and conn.dialect.name == "postgresql":
                _insert_unnest(conn, model.__tablename__,
                               {"initiative_id": "varchar", column: _PG_TYPES[column]}, rows)
            elif rows:
                conn.execute(insert(model), [{"initiative_id": i, column: v} for i, v in rows])
    if patched:
        conn.execute(
            update(table).where(table.c.id == bindparam("b_id"))
            .values({c: bindparam(f"b_{c}") for c in _PATCH_COLUMNS}),
            [{"b_id": iid, **{f"b_{c}": held[iid][c] for c in _PATCH_COLUMNS}}
             for iid in sorted(patched)])
    _upsert_counts(db_session, deltas)
    db_session.info[CHANGED_KEY] = True  # after commit: drop this process's cached summary
    return len(changed) + len(patched)


def apply_initiative_snapshot(snapshot: dict[str, Any], *, db_session: Session) -> bool:
    """Apply one snapshot now (see :func:`apply_initiative_snapshots`); True if it changed the
    read model, False when the stored ``version`` is greater or equal."""
    return apply_initiative_snapshots([snapshot], db_session=db_session) == 1


def rebuild_summary_counts(*, db_session: Session) -> None:
    """Recompute every counter of ``report_summary_counts`` from the read model's rows (the
    GROUP BY definitions, as migration 0002 does); for bulk loads and repairs. Does not
    commit."""
    from reporting.summaries.service import count_read_model

    counts = count_read_model(db_session=db_session)
    db_session.execute(delete(ReportSummaryCount))
    rows = [{"dimension": d, "key": k, "count": n} for (d, k), n in sorted(counts.items())]
    if rows:
        db_session.execute(insert(ReportSummaryCount), rows)


def handle_initiative_event(session: Session, event: CloudEvent, data: dict[str, Any]) -> None:
    """Consumer handler for every initiative event: queue ``data["initiative"]``, applied when
    the consumer's transaction commits (:func:`queue_initiative_snapshot`).

    Raises :class:`~shared.consumer.PoisonEvent` (-> dead-letter topic) when the snapshot's id
    is not the event's ``subject`` (a producer bug: the Kafka key would then not order this
    aggregate's events) or when a field does not fit the read model (:func:`unstorable_fields`).
    """
    snapshot = data["initiative"]
    if snapshot["id"] != event.subject:
        raise PoisonEvent(f"snapshot id {snapshot['id']!r} is not the event subject "
                          f"{event.subject!r}")
    problems = unstorable_fields(snapshot)
    if problems:
        raise PoisonEvent(f"snapshot fields too long for the read model: {', '.join(problems)}")
    queue_initiative_snapshot(snapshot, db_session=session)


def handle_progress_event(session: Session, event: CloudEvent, data: dict[str, Any]) -> None:
    """Consumer handler for the progress report events (issue 9): their ``initiative``
    snapshot, queued as :data:`PROGRESS` (a snapshot of the same version patches the progress
    fields). Poison as :func:`handle_initiative_event`."""
    snapshot = data["initiative"]
    if snapshot["id"] != event.subject:
        raise PoisonEvent(f"snapshot id {snapshot['id']!r} is not the event subject "
                          f"{event.subject!r}")
    problems = unstorable_fields(snapshot)
    if problems:
        raise PoisonEvent(f"snapshot fields too long for the read model: {', '.join(problems)}")
    queue_initiative_snapshot(snapshot, db_session=session, kind=PROGRESS)


def handle_reporting_status_changed(session: Session, event: CloudEvent,
                                    data: dict[str, Any]) -> None:
    """Consumer handler of ``initiative.reporting-status-changed.v1`` (issue 9): queue the new
    light of ``data.initiative.id`` (:data:`LIGHT`). Poison: the initiative's id is not the
    event's ``subject``, or ``to_status`` equals ``from_status`` (not a change)."""
    initiative_id = data["initiative"]["id"]
    if initiative_id != event.subject:
        raise PoisonEvent(f"initiative id {initiative_id!r} is not the event subject "
                          f"{event.subject!r}")
    if data["to_status"] == data.get("from_status"):
        raise PoisonEvent("reporting-status-changed without a change")
    queue_initiative_snapshot({"id": initiative_id, "reporting_status": data["to_status"],
                               "from_status": data.get("from_status"),
                               "as_of": data["as_of"], "anchor_on": data["anchor_on"]},
                              db_session=session, kind=LIGHT)


def initiative_handlers() -> dict[str, EventHandler]:
    """Handlers of the ``reporting`` consumer: every initiative event type -> the upsert; the
    progress report events -> their snapshot (:func:`handle_progress_event`); the light's
    changes -> :func:`handle_reporting_status_changed`."""
    return (dict.fromkeys(INITIATIVE_EVENT_TYPES, handle_initiative_event)
            | dict.fromkeys(PROGRESS_EVENT_TYPES, handle_progress_event)
            | {INITIATIVE_REPORTING_STATUS_CHANGED: handle_reporting_status_changed})


def stored_version(initiative_id: str, *, db_session: Session) -> int | None:
    """The version of ``initiative_id`` held by the read model, or None when unknown."""
    return db_session.scalar(select(ReportInitiative.version)
                             .where(ReportInitiative.id == initiative_id))
