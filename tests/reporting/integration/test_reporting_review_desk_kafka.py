"""The review desk's lifecycle on the real stack (issue 8): initiative events published on
Kafka, the ``reporting`` consumer group, the read model on PostgreSQL — ``by_status`` counts the
new states, an approved revision updates the record, comments and assignments change nothing,
older snapshots stay ignored."""

from __future__ import annotations

import time

import pytest

from shared import migrate
from shared.bus import KafkaPublisher
from shared.events.types import (
    INITIATIVE_COMMENTED,
    INITIATIVE_REINSTATED,
    INITIATIVE_REVIEW_ASSIGNED,
    INITIATIVE_REVISION_APPROVED,
    INITIATIVE_STATUSES,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:(open_text|read_text) is deprecated:DeprecationWarning")

PUBLIC_ID = "PR-2026-00100"


@pytest.fixture
def app(pg_url, kafka_env):
    from reporting.app import create_app

    migrate.upgrade("reporting", pg_url)
    app = create_app({"DATABASE_URL": pg_url})
    yield app
    app.extensions["db_engine"].dispose()


def _wait_for(app, done, timeout: float = 90.0) -> dict:
    """Poll the summary endpoint until ``done(body)``; the last body."""
    client = app.test_client()
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        body = client.get("/api/v1/reports/summary").json
        if done(body):
            return body
        time.sleep(0.3)
    return body


def test_by_status_counts_the_review_desk_states_from_kafka(app, kafka_env, make_snapshot,
                                                            make_event, to_message):
    from reporting.app import start_workers
    from reporting.readmodel.models import ReportInitiative

    def snap(initiative, version, status="published", **over):
        return make_snapshot(initiative_id=initiative["id"], version=version, status=status,
                             public_id=PUBLIC_ID, **over)

    a = make_snapshot(version=2, goals=[14], public_id=PUBLIC_ID)  # -> archived
    b = make_snapshot(version=2, goals=[14], public_id=PUBLIC_ID)  # -> withdrawn
    c = make_snapshot(version=2, goals=[14], public_id=PUBLIC_ID)  # suspended -> reinstated
    d = make_snapshot(version=2, goals=[14], public_id=PUBLIC_ID)  # -> suspended
    e = make_snapshot(version=2, goals=[14], title="Old title", public_id=PUBLIC_ID)
    f = make_snapshot(version=2, goals=[14], public_id=PUBLIC_ID)  # -> completion_declared
    events = [make_event(x) for x in (a, b, c, d, e, f)]
    events += [make_event(snap(a, 3, "completion_declared")), make_event(snap(a, 4, "completed")),
               make_event(snap(a, 5, "archived")),
               make_event(snap(b, 3, "withdrawn")),
               make_event(snap(c, 3, "suspended")),
               make_event(snap(c, 4), INITIATIVE_REINSTATED),
               make_event(snap(d, 3, "suspended")),
               # an approved revision: new title and goals; then a late, older snapshot
               make_event(snap(e, 3, title="New title", goals=[13, 14]),
                          INITIATIVE_REVISION_APPROVED),
               make_event(snap(e, 2, title="Old title", goals=[14])),
               # comments and assignments on the same version: nothing changes
               make_event(snap(e, 3, title="New title", goals=[13, 14]), INITIATIVE_COMMENTED),
               make_event(snap(e, 3, title="New title", goals=[13, 14]),
                          INITIATIVE_REVIEW_ASSIGNED),
               make_event(snap(f, 3, "completion_declared"))]
    publisher = KafkaPublisher(kafka_env, client_id="reporting-review-desk-tests")
    workers = start_workers(app)
    try:
        publisher.publish([to_message(ev) for ev in events])
        body = _wait_for(app, lambda s: s["by_status"].get("completion_declared") == 1
                         and s["by_status"].get("archived") == 1
                         and s["by_status"].get("published") == 2
                         and s["by_sdg_goal"]["13"] == 1)
    finally:
        workers.stop()
        publisher.close()

    assert body["by_status"] == {**dict.fromkeys(INITIATIVE_STATUSES, 0), "published": 2,
                                 "completion_declared": 1, "archived": 1, "withdrawn": 1,
                                 "suspended": 1}
    # c (reinstated), e (revised) and f (completion declared, not yet confirmed)
    assert body["total"] == 3
    assert body["by_sdg_goal"]["14"] == 3 and body["by_sdg_goal"]["13"] == 1
    with app.extensions["db_session_factory"]() as s:
        revised = s.get(ReportInitiative, e["id"])
        assert (revised.title, revised.version, revised.status) == ("New title", 3,
                                                                    "published")
