"""The review desk at scale (issue 8, "Benchmarks"): the queue, the diff and the transitions
on PostgreSQL, each beside the bare reference (``bench/reference_app.py``) in the same run.

The database: ``--size`` (default 100,000) published initiatives with five approved versions
each, and the queue around them (``bench/datagen.py`` ``load_review``: ~3,000 submitted
initiatives, ~1,500 submitted revisions, revisions sent back, declared completions, 30 %
assigned), bulk-loaded by COPY into the tables ``alembic upgrade head`` made, cloned from a
template database after the first run.

================================== ======================================= ================ ========
row                                product                                 reference        goal
================================== ======================================= ================ ========
review.queue_page.p95_ms           GET /secretariat/review (signed-in      GET /ref/        <=100 ms
                                   reviewer, session cookie, HTML)         queue_page
review.queue_api.p95_ms            GET /api/v1/review/queue (token)        GET /ref/queue   <=100 ms
review.queue_api_revisions.p95_ms  …?kind=revision&assigned=any            GET /ref/queue   <=100 ms
review.queue_api_page5.p95_ms      …?assigned=none&page=5 (deeper page)    GET /ref/queue   <=100 ms
review.diff_versions.p95_ms        GET /api/v1/initiatives/{id}/diff?      GET /ref/diff/id <=100 ms
                                   from=1&to=5 (1,000 ids rotating)
review.diff_revision.p95_ms        GET …/{id}/revisions/{n}/diff (the      GET /ref/diff/id <=100 ms
                                   submitted revisions rotating)
review.approve.req_s               POST …/{id}/approve, each a different   POST /ref/       >=0.5x
                                   submitted initiative (row + activity +  transition/id
                                   version + outbox, one transaction)      (1-row UPDATE)
review.approve_revision.req_s      POST …/{id}/revisions/{n}/approve       the same         >=0.5x
================================== ======================================= ================ ========

Latency rows: wrk ``-t1 -c2`` (two reviewers at once, one per core), rounds interleaved with
the reference (P R P R …), median round; the row's figure is p95, ``p50_ms``/``p99_ms`` ride
along; ratio = reference/product (> 1: the product is faster). Throughput rows: wrk
``-t2 -c16`` as ``bench_http``; each approval's id is used once, split over the rounds; after
the rounds the database is checked: every 2xx approval left exactly one ``approve`` activity
and one ``…approved…`` outbox event (noted in the row).

Missing endpoints (a branch not merged yet) are skipped with a ``BENCH_SKIP`` line.

    .venv/bin/python bench/bench_review.py [--smoke] [--size N] [--rounds R] [--duration S]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import HttpRequest, Measured, make_row, requests_script, say  # noqa: E402

REVIEWER_EMAIL = "bench.reviewer@secretariat.example.org"
REVIEWER_PASSWORD = "a long bench reviewer passphrase"  # noqa: S105 - synthetic account
LATENCY_THREADS, LATENCY_CONNECTIONS = 1, 2
#: Seconds of unmeasured requests before each latency row (each side).
WARM_UP_S = 3
ROWS: list[dict] = []
SKIPPED: list[str] = []


def emit(row: dict) -> dict:
    """Print the row (``harness.emit``) and keep it for the closing table."""
    ROWS.append(harness.emit(row))
    return ROWS[-1]


def skip(what: str) -> None:
    """Say that a part could not be measured (the first reason is the run's skip line)."""
    SKIPPED.append(what)
    say(f"  skipped: {what}")


# -- the signed-in reviewer ----------------------------------------------------------------------
def _psycopg(url: str):
    import psycopg

    return psycopg.connect(harness._psycopg_dsn(url), autocommit=True)


def create_reviewer(url: str) -> str:
    """An account with a password and the staff role ``reviewer`` (member of no
    organisation, so four eyes never stops it); its user id."""
    from registry.accounts.passwords import hash_password

    now = datetime.now(UTC)
    user_id = uuid.uuid4()
    with _psycopg(url) as conn:
        conn.execute(
            "INSERT INTO users (id, email, password_hash, display_name, locale, "
            "email_verified_at, failed_sign_ins, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s, 'en', %s, 0, %s, %s)",
            (user_id, REVIEWER_EMAIL, hash_password(REVIEWER_PASSWORD), "Bench Reviewer",
             now, now, now))
        conn.execute("INSERT INTO user_staff_roles (user_id, role, granted_at) "
                     "VALUES (%s, 'reviewer', %s)", (user_id, now))
    return str(user_id)


def sign_in(server: harness.Server) -> str:
    """Sign the reviewer in through ``POST /api/v1/account/sign-in``; the ``Cookie`` header
    value its browser would send. Raises ``RuntimeError`` when sign-in fails."""
    request = urllib.request.Request(
        server.url + "/api/v1/account/sign-in", method="POST",
        data=json.dumps({"email": REVIEWER_EMAIL, "password": REVIEWER_PASSWORD}).encode(),
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # nosec B310 - loopback
            cookies = resp.headers.get_all("Set-Cookie") or []
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"sign-in answered {exc.code}: {exc.read()[:500]!r}") from exc
    pairs = [c.split(";", 1)[0] for c in cookies]
    if not pairs:
        raise RuntimeError("sign-in set no cookie")
    return "; ".join(pairs)


def probe(server: harness.Server, path: str, headers: dict[str, str],
          method: str = "GET") -> tuple[int, bytes]:
    """One request: ``(status, body)`` (any status, no exception)."""
    request = urllib.request.Request(server.url + path, method=method, headers=headers,
                                     data=b"{}" if method == "POST" else None)
    if method == "POST":
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:  # nosec B310 - loopback
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# -- measuring -------------------------------------------------------------------------------------
class Suite:
    """The product and the reference on one loaded database."""

    def __init__(self, url: str, size: int, product: harness.Server,
                 reference: harness.Server, *, rounds: int, duration: float):
        self.url, self.size = url, size
        self.product, self.reference = product, reference
        self.rounds, self.duration = rounds, duration

    def latency(self, name: str, product_script, reference_script, *, what: str,
                goal: str = "<=100 ms") -> dict:
        """A p95 row of ``product_script`` beside ``reference_script`` (``-t1 -c2``)."""
        t0 = time.perf_counter()
        for server, script in ((self.product, product_script),
                               (self.reference, reference_script)):
            # warm: pools, caches (a cloned database starts with cold shared buffers)
            harness.wrk(server.url + "/", WARM_UP_S, lua_script=script,
                        threads=LATENCY_THREADS, connections=LATENCY_CONNECTIONS)
        p, r = harness.interleave(
            [(self.product, self.product.url + "/", product_script),
             (self.reference, self.reference.url + "/", reference_script)],
            self.url, rounds=self.rounds, duration=self.duration, threads=LATENCY_THREADS,
            connections=LATENCY_CONNECTIONS)
        params = (f"wrk -t{LATENCY_THREADS} -c{LATENCY_CONNECTIONS} -d{self.duration:g}s, "
                  f"{self.rounds} rounds interleaved, median")
        row = make_row(name, "ms", p.latency("p95_ms"), reference=r.latency("p95_ms"),
                       goal=goal, data_size=self.size, lower_is_better=True,
                       notes=_notes(what, params, p, r),
                       cpu_ms_per_req_service=p.cpu_service,
                       cpu_ms_per_req_postgres=p.cpu_postgres)
        row |= {"p50_ms": round(p.latency("p50_ms"), 2), "p99_ms": round(p.latency("p99_ms"), 2),
                "req_s": round(p.req_s, 1), "reference_p50_ms": round(r.latency("p50_ms"), 2),
                "reference_p99_ms": round(r.latency("p99_ms"), 2)}
        emit(row)
        say(f"  {name}: product {p.summary()} | reference {r.summary()} | goal {goal} "
            f"{'met' if row['met'] else 'MISSED'} [{time.perf_counter() - t0:.0f} s]")
        return row

    def throughput(self, name: str, scripts: list, reference_script, *, what: str,
                   goal: str = ">=0.5x") -> tuple[dict, Measured]:
        """A req/s row of once-``scripts`` (one per round) beside the reference."""
        t0 = time.perf_counter()
        p, r = harness.interleave(
            [(self.product, self.product.url + "/", scripts),
             (self.reference, self.reference.url + "/", reference_script)],
            self.url, rounds=self.rounds, duration=self.duration)
        params = f"wrk -t2 -c16 -d{self.duration:g}s, {self.rounds} rounds interleaved, median"
        row = make_row(name, "req/s", p.req_s, reference=r.req_s, goal=goal,
                       data_size=self.size, notes=_notes(what, params, p, r),
                       cpu_ms_per_req_service=p.cpu_service,
                       cpu_ms_per_req_postgres=p.cpu_postgres)
        row |= {"p95_ms": round(p.latency("p95_ms"), 2),
                "reference_cpu_ms_per_req_service": _maybe(r.cpu_service),
                "reference_cpu_ms_per_req_postgres": _maybe(r.cpu_postgres)}
        say(f"  {name}: product {p.summary()} | reference {r.summary()} | ratio "
            f"{row['ratio']} (goal {goal}) [{time.perf_counter() - t0:.0f} s]")
        return row, p


def _maybe(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def _notes(what: str, params: str, product: Measured, reference: Measured) -> str:
    parts = [what, params, f"product {product.summary()}", f"reference {reference.summary()}",
             # the machine is shared: how busy it was (1-minute load average, 2 cores)
             f"load average {os.getloadavg()[0]:.1f}"]
    errors = product.errors + reference.errors
    if errors:
        parts.append(f"errors {errors} (non-2xx/socket/timeout)")
    return "; ".join(parts)


# -- the parts -------------------------------------------------------------------------------------
def queue_rows(suite: Suite, cookie: str, token: str) -> None:
    """(a) the queue page and the queue API."""
    bearer = {"Authorization": f"Bearer {token}"}
    reference = requests_script([HttpRequest("/ref/queue")], threads=LATENCY_THREADS)
    status, body = probe(suite.product, "/secretariat/review", {"Cookie": cookie})
    if status == 200 and b"<html" in body[:2000].lower():
        suite.latency("review.queue_page.p95_ms",
                      requests_script([HttpRequest("/secretariat/review")],
                                      threads=LATENCY_THREADS, headers={"Cookie": cookie}),
                      requests_script([HttpRequest("/ref/queue_page")],
                                      threads=LATENCY_THREADS),
                      what="GET /secretariat/review as a signed-in reviewer (session cookie, "
                           f"server-rendered HTML, {len(body):,} bytes) vs GET /ref/queue_page "
                           "(a bare Jinja table of the same 50 rows)")
    else:
        skip(f"queue page: GET /secretariat/review answered {status}")
    for name, query in (("review.queue_api.p95_ms", ""),
                        ("review.queue_api_revisions.p95_ms", "?kind=revision&assigned=any"),
                        ("review.queue_api_page5.p95_ms", "?assigned=none&page=5")):
        path = "/api/v1/review/queue" + query
        status, body = probe(suite.product, path, bearer)
        if status != 200:
            skip(f"queue API: GET {path} answered {status}")
            continue
        found = json.loads(body)
        suite.latency(name, requests_script([HttpRequest(path)], threads=LATENCY_THREADS,
                                            headers=bearer), reference,
                      what=f"GET {path} (reviewer token; {len(found.get('items', [])):,} "
                           f"items of {found.get('total', 0):,}) vs GET /ref/queue")


def diff_rows(suite: Suite, info: harness.LoadedData, token: str) -> None:
    """(b) the diff between versions 1 and N of published initiatives, and the diff of a
    submitted revision against the approved version."""
    bearer = {"Authorization": f"Bearer {token}"}
    versions = info.review["shape"]["versions"]
    ids = info.initiative_ids[:1000]
    path = f"/api/v1/initiatives/{ids[0]}/diff?from=1&to={versions}"
    status, body = probe(suite.product, path, bearer)
    reference = requests_script([HttpRequest(f"/ref/diff/{i}?from=1&to={versions}")
                                 for i in ids], threads=LATENCY_THREADS)
    if status == 200:
        fields = len(json.loads(body).get("fields", []))
        suite.latency(
            "review.diff_versions.p95_ms",
            requests_script([HttpRequest(f"/api/v1/initiatives/{i}/diff?from=1&to={versions}")
                             for i in ids], threads=LATENCY_THREADS, headers=bearer),
            reference,
            what=f"GET /api/v1/initiatives/{{id}}/diff?from=1&to={versions} ({len(ids):,} "
                 f"published ids rotating, {fields} changed fields in the first) vs "
                 "GET /ref/diff/{id}")
    else:
        skip(f"diff: GET {path} answered {status}")
    number = info.review["revision_number"]
    revised = info.review["revision_initiative_ids"][:1000]
    path = f"/api/v1/initiatives/{revised[0]}/revisions/{number}/diff"
    status, body = probe(suite.product, path, bearer)
    if status == 200:
        suite.latency(
            "review.diff_revision.p95_ms",
            requests_script([HttpRequest(f"/api/v1/initiatives/{i}/revisions/{number}/diff")
                             for i in revised], threads=LATENCY_THREADS, headers=bearer),
            reference,
            what=f"GET /api/v1/initiatives/{{id}}/revisions/{number}/diff ({len(revised):,} "
                 "submitted revisions rotating) vs GET /ref/diff/{id}")
    else:
        skip(f"revision diff: GET {path} answered {status}")


def transition_rows(suite: Suite, info: harness.LoadedData, token: str) -> None:
    """(c) approvals through the API against the reference's one-row UPDATE."""
    bearer = {"Authorization": f"Bearer {token}"}
    reference = requests_script([HttpRequest(f"/ref/transition/{i}", "POST",
                                             {"status": "published"})
                                 for i in info.initiative_ids[:1000]])
    harness.wrk(suite.reference.url + "/", 1, lua_script=reference)  # warm
    number = info.review["revision_number"]
    parts = (
        ("review.approve.req_s", info.review["submitted_ids"],
         "/api/v1/initiatives/{id}/approve", "initiative", None,
         "POST /api/v1/initiatives/{id}/approve (reviewer token; each id once)"),
        ("review.approve_revision.req_s", info.review["revision_initiative_ids"],
         f"/api/v1/initiatives/{{id}}/revisions/{number}/approve", "initiative", number,
         f"POST /api/v1/initiatives/{{id}}/revisions/{number}/approve (each id once)"),
    )
    for name, ids, template, _record_type, revision_number, what in parts:
        # one id to see the endpoint answers (it is then left out of the measured ones)
        status, body = probe(suite.product, template.format(id=ids[0]), bearer, "POST")
        if status != 200:
            skip(f"{name}: POST {template.format(id=ids[0])} answered {status} "
                 f"{body[:300]!r}")
            continue
        ids = ids[1:]
        share = len(ids) // suite.rounds
        if share < 2:
            skip(f"{name}: only {len(ids)} ids to approve")
            continue
        scripts = [requests_script([HttpRequest(template.format(id=i), "POST", {})
                                    for i in ids[n * share:(n + 1) * share]],
                                   once=True, headers=bearer)
                   for n in range(suite.rounds)]
        started = datetime.now(UTC)
        row, measured = suite.throughput(name, scripts, reference,
                                         what=f"{what}; reference: POST /ref/transition/{{id}} "
                                              "(one-row UPDATE of initiatives, 1,000 ids "
                                              "rotating)")
        check = check_approvals(suite.url, ids[:share * suite.rounds], started,
                                revision_number, measured.ok_requests)
        row["notes"] += f"; {check}"
        row["atomic_check"] = check
        emit(row)
        say(f"    {check}")


def check_approvals(url: str, ids: list[str], since: datetime, revision_number: int | None,
                    ok: int) -> str:
    """What the approvals left in the database: each approved record must have exactly one
    ``approve`` (``revision_approve``) activity and one ``…approved…`` outbox event (row +
    timeline + outbox in one transaction, never twice). ``ok`` (wrk's 2xx count) may be
    lower than the records approved: answers in flight when a round ends are not counted."""
    with _psycopg(url) as conn:
        activities = conn.execute(
            "SELECT count(*), count(DISTINCT record_id) FROM activities WHERE record_id = "
            "ANY(%s::uuid[]) AND action = %s AND created_at >= %s AND "
            + ("revision_number = %s" if revision_number else "revision_number IS NULL"),
            (ids, "revision_approve" if revision_number else "approve", since,
             *([revision_number] if revision_number else []))).fetchone()
        events = conn.execute(
            "SELECT count(*), count(DISTINCT subject) FROM outbox_events WHERE subject = "
            "ANY(%s) AND event_type LIKE %s AND created_at >= %s",
            (ids, "%revision-approved%" if revision_number else "%initiative.approved%",
             since)).fetchone()
    same = activities[0] == activities[1] == events[0] == events[1] >= ok
    return (f"{activities[1]} records approved ({ok} 2xx counted by wrk): {activities[0]} "
            f"approve activities, {events[0]} outbox events on {events[1]} subjects"
            f" ({'consistent: one of each per record' if same else 'INCONSISTENT'})")


# -- main ------------------------------------------------------------------------------------------
def loaded_note(info: harness.LoadedData, seconds: float) -> str:
    """How the data came: cloned from a template (loaded earlier) or loaded now."""
    shape = info.review["shape"]
    what = (f"{info.count:,} published initiatives x {shape['versions']} versions, queue: "
            f"{shape['submitted']:,} submitted, {shape['revisions_submitted']:,} revisions "
            f"submitted, {shape['completion_declared']:,} completions declared")
    if info.from_template:
        return (f"  {what}: ready in {seconds:.1f} s (clone of {info.from_template}, which "
                f"datagen loaded in {info.seconds:.1f} s)")
    return f"  {what}: loaded in {info.seconds:.1f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds per side (default 3; --smoke 1)")
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds per wrk round (default 5; --smoke 2)")
    args = harness.parse_args(__doc__.splitlines()[0], parser=parser, argv=argv,
                              default_size=100_000, smoke_size=2_000)
    rounds = args.rounds or (1 if args.smoke else 3)
    duration = args.duration or (2.0 if args.smoke else 5.0)
    started = time.perf_counter()
    say(f"bench_review: {args.size:,} initiatives, {rounds} round(s) of {duration:g} s per side")
    t0 = time.perf_counter()
    with harness.registry_data("review", args.size, kind="review") as (url, info):
        say(loaded_note(info, time.perf_counter() - t0))
        create_reviewer(url)
        token = harness.run_cli("registry", ["create-token", "--email", REVIEWER_EMAIL,
                                             "--expires-in", "7200"], url).splitlines()[-1]
        with harness.serve_service("registry", url) as product, \
                harness.serve_reference(url) as reference:
            suite = Suite(url, args.size, product, reference, rounds=rounds,
                          duration=duration)
            cookie = sign_in(product)
            queue_rows(suite, cookie, token)
            diff_rows(suite, info, token)
            transition_rows(suite, info, token)
    say("\n" + harness.markdown_table(ROWS) + "\n")
    if SKIPPED:
        print("BENCH_SKIP " + re.sub(r"\s+", " ", "; ".join(SKIPPED))[:500], flush=True)
    say(f"bench_review: done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
