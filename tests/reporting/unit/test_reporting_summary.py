"""The summary counts published initiatives once per goal / region / lead stakeholder group, and
every known initiative by status (SQLite read model fed through the in-process bus)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reporting.summaries.service import compute_summary
from shared.events.types import INITIATIVE_STATUSES
from shared.reference import STAKEHOLDER_GROUPS

FIVE_REGIONS = ["Africa", "Americas", "Asia", "Europe", "Oceania"]


def _summary(app):
    with app.extensions["db_session_factory"]() as s:
        return compute_summary(db_session=s)


def test_an_empty_read_model_gives_every_key_with_zeros(reporting_app):
    summary = _summary(reporting_app)

    assert summary.total == 0
    assert list(summary.by_sdg_goal) == [str(g) for g in range(1, 18)]
    assert set(summary.by_sdg_goal.values()) == {0}
    assert list(summary.by_region) == FIVE_REGIONS
    assert list(summary.by_stakeholder_group) == list(STAKEHOLDER_GROUPS)
    assert list(summary.by_status) == list(INITIATIVE_STATUSES)
    assert summary.generated_at.tzinfo is not None
    assert summary.generated_at.utcoffset().total_seconds() == 0


@pytest.fixture
def populated(reporting_app, publish, make_snapshot):
    """Six initiatives covering multi-goal, multi-region, World, unspecified and unpublished."""
    snaps = [
        # two goals, two regions (Africa via KEN and the Eastern Africa sub-region 014, Europe)
        make_snapshot(goals=[13, 14], countries=["KEN", "FRA"], regions=["014"],
                      stakeholder_group="ngo"),
        # tagged World only
        make_snapshot(goals=[14], countries=[], regions=["001"],
                      stakeholder_group="government"),
        # Oceania via the Polynesia sub-region, and a goal repeated in the snapshot
        make_snapshot(goals=[14, 14, 17], countries=[], regions=["061"],
                      stakeholder_group="government"),
        # no country / region, no lead organisation
        make_snapshot(goals=[6], countries=[], regions=[], stakeholder_group=None),
        # not published: counted by status only
        make_snapshot(status="draft", goals=[1], countries=["BRA"], stakeholder_group="ngo"),
        make_snapshot(status="submitted", goals=[1], countries=["BRA"],
                      stakeholder_group="farmers"),
    ]
    publish(*snaps)
    return snaps


def test_published_initiatives_count_once_under_each_goal(reporting_app, populated):
    summary = _summary(reporting_app)

    assert summary.total == 4
    assert summary.by_sdg_goal == {**{str(g): 0 for g in range(1, 18)},
                                   "6": 1, "13": 1, "14": 3, "17": 1}


def test_published_initiatives_count_once_under_each_region(reporting_app, populated):
    summary = _summary(reporting_app)

    assert summary.by_region == {"Africa": 1, "Americas": 0, "Asia": 0, "Europe": 1,
                                 "Oceania": 1, "World": 1, "Unspecified": 1}


def test_stakeholder_groups_count_the_lead_organisation_of_published_ones(reporting_app,
                                                                          populated):
    summary = _summary(reporting_app)

    expected = {code: 0 for code in STAKEHOLDER_GROUPS}
    expected.update({"ngo": 1, "government": 2, "unspecified": 1})
    assert summary.by_stakeholder_group == expected


def test_status_counts_every_initiative_not_only_published(reporting_app, populated):
    summary = _summary(reporting_app)

    assert summary.by_status == {"draft": 1, "submitted": 1, "changes_requested": 0,
                                 "published": 4, "rejected": 0,
                                 **dict.fromkeys(INITIATIVE_STATUSES[5:], 0)}


def test_an_initiative_leaving_published_leaves_the_counts(reporting_app, populated, publish,
                                                           make_snapshot):
    first = populated[0]
    publish(make_snapshot(initiative_id=first["id"], version=2, status="changes_requested",
                          goals=[13, 14], countries=["KEN", "FRA"]))

    summary = _summary(reporting_app)

    assert summary.total == 3
    assert summary.by_sdg_goal["13"] == 0 and summary.by_sdg_goal["14"] == 2
    assert summary.by_region["Africa"] == 0 and summary.by_region["Europe"] == 0
    assert summary.by_status["changes_requested"] == 1 and summary.by_status["published"] == 3


def test_a_declared_completion_stays_counted_until_confirmed(reporting_app, populated, publish,
                                                              make_snapshot):
    first = populated[0]
    publish(make_snapshot(initiative_id=first["id"], version=2, status="completion_declared",
                          goals=[13, 14], countries=["KEN", "FRA"], stakeholder_group="ngo"))
    declared = _summary(reporting_app)
    assert declared.total == 4 and declared.by_sdg_goal["13"] == 1
    assert declared.by_stakeholder_group["ngo"] == 1
    assert declared.by_status["completion_declared"] == 1

    publish(make_snapshot(initiative_id=first["id"], version=3, status="completed",
                          goals=[13, 14], countries=["KEN", "FRA"], stakeholder_group="ngo"))
    completed = _summary(reporting_app)
    assert completed.total == 3 and completed.by_sdg_goal["13"] == 0
    assert completed.by_status["completed"] == 1 and completed.by_status["completion_declared"] == 0


def test_a_code_outside_the_catalogue_keeps_its_own_key(reporting_app, publish, make_snapshot):
    publish(make_snapshot(stakeholder_group="space_agency"),
            make_snapshot(countries=["XXX"], regions=["999"]))

    summary = _summary(reporting_app)

    assert summary.by_stakeholder_group["space_agency"] == 1
    # unknown country / region codes map to no region
    assert summary.by_region["Unspecified"] == 1 and summary.by_region["Africa"] == 1


def test_the_json_endpoint_serves_the_summary(reporting_app, populated):
    response = reporting_app.test_client().get("/api/v1/reports/summary")

    assert response.status_code == 200
    body = response.json
    assert set(body) == {"total", "by_sdg_goal", "by_region", "by_stakeholder_group",
                         "by_reporting_status", "by_status", "generated_at"}
    assert body["by_reporting_status"] == {"green": 0, "yellow": 0, "red": 0}
    assert body["total"] == 4
    assert body["by_sdg_goal"]["14"] == 3
    assert list(body["by_sdg_goal"]) == [str(g) for g in range(1, 18)]  # not "1","10","11"…
    assert body["by_region"]["World"] == 1
    generated = datetime.fromisoformat(body["generated_at"])
    assert generated.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - generated).total_seconds()) < 60


def test_the_summary_is_in_the_openapi_document(reporting_app):
    doc = reporting_app.test_client().get("/api/v1/reports/openapi.json").json

    assert {"/api/v1/reports/summary", "/api/v1/reports/summary.csv",
            "/api/v1/reports/summary.html"} <= set(doc["paths"])
    ref = doc["paths"]["/api/v1/reports/summary"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(schema["required"]) >= {"total", "by_sdg_goal", "by_status", "generated_at"}
    assert "text/csv" in doc["paths"]["/api/v1/reports/summary.csv"]["get"]["responses"]["200"][
        "content"]


def test_the_cached_summary_is_dropped_when_the_local_consumer_commits(reporting_app, publish,
                                                                      make_snapshot):
    reporting_app.extensions["reporting_summary_cache"].max_age = 3600
    client = reporting_app.test_client()
    assert client.get("/api/v1/reports/summary").json["total"] == 0

    publish(make_snapshot())
    assert client.get("/api/v1/reports/summary").json["total"] == 1
    publish(make_snapshot(), make_snapshot(status="draft"))

    summary = client.get("/api/v1/reports/summary").json
    assert summary["total"] == 2 and summary["by_status"]["draft"] == 1


def test_changes_applied_by_another_process_show_after_the_cache_age(sqlite_url, make_snapshot,
                                                                     make_event, to_message):
    from reporting.app import build_consumer, create_app
    from shared import migrate

    migrate.upgrade("reporting", sqlite_url)
    web = create_app({"DATABASE_URL": sqlite_url, "SUMMARY_CACHE_SECONDS": 3600})
    consume = create_app({"DATABASE_URL": sqlite_url})  # as `reporting consume` would
    try:
        client = web.test_client()
        assert client.get("/api/v1/reports/summary").json["total"] == 0
        build_consumer(consume).handle(to_message(make_event(make_snapshot())))

        assert client.get("/api/v1/reports/summary").json["total"] == 0  # cached
        web.extensions["reporting_summary_cache"].max_age = 0  # as if the age had passed
        web.extensions["reporting_summary_cache"].invalidate()
        assert client.get("/api/v1/reports/summary").json["total"] == 1
    finally:
        web.extensions["db_engine"].dispose()
        consume.extensions["db_engine"].dispose()
