"""Issue 9 in the read model, on SQLite and on the real PostgreSQL (events through the in-process
bus, one polled batch = one transaction): each initiative's reporting light and progress from
the snapshots' new fields, the progress report events (a same-version snapshot patches the
progress) and ``reporting-status-changed`` (applied in event order inside a batch, a
replayed old one ignored, an unknown initiative ignored); the summary's counts by colour
(published only) always equal a recount; the summary page shows them in English and Chinese."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select

from reporting.readmodel.models import ReportInitiative
from reporting.summaries.service import count_read_model
from shared import migrate
from shared.bus import InProcessBus
from shared.events import new_event
from shared.events.types import (
    INITIATIVE_REPORTING_STATUS_CHANGED,
    PROGRESS_REPORT_APPROVED,
    dump_data,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request, sqlite_url):
    from reporting.app import create_app, start_workers

    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("pg_url")
    migrate.upgrade("reporting", url)
    app = create_app({"DATABASE_URL": url, "IN_PROCESS_BUS": True})
    bus = InProcessBus()
    workers = start_workers(app, bus=bus)
    app.extensions["test_bus"] = bus
    yield app
    workers.stop()
    app.extensions["db_engine"].dispose()


def light(initiative: dict[str, Any], to_status: str, as_of: datetime, *,
          from_status: str | None = None, subject: str | None = None):
    """An ``initiative.reporting-status-changed.v1`` as the compliance job publishes it."""
    data = {"initiative": {"id": initiative["id"], "public_id": initiative.get("public_id"),
                           "title": initiative["title"], "stakeholder_group": "ngo",
                           "countries": ["KEN"], "regions": ["002"], "sdg_goals": [14]},
            "from_status": from_status, "to_status": to_status, "as_of": as_of,
            "anchor_on": date(2024, 1, 10), "last_report_on": None,
            "yellow_on": date(2025, 1, 10), "red_on": date(2026, 1, 10),
            "inactive": to_status == "red"}
    return new_event(INITIATIVE_REPORTING_STATUS_CHANGED, source="/registry",
                     subject=subject or initiative["id"],
                     data=dump_data(INITIATIVE_REPORTING_STATUS_CHANGED, data))


def approved_report(initiative: dict[str, Any]):
    """A ``progress-report.approved.v1`` whose snapshot reflects the approval."""
    data = {"action": "approve", "from_status": "submitted", "to_status": "approved",
            "comment": None, "actor": {"role": "secretariat"},
            "report": {"id": str(uuid.uuid4()), "number": 1, "status": "approved",
                       "reported_on": date(2026, 11, 30), "overall_status": "on_track",
                       "progress_percent": 60},
            "initiative": initiative}
    return new_event(PROGRESS_REPORT_APPROVED, source="/registry", subject=initiative["id"],
                     data=dump_data(PROGRESS_REPORT_APPROVED, data))


def _row(app, iid: str) -> ReportInitiative:
    with app.extensions["db_session_factory"]() as s:
        return s.scalars(select(ReportInitiative).where(ReportInitiative.id == iid)).one()


def _lights(app) -> dict[str, int]:
    """The summary's counts by colour, after checking the counters equal a recount."""
    with app.extensions["db_session_factory"]() as s:
        recount = {k: v for k, v in count_read_model(db_session=s).items() if v}
    body = app.test_client().get("/api/v1/reports/summary").json
    kept = {k: v for k, v in body["by_reporting_status"].items() if v}
    assert kept == {key: n for (dim, key), n in recount.items() if dim == "reporting_status"}
    return body["by_reporting_status"]


def test_the_light_and_progress_follow_snapshots_progress_events_and_light_changes(
        app, make_snapshot, make_event, to_message):
    app.config["SUMMARY_CACHE_SECONDS"] = 0
    app.extensions["reporting_summary_cache"].max_age = 0
    bus = app.extensions["test_bus"]
    a = {**make_snapshot(version=2), "reporting_status": "green", "progress_percent": 20,
         "progress_reports_count": 0}
    b = {**make_snapshot(version=5), "reporting_status": "yellow"}
    withdrawn = {**make_snapshot(version=3, status="withdrawn"), "reporting_status": "red"}
    bus.publish([to_message(make_event(s)) for s in (a, b, withdrawn)])
    assert _lights(app) == {"green": 1, "yellow": 1, "red": 0}  # withdrawn: not counted

    # the job: A turns yellow then red in one batch (order kept), B turns red, and a light for
    # an initiative reporting never saw is ignored
    t1, t2 = datetime(2026, 12, 1, 2, tzinfo=UTC), datetime(2026, 12, 2, 2, tzinfo=UTC)
    unknown = make_snapshot()
    bus.publish([to_message(light(a, "yellow", t1, from_status="green")),
                 to_message(light(a, "red", t2, from_status="yellow")),
                 to_message(light(b, "red", t2, from_status="yellow")),
                 to_message(light(unknown, "yellow", t2))])
    # a replayed old change (from a light B no longer has): ignored
    bus.publish([to_message(light(b, "green", t1, from_status="yellow"))])
    assert _lights(app) == {"green": 0, "yellow": 0, "red": 2}
    row = _row(app, a["id"])
    assert (row.reporting_status, row.reporting_status_as_of, row.reporting_anchor_on) == (
        "red", t2, date(2024, 1, 10))

    # A's owner files a report; its approval (same version: the registry did not count it as
    # a change of the initiative) restarts the cycle: green, progress 60, one report
    approved = {**a, "reporting_status": "green", "progress_percent": 60,
                "progress_reports_count": 1, "last_progress_report_on": date(2026, 11, 30)}
    bus.publish([to_message(approved_report(approved))])
    row = _row(app, a["id"])
    assert (row.reporting_status, row.progress_percent, row.progress_reports_count,
            row.last_progress_report_on) == ("green", 60, 1, date(2026, 11, 30))
    assert row.reporting_status_as_of == t2  # kept: the job's clock of the last change
    assert _lights(app) == {"green": 1, "yellow": 0, "red": 1}

    # the job run "as of" a past date: event order decides, not as_of
    bus.publish([to_message(light(a, "yellow", t1, from_status="green"))])
    assert _row(app, a["id"]).reporting_status == "yellow"
    assert _lights(app) == {"green": 0, "yellow": 1, "red": 1}
    bus.publish([to_message(light(a, "green", t2, from_status="yellow"))])
    assert _lights(app) == {"green": 1, "yellow": 0, "red": 1}

    # a newer snapshot in the same batch as a light change: the later event wins
    b2 = {**b, "version": 6, "reporting_status": "red", "title": "Renamed"}
    bus.publish([to_message(light(b, "yellow", datetime(2026, 12, 3, tzinfo=UTC),
                                  from_status="red")),
                 to_message(make_event(b2))])
    assert (_row(app, b["id"]).reporting_status, _row(app, b["id"]).title) == ("red",
                                                                               "Renamed")
    assert _lights(app) == {"green": 1, "yellow": 0, "red": 1}


def test_the_summary_page_shows_the_lights_in_english_and_chinese(app, make_snapshot,
                                                                 make_event, to_message):
    bus = app.extensions["test_bus"]
    bus.publish([to_message(make_event({**make_snapshot(), "reporting_status": "yellow"}))])
    client = app.test_client()

    english = client.get("/api/v1/reports/summary.html?lang=en").get_data(as_text=True)
    chinese = client.get("/api/v1/reports/summary.html?lang=zh").get_data(as_text=True)
    csv = client.get("/api/v1/reports/summary.csv").get_data(as_text=True)

    assert "Published initiatives by reporting status" in english
    assert "Yellow: progress report overdue" in english
    assert "按报告状态统计的已发布倡议" in chinese and "黄色：进展报告逾期" in chinese
    assert "reporting_status,yellow,Yellow: progress report overdue,1" in csv
