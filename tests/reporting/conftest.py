"""Fixtures of reporting's tests: initiative snapshots and events as the registry publishes
them, a migrated reporting app on SQLite, and snapshots built from the real UN Ocean Conference
commitments."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.bus import InProcessBus, Message
from shared.events import CloudEvent, event_to_message, new_event, topic_name
from shared.events.types import (
    INITIATIVE_APPROVED,
    INITIATIVE_ARCHIVED,
    INITIATIVE_CHANGES_REQUESTED,
    INITIATIVE_COMMENTED,
    INITIATIVE_COMPLETED,
    INITIATIVE_COMPLETION_DECLARED,
    INITIATIVE_COMPLETION_DECLINED,
    INITIATIVE_CREATED,
    INITIATIVE_IMPORTED,
    INITIATIVE_REINSTATED,
    INITIATIVE_REJECTED,
    INITIATIVE_REVIEW_ASSIGNED,
    INITIATIVE_REVISION_APPROVED,
    INITIATIVE_REVISION_SUBMITTED,
    INITIATIVE_SUBMITTED,
    INITIATIVE_SUSPENDED,
    INITIATIVE_UPDATED,
    INITIATIVE_WITHDRAWN,
    TOPIC_INITIATIVES,
    dump_data,
)

#: event type -> (action, from_status, to_status)
ACTION = {
    INITIATIVE_CREATED: ("create", None, "draft"),
    INITIATIVE_UPDATED: ("update", "draft", "draft"),
    INITIATIVE_SUBMITTED: ("submit", "draft", "submitted"),
    INITIATIVE_APPROVED: ("approve", "submitted", "published"),
    INITIATIVE_CHANGES_REQUESTED: ("request_changes", "submitted", "changes_requested"),
    INITIATIVE_REJECTED: ("reject", "submitted", "rejected"),
    INITIATIVE_IMPORTED: ("import", None, "published"),
    # review desk (issue 8)
    INITIATIVE_COMPLETION_DECLARED: ("declare_completion", "published", "completion_declared"),
    INITIATIVE_COMPLETION_DECLINED: ("decline_completion", "completion_declared", "published"),
    INITIATIVE_COMPLETED: ("confirm_completion", "completion_declared", "completed"),
    INITIATIVE_ARCHIVED: ("archive", "completed", "archived"),
    INITIATIVE_WITHDRAWN: ("withdraw", "published", "withdrawn"),
    INITIATIVE_SUSPENDED: ("suspend", "published", "suspended"),
    INITIATIVE_REINSTATED: ("reinstate", "suspended", "published"),
    INITIATIVE_REVISION_SUBMITTED: ("submit", "published", "published"),
    INITIATIVE_REVISION_APPROVED: ("approve", "published", "published"),
    INITIATIVE_COMMENTED: ("comment", "published", "published"),
    INITIATIVE_REVIEW_ASSIGNED: ("assign", "submitted", "submitted"),
}
#: the type of the event that brings an initiative into each status (by default)
TYPE_OF_STATUS = {"draft": INITIATIVE_UPDATED, "submitted": INITIATIVE_SUBMITTED,
                  "published": INITIATIVE_APPROVED, "rejected": INITIATIVE_REJECTED,
                  "changes_requested": INITIATIVE_CHANGES_REQUESTED,
                  "completion_declared": INITIATIVE_COMPLETION_DECLARED,
                  "completed": INITIATIVE_COMPLETED, "archived": INITIATIVE_ARCHIVED,
                  "withdrawn": INITIATIVE_WITHDRAWN, "suspended": INITIATIVE_SUSPENDED}

_UNSET: Any = object()
#: statuses of an initiative never published (no ``published_at``)
UNPUBLISHED = ("draft", "submitted", "changes_requested", "rejected")


def snapshot(*, initiative_id: str | None = None, version: int = 1, status: str = "published",
             title: str = "Clean Oceans Alliance", goals: list[int] | None = None,
             targets: list[str] | None = None, countries: list[str] | None = None,
             regions: list[str] | None = None, stakeholder_group: str | None = "ngo",
             lead: Any = _UNSET, public_id: str | None = None) -> dict[str, Any]:
    """An ``InitiativeSnapshot`` (Python values, as the registry builds it before dumping)."""
    now = datetime.now(UTC)
    if lead is _UNSET:
        lead = None if stakeholder_group is None else {
            "id": str(uuid.uuid4()), "name": "Blue Planet Trust", "acronym": None,
            "stakeholder_group": stakeholder_group, "country": "KEN"}
    return {
        "id": initiative_id or str(uuid.uuid4()),
        "public_id": public_id or (None if status in UNPUBLISHED else f"PR-2026-{version:05d}"),
        "status": status, "version": version, "title": title,
        "description": "Reduce marine plastic.", "lead_organization": lead, "partners": [],
        "sdg_goals": [14] if goals is None else goals,
        "sdg_targets": ["14.1"] if targets is None else targets,
        "countries": ["KEN"] if countries is None else countries,
        "regions": [] if regions is None else regions,
        "start_date": None, "end_date": None, "deliverables": [], "resources": [],
        "contact_email": "contact@example.org", "source": None, "source_ref": None,
        "created_at": now, "updated_at": now,
        "published_at": None if status in UNPUBLISHED else now,
    }


def event_for(initiative: dict[str, Any], type_: str | None = None) -> CloudEvent:
    """The CloudEvent carrying ``initiative``; the type follows its status unless given."""
    if type_ is None:
        type_ = TYPE_OF_STATUS[initiative["status"]]
    action, from_status, _ = ACTION[type_]
    data = {"action": action, "from_status": from_status, "to_status": initiative["status"],
            "comment": None, "actor": {"role": "secretariat"}, "initiative": initiative}
    if type_ == INITIATIVE_REVISION_APPROVED:
        data["revision"] = {"number": initiative["version"], "status": "approved"}
    if type_ == INITIATIVE_COMMENTED:
        data["thread_entry"] = {"id": str(uuid.uuid4()), "body": "Any news?",
                                "visibility": "participants", "reply_to": None}
        data["recipients"] = [{"email": "ann@partner.example", "role": "owner"}]
    return new_event(type_, source="/registry", subject=initiative["id"],
                     data=dump_data(type_, data))


def to_message(event: CloudEvent | dict[str, Any], topic: str | None = None) -> Message:
    """A bus message in Kafka binary mode (as the outbox relay builds it)."""
    envelope = event.to_dict() if isinstance(event, CloudEvent) else event
    key, headers, value = event_to_message(envelope)
    return Message(topic=topic or topic_name(TOPIC_INITIATIVES), key=key, value=value,
                   headers=headers)


# -- the real data ---------------------------------------------------------------------------
def ocean_records(shared_data: Path, limit: int = 300) -> list[dict[str, Any]]:
    """The first ``limit`` records of the UN Ocean Conference commitments file."""
    path = shared_data / "ocean-commitments" / "ocean_commitments.jsonl"
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                out.append(json.loads(line))
            if len(out) == limit:
                break
    return out


def ocean_snapshot(record: dict[str, Any]) -> dict[str, Any]:
    """A published snapshot for one commitment record (goals = ``sdgs`` plus the goals of
    ``sdg14_targets``; countries by name; stakeholder group of ``entity_types[0]``)."""
    from registry import reference as registry_reference
    from shared import reference

    targets = [t for t in record.get("sdg14_targets") or [] if t in reference.targets()]
    goals = {g for g in record.get("sdgs") or [] if isinstance(g, int) and 1 <= g <= 17}
    goals |= {reference.goal_of_target(t) for t in targets}
    countries = sorted({c.iso_alpha3 for name in record.get("countries") or []
                        if (c := registry_reference.country_by_name(name))})
    entity_types = record.get("entity_types") or []
    group = registry_reference.ENTITY_TYPE_TO_STAKEHOLDER_GROUP.get(entity_types[0], "other") \
        if entity_types else "other"
    lead_name = (record.get("lead_entity") or "").strip()
    lead = {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, lead_name)), "name": lead_name[:500],
            "acronym": None, "stakeholder_group": group, "country": None} if lead_name else None
    snap = snapshot(initiative_id=str(uuid.uuid5(uuid.NAMESPACE_URL, record["url"])),
                    title=record.get("title") or record["ocean_action_id"],
                    goals=sorted(goals), targets=targets, countries=countries, regions=[],
                    lead=lead, public_id=record["ocean_action_id"][:100])
    snap["source"], snap["source_ref"] = "ocean-conference", record["ocean_action_id"]
    return snap


@pytest.fixture
def reporting_app(sqlite_url):
    """The reporting app on a migrated SQLite database."""
    from reporting.app import create_app
    from shared import migrate

    migrate.upgrade("reporting", sqlite_url)
    app = create_app({"DATABASE_URL": sqlite_url, "IN_PROCESS_BUS": True})
    yield app
    app.extensions["db_engine"].dispose()


@pytest.fixture
def bus(reporting_app) -> InProcessBus:
    """An in-process bus with the ``reporting`` consumer group subscribed (embedded mode)."""
    from reporting.app import start_workers

    bus = InProcessBus()
    workers = start_workers(reporting_app, bus=bus)
    yield bus
    workers.stop()


@pytest.fixture
def publish(bus) -> Callable[..., None]:
    """Function: publish snapshots (or CloudEvents) on the in-process bus, in order."""

    def publish_(*items: dict[str, Any] | CloudEvent) -> None:
        bus.publish([to_message(i if isinstance(i, CloudEvent) else event_for(i))
                     for i in items])

    return publish_


@pytest.fixture
def make_snapshot() -> Callable[..., dict[str, Any]]:
    """Function: keyword arguments -> an ``InitiativeSnapshot`` (see :func:`snapshot`)."""
    return snapshot


@pytest.fixture
def make_event() -> Callable[..., CloudEvent]:
    """Function: snapshot [, type] -> the CloudEvent carrying it (see :func:`event_for`)."""
    return event_for


@pytest.fixture(name="to_message")
def to_message_fixture() -> Callable[..., Message]:
    """Function: CloudEvent (or structured dict) [, topic] -> Kafka-style bus message."""
    return to_message


@pytest.fixture
def ocean_snapshots(shared_data) -> list[dict[str, Any]]:
    """Published snapshots of the first 300 real UN Ocean Conference commitments."""
    return [ocean_snapshot(r) for r in ocean_records(shared_data)]


@pytest.fixture
def ocean_expected(shared_data) -> dict[str, Any]:
    """Counts computed straight from the same 300 records, without the reporting code:
    ``total``, ``by_sdg_goal`` and ``by_region`` (via each country's M49 region)."""
    from collections import Counter

    from registry import reference as registry_reference
    from shared import reference

    records = ocean_records(shared_data)
    goals: Counter = Counter()
    regions: Counter = Counter()
    for rec in records:
        tagged = {g for g in rec.get("sdgs") or [] if isinstance(g, int) and 1 <= g <= 17}
        tagged |= {int(t.split(".")[0]) for t in rec.get("sdg14_targets") or []
                   if t in reference.targets()}
        goals.update(tagged)
        names = {c.region_en for n in rec.get("countries") or []
                 if (c := registry_reference.country_by_name(n)) and c.region_en}
        regions.update(names or {"Unspecified"})
    return {"total": len(records),
            "by_sdg_goal": {str(g): goals.get(g, 0) for g in range(1, 18)},
            "by_region": dict(regions)}
