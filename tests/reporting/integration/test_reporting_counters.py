"""The summary's counters (kept by the consumer) always equal a fresh GROUP BY over the read
model: a random sequence of create / update / submit / approve / reject / request-changes /
import events, with late snapshots, redeliveries and rows from before the counters (fixed seed,
so a failure replays), on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import random

import pytest
from sqlalchemy import create_engine, text, update

from reporting.readmodel.models import ReportInitiative
from reporting.readmodel.service import rebuild_summary_counts
from reporting.summaries.service import compute_summary, count_read_model, summary_from_counts
from shared import migrate
from shared.events.types import (
    INITIATIVE_APPROVED,
    INITIATIVE_CHANGES_REQUESTED,
    INITIATIVE_CREATED,
    INITIATIVE_IMPORTED,
    INITIATIVE_REJECTED,
    INITIATIVE_SUBMITTED,
    INITIATIVE_UPDATED,
)

#: event type -> status of the snapshot it carries
TRANSITIONS = {
    INITIATIVE_CREATED: "draft", INITIATIVE_UPDATED: "draft",
    INITIATIVE_SUBMITTED: "submitted", INITIATIVE_APPROVED: "published",
    INITIATIVE_REJECTED: "rejected", INITIATIVE_CHANGES_REQUESTED: "changes_requested",
    INITIATIVE_IMPORTED: "published",
}
#: countries in every region (KEN Africa, BRA/USA Americas, JPN Asia, FRA Europe, FJI Oceania)
COUNTRIES = ["KEN", "BRA", "USA", "JPN", "FRA", "FJI"]
#: World, Eastern Africa, Polynesia, Europe
REGIONS = ["001", "014", "061", "150"]
GROUPS = ["ngo", "government", "private_sector", "farmers", "women", None, "not-a-code"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def app(request, sqlite_url):
    from reporting.app import create_app

    url = sqlite_url if request.param == "sqlite" else \
        request.getfixturevalue("create_pg_database")("counters")
    migrate.upgrade("reporting", url)
    app = create_app({"DATABASE_URL": url, "IN_PROCESS_BUS": True})
    yield app
    app.extensions["db_engine"].dispose()


def _both(app):
    """(the summary from the counters, the summary from a fresh GROUP BY), without times."""
    with app.extensions["db_session_factory"]() as s:
        kept = compute_summary(db_session=s)
        fresh = summary_from_counts(count_read_model(db_session=s))
    return (dataclasses.replace(kept, generated_at=None),
            dataclasses.replace(fresh, generated_at=None))


def _random_snapshot(rng, make_snapshot, initiative_id, version, status):
    return make_snapshot(
        initiative_id=initiative_id, version=version, status=status,
        goals=rng.sample(range(1, 18), rng.randint(0, 4)) + rng.choice([[], [14]]),
        targets=rng.sample(["14.1", "14.2", "13.1", "6.3"], rng.randint(0, 2)),
        countries=rng.sample(COUNTRIES, rng.randint(0, 3)),
        regions=rng.sample(REGIONS, rng.randint(0, 2)),
        stakeholder_group=rng.choice(GROUPS))


class _Batches:
    """Hands messages to the consumer's handlers ``size`` per transaction, as the batched
    shared consumer loop does (one processed_events look-up, one commit per batch)."""

    def __init__(self, consumer, size: int):
        self.consumer, self.size, self.waiting = consumer, size, []

    def handle(self, message) -> None:
        self.waiting.append(message)
        if len(self.waiting) >= self.size:
            self.flush()

    def flush(self) -> None:
        from sqlalchemy import select

        from shared.events.envelope import event_from_message
        from shared.events.types import load_data

        consumer, model = self.consumer, self.consumer.processed_model
        events = [event_from_message(m.headers, m.value) for m in self.waiting]
        self.waiting = []
        with consumer.session_factory() as session:
            seen = set(session.scalars(select(model.event_id).where(
                model.consumer == consumer.name, model.event_id.in_([e.id for e in events]))))
            for event in events:
                if event.id in seen:
                    continue
                seen.add(event.id)
                consumer.handlers[event.type](session, event, load_data(event.type, event.data))
                session.add(model(consumer=consumer.name, event_id=event.id,
                                  event_type=event.type))
            session.commit()


@pytest.mark.parametrize("batch", [1, 25], ids=["event-per-transaction", "25-per-transaction"])
def test_counters_equal_a_fresh_group_by_after_random_events(app, make_snapshot, make_event,
                                                             to_message, batch):
    from reporting.app import build_consumer

    rng = random.Random(20261202)  # noqa: S311 - a reproducible sequence, not security
    consumer = build_consumer(app) if batch == 1 else _Batches(build_consumer(app), batch)
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(25)]
    versions = dict.fromkeys(ids, 0)
    sent: list = []  # messages already delivered once (for redeliveries)
    factory = app.extensions["db_session_factory"]
    for step in range(400):
        roll = rng.random()
        if roll < 0.08 and sent:  # a redelivery of an event already applied
            consumer.handle(rng.choice(sent))
        elif roll < 0.16 and sent:  # a late snapshot: an older version of an initiative
            initiative_id = rng.choice(ids)
            if versions[initiative_id] > 1:
                old = _random_snapshot(rng, make_snapshot, initiative_id,
                                       rng.randint(1, versions[initiative_id] - 1), "draft")
                consumer.handle(to_message(make_event(old)))
        elif roll < 0.20:  # a row as written before migration 0002 (no tags)
            if batch > 1:
                consumer.flush()
            with factory() as s:
                s.execute(update(ReportInitiative)
                          .where(ReportInitiative.id == rng.choice(ids)).values(tags=None))
                s.commit()
        else:
            initiative_id = rng.choice(ids)
            type_ = rng.choice(list(TRANSITIONS))
            versions[initiative_id] += rng.choice([1, 1, 1, 2])
            snap = _random_snapshot(rng, make_snapshot, initiative_id, versions[initiative_id],
                                    TRANSITIONS[type_])
            message = to_message(make_event(snap, type_))
            consumer.handle(message)
            sent.append(message)
        if step % 50 == 49:
            if batch > 1:
                consumer.flush()
            kept, fresh = _both(app)
            assert kept == fresh, f"after step {step}"

    if batch > 1:
        consumer.flush()
    kept, fresh = _both(app)
    assert kept == fresh
    assert kept.total > 0 and sum(kept.by_status.values()) == len(
        [v for v in versions.values() if v])
    # and a rebuild from the rows changes nothing
    with factory() as s:
        rebuild_summary_counts(db_session=s)
        s.commit()
    assert _both(app)[0] == kept


def test_migration_fills_the_counters_from_an_existing_read_model(sqlite_url):
    migrate.upgrade("reporting", sqlite_url, "0001")
    engine = create_engine(sqlite_url)
    rows = [("a", "published", "ngo", [14, 13], ["Africa"]),
            ("b", "published", None, [14], ["World", "Europe"]),
            ("c", "draft", "ngo", [1], ["Asia"]),
            ("d", "published", "government", [], ["Unspecified"])]
    with engine.begin() as conn:
        for iid, status, group, goals, names in rows:
            conn.execute(text(
                "INSERT INTO report_initiatives (id, status, version, title, "
                "lead_stakeholder_group, updated_at, applied_at) VALUES (:id, :status, 1, 't', "
                ":group, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"),
                {"id": iid, "status": status, "group": group})
            for g in goals:
                conn.execute(text("INSERT INTO report_initiative_goals VALUES (:i, :g)"),
                             {"i": iid, "g": g})
            for n in names:
                conn.execute(text("INSERT INTO report_initiative_region_names VALUES (:i, :n)"),
                             {"i": iid, "n": n})
    engine.dispose()

    migrate.upgrade("reporting", sqlite_url)

    from reporting.app import create_app

    app = create_app({"DATABASE_URL": sqlite_url, "IN_PROCESS_BUS": True})
    try:
        kept, fresh = _both(app)
    finally:
        app.extensions["db_engine"].dispose()
    assert kept == fresh
    assert kept.total == 3
    assert kept.by_sdg_goal["14"] == 2 and kept.by_sdg_goal["13"] == 1
    assert kept.by_region["World"] == 1 and kept.by_region["Unspecified"] == 1
    assert kept.by_stakeholder_group["unspecified"] == 1
    assert kept.by_status["draft"] == 1
