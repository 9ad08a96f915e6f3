"""Reporting on the real PostgreSQL: migrations without drift, the read model and its summary
(events through the in-process bus; Kafka is covered in test_reporting_kafka.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from shared import migrate
from shared.bus import InProcessBus
from shared.events.types import INITIATIVE_STATUSES


@pytest.fixture
def pg_app(pg_url):
    from reporting.app import create_app, start_workers

    migrate.upgrade("reporting", pg_url)
    app = create_app({"DATABASE_URL": pg_url, "IN_PROCESS_BUS": True})
    bus = InProcessBus()
    workers = start_workers(app, bus=bus)
    app.extensions["test_bus"] = bus
    yield app
    workers.stop()
    app.extensions["db_engine"].dispose()


def test_summary_on_postgresql(pg_app, make_snapshot, make_event, to_message):
    bus = pg_app.extensions["test_bus"]
    a = make_snapshot(version=1, status="draft", goals=[1], countries=["BRA"])
    snaps = [
        a,
        make_snapshot(initiative_id=a["id"], version=2, status="published", goals=[13, 14],
                      countries=["BRA", "JPN"], regions=["001"]),
        make_snapshot(initiative_id=a["id"], version=1, status="draft", goals=[1]),  # late
        make_snapshot(goals=[14], countries=[], regions=[], stakeholder_group=None),
        make_snapshot(status="rejected", goals=[2]),
    ]
    bus.publish([to_message(make_event(s)) for s in snaps])

    response = pg_app.test_client().get("/api/v1/reports/summary")

    assert response.status_code == 200
    body = response.json
    assert body["total"] == 2
    assert body["by_sdg_goal"] == {**{str(g): 0 for g in range(1, 18)}, "13": 1, "14": 2}
    assert body["by_region"] == {"Africa": 0, "Americas": 1, "Asia": 1, "Europe": 0,
                                 "Oceania": 0, "World": 1, "Unspecified": 1}
    assert body["by_stakeholder_group"]["ngo"] == 1
    assert body["by_stakeholder_group"]["unspecified"] == 1
    assert body["by_status"] == {"draft": 0, "submitted": 0, "changes_requested": 0,
                                 "published": 2, "rejected": 1,
                                 **dict.fromkeys(INITIATIVE_STATUSES[5:], 0)}
    # the summary's read-only REPEATABLE READ transaction leaves pooled connections writable
    bus.publish([to_message(make_event(make_snapshot(goals=[5])))])
    assert pg_app.test_client().get("/api/v1/reports/summary").json["total"] == 3


def test_too_long_values_are_dead_lettered_not_retried_on_postgresql(pg_app, make_snapshot,
                                                                     make_event, to_message):
    from reporting.readmodel.models import ReportInitiative

    bus = pg_app.extensions["test_bus"]
    snap = make_snapshot()
    snap["lead_organization"]["country"] = "Kenya"  # the schema does not bound it; the column does

    bus.publish([to_message(make_event(snap)), to_message(make_event(make_snapshot()))])

    assert len(bus.dead_letters) == 1
    with pg_app.extensions["db_session_factory"]() as s:
        assert s.scalar(select(func.count()).select_from(ReportInitiative)) == 1


def test_text_dates_and_times_are_stored_exactly_on_postgresql(pg_app, make_snapshot,
                                                               make_event, to_message):
    """The read model's rows go to PostgreSQL as one JSON document per batch
    (``json_to_recordset``): quotes, backslashes, control characters, Chinese, emoji, dates and
    offsets survive it, and a NUL is dropped as before."""
    from datetime import date, datetime, timedelta, timezone

    from reporting.readmodel.models import ReportInitiative

    title = 'Coral "reef" \\ restoration\n\t珊瑚礁恢复 🐠 {"x": [1]} \x00end'
    when = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=timezone(timedelta(hours=-5)))
    snap = make_snapshot(title=title, targets=["14.1", 'a"b\\c'], lead={
        "id": "o1", "name": "Organisation «Océan» \\ 海洋", "acronym": None,
        "stakeholder_group": "ngo", "country": "FJI"})
    snap.update(start_date=date(2026, 1, 31), end_date=date(2030, 12, 1), updated_at=when,
                published_at=when)
    pg_app.extensions["test_bus"].publish([to_message(make_event(snap))])

    with pg_app.extensions["db_session_factory"]() as s:
        row = s.get(ReportInitiative, snap["id"])
        assert row.title == title.replace("\x00", "")
        assert row.lead_organization_name == "Organisation «Océan» \\ 海洋"
        assert (row.start_date, row.end_date) == (date(2026, 1, 31), date(2030, 12, 1))
        assert row.updated_at == when and row.published_at == when
        assert row.tags["targets"] == ["14.1", 'a"b\\c']
