"""The read model follows the newest snapshot of each initiative, whatever the delivery order,
applies each event once, and dead-letters what it cannot apply (in-process bus, SQLite)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from reporting.readmodel.models import (
    ProcessedEvent,
    ReportInitiative,
    ReportInitiativeCountry,
    ReportInitiativeGoal,
    ReportInitiativeRegion,
    ReportInitiativeRegionName,
    ReportInitiativeTarget,
)
from reporting.readmodel.service import INITIATIVE_EVENT_TYPES
from shared.events.types import (
    COMPLIANCE_WEEKLY_DIGEST,
    EVENT_TYPES,
    INITIATIVE_APPROVED,
    INITIATIVE_CREATED,
    INITIATIVE_IMPORTED,
    INITIATIVE_PROGRESS_REMINDER_DUE,
    INITIATIVE_REPORTING_STATUS_CHANGED,
    ORGANIZATION_CREATED,
    PROGRESS_REPORT_APPROVED,
    PROGRESS_REPORT_CHANGES_REQUESTED,
    PROGRESS_REPORT_SUBMITTED,
    TOPIC_IDENTITY,
    TOPIC_INITIATIVES,
    topic_name,
)


def _session(app):
    return app.extensions["db_session_factory"]()


def _row(app, initiative_id: str) -> ReportInitiative | None:
    with _session(app) as s:
        return s.get(ReportInitiative, initiative_id)


def _tags(app, model, column: str, initiative_id: str) -> set:
    with _session(app) as s:
        return set(s.scalars(select(getattr(model, column))
                             .where(model.initiative_id == initiative_id)))


def _count(app, model) -> int:
    with _session(app) as s:
        return s.scalar(select(func.count()).select_from(model))


def test_every_initiative_event_type_feeds_the_read_model(reporting_app):
    from reporting.app import build_consumer

    initiative_types = {t for t, (topic, _) in EVENT_TYPES.items() if topic == TOPIC_INITIATIVES}
    consumer = build_consumer(reporting_app)
    # issue 9: the progress report events carry a snapshot too; the light's change has its
    # own handler; the reminders and the secretariat's digest are the notifier's business
    issue9 = {PROGRESS_REPORT_SUBMITTED, PROGRESS_REPORT_APPROVED,
              PROGRESS_REPORT_CHANGES_REQUESTED, INITIATIVE_REPORTING_STATUS_CHANGED,
              INITIATIVE_PROGRESS_REMINDER_DUE, COMPLIANCE_WEEKLY_DIGEST}

    assert set(INITIATIVE_EVENT_TYPES) == initiative_types - issue9
    assert len(INITIATIVE_EVENT_TYPES) == 20  # 7 before the review desk (issue 8) + 13
    identity_types = {t for t, (topic, _) in EVENT_TYPES.items() if topic == TOPIC_IDENTITY}
    assert set(consumer.handlers) == (initiative_types - {INITIATIVE_PROGRESS_REMINDER_DUE,
                                                          COMPLIANCE_WEEKLY_DIGEST}
                                      | identity_types)  # + the signing keys
    assert ORGANIZATION_CREATED not in consumer.handlers
    assert consumer.name == "reporting"
    assert consumer.topics == [topic_name(TOPIC_INITIATIVES), topic_name(TOPIC_IDENTITY)]


def test_a_snapshot_is_stored_with_what_reports_need(reporting_app, publish, make_snapshot):
    snap = make_snapshot(version=4, title="Mangroves for Kenya", goals=[13, 14],
                         targets=["14.1", "14.2"], countries=["KEN", "TZA"], regions=["014"],
                         stakeholder_group="private_sector")

    publish(snap)

    row = _row(reporting_app, snap["id"])
    assert (row.status, row.version, row.title) == ("published", 4, "Mangroves for Kenya")
    assert row.public_id == snap["public_id"]
    assert (row.lead_organization_name, row.lead_stakeholder_group, row.lead_country) == (
        "Blue Planet Trust", "private_sector", "KEN")
    assert row.published_at is not None and row.published_at.utcoffset().total_seconds() == 0
    assert _tags(reporting_app, ReportInitiativeGoal, "goal", snap["id"]) == {13, 14}
    assert _tags(reporting_app, ReportInitiativeTarget, "target", snap["id"]) == {"14.1", "14.2"}
    assert _tags(reporting_app, ReportInitiativeCountry, "country", snap["id"]) == {"KEN", "TZA"}
    assert _tags(reporting_app, ReportInitiativeRegion, "region_code", snap["id"]) == {"014"}
    assert _tags(reporting_app, ReportInitiativeRegionName, "region_name", snap["id"]) == {
        "Africa"}


def test_a_newer_version_replaces_the_row_and_its_tags(reporting_app, publish, make_snapshot):
    draft = make_snapshot(version=1, status="draft", goals=[1, 2], targets=[],
                          countries=["FRA"], stakeholder_group="government")
    published = make_snapshot(initiative_id=draft["id"], version=3, status="published",
                              goals=[14], targets=["14.1"], countries=[], regions=["001"],
                              stakeholder_group=None)

    publish(draft)
    publish(published)

    row = _row(reporting_app, draft["id"])
    assert (row.status, row.version) == ("published", 3)
    assert row.lead_organization_name is None and row.lead_stakeholder_group is None
    assert _tags(reporting_app, ReportInitiativeGoal, "goal", draft["id"]) == {14}
    assert _tags(reporting_app, ReportInitiativeCountry, "country", draft["id"]) == set()
    assert _tags(reporting_app, ReportInitiativeRegionName, "region_name", draft["id"]) == {
        "World"}
    assert _count(reporting_app, ReportInitiative) == 1


@pytest.mark.parametrize("late_version", [1, 2, 3])
def test_an_older_or_equal_snapshot_arriving_late_changes_nothing(
        reporting_app, publish, make_snapshot, late_version):
    newest = make_snapshot(version=3, status="published", title="Newest", goals=[14])
    late = make_snapshot(initiative_id=newest["id"], version=late_version, status="draft",
                         title="Late", goals=[1, 2, 3], countries=["FRA"])

    publish(newest)
    publish(late)

    row = _row(reporting_app, newest["id"])
    assert (row.status, row.version, row.title) == ("published", 3, "Newest")
    assert _tags(reporting_app, ReportInitiativeGoal, "goal", newest["id"]) == {14}
    assert _tags(reporting_app, ReportInitiativeCountry, "country", newest["id"]) == {"KEN"}
    # the late event was consumed (recorded), not dead-lettered
    assert _count(reporting_app, ProcessedEvent) == 2


def test_a_repeated_event_is_applied_once(reporting_app, bus, make_snapshot, make_event,
                                          to_message):
    from reporting.app import build_consumer

    event = make_event(make_snapshot(version=2), INITIATIVE_IMPORTED)

    bus.publish([to_message(event), to_message(event)])
    again = build_consumer(reporting_app).apply(event)

    assert again is False
    assert _count(reporting_app, ProcessedEvent) == 1
    assert _count(reporting_app, ReportInitiative) == 1
    assert bus.dead_letters == []


def test_all_seven_types_are_applied_in_order(reporting_app, publish, make_snapshot,
                                              make_event):
    from shared.events.types import (
        INITIATIVE_CHANGES_REQUESTED,
        INITIATIVE_REJECTED,
        INITIATIVE_SUBMITTED,
        INITIATIVE_UPDATED,
    )

    first = make_snapshot(version=1, status="draft")
    steps = [(INITIATIVE_CREATED, "draft"), (INITIATIVE_UPDATED, "draft"),
             (INITIATIVE_SUBMITTED, "submitted"),
             (INITIATIVE_CHANGES_REQUESTED, "changes_requested"),
             (INITIATIVE_SUBMITTED, "submitted"), (INITIATIVE_REJECTED, "rejected"),
             (INITIATIVE_IMPORTED, "published"), (INITIATIVE_APPROVED, "published")]
    seen = []
    for version, (type_, status) in enumerate(steps, start=1):
        snap = make_snapshot(initiative_id=first["id"], version=version, status=status)
        publish(make_event(snap, type_))
        seen.append(_row(reporting_app, first["id"]).status)

    assert seen == [s for _, s in steps]
    assert _row(reporting_app, first["id"]).version == len(steps)


def _dlt_error(message) -> str:
    return dict(message.headers)["dlt_error"].decode()


def test_data_failing_the_schema_goes_to_the_dead_letter_topic(reporting_app, bus,
                                                               make_snapshot, make_event,
                                                               to_message):
    bad = make_event(make_snapshot()).to_dict()
    bad["data"]["initiative"]["sdg_goals"] = [18]
    bad["data"]["initiative"]["status"] = "archived"
    good = make_snapshot()

    bus.publish([to_message(bad), to_message(make_event(good))])

    [letter] = bus.dead_letters
    assert letter.topic == topic_name(TOPIC_INITIATIVES) + ".dlt"
    assert "invalid data" in _dlt_error(letter) and "sdg_goals" in _dlt_error(letter)
    assert dict(letter.headers)["dlt_consumer"] == b"reporting"
    assert json.loads(letter.value)["initiative"]["sdg_goals"] == [18]
    # processing continued with the next event; nothing of the poison one was stored
    assert _row(reporting_app, good["id"]) is not None
    assert _row(reporting_app, bad["subject"]) is None
    assert _count(reporting_app, ProcessedEvent) == 1


def test_an_invalid_envelope_goes_to_the_dead_letter_topic(bus, to_message, make_snapshot,
                                                           make_event):
    message = to_message(make_event(make_snapshot()))
    headers = [(k, v) for k, v in message.headers if k != "ce_specversion"]

    bus.publish([type(message)(topic=message.topic, key=message.key, value=b"{not json",
                               headers=headers)])

    [letter] = bus.dead_letters
    assert letter.value == b"{not json"


@pytest.mark.parametrize("breakage", ["subject", "stakeholder_group", "target", "country"])
def test_a_snapshot_the_read_model_cannot_hold_is_dead_lettered(reporting_app, bus,
                                                                make_snapshot, make_event,
                                                                to_message, breakage):
    snap = make_snapshot()
    if breakage == "stakeholder_group":
        snap["lead_organization"]["stakeholder_group"] = "x" * 101
    elif breakage == "target":
        snap["sdg_targets"] = ["14.1", "1" * 11]
    elif breakage == "country":
        snap["lead_organization"]["country"] = "Kenya"
    event = make_event(snap).to_dict()
    if breakage == "subject":
        event["subject"] = "someone-else"

    bus.publish([to_message(event)])

    [letter] = bus.dead_letters
    assert ("subject" if breakage == "subject" else "too long") in _dlt_error(letter)
    assert _count(reporting_app, ReportInitiative) == 0
