"""Reporting against the real stack: snapshots published on Kafka, the ``reporting`` consumer
group, the read model on PostgreSQL, the summary endpoint."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from shared import migrate
from shared.bus import KafkaPublisher
from shared.events.types import INITIATIVE_STATUSES, TOPIC_INITIATIVES, topic_name

# kafka-python loads its protocol schemas with importlib.resources' legacy API; the warning is
# attributed to importlib itself, so pyproject's "kafka.*" filter misses it
pytestmark = pytest.mark.filterwarnings(
    "ignore:(open_text|read_text) is deprecated:DeprecationWarning")


@pytest.fixture
def app(pg_url, kafka_env):
    from reporting.app import create_app

    migrate.upgrade("reporting", pg_url)
    app = create_app({"DATABASE_URL": pg_url})
    yield app
    app.extensions["db_engine"].dispose()


@pytest.fixture
def workers(app):
    """The consumer group running in a thread (topics created before anything is published)."""
    from reporting.app import start_workers

    workers = start_workers(app)
    yield workers
    workers.stop()


@pytest.fixture
def publisher(kafka_env):
    publisher = KafkaPublisher(kafka_env, client_id="reporting-tests")
    yield publisher
    publisher.close()


def _settled(app, done: Callable[[dict[str, Any]], bool], timeout: float = 90.0,
             quiet: float = 1.5) -> dict[str, Any]:
    """Poll the summary endpoint until ``done`` holds and the body stops changing for
    ``quiet`` seconds; returns the last body (the caller asserts on it)."""
    client = app.test_client()
    deadline = time.monotonic() + timeout
    last, stable_since = None, time.monotonic()
    while time.monotonic() < deadline:
        body = client.get("/api/v1/reports/summary").json
        body.pop("generated_at")
        if body != last:
            last, stable_since = body, time.monotonic()
        elif done(body) and time.monotonic() - stable_since >= quiet:
            return body
        time.sleep(0.3)
    return last or {}


def test_summary_is_built_from_kafka_events(read_topic, app, workers, publisher, kafka_env,
                                            make_snapshot, make_event, to_message):
    from reporting.readmodel.models import ProcessedEvent

    a = make_snapshot(version=1, status="draft", goals=[1])
    a_published = make_snapshot(initiative_id=a["id"], version=3, status="published",
                                goals=[13, 14], countries=["KEN", "FRA"])
    a_late = make_snapshot(initiative_id=a["id"], version=2, status="submitted", goals=[2])
    b = make_snapshot(goals=[14], countries=[], regions=["009"],
                      stakeholder_group="government")
    c = make_snapshot(status="rejected", goals=[3])
    poison = make_event(make_snapshot()).to_dict()
    poison["data"]["initiative"]["version"] = 0
    duplicate = make_event(b)

    publisher.publish([to_message(make_event(a)), to_message(make_event(a_published)),
                       to_message(make_event(a_late)), to_message(duplicate),
                       to_message(duplicate), to_message(make_event(c)), to_message(poison)])

    body = _settled(app, lambda s: s["total"] == 2 and s["by_status"]["rejected"] == 1)

    assert body["total"] == 2
    assert body["by_sdg_goal"] == {**{str(g): 0 for g in range(1, 18)}, "13": 1, "14": 2}
    assert body["by_region"] == {"Africa": 1, "Americas": 0, "Asia": 0, "Europe": 1,
                                 "Oceania": 1}
    assert body["by_stakeholder_group"]["ngo"] == 1
    assert body["by_stakeholder_group"]["government"] == 1
    assert body["by_status"] == {"draft": 0, "submitted": 0, "changes_requested": 0,
                                 "published": 2, "rejected": 1,
                                 **dict.fromkeys(INITIATIVE_STATUSES[5:], 0)}
    [letter] = read_topic(kafka_env, topic_name(TOPIC_INITIATIVES) + ".dlt", 1)
    headers = dict(letter.headers)
    assert headers["dlt_consumer"] == b"reporting"
    assert b"version" in headers["dlt_error"]
    with app.extensions["db_session_factory"]() as s:  # the duplicate was applied once
        assert s.scalar(select(func.count()).select_from(ProcessedEvent)) == 5
    assert app.test_client().get("/readyz").json["checks"] == {"database": "ok",
                                                               "kafka": "ok"}


def test_a_restarted_consumer_resumes_after_its_committed_offsets(app, publisher,
                                                                  make_snapshot, make_event,
                                                                  to_message):
    from reporting.app import start_workers
    from reporting.readmodel.models import ProcessedEvent

    first = start_workers(app)
    try:
        publisher.publish([to_message(make_event(make_snapshot(goals=[7])))])
        assert _settled(app, lambda s: s["total"] == 1)["total"] == 1
    finally:
        first.stop()

    publisher.publish([to_message(make_event(make_snapshot(goals=[7])))])
    second = start_workers(app)
    try:
        body = _settled(app, lambda s: s["total"] == 2)
    finally:
        second.stop()

    assert body["total"] == 2 and body["by_sdg_goal"]["7"] == 2
    with app.extensions["db_session_factory"]() as s:
        assert s.scalar(select(func.count()).select_from(ProcessedEvent)) == 2


@pytest.mark.shared_data
def test_summary_of_real_commitments_over_kafka(app, workers, publisher, ocean_snapshots,
                                                ocean_expected, make_event, to_message):
    publisher.publish([to_message(make_event(s)) for s in ocean_snapshots])

    body = _settled(app, lambda s: s["total"] == ocean_expected["total"], timeout=120)

    assert body["total"] == ocean_expected["total"] == 300
    assert body["by_sdg_goal"] == ocean_expected["by_sdg_goal"]
    for name, count in ocean_expected["by_region"].items():
        assert body["by_region"][name] == count
    assert sum(body["by_stakeholder_group"].values()) == 300
