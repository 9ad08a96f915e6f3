"""Two reviewers deciding at the same moment on PostgreSQL (issue 8, "Tests": "two reviewers
approving at once — exactly one wins, the other gets 409 or 412"; HELPERS.md: transitions
lock the row, ``with_for_update()``, before checking state and version).

The race is made certain rather than likely: the registry is served over real HTTP by a
threaded WSGI server, a test transaction holds the initiative's row lock
(``SELECT … FOR UPDATE``) while two reviewers' requests are released together by a barrier,
and is let go only once both requests wait on a lock in PostgreSQL (``pg_stat_activity``).
A service that read the state without locking would let both through the check, and both
writes would then queue behind the held lock: two 200s, two timeline entries, two events.
With the lock the second request reads the first one's result: 409 (no longer submitted)
or 412 (version changed). Either way exactly one activity row and one outbox event remain.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, func, select, text

from shared.events import types as ev

pytestmark = pytest.mark.postgres

LOSER_STATUSES = (409, 412)


# -- serving and racing ----------------------------------------------------------------------
@pytest.fixture
def served(pg_url, registry_on):
    """The registry on PostgreSQL behind a threaded WSGI server on a free loopback port."""
    from werkzeug.serving import make_server

    registry = registry_on(pg_url)
    server = make_server("127.0.0.1", 0, registry.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield registry, f"http://127.0.0.1:{server.port}", pg_url
    server.shutdown()
    server.server_close()
    thread.join(5)


def _post(base: str, path: str, token: str, body: dict | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, dict]:
    """One HTTP POST with a bearer token: ``(status, JSON body or {})``."""
    request = urllib.request.Request(
        base + path, method="POST", data=json.dumps(body or {}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}",
                 **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310 - loopback
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw or b"{}")
    except ValueError:
        return status, {"raw": raw[:500].decode(errors="replace")}


@contextmanager
def _row_held(url: str, table: str, row_id: str) -> Iterator[callable]:
    """Hold ``table``'s row ``row_id`` locked (``FOR UPDATE``) in a transaction of our own;
    yields ``waiting()``: how many other backends of this database wait on a lock now."""
    engine = create_engine(url)
    with engine.connect() as holder:
        holder.execute(text(f"SELECT 1 FROM {table} WHERE id = :id FOR UPDATE"),  # noqa: S608
                       {"id": row_id})
        mine = holder.execute(text("SELECT pg_backend_pid()")).scalar()

        def waiting() -> int:
            with engine.connect() as probe:
                return probe.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND pid <> :mine"), {"mine": mine}).scalar()

        try:
            yield waiting
        finally:
            holder.rollback()
    engine.dispose()


def _race(base: str, url: str, locked: tuple[str, str], calls: list[tuple[str, str, dict]],
          headers: list[dict[str, str] | None] | None = None) -> list[tuple[int, dict]]:
    """Send ``calls`` (token, path, body) at once, from one thread each, while the row
    ``locked`` (table, id) is held; let it go once every call waits on a lock (or after 10 s:
    a service that never waits shows up in the answers). The answers, in call order."""
    results: list[tuple[int, dict] | None] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def call(k: int) -> None:
        token, path, body = calls[k]
        barrier.wait()
        results[k] = _post(base, path, token, body, (headers or [None] * len(calls))[k])

    with _row_held(url, *locked) as waiting:
        threads = [threading.Thread(target=call, args=(k,)) for k in range(len(calls))]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        seen = 0
        while time.monotonic() < deadline and seen < len(calls) \
                and any(r is None for r in results):
            seen = max(seen, waiting())
            time.sleep(0.02)
    for t in threads:
        t.join(60)
    assert all(r is not None for r in results), "a request did not finish"
    # the race really happened: every request was inside its transaction, waiting on the row
    assert seen == len(calls), (seen, results)
    return results  # type: ignore[return-value]


def _one_winner(results: list[tuple[int, dict]]) -> tuple[dict, tuple[int, dict]]:
    statuses = sorted(status for status, _ in results)
    assert statuses[0] == 200 and statuses[1] in LOSER_STATUSES and len(statuses) == 2, results
    winner = next(body for status, body in results if status == 200)
    loser = next(r for r in results if r[0] != 200)
    assert loser[1].get("status") == loser[0] and loser[1].get("title"), loser  # a problem
    return winner, loser


# -- reading what was written ------------------------------------------------------------------
def _activities(registry, initiative_id: str, action: str,
                revision_number: int | None = None) -> list:
    from registry.workflow.models import Activity

    with registry.session() as s:
        query = select(Activity).where(Activity.record_id == uuid.UUID(initiative_id),
                                       Activity.action == action)
        if revision_number is not None:
            query = query.where(Activity.revision_number == revision_number)
        return list(s.scalars(query))


def _events(registry, initiative_id: str, event_type: str) -> list:
    return [r for r in registry.outbox(initiative_id) if r.event_type == event_type]


def _initiative(registry, initiative_id: str):
    from registry.initiatives.models import Initiative

    with registry.session() as s:
        return s.get(Initiative, uuid.UUID(initiative_id))


def _submitted(registry, partner: str, complete) -> str:
    """A complete draft with two partners, submitted; its id."""
    partners = [{"organization_id": registry.org(partner, f"Partner {k} {uuid.uuid4().hex[:6]}")
                 ["id"], "role": role} for k, role in enumerate(("funding", "implementing"))]
    draft = registry.create(partner, **complete(registry, partner), partners=partners)
    assert registry.action(partner, draft["id"], "submit").status_code == 200
    return draft["id"]


def _reviewers(registry) -> list[str]:
    return [registry.user_token(staff=("reviewer",), email=f"reviewer{k}@secretariat.test")
            for k in (1, 2)]


# -- the tests ------------------------------------------------------------------------------------
def test_two_reviewers_approving_one_submission_at_once_exactly_one_wins(served, complete):
    registry, base, url = served
    partner = registry.token("partner")
    first, second = _reviewers(registry)
    iid = _submitted(registry, partner, complete)
    path = f"/api/v1/initiatives/{iid}/approve"

    results = _race(base, url, ("initiatives", iid), [(first, path, {}), (second, path, {})])

    winner, _loser = _one_winner(results)
    assert winner["status"] == "published"
    assert len(_activities(registry, iid, "approve")) == 1
    assert len(_events(registry, iid, ev.INITIATIVE_APPROVED)) == 1
    stored = _initiative(registry, iid)
    assert stored.status == "published" and stored.approved_version == 1
    with registry.session() as s:
        from registry.initiatives.models import InitiativeVersion

        assert s.scalar(select(func.count()).select_from(InitiativeVersion).where(
            InitiativeVersion.initiative_id == uuid.UUID(iid))) == 1


def test_two_reviewers_with_the_same_if_match_exactly_one_wins(served, complete):
    """Both send the version they read; the loser is 409 or 412, never a second write."""
    registry, base, url = served
    partner = registry.token("partner")
    first, second = _reviewers(registry)
    iid = _submitted(registry, partner, complete)
    read = registry.get(f"/api/v1/initiatives/{iid}", first)
    etag = read.headers["ETag"]
    path = f"/api/v1/initiatives/{iid}/approve"

    results = _race(base, url, ("initiatives", iid), [(first, path, {}), (second, path, {})],
                    headers=[{"If-Match": etag}, {"If-Match": etag}])

    _one_winner(results)
    assert len(_activities(registry, iid, "approve")) == 1
    assert len(_events(registry, iid, ev.INITIATIVE_APPROVED)) == 1


def test_two_reviewers_approving_one_revision_at_once_exactly_one_wins(served, complete):
    registry, base, url = served
    partner = registry.token("partner")
    first, second = _reviewers(registry)
    iid = _submitted(registry, partner, complete)
    assert registry.action(first, iid, "approve").status_code == 200
    created = registry.post(f"/api/v1/initiatives/{iid}/revisions",
                            {"title": "Coral reef restoration, second phase"}, partner)
    assert created.status_code == 201, created.json
    number = created.json["number"]
    submitted = registry.post(f"/api/v1/initiatives/{iid}/revisions/{number}/submit", {},
                              partner)
    assert submitted.status_code == 200, submitted.json
    path = f"/api/v1/initiatives/{iid}/revisions/{number}/approve"

    results = _race(base, url, ("initiative_revisions", created.json["id"]),
                    [(first, path, {}), (second, path, {})])

    _one_winner(results)
    assert len(_activities(registry, iid, "revision_approve", revision_number=number)) == 1
    assert len(_events(registry, iid, ev.INITIATIVE_REVISION_APPROVED)) == 1
    stored = _initiative(registry, iid)
    assert stored.approved_version == 2 and stored.title == "Coral reef restoration, second phase"
    versions = registry.get(f"/api/v1/initiatives/{iid}/versions", first).json
    assert [v["number"] for v in versions["items"]] == [1, 2]


def test_a_stale_if_match_is_412_and_writes_nothing(served, complete):
    registry, base, _url = served
    partner = registry.token("partner")
    reviewer, _ = _reviewers(registry)
    iid = _submitted(registry, partner, complete)
    before = _initiative(registry, iid)
    outbox_before = len(registry.outbox(iid))
    activities_before = len(_activities(registry, iid, "approve"))

    status, body = _post(base, f"/api/v1/initiatives/{iid}/approve", reviewer,
                         headers={"If-Match": f'"{before.version - 1}"'})

    assert status == 412, body
    assert body["status"] == 412 and body["title"]
    after = _initiative(registry, iid)
    assert (after.status, after.version, after.updated_at) == (
        "submitted", before.version, before.updated_at)
    assert len(registry.outbox(iid)) == outbox_before
    assert len(_activities(registry, iid, "approve")) == activities_before
    # the current version is accepted
    status, body = _post(base, f"/api/v1/initiatives/{iid}/approve", reviewer,
                         headers={"If-Match": f'"{before.version}"'})
    assert status == 200, body


def test_the_race_helper_sees_two_writers_when_nothing_locks(served):
    """The harness itself: two plain UPDATEs of a held row both wait on its lock (so
    ``_race`` releases a race in which an unlocked check-then-write lets both through)."""
    registry, _base, url = served
    partner = registry.token("partner")
    iid = registry.create(partner, title="Lock probe")["id"]
    engine = create_engine(url)
    done: list[int] = []

    def write() -> None:
        with engine.begin() as conn:
            done.append(conn.execute(text("UPDATE initiatives SET version = version + 1 "
                                          "WHERE id = :id"), {"id": iid}).rowcount)

    with _row_held(url, "initiatives", iid) as waiting:
        threads = [threading.Thread(target=write) for _ in range(2)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while waiting() < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert waiting() == 2 and not done
    for t in threads:
        t.join(10)
    engine.dispose()
    assert done == [1, 1]  # both wrote: only a lock taken before the check orders them
