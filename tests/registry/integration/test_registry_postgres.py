"""The registry on the real PostgreSQL server: migrations without drift, the review workflow,
the importer, public ids and outbox relays under concurrency (FOR UPDATE / SKIP LOCKED)."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import select

from registry.imports.service import import_commitments
from registry.initiatives.models import Initiative, PublicIdCounter
from registry.outbox.models import OutboxEvent
from registry.progress.models import ProgressReport
from shared.bus import Message
from shared.events import types as ev
from shared.events.types import load_data
from shared.outbox import OutboxRelay


def test_workflow_on_postgresql(pg_url, registry_on, complete, problem):
    registry = registry_on(pg_url)
    partner = registry.token("partner", email="p@ngo.test")
    sec = registry.token("secretariat")
    draft = registry.create(partner, **(complete(registry, partner)
                                        | {"title": "Kelp forests",
                                           "sdg_targets": ["14.2", "12.5"]}))
    iid = draft["id"]
    assert draft["sdg_goals"] == [12, 14]
    problem(registry.action(partner, iid, "approve"), 403)
    assert registry.action(partner, iid, "submit").status_code == 200
    problem(registry.action(sec, iid, "request-changes"), 422, "comment")
    assert registry.action(sec, iid, "request-changes", "Add partners").status_code == 200
    resp = registry.patch(f"/api/v1/initiatives/{iid}", {"description": "Kelp, with partners."},
                          partner)
    assert resp.status_code == 200 and resp.json["end_date"] == "2028-12-31"
    assert registry.action(partner, iid, "submit").status_code == 200
    body = problem(registry.action(partner, iid, "submit"), 409)
    assert body["current_status"] == "submitted"
    approved = registry.action(sec, iid, "approve").json
    assert approved["public_id"].endswith("-00001")

    rows = registry.outbox(iid)
    assert [r.event_type for r in rows] == [
        ev.INITIATIVE_CREATED, ev.INITIATIVE_SUBMITTED, ev.INITIATIVE_CHANGES_REQUESTED,
        ev.INITIATIVE_UPDATED, ev.INITIATIVE_SUBMITTED, ev.INITIATIVE_APPROVED]
    assert [load_data(r.event_type, r.envelope["data"])["initiative"]["version"]
            for r in rows] == list(range(1, 7))
    update = [a for a in registry.activities(iid) if a.action == "update"][0]
    assert update.changes == {"description": {
        "before": "Restore 40 hectares of coral reef with coastal communities.",
        "after": "Kelp, with partners."}}

    # lists and search on PostgreSQL (ILIKE, EXISTS filters, NULLS LAST ordering)
    other = registry.create(partner, title="Unrelated draft", sdg_targets=["3.1"])
    assert registry.get("/api/v1/initiatives?q=KELP").json["total"] == 1
    assert registry.get("/api/v1/initiatives?sdg=12&country=FJI").json["total"] == 1
    assert registry.get("/api/v1/initiatives?q=100%25").json["total"] == 0
    mine = registry.get("/api/v1/initiatives", partner).json["items"]
    assert [i["id"] for i in mine] == [iid, other["id"]]  # published first
    assert registry.get("/api/v1/initiatives").json["total"] == 1
    assert registry.client.get(f"/initiatives/{approved['public_id']}").status_code == 200


def test_a_created_initiative_reads_back_as_answered_on_postgresql(pg_url, registry_on,
                                                                    complete):
    """Create writes every row in one statement whose rows travel as JSON
    (``jsonb_populate_recordset``): each column type (uuid, date, timestamptz, numeric, jsonb,
    tsvector, text with quotes, backslashes and Chinese) reads back exactly as answered."""
    registry = registry_on(pg_url)
    partner = registry.token("partner", email="p@ngo.test")
    fields = complete(registry, partner)
    other = registry.org(partner, "Mangrove \"Trust\" \\ 红树林")
    draft = registry.create(partner, **(fields | {
        "title": "珊瑚礁 restoration \"phase 1\" \\ O'Brien",
        "description": "Back\\slash, quote \" and 海洋保护.\nSecond line.",
        "partners": [{"organization_id": other["id"], "role": "funding"}],
        "sdg_targets": ["14.2", "12.5", "14.a"], "sdg_goals": [3],
        "countries": ["FJI", "PLW"], "regions": ["009"],
        "deliverables": [{"description": "One", "due_date": "2027-02-28"},
                         {"description": "Two", "due_date": None}],
        "resources": [{"type": "financing", "details": None, "amount_usd": "1234567.89"},
                      {"type": "in_kind_contribution", "details": "Boats"}]}))
    stored = registry.get(f"/api/v1/initiatives/{draft['id']}", partner).json
    assert stored == draft
    assert draft["resources"][0]["amount_usd"] == "1234567.89"
    assert draft["deliverables"][1]["due_date"] is None
    created = registry.activities(draft["id"])[0]
    assert created.action == "create" and created.changes["title"]["after"] == draft["title"]
    assert created.changes["resources"]["after"][0]["amount_usd"] == "1234567.89"
    assert [i["id"] for i in registry.get("/api/v1/initiatives?q=珊瑚礁",
                                          partner).json["items"]] == [draft["id"]]
    # the timeline read with the initiative (JSON) equals the one answered from the objects
    assert registry.patch(f"/api/v1/initiatives/{draft['id']}", {"deliverables": [
        {"description": "One", "due_date": "2027-02-28"}]}, partner).status_code == 200
    submitted = registry.action(partner, draft["id"], "submit").json
    assert [a["action"] for a in submitted["timeline"]] == ["create", "update", "submit"]
    assert {k: v for k, v in submitted["timeline"][1]["changes"]["deliverables"]["before"][1]
            .items() if k != "id"} == {"description": "Two", "due_date": None,
                                       "status": "planned"}
    assert registry.get(f"/api/v1/initiatives/{draft['id']}", partner).json == submitted


def test_import_on_postgresql(pg_url, registry_on, sample_path):
    registry = registry_on(pg_url)
    factory = registry.app.extensions["db_session_factory"]
    report = import_commitments(sample_path, session_factory=factory, batch_size=50)
    assert (report.imported, [s.line for s in report.skipped]) == (151, [91])
    assert report.progress_reports == 48  # issue 9: written by COPY on PostgreSQL
    again = import_commitments(sample_path, session_factory=factory)
    assert (again.imported, again.already_present, again.progress_reports) == (0, 151, 0)
    with factory() as s:
        public_ids = list(s.scalars(select(Initiative.public_id)))
        reports = s.execute(select(ProgressReport.status, ProgressReport.links)).all()
        lights = set(s.scalars(select(Initiative.reporting_status)))
    assert len(set(public_ids)) == 151
    assert len(reports) == 48 and {st for st, _ in reports} == {"approved"}
    assert all(links and links[0].startswith("https://") for _, links in reports)  # JSON
    assert lights <= {"green", "yellow", "red"} and "red" in lights
    assert Counter(r.event_type for r in registry.outbox())[ev.INITIATIVE_IMPORTED] == 151


def test_concurrent_approvals_get_distinct_public_ids(pg_url, registry_on, complete):
    """Two reviewers approving at the same moment, including the year's very first one."""
    registry = registry_on(pg_url)
    partner = registry.token("partner")
    sec = registry.token("secretariat")
    ids = []
    for i in range(6):
        draft = registry.create(partner, **complete(registry, partner), title=f"Item {i}")
        assert registry.action(partner, draft["id"], "submit").status_code == 200
        ids.append(draft["id"])
    results: dict[str, int] = {}
    barrier = threading.Barrier(len(ids))

    def approve(iid: str):
        client = registry.app.test_client()
        barrier.wait()
        resp = client.post(f"/api/v1/initiatives/{iid}/approve", json={},
                           headers=registry.headers(sec))
        results[iid] = resp.status_code

    threads = [threading.Thread(target=approve, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert set(results.values()) == {200}, results
    with registry.session() as s:
        public_ids = sorted(s.scalars(select(Initiative.public_id)))
        counter = s.scalar(select(PublicIdCounter))
    assert len(set(public_ids)) == 6
    assert [p.rsplit("-", 1)[1] for p in public_ids] == [f"{n:05d}" for n in range(1, 7)]
    assert counter.last_number == 6


class _Recorder:
    """A publisher that records what it is given, slowly, so relays overlap."""

    def __init__(self, delay: float = 0.02):
        self.delay = delay
        self.messages: list[Message] = []
        self.lock = threading.Lock()

    def publish(self, messages):
        time.sleep(self.delay)
        with self.lock:
            self.messages.extend(messages)


def _fill_outbox(registry, partner: str, n: int) -> None:
    for i in range(n):
        registry.create(partner, title=f"Outbox filler {i}")


def test_concurrent_relays_never_publish_a_row_twice(pg_url, registry_on):
    registry = registry_on(pg_url)
    partner = registry.token("partner")
    _fill_outbox(registry, partner, 60)
    factory = registry.app.extensions["db_session_factory"]
    recorder = _Recorder()
    relays = [OutboxRelay(factory, OutboxEvent, recorder, batch_size=7) for _ in range(3)]
    sent: list[int] = []
    barrier = threading.Barrier(len(relays))

    def run(relay):
        barrier.wait()
        total = 0
        while True:
            n = relay.relay_once()
            if n == 0:
                break
            total += n
        sent.append(total)

    threads = [threading.Thread(target=run, args=(r,)) for r in relays]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ids = [dict(m.headers)["ce_id"].decode() for m in recorder.messages]
    # 60 initiatives and the published event of the signing key the partner's token made
    assert len(ids) == 61 and len(set(ids)) == 61
    assert sum(sent) == 61
    assert sum(1 for n in sent if n > 0) >= 2, sent  # the relays really shared the work
    rows = registry.outbox(identity=True)
    assert all(r.published_at is not None and r.attempts == 1 for r in rows)
    assert {r.event_id for r in rows} == set(ids)


@pytest.fixture
def _collect_dropped_sockets():
    """kafka-python drops the sockets of failed connection attempts without closing them (the
    captured log records keep them alive during the test): collect them at this test's
    teardown, where its warning filters apply, rather than inside a later test."""
    yield
    for _ in range(3):
        gc.collect()
        time.sleep(0.1)


@pytest.mark.usefixtures("_collect_dropped_sockets")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_relay_with_the_broker_unreachable_leaves_rows_unpublished(
        pg_url, registry_on, monkeypatch, caplog):
    import socket

    caplog.set_level(logging.CRITICAL, logger="kafka")  # its connection errors are expected

    import kafka

    from shared.bus import KafkaPublisher

    real = kafka.KafkaProducer

    def short_timeouts(**kw):
        kw.update(api_version=(2, 8, 0), max_block_ms=1000, request_timeout_ms=1000,
                  delivery_timeout_ms=2000, reconnect_backoff_max_ms=200)
        return real(**kw)

    monkeypatch.setattr(kafka, "KafkaProducer", short_timeouts)
    with socket.socket() as sock:  # a local port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    registry = registry_on(pg_url)
    partner = registry.token("partner")
    _fill_outbox(registry, partner, 3)
    publisher = KafkaPublisher([f"127.0.0.1:{port}"], timeout=2)
    try:
        relay = OutboxRelay(registry.app.extensions["db_session_factory"], OutboxEvent,
                            publisher)
        assert relay.drain() == 0
        rows = registry.outbox(identity=True)  # the signing key's event first
        assert all(r.published_at is None for r in rows)
        assert rows[0].attempts == 1 and rows[0].last_error
        assert all(r.attempts == 0 for r in rows[1:])
    finally:
        publisher.close()


def test_nul_and_lone_surrogates_are_422_on_postgresql(pg_url, registry_on, problem):
    # PostgreSQL's text type cannot hold NUL: this answered 500 before the input schemas
    # checked every string
    from registry.initiatives.models import Initiative

    registry = registry_on(pg_url)
    partner = registry.token("partner")
    problem(registry.post("/api/v1/initiatives", {"title": "Kelp\x00"}, partner), 422, "title")
    problem(registry.post("/api/v1/initiatives", {"title": "Kelp", "description": "\udfff"},
                          partner), 422, "description")
    problem(registry.post("/api/v1/organizations", {"name": "Reef\x00 Trust",
                                                    "stakeholder_group": "ngo"}, partner),
            422, "name")
    assert registry.count(Initiative) == 0
    assert registry.post("/api/v1/initiatives", {"title": "Kelp forests"}, partner
                         ).status_code == 201
