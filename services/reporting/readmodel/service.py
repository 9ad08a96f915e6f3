"""Applying initiative snapshots to the read model.

Every ``org.partnership-registry.initiative.*.v1`` event carries the whole
:class:`~shared.events.types.InitiativeSnapshot` after the change (event-carried state
transfer), so one rule serves all seven types: upsert the snapshot, unless the read model
already holds the same or a newer ``version`` of that initiative. That makes the read model
independent of delivery order and of replays: a late or repeated snapshot changes nothing.
(Idempotency per event id is handled besides by ``shared.consumer.EventConsumer``.)
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from reporting.readmodel.models import (
    PUBLISHED,
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
from shared.events.types import EVENT_TYPES, PREFIX, TOPIC_INITIATIVES
from shared.reference import region_names_for

log = logging.getLogger(__name__)

#: Every initiative event type (``org.partnership-registry.initiative.*.v1``) — all carry a
#: snapshot and all feed the read model.
INITIATIVE_EVENT_TYPES: tuple[str, ...] = tuple(
    t for t, (topic, _schema) in EVENT_TYPES.items()
    if topic == TOPIC_INITIATIVES and t.startswith(f"{PREFIX}.initiative.") and t.endswith(".v1")
)


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
                          tags: dict[str, list]) -> Counter:
    """What one initiative adds to the summary's counters: ``{(dimension, key): 1}``.

    Every initiative counts under ``("status", status)``; a published one also under
    ``("total", "")``, each of its goals, each of its region names and its lead
    organisation's stakeholder group (``unspecified`` without one) — the definitions of
    ``reporting.summaries.service``.
    """
    out: Counter = Counter({("status", status): 1})
    if status == PUBLISHED:
        out[("total", "")] += 1
        out[("stakeholder_group", stakeholder_group or UNSPECIFIED_STAKEHOLDER_GROUP)] += 1
        out.update(("goal", str(g)) for g in tags["goals"])
        out.update(("region", n) for n in tags["region_names"])
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
    """Add ``deltas`` to ``report_summary_counts`` (one INSERT … ON CONFLICT DO UPDATE,
    executemany, rows in key order so concurrent transactions lock them in the same order)."""
    rows = [{"dimension": d, "key": k, "count": n} for (d, k), n in sorted(deltas.items()) if n]
    if not rows:
        return
    dialect = db_session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    table = ReportSummaryCount.__table__
    stmt = module.insert(table)
    stmt = stmt.on_conflict_do_update(index_elements=["dimension", "key"],
                                      set_={"count": table.c.count + stmt.excluded.count})
    db_session.execute(stmt, rows)


def apply_initiative_snapshot(snapshot: dict[str, Any], *, db_session: Session) -> bool:
    """Upsert one validated snapshot (``InitiativeSnapshot().load`` output) into the read model
    and move the summary counters by the difference it makes.

    Returns True when it changed the read model, False when ignored because the stored
    ``version`` is greater than or equal to the snapshot's. Tag lists are replaced as a whole
    (duplicates collapse); a list that did not change is not rewritten. NUL characters and lone
    surrogates are dropped from text fields. Does not commit; the caller's transaction (the
    consumer's) does, so the counters always match the rows. SQL: one ``SELECT … FOR UPDATE``,
    one INSERT or UPDATE of the row, one DELETE + one INSERT per changed tag list, one upsert
    of the counters; Core statements, no ORM flush.
    """
    initiative_id = snapshot["id"]
    table = ReportInitiative.__table__
    old = db_session.execute(
        select(table.c.version, table.c.status, table.c.lead_stakeholder_group, table.c.tags)
        .where(table.c.id == initiative_id).with_for_update()).first()
    if old is not None and old.version >= snapshot["version"]:
        log.info("older or same snapshot ignored",
                 extra={"initiative_id": initiative_id, "stored_version": old.version,
                        "snapshot_version": snapshot["version"]})
        return False
    lead = snapshot.get("lead_organization") or None
    tags = snapshot_tags(snapshot)
    values = {
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
        "applied_at": utcnow(),
        "tags": tags,
    }
    deltas = summary_contributions(values["status"], values["lead_stakeholder_group"], tags)
    if old is None:
        db_session.execute(insert(table).values(id=initiative_id, **values))
        old_tags: dict[str, list] = {key: [] for _m, _c, key in _TAG_TABLES}
    else:
        db_session.execute(update(table).where(table.c.id == initiative_id).values(**values))
        old_tags = old.tags or _stored_tags(db_session, initiative_id)
        deltas.subtract(summary_contributions(old.status, old.lead_stakeholder_group,
                                              old_tags))
    for model, column, key in _TAG_TABLES:
        if tags[key] == old_tags.get(key):
            continue
        if old is not None:
            db_session.execute(delete(model).where(model.initiative_id == initiative_id))
        if tags[key]:  # one executemany per table
            db_session.execute(insert(model), [{"initiative_id": initiative_id, column: v}
                                               for v in tags[key]])
    _upsert_counts(db_session, deltas)
    db_session.info[CHANGED_KEY] = True  # after commit: drop this process's cached summary
    return True


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
    """Consumer handler for every initiative event: apply ``data["initiative"]``.

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
    apply_initiative_snapshot(snapshot, db_session=session)


def initiative_handlers() -> dict[str, EventHandler]:
    """Handlers of the ``reporting`` consumer: every initiative event type -> the upsert."""
    return dict.fromkeys(INITIATIVE_EVENT_TYPES, handle_initiative_event)


def stored_version(initiative_id: str, *, db_session: Session) -> int | None:
    """The version of ``initiative_id`` held by the read model, or None when unknown."""
    return db_session.scalar(select(ReportInitiative.version)
                             .where(ReportInitiative.id == initiative_id))
