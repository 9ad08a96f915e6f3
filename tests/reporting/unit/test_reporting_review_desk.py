"""The read model through the review desk's lifecycle (issue 8): every new state is counted in
``by_status`` (and leaves the published breakdowns), an approved revision updates the record,
comments and assignments disturb nothing, older snapshots stay ignored; the summary's CSV and
pages name the new states, in Chinese too (SQLite read model, in-process bus)."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from reporting.readmodel.models import ReportInitiative, ReportSummaryCount
from reporting.readmodel.service import INITIATIVE_EVENT_TYPES
from reporting.summaries.rendering import STATUS_LABELS, localized_label
from reporting.summaries.service import compute_summary, count_read_model
from shared.events.types import (
    EVENT_TYPES,
    INITIATIVE_COMMENTED,
    INITIATIVE_REINSTATED,
    INITIATIVE_REVIEW_ASSIGNED,
    INITIATIVE_REVISION_APPROVED,
    INITIATIVE_REVISION_SUBMITTED,
    INITIATIVE_STATUSES,
    TOPIC_INITIATIVES,
    InitiativeEventData,
)

PUBLIC_ID = "PR-2026-00007"
NEW_STATES = ("completion_declared", "completed", "archived", "withdrawn", "suspended")


def _summary(app):
    with app.extensions["db_session_factory"]() as s:
        return compute_summary(db_session=s)


def _row(app, initiative_id: str) -> ReportInitiative:
    with app.extensions["db_session_factory"]() as s:
        row = s.get(ReportInitiative, initiative_id)
        assert row is not None
        s.expunge(row)
        return row


def _counters(app) -> dict[tuple[str, str], int]:
    with app.extensions["db_session_factory"]() as s:
        return {(c.dimension, c.key): c.count for c in s.scalars(select(ReportSummaryCount))
                if c.count}


def _recount(app) -> dict[tuple[str, str], int]:
    with app.extensions["db_session_factory"]() as s:
        return {k: v for k, v in count_read_model(db_session=s).items() if v}


def test_every_initiative_event_type_feeds_the_read_model():
    """Every ``initiative.*`` type carrying a snapshot (issue 9's light and reminder events
    carry a compact reference: handled apart, or not at all)."""
    assert set(INITIATIVE_EVENT_TYPES) == {
        t for t, (topic, schema) in EVENT_TYPES.items()
        if topic == TOPIC_INITIATIVES and schema is InitiativeEventData}
    assert len(INITIATIVE_EVENT_TYPES) == 20


def test_every_state_of_the_lifecycle_is_counted(reporting_app, publish, make_snapshot):
    # one initiative per new state, plus one walked through completion to the archive
    for state in NEW_STATES:
        publish(make_snapshot(status=state, version=5, goals=[14], public_id=PUBLIC_ID))
    walked = make_snapshot(version=3, goals=[13], public_id=PUBLIC_ID)
    publish(walked)
    for version, state in enumerate(("completion_declared", "completed", "archived"), start=4):
        publish(make_snapshot(initiative_id=walked["id"], version=version, status=state,
                              goals=[13], public_id=PUBLIC_ID))

    summary = _summary(reporting_app)

    assert list(summary.by_status) == list(INITIATIVE_STATUSES)
    assert summary.by_status == {**dict.fromkeys(INITIATIVE_STATUSES, 0),
                                 "completion_declared": 1, "completed": 1, "archived": 2,
                                 "withdrawn": 1, "suspended": 1}
    # the other breakdowns count active initiatives only (published, completion declared:
    # the summary's definition): here the one declared complete, tagged with goal 14
    assert summary.total == 1 and summary.by_sdg_goal["13"] == 0
    assert summary.by_sdg_goal["14"] == 1
    assert _counters(reporting_app) == _recount(reporting_app)


def test_suspension_and_reinstatement_move_the_published_counts(reporting_app, publish,
                                                                make_snapshot, make_event):
    published = make_snapshot(version=2, goals=[14], public_id=PUBLIC_ID)
    publish(published)
    publish(make_snapshot(initiative_id=published["id"], version=3, status="suspended",
                          goals=[14], public_id=PUBLIC_ID))
    suspended = _summary(reporting_app)
    publish(make_event(make_snapshot(initiative_id=published["id"], version=4, goals=[14],
                                     public_id=PUBLIC_ID), INITIATIVE_REINSTATED))
    reinstated = _summary(reporting_app)

    assert (suspended.total, suspended.by_status["suspended"]) == (0, 1)
    assert suspended.by_sdg_goal["14"] == 0
    assert (reinstated.total, reinstated.by_status["suspended"]) == (1, 0)
    assert reinstated.by_sdg_goal["14"] == 1 and reinstated.by_status["published"] == 1


def test_an_approved_revision_updates_the_record_and_the_counts(reporting_app, publish,
                                                               make_snapshot, make_event):
    v1 = make_snapshot(version=4, title="Mangroves", goals=[14], countries=["KEN"],
                       public_id=PUBLIC_ID)
    publish(v1)
    # a submitted revision does not change what is published (same snapshot, newer version)
    publish(make_event(make_snapshot(initiative_id=v1["id"], version=5, title="Mangroves",
                                     goals=[14], countries=["KEN"], public_id=PUBLIC_ID),
                       INITIATIVE_REVISION_SUBMITTED))
    revised = make_snapshot(initiative_id=v1["id"], version=6, title="Mangroves and reefs",
                            goals=[13, 14], countries=["FRA"], public_id=PUBLIC_ID)

    publish(make_event(revised, INITIATIVE_REVISION_APPROVED))

    row = _row(reporting_app, v1["id"])
    assert (row.title, row.version, row.status) == ("Mangroves and reefs", 6, "published")
    assert row.tags["goals"] == [13, 14] and row.tags["countries"] == ["FRA"]
    summary = _summary(reporting_app)
    assert summary.total == 1 and summary.by_status["published"] == 1
    assert summary.by_sdg_goal["13"] == 1 and summary.by_sdg_goal["14"] == 1
    assert summary.by_region["Europe"] == 1 and summary.by_region["Africa"] == 0
    assert _counters(reporting_app) == _recount(reporting_app)


@pytest.mark.parametrize("type_", [INITIATIVE_COMMENTED, INITIATIVE_REVIEW_ASSIGNED])
def test_comments_and_assignments_disturb_nothing(reporting_app, publish, make_snapshot,
                                                  make_event, type_):
    current = make_snapshot(version=7, title="Blue carbon", goals=[14], public_id=PUBLIC_ID)
    publish(current)
    before = (_row(reporting_app, current["id"]), _counters(reporting_app))

    # the same version (a comment changes no field) and an older one (arriving late)
    same = make_event(current, type_)
    older = make_event(make_snapshot(initiative_id=current["id"], version=6,
                                     status="submitted", title="Blue carbon (draft)",
                                     goals=[1], public_id=PUBLIC_ID), type_)
    publish(same, older)

    after = (_row(reporting_app, current["id"]), _counters(reporting_app))
    assert after[1] == before[1]
    assert (after[0].title, after[0].version, after[0].status, after[0].applied_at) == (
        before[0].title, before[0].version, before[0].status, before[0].applied_at)


def test_an_older_snapshot_of_a_new_state_is_ignored(reporting_app, publish, make_snapshot):
    current = make_snapshot(version=9, status="completed", public_id=PUBLIC_ID)
    publish(current)
    publish(make_snapshot(initiative_id=current["id"], version=8,
                          status="completion_declared", public_id=PUBLIC_ID))

    assert _row(reporting_app, current["id"]).status == "completed"
    assert _summary(reporting_app).by_status["completion_declared"] == 0


def test_every_status_has_a_label_translated_into_chinese(reporting_app):
    assert set(STATUS_LABELS) == set(INITIATIVE_STATUSES)
    with reporting_app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        labels = {code: localized_label("status", code) for code in INITIATIVE_STATUSES}
    assert labels["completion_declared"] == "已申报完成"
    assert labels["withdrawn"] == "已撤回" and labels["suspended"] == "已暂停"
    assert all(label != STATUS_LABELS[code] for code, label in labels.items()), labels


def test_csv_and_page_show_the_new_states(reporting_app, publish, make_snapshot):
    publish(make_snapshot(status="withdrawn", version=3, public_id=PUBLIC_ID),
            make_snapshot(status="completion_declared", version=3, public_id=PUBLIC_ID))
    client = reporting_app.test_client()

    rows = list(csv.DictReader(io.StringIO(
        client.get("/api/v1/reports/summary.csv").get_data(as_text=True))))
    page_zh = client.get("/api/v1/reports/summary.html?lang=zh").get_data(as_text=True)
    page_en = client.get("/api/v1/reports/summary.html?lang=en").get_data(as_text=True)
    body = client.get("/api/v1/reports/summary").json

    statuses = {r["key"]: (r["label"], r["count"]) for r in rows if r["dimension"] == "status"}
    assert list(statuses) == list(INITIATIVE_STATUSES)
    assert statuses["withdrawn"] == ("Withdrawn", "1")
    assert statuses["completion_declared"] == ("Completion declared", "1")
    assert statuses["archived"] == ("Archived", "0")
    assert "已撤回" in page_zh and "已申报完成" in page_zh and "已暂停" in page_zh
    assert "Completion declared" in page_en and "Suspended" in page_en
    assert body["by_status"]["withdrawn"] == 1 and body["by_status"]["completion_declared"] == 1
