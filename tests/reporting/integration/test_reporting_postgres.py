"""Reporting on the real PostgreSQL: migrations without drift, the read model and its summary
(events through the in-process bus; Kafka is covered in test_reporting_kafka.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from shared import migrate
from shared.bus import InProcessBus


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
                                 "published": 2, "rejected": 1}
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
