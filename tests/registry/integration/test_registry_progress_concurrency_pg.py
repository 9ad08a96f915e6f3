"""Progress reports under concurrent requests on PostgreSQL (the machinery of
``test_review_concurrency``: real HTTP on a threaded server, a held row lock, requests
released together): two reviewers approving one report — exactly one wins, the other gets 409
or 412, one timeline entry, one event, one roll-up; two reports started at once by a
partner's two systems get numbers 1 and 2 (the initiative's row is locked while the number
is taken)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from registry.initiatives.models import Initiative
from registry.progress.models import ProgressReport
from registry.workflow.models import Activity
from shared.events import types as ev
from tests.registry.integration.test_review_concurrency import _one_winner, _race
from tests.registry.integration.test_review_concurrency import served as served  # noqa: F401,F811
from tests.registry.review_desk import make_desk

pytestmark = pytest.mark.postgres

COMPLETE = {"period_start": "2026-01-01", "period_end": "2026-06-30",
            "overall_status": "on_track", "narrative_html": "<p>Reefs.</p>",
            "progress_percent": 55}


def test_two_reviewers_approving_one_report_at_once_exactly_one_wins(served):
    registry, base, url = served
    desk = make_desk(registry)
    initiative = desk.published()
    made = registry.post(f"/api/v1/initiatives/{initiative['id']}/progress-reports",
                         COMPLETE | {"submit": True}, desk["owner"])
    assert made.status_code == 201, made.json
    rid = made.json["id"]
    path = f"/api/v1/progress-reports/{rid}/approve"

    results = _race(base, url, ("progress_reports", rid),
                    [(desk["reviewer"], path, {}), (desk["reviewer2"], path, {})])

    winner, _loser = _one_winner(results)
    assert winner["status"] == "approved"
    with registry.session() as s:
        assert len(list(s.scalars(select(Activity).where(
            Activity.record_id == uuid.UUID(rid), Activity.action == "approve")))) == 1
        row = s.get(Initiative, uuid.UUID(initiative["id"]))
        assert (row.progress_reports_count, row.progress_percent) == (1, 55)
    approved = [o for o in registry.outbox(initiative["id"])
                if o.event_type == ev.PROGRESS_REPORT_APPROVED]
    assert len(approved) == 1


def test_two_systems_starting_reports_at_once_get_distinct_numbers(served):
    registry, base, url = served
    desk = make_desk(registry)
    initiative = desk.published()
    systems = [registry.client_token(desk.owner_org, scopes=("progress:write",))
               for _ in range(2)]
    path = f"/api/v1/initiatives/{initiative['id']}/progress-reports"

    results = _race(base, url, ("initiatives", initiative["id"]),
                    [(systems[0], path, COMPLETE), (systems[1], path, COMPLETE)])

    assert sorted(status for status, _ in results) == [201, 201], results
    assert sorted(body["number"] for _, body in results) == [1, 2]
    with registry.session() as s:
        assert sorted(s.scalars(select(ProgressReport.number).where(
            ProgressReport.initiative_id == uuid.UUID(initiative["id"])))) == [1, 2]
