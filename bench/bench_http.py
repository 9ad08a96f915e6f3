"""Registry HTTP benchmarks, each interleaved with the bare reference in the same run (issue 6).

On a fresh PostgreSQL database loaded with ``--size`` published initiatives (``bench/datagen.py``,
bulk COPY), the product (``registry serve``, web only) and the reference app
(``bench/reference_app.py``) run side by side; wrk (``-t2 -c16``) measures product and reference
rounds alternately (P R P R …) and each row takes the median round:

==========================  ===========================================  =================  ========
row                         product                                      reference          goal
==========================  ===========================================  =================  ========
http.list.req_s             GET /api/v1/initiatives (20 items, public)   GET /ref/list      >=0.5x
http.detail.req_s           GET /api/v1/initiatives/{id} (rotating ids)  GET /ref/item/id   >=0.5x
http.create.req_s           POST /api/v1/initiatives (partner, draft)    POST /ref/insert   >=0.5x
http.submit.req_s           POST …/{id}/submit (each a different draft)  POST /ref/insert   >=0.5x
http.approve.req_s          POST …/{id}/approve (secretariat)            POST /ref/insert   >=0.5x
http.search.q_coral.p95_ms  GET /api/v1/initiatives?q=coral              –                  <=50 ms
http.search.q_haiyang…      ?q=海洋                                      –                  <=50 ms
http.search.q_ocean.p95_ms  ?q=ocean                                     –                  <=300 ms
http.list_1m.req_s          list at 1,000,000 (--with-million)           GET /ref/list      >=0.3x
==========================  ===========================================  =================  ========

Goals from issue 6 ("Goals"). The drafts that submit and approve act on are the ones the create
rounds made (their ids captured from the responses), topped up by unmeasured create runs when
too few. Search runs at ``-t1 -c2`` (two concurrent clients, one per core): its goal is a
latency, not a saturation figure; when a probe round finishes fewer than 10 searches, one
longer round (up to 30 s) is measured instead (not with ``--smoke``).

    .venv/bin/python bench/bench_http.py [--smoke] [--size N] [--with-million]
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
from harness import HttpRequest, Measured, make_row, requests_script, say  # noqa: E402

MILLION = 1_000_000
SEARCHES = (("q_coral", "coral", "<=50 ms"), ("q_haiyang", "海洋", "<=50 ms"),
            ("q_ocean", "ocean", "<=300 ms"))
SEARCH_THREADS, SEARCH_CONNECTIONS = 1, 2
MIN_SEARCH_SAMPLES, MAX_SEARCH_ROUND_S = 10, 30
ROWS: list[dict] = []


def emit(row: dict) -> dict:
    """Print the row (``harness.emit``) and keep it for the closing table."""
    ROWS.append(harness.emit(row))
    return ROWS[-1]


def _lead_organization_bodies(organization_ids: list, lead: str, n: int = 8) -> list[dict]:
    """``n`` realistic draft bodies led by ``lead``: SMART fields filled so they can be
    submitted (service.SUBMIT_REQUIREMENTS), English and Chinese text."""
    targets = [["14.1", "14.2"], ["14.4", "14.7", "14.b"], ["13.1", "14.3"], ["14.5"],
               ["6.3", "12.5", "14.1"], ["14.2", "15.1"], ["14.c"], ["17.17", "14.a"]]
    countries = [["FJI", "PLW"], ["PRT"], ["CHN", "PHL", "IDN"], ["KEN", "TZA"], ["CHL"],
                 ["NOR", "ISL"], ["WSM", "TON", "VUT"], ["BRA"]]
    others = [o for o in organization_ids if o != lead][:16]
    bodies = []
    for i in range(n):
        zh = i % 4 == 3
        title = (f"海洋保护与可持续渔业伙伴关系 第{i}期" if zh else
                 f"Coral reef restoration and sustainable fisheries partnership, phase {i}")
        description = ((
            "本倡议旨在恢复珊瑚礁生态系统，减少海洋塑料污染，并支持沿海社区的可持续渔业。"
            "我们与地方政府、研究机构和社区组织合作，监测水质并培训渔民。") * 3 if zh else (
            "The initiative restores degraded coral reefs and mangroves, reduces marine plastic "
            "pollution at source and supports coastal communities in moving to sustainable "
            "fisheries. Partners monitor water quality, train fishers and report progress "
            "against SDG 14 targets every year. ") * 3)
        body = {
            "title": title, "description": description, "lead_organization_id": lead,
            "partners": [{"organization_id": o, "role": "implementing" if k else "funding"}
                         for k, o in enumerate(others[i % max(len(others), 1):][:2])],
            "sdg_targets": targets[i], "countries": countries[i],
            "start_date": "2026-01-01", "end_date": "2030-12-31",
            "deliverables": [{"description": "Baseline survey of reef health",
                              "due_date": "2026-12-31"},
                             {"description": "Training of 500 fishers",
                              "due_date": "2028-06-30"}],
            "resources": [{"type": "financing", "details": "Grant", "amount_usd": "250000.00"},
                          {"type": "staff_technical_expertise", "details": "Marine biologists"}],
            "contact_email": f"focal.point{i}@partner.example.org",
        }
        bodies.append(body)
    return bodies


def _notes(product: Measured, reference: Measured | None, params: str, extra: str = "") -> str:
    parts = [params, f"product {product.summary()}"]
    if reference is not None:
        parts.append(f"reference {reference.summary()}")
    errors = product.errors + (reference.errors if reference else 0)
    if errors:
        parts.append(f"errors {errors} (non-2xx/socket/timeout)")
    if extra:
        parts.append(extra)
    return "; ".join(parts)


def _compare_row(name: str, product: Measured, reference: Measured, *, goal: str,
                 size: int, params: str, extra: str = "") -> dict:
    row = make_row(name, "req/s", product.req_s, reference=reference.req_s, goal=goal,
                   data_size=size, backend="postgresql",
                   notes=_notes(product, reference, params, extra),
                   cpu_ms_per_req_service=product.cpu_service,
                   cpu_ms_per_req_postgres=product.cpu_postgres)
    row["reference_cpu_ms_per_req_service"] = _maybe_round(reference.cpu_service)
    row["reference_cpu_ms_per_req_postgres"] = _maybe_round(reference.cpu_postgres)
    return emit(row)


def _maybe_round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


class Suite:
    """The measurements on one loaded database with one product and one reference server."""

    def __init__(self, url: str, size: int, product: harness.Server, reference: harness.Server,
                 *, rounds: int, duration: float):
        self.url, self.size = url, size
        self.product, self.reference = product, reference
        self.rounds, self.duration = rounds, duration
        self.params = f"wrk -t2 -c16 -d{duration:g}s, {rounds} rounds interleaved, median"

    def pair(self, name: str, product_script, reference_script, *, goal: str = ">=0.5x",
             extra: str = "") -> tuple[dict, Measured, Measured]:
        t0 = time.perf_counter()
        p, r = harness.interleave(
            [(self.product, self.product.url + "/", product_script),
             (self.reference, self.reference.url + "/", reference_script)],
            self.url, rounds=self.rounds, duration=self.duration)
        row = _compare_row(name, p, r, goal=goal, size=self.size, params=self.params,
                           extra=extra)
        say(f"  {name}: product {p.summary()} | reference {r.summary()} | ratio "
            f"{row['ratio']} (goal {goal}) [{time.perf_counter() - t0:.0f} s]")
        return row, p, r

    def warm_up(self, *scripts_and_servers) -> None:
        """Short unmeasured runs so that connection pools and caches are warm."""
        for server, script in scripts_and_servers:
            harness.wrk(server.url + "/", 1, lua_script=script)  # may complete nothing


def run_suite(suite: Suite, info, partner: str, secretariat: str) -> None:
    """Every row of one size (list, detail, create, submit, approve, search)."""
    ids = info.initiative_ids[:5000]
    auth_partner = {"Authorization": f"Bearer {partner}"}
    auth_secretariat = {"Authorization": f"Bearer {secretariat}"}
    list_p = requests_script([HttpRequest("/api/v1/initiatives")])
    list_r = requests_script([HttpRequest("/ref/list")])
    detail_p = requests_script([HttpRequest(f"/api/v1/initiatives/{i}") for i in ids])
    detail_r = requests_script([HttpRequest(f"/ref/item/{i}") for i in ids])
    lead = info.organization_ids[0]
    bodies = _lead_organization_bodies(info.organization_ids, lead)
    create_p = requests_script([HttpRequest("/api/v1/initiatives", "POST", b) for b in bodies],
                               capture=True, headers=auth_partner)
    insert_r = requests_script([HttpRequest("/ref/insert", "POST",
                                            {"title": b["title"], "body": b}) for b in bodies])
    suite.warm_up((suite.product, list_p), (suite.reference, list_r),
                  (suite.product, detail_p), (suite.reference, detail_r),
                  (suite.product, create_p), (suite.reference, insert_r))

    suite.pair("http.list.req_s", list_p, list_r)
    suite.pair("http.detail.req_s", detail_p, detail_r,
               extra=f"{len(ids):,} ids rotating")
    _, create, _ = suite.pair("http.create.req_s", create_p, insert_r,
                              extra="reference: 1-row insert")

    # drafts for the transitions: what the create rounds made, topped up when too few for
    # submit rounds up to twice as fast as create
    per_round = max(int(2 * create.req_s * suite.duration), 50)
    drafts = create_p.captured()
    if len(drafts) < per_round * suite.rounds:
        top_up = min((per_round * suite.rounds - len(drafts)) / max(create.req_s, 1.0),
                     3 * suite.duration * suite.rounds)
        t0 = time.perf_counter()
        harness.wrk(suite.product.url + "/", round(top_up, 1), lua_script=create_p)
        drafts = create_p.captured()
        say(f"  prepared {len(drafts):,} drafts ({time.perf_counter() - t0:.0f} s of creates)")
    submitted = transition_rows(suite, drafts, "submit", auth_partner, insert_r)
    transition_rows(suite, submitted, "approve", auth_secretariat, insert_r)


def transition_rows(suite: Suite, drafts: list[str], action: str, auth: dict,
                    insert_r) -> list[str]:
    """Rows of ``action`` over ``drafts`` (split over the rounds, each id used once); returns
    the ids the action succeeded on."""
    share = len(drafts) // suite.rounds
    if share < 2:  # each of wrk's 2 threads needs an id
        raise RuntimeError(f"only {len(drafts)} initiatives to {action}: the previous step "
                           "failed (see the errors in its notes)")
    scripts = [requests_script([HttpRequest(f"/api/v1/initiatives/{i}/{action}", "POST", {})
                                for i in drafts[n * share:(n + 1) * share]],
                               once=True, capture=True, headers=auth)
               for n in range(suite.rounds)]
    _, measured, _ = suite.pair(f"http.{action}.req_s", scripts, insert_r,
                                extra=f"reference: 1-row insert; {len(drafts):,} ids")
    short = [r for r in measured.rounds if r.duration_s < 0.9 * suite.duration]
    if short:
        say(f"  note: {len(short)} {action} round(s) ran out of ids early "
            f"({', '.join(f'{r.duration_s:.1f} s' for r in short)})")
    return [i for s in scripts for i in s.captured()]


def search_rows(suite: Suite, *, adapt: bool = True) -> None:
    """p95 of the three searches (product only: there is no bare search to compare with).

    With ``adapt``, a first unmeasured round probes the speed; when it completed fewer than
    ``MIN_SEARCH_SAMPLES`` requests, one longer round (up to ``MAX_SEARCH_ROUND_S``) replaces
    the usual rounds, so that a slow search still gets a measured p95 rather than a bound.
    """
    for key, term, goal in SEARCHES:
        script = requests_script([HttpRequest("/api/v1/initiatives?q="
                                              + urllib.parse.quote(term))],
                                 threads=SEARCH_THREADS)
        t0 = time.perf_counter()
        duration, count = suite.duration, suite.rounds
        if adapt:
            probe = harness.wrk(suite.product.url + "/", suite.duration, lua_script=script,
                                threads=SEARCH_THREADS, connections=SEARCH_CONNECTIONS)
            if probe.ok_requests < MIN_SEARCH_SAMPLES:
                needed = MIN_SEARCH_SAMPLES * probe.duration_s / max(probe.ok_requests, 0.3)
                duration, count = min(MAX_SEARCH_ROUND_S, max(suite.duration, needed)), 1
        rounds = []
        service_ms = postgres_ms = 0.0
        for _ in range(count):
            result, s_ms, p_ms = harness.measure(
                suite.product, suite.url, suite.product.url + "/", duration=duration,
                script=script, threads=SEARCH_THREADS, connections=SEARCH_CONNECTIONS)
            rounds.append(result)
            service_ms += s_ms
            postgres_ms += p_ms
        m = Measured(rounds, service_ms, postgres_ms)
        p95 = m.latency("p95_ms")
        emit(make_row(f"http.search.{key}.p95_ms", "ms", p95, goal=goal, data_size=suite.size,
                      lower_is_better=True,
                      notes=f"GET /api/v1/initiatives?q={term}; {rounds[0].params}, "
                            f"{count} round(s), median; {m.summary()}; "
                            f"{m.ok_requests} responses"
                            + (f"; errors {m.errors}" if m.errors else ""),
                      cpu_ms_per_req_service=m.cpu_service,
                      cpu_ms_per_req_postgres=m.cpu_postgres))
        say(f"  http.search.{key}: {m.summary()} (goal p95 {goal}) "
            f"[{time.perf_counter() - t0:.0f} s]")


def tokens(url: str, info: harness.LoadedData) -> tuple[str, str]:
    """A partner token (of the first loaded organisation) and a secretariat token, made by
    ``registry create-token``; the organisation is verified first (``registry organizations
    verify``), so the secretariat may publish its initiatives."""
    try:
        harness.run_cli("registry", ["organizations", "verify", info.organization_ids[0]], url)
    except RuntimeError as exc:  # already verified (a reused database)
        if "verified" not in str(exc):
            raise
    partner = harness.run_cli("registry", [
        "create-token", "--role", "partner", "--organization", info.organization_ids[0],
        "--email", "bench.partner@example.org"], url).splitlines()[-1]
    secretariat = harness.run_cli("registry", ["create-token", "--role", "secretariat"],
                                  url).splitlines()[-1]
    return partner, secretariat


def loaded_note(info: harness.LoadedData, seconds: float) -> str:
    """How the data came: cloned from a template (loaded earlier) or loaded now."""
    if info.from_template:
        return (f"  {info.count:,} initiatives ready in {seconds:.1f} s (clone of "
                f"{info.from_template}, which datagen loaded in {info.seconds:.1f} s)")
    return f"  loaded {info.count:,} initiatives in {info.seconds:.1f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with-million", action="store_true",
                        help="also measure the list at 1,000,000 initiatives")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds per side (default 3; --smoke 1)")
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds per wrk round (default 5; --smoke 2)")
    args = harness.parse_args(__doc__.splitlines()[0], parser=parser, argv=argv)
    rounds = args.rounds or (1 if args.smoke else 3)
    duration = args.duration or (2.0 if args.smoke else 5.0)
    started = time.perf_counter()
    say(f"bench_http: {args.size:,} initiatives, {rounds} round(s) of {duration:g} s per side")
    t0 = time.perf_counter()
    with harness.registry_data("http", args.size) as (url, info):
        say(loaded_note(info, time.perf_counter() - t0))
        partner, secretariat = tokens(url, info)
        with harness.serve_service("registry", url) as product, \
                harness.serve_reference(url) as reference:
            suite = Suite(url, args.size, product, reference, rounds=rounds, duration=duration)
            run_suite(suite, info, partner, secretariat)
            search_rows(suite, adapt=not args.smoke)
    if args.with_million:
        t0 = time.perf_counter()
        say(f"bench_http: {MILLION:,} initiatives (list only)")
        with harness.registry_data("http", MILLION) as (url, info):
            say(loaded_note(info, time.perf_counter() - t0))
            with harness.serve_service("registry", url) as product, \
                    harness.serve_reference(url) as reference:
                suite = Suite(url, MILLION, product, reference, rounds=rounds,
                              duration=duration)
                suite.warm_up((product, requests_script([HttpRequest("/api/v1/initiatives")])),
                              (reference, requests_script([HttpRequest("/ref/list")])))
                suite.pair("http.list_1m.req_s",
                           requests_script([HttpRequest("/api/v1/initiatives")]),
                           requests_script([HttpRequest("/ref/list")]), goal=">=0.3x")
        say(f"  1,000,000 part took {time.perf_counter() - t0:.0f} s")
    say("\n" + harness.markdown_table(ROWS) + "\n")
    say(f"bench_http: done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
