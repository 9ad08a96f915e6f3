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
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from reporting.readmodel.models import (
    UNSPECIFIED_REGION,
    ReportInitiative,
    ReportInitiativeCountry,
    ReportInitiativeGoal,
    ReportInitiativeRegion,
    ReportInitiativeRegionName,
    ReportInitiativeTarget,
)
from shared.consumer import EventHandler, PoisonEvent
from shared.db import utcnow
from shared.events import CloudEvent
from shared.events.types import EVENT_TYPES, PREFIX, TOPIC_INITIATIVES
from shared.reference import region_names_for

log = logging.getLogger(__name__)

_CHILD_MODELS = (ReportInitiativeGoal, ReportInitiativeTarget, ReportInitiativeCountry,
                 ReportInitiativeRegion, ReportInitiativeRegionName)

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


def apply_initiative_snapshot(snapshot: dict[str, Any], *, db_session: Session) -> bool:
    """Upsert one validated snapshot (``InitiativeSnapshot().load`` output) into the read model.

    Returns True when it changed the read model, False when ignored because the stored
    ``version`` is greater than or equal to the snapshot's. Tag lists are replaced as a whole
    (duplicates collapse). Does not commit; the caller's transaction (the consumer's) does.
    """
    initiative_id = snapshot["id"]
    row = db_session.get(ReportInitiative, initiative_id, with_for_update=True)
    if row is not None and row.version >= snapshot["version"]:
        log.info("older or same snapshot ignored",
                 extra={"initiative_id": initiative_id, "stored_version": row.version,
                        "snapshot_version": snapshot["version"]})
        return False
    is_new = row is None
    if row is None:
        row = ReportInitiative(id=initiative_id)
        db_session.add(row)
    lead = snapshot.get("lead_organization") or None
    row.public_id = snapshot.get("public_id")
    row.status = snapshot["status"]
    row.version = snapshot["version"]
    row.title = snapshot["title"]
    row.lead_organization_name = lead["name"] if lead else None
    row.lead_stakeholder_group = lead["stakeholder_group"] if lead else None
    row.lead_country = lead.get("country") if lead else None
    row.start_date = snapshot.get("start_date")
    row.end_date = snapshot.get("end_date")
    row.published_at = snapshot.get("published_at")
    row.updated_at = snapshot["updated_at"]
    row.applied_at = utcnow()
    db_session.flush()  # the parent row exists before its children (foreign keys)

    if not is_new:  # replace the tag lists as a whole
        for model in _CHILD_MODELS:
            db_session.execute(delete(model).where(model.initiative_id == initiative_id))
    countries = sorted(set(snapshot.get("countries") or []))
    regions = sorted(set(snapshot.get("regions") or []))
    children: list[tuple[type, list[dict[str, Any]]]] = [
        (ReportInitiativeGoal, [{"goal": g} for g in sorted(set(snapshot.get("sdg_goals") or []))]),
        (ReportInitiativeTarget,
         [{"target": t} for t in sorted(set(snapshot.get("sdg_targets") or []))]),
        (ReportInitiativeCountry, [{"country": c} for c in countries]),
        (ReportInitiativeRegion, [{"region_code": r} for r in regions]),
        (ReportInitiativeRegionName,
         [{"region_name": n} for n in region_names(countries, regions)]),
    ]
    for model, values in children:
        if values:  # one executemany per table
            db_session.execute(insert(model), [{"initiative_id": initiative_id, **v}
                                               for v in values])
    return True


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
