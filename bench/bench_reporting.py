"""Reporting: ``GET /api/v1/reports/summary`` under load beside a bare reference, and the
reporting consumer's events per second — on a fresh PostgreSQL database.

Run: ``.venv/bin/python bench/bench_reporting.py [--smoke] [--size N] [--seconds S]``

1. Bulk-fills the read model (``COPY``, not through the consumer) with ``N`` published
   initiatives (100,000; ``--smoke`` 10,000) plus 5 % in other states, then fills the summary
   counters from it (``rebuild_summary_counts``, the GROUP BYs of migration 0002).
2. Times the old way of answering — five GROUP BYs over the read model (``count_read_model``)
   — in-process, for the before/after.
3. Serves ``reporting serve --no-migrate`` (``RUN_WORKERS=0``, waitress, 8 threads) and a bare
   reference app (this script with ``--reference-server``: Flask + SQLAlchemy returning one
   precomputed JSON row of the same database, served by waitress with 8 threads) and loads each
   with ``wrk -t2 -c16`` in turns (reference, product, reference, product); the better run of
   each counts. p95 comes from wrk's Lua ``done`` hook. CPU ms per request from ``/proc``.
4. Applies synthetic events through the ``reporting`` consumer (``EventConsumer.handle``:
   envelope and payload validation, ``processed_events``, snapshot upsert and counters, one
   transaction per event) on another fresh database: 40 % new initiatives, 30 % edits that
   change tags, 30 % status changes.

Load generator: wrk (Debian): C, event-driven, so the generator itself costs little of the two
cores the services share; Python generators (locust) would take a core of their own.
Prints readable lines and one ``BENCH_ROW {json}`` per figure (see HELPERS.md / bench/run.py).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import fresh_database  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "TEST_PG_ADMIN_URL", "postgresql+psycopg://registry:registry@127.0.0.1:55432/postgres")
BIN = Path(sys.executable).parent

WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\\n", latency:percentile(50),
    latency:percentile(95), latency:percentile(99), summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def bench_row(name: str, unit: str, product: float, reference: float | None, goal: str,
              met: bool | None, data_size: int | None, *, higher_is_better: bool,
              notes: str = "", **extra) -> None:
    """Print one ``BENCH_ROW`` line (keys of HELPERS.md)."""
    ratio = None
    if reference:
        ratio = product / reference if higher_is_better else reference / product
    row = {"name": name, "unit": unit, "product": round(product, 3),
           "reference": None if reference is None else round(reference, 3),
           "ratio": None if ratio is None else round(ratio, 3), "goal": goal, "met": met,
           "data_size": data_size, "backend": "postgresql", "notes": notes, **extra}
    print("BENCH_ROW " + json.dumps(row), flush=True)


# -- databases ---------------------------------------------------------------------------------


# -- synthetic initiatives -----------------------------------------------------------------------
def synthetic_snapshots(n: int, seed: int = 42, published_share: float = 1.0) -> list[dict]:
    """``n`` initiative snapshots: 1-4 targets (goals from them, sometimes one more goal), 0-5
    countries, 10 % tagged World, a random lead stakeholder group (3 % none)."""
    from shared.reference import STAKEHOLDER_GROUPS, countries, targets

    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data
    target_codes, country_codes = sorted(targets()), sorted(countries())
    groups = sorted(STAKEHOLDER_GROUPS)
    statuses = ["draft", "submitted", "changes_requested", "rejected"]
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        picked = rng.sample(target_codes, rng.randint(1, 4))
        goals = {int(t.split(".")[0]) for t in picked}
        if rng.random() < 0.3:
            goals.add(rng.randint(1, 17))
        status = "published" if rng.random() < published_share else rng.choice(statuses)
        lead = None if rng.random() < 0.03 else {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "name": f"Organisation {i % 997}", "acronym": None,
            "stakeholder_group": rng.choice(groups), "country": rng.choice(country_codes)}
        out.append({
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "public_id": f"PR-2026-{i:06d}" if status == "published" else None,
            "status": status, "version": 1, "title": f"Initiative {i} for the ocean",
            "description": None, "lead_organization": lead, "partners": [],
            "sdg_goals": sorted(goals), "sdg_targets": picked,
            "countries": rng.sample(country_codes, rng.randint(0, 5)),
            "regions": ["001"] if rng.random() < 0.1 else [],
            "start_date": None, "end_date": None, "deliverables": [], "resources": [],
            "contact_email": None, "source": None, "source_ref": None,
            "created_at": now, "updated_at": now,
            "published_at": now if status == "published" else None,
        })
    return out


def bulk_fill(url: str, snapshots: list[dict]) -> float:
    """COPY the snapshots into the read model and fill the counters; returns seconds."""
    import psycopg

    from reporting.readmodel.service import snapshot_tags

    started = time.perf_counter()
    now = datetime.now(UTC)
    tables: dict[str, list[tuple]] = {k: [] for k in (
        "report_initiative_goals", "report_initiative_targets", "report_initiative_countries",
        "report_initiative_regions", "report_initiative_region_names")}
    parents = []
    for s in snapshots:
        tags = snapshot_tags(s)
        lead = s["lead_organization"] or {}
        parents.append((s["id"], s["public_id"], s["status"], s["version"], s["title"],
                        lead.get("name"), lead.get("stakeholder_group"), lead.get("country"),
                        s["published_at"], s["updated_at"], now, json.dumps(tags)))
        for table, key in (("report_initiative_goals", "goals"),
                           ("report_initiative_targets", "targets"),
                           ("report_initiative_countries", "countries"),
                           ("report_initiative_regions", "regions"),
                           ("report_initiative_region_names", "region_names")):
            tables[table].extend((s["id"], v) for v in tags[key])
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy("COPY report_initiatives (id, public_id, status, version, title, "
                      "lead_organization_name, lead_stakeholder_group, lead_country, "
                      "published_at, updated_at, applied_at, tags) FROM STDIN") as copy:
            for row in parents:
                copy.write_row(row)
        for table, rows in tables.items():
            with cur.copy(f"COPY {table} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        conn.commit()
        cur.execute("ANALYZE")
    from reporting.app import create_app
    from reporting.readmodel.service import rebuild_summary_counts

    app = create_app({"DATABASE_URL": url})
    with app.extensions["db_session_factory"]() as session:
        rebuild_summary_counts(db_session=session)
        session.commit()
    app.extensions["db_engine"].dispose()
    return time.perf_counter() - started


# -- the bare reference app --------------------------------------------------------------------
def reference_server(url: str, port: int) -> None:
    """Serve the bare reference: ``GET /reference`` returns one precomputed JSON row."""
    from flask import Flask, Response
    from sqlalchemy import create_engine, text
    from waitress import serve

    engine = create_engine(url, pool_pre_ping=True)
    app = Flask("reference")

    @app.get("/reference")
    def reference():
        with engine.connect() as conn:
            body = conn.execute(text("SELECT body FROM bench_reference WHERE id = 1")).scalar()
        return Response(body, content_type="application/json")

    serve(app, host="127.0.0.1", port=port, threads=8, _quiet=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - local
                if r.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def cpu_ms(pid: int) -> float:
    """User + system CPU time of ``pid`` in ms (``/proc/<pid>/stat``); 0 when unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def postgres_pids(db_name: str) -> list[int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_ADMIN_URL)
    with engine.connect() as conn:
        pids = list(conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :d"),
                                 {"d": db_name}).scalars())
    engine.dispose()
    return pids


def run_wrk(url: str, seconds: float, script: str, pid: int, db_name: str) -> dict:
    """wrk -t2 -c16 for ``seconds``; latencies in ms, req/s, CPU ms per request."""
    pg_before = {p: cpu_ms(p) for p in postgres_pids(db_name)}
    svc_before = cpu_ms(pid)
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{max(1, round(seconds))}s", "-s", script,
                          url], capture_output=True, text=True, check=True).stdout
    svc = cpu_ms(pid) - svc_before
    pg = sum(cpu_ms(p) - pg_before.get(p, 0.0) for p in postgres_pids(db_name))
    line = next(x for x in out.splitlines() if x.startswith("RESULT"))
    p50, p95, p99, requests, duration_us, errors = (int(v) for v in line.split()[1:])
    requests = max(1, requests)
    return {"p50": p50 / 1000, "p95": p95 / 1000, "p99": p99 / 1000,
            "rps": requests / (duration_us / 1e6), "errors": errors,
            "cpu_service": svc / requests, "cpu_pg": pg / requests}


def measure_http(url: str, db_name: str, seconds: float, size: int) -> None:
    """Serve product and reference, load them in turns, print rows."""
    from sqlalchemy import create_engine, text

    # the reference's one row: the product's own answer, precomputed
    env = {**os.environ, "REPORTING_DATABASE_URL": url, "RUN_WORKERS": "0",
           "LOG_LEVEL": "WARNING"}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    product_port, reference_port = free_port(), free_port()
    product = subprocess.Popen([str(BIN / "reporting"), "serve", "--no-migrate", "--port",
                                str(product_port)], env=env, stderr=subprocess.DEVNULL)
    reference = subprocess.Popen([sys.executable, __file__, "--reference-server", "--url", url,
                                  "--port", str(reference_port)], env=env,
                                 stderr=subprocess.DEVNULL)
    try:
        product_url = f"http://127.0.0.1:{product_port}/api/v1/reports/summary"
        reference_url = f"http://127.0.0.1:{reference_port}/reference"
        wait_http(product_url.replace("/api/v1/reports/summary", "/healthz"))
        with urllib.request.urlopen(product_url) as r:  # noqa: S310 - local
            body = r.read().decode()
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE bench_reference (id int PRIMARY KEY, body text)"))
            conn.execute(text("INSERT INTO bench_reference VALUES (1, :b)"), {"b": body})
        engine.dispose()
        wait_http(reference_url)
        print(f"summary: total {json.loads(body)['total']:,} published initiatives")
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
            fh.write(WRK_SCRIPT)
            script = fh.name
        runs: dict[str, list[dict]] = {"reference": [], "product": []}
        for _ in range(2):  # interleaved: reference, product, reference, product
            runs["reference"].append(run_wrk(reference_url, seconds, script, reference.pid,
                                             db_name))
            runs["product"].append(run_wrk(product_url, seconds, script, product.pid, db_name))
        os.unlink(script)
    finally:
        for proc in (product, reference):
            proc.send_signal(signal.SIGTERM)
        for proc in (product, reference):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    best = {k: min(v, key=lambda r: r["p95"]) for k, v in runs.items()}
    p, r = best["product"], best["reference"]
    print(f"summary under wrk -t2 -c16: product p50 {p['p50']:.1f} ms, p95 {p['p95']:.1f} ms, "
          f"p99 {p['p99']:.1f} ms, {p['rps']:.0f} req/s, errors {p['errors']}; reference p95 "
          f"{r['p95']:.1f} ms, {r['rps']:.0f} req/s")
    cpu = {"cpu_ms_per_req_service": round(p["cpu_service"], 3),
           "cpu_ms_per_req_postgres": round(p["cpu_pg"], 3)}
    bench_row("reporting.summary.p95_ms", "ms", p["p95"], r["p95"], "<=20 ms",
              p["p95"] <= 20 and p["errors"] == 0, size, higher_is_better=False,
              notes=f"wrk -t2 -c16 {seconds:.0f}s, better of 2 interleaved runs; reference: "
                    "one precomputed JSON row via Flask+SQLAlchemy, waitress 8 threads", **cpu)
    bench_row("reporting.summary.req_per_s", "req/s", p["rps"], r["rps"], ">=0.5x",
              p["rps"] >= 0.5 * r["rps"], size, higher_is_better=True, **cpu)


def measure_group_by(url: str, size: int) -> None:
    """The old request path (five GROUP BYs over the read model), in-process, unloaded."""
    from reporting.app import create_app
    from reporting.summaries.service import compute_summary, count_read_model

    app = create_app({"DATABASE_URL": url})
    factory = app.extensions["db_session_factory"]
    old, new = [], []
    for _ in range(3):
        with factory() as session:
            started = time.perf_counter()
            count_read_model(db_session=session)
            old.append((time.perf_counter() - started) * 1000)
        with factory() as session:
            started = time.perf_counter()
            compute_summary(db_session=session)
            new.append((time.perf_counter() - started) * 1000)
    app.extensions["db_engine"].dispose()
    print(f"summary computation, unloaded: five GROUP BYs (before) {statistics.median(old):.1f}"
          f" ms, counters (now) {statistics.median(new):.2f} ms (median of 3)")
    bench_row("reporting.summary.compute_before_ms", "ms", statistics.median(old), None,
              "none (before)", None, size, higher_is_better=False,
              notes="the removed per-request path (five GROUP BYs), unloaded, in-process; "
                    "kept as count_read_model for repairs and tests")
    bench_row("reporting.summary.compute_ms", "ms", statistics.median(new), None, "<=20 ms",
              statistics.median(new) <= 20, size, higher_is_better=False,
              notes="the request path now (one SELECT of the counters), unloaded, in-process")


def measure_consumer(n_events: int) -> None:
    """Events/s through the reporting consumer on a fresh database."""
    from reporting.app import build_consumer, create_app
    from shared import migrate
    from shared.bus import Message
    from shared.events import event_to_message, new_event, topic_name
    from shared.events.types import (
        INITIATIVE_APPROVED,
        INITIATIVE_IMPORTED,
        INITIATIVE_UPDATED,
        TOPIC_INITIATIVES,
        dump_data,
    )

    with fresh_database("reporting_consumer") as url:
        migrate.upgrade("reporting", url)
        rng = random.Random(7)  # noqa: S311
        fresh = synthetic_snapshots(n_events, seed=11, published_share=0.5)
        known: list[dict] = []
        messages = []
        for _ in range(n_events):
            roll = rng.random()
            if roll < 0.4 or not known:
                snap, type_ = fresh.pop(), INITIATIVE_IMPORTED
                snap = {**snap, "status": "published"}
                known.append(snap)
            else:
                base = rng.choice(known)
                snap = {**base, "version": base["version"] + 1}
                if roll < 0.7:
                    snap["sdg_goals"] = sorted({*base["sdg_goals"], rng.randint(1, 17)})
                    snap["countries"] = base["countries"][:-1]
                    type_ = INITIATIVE_UPDATED
                else:
                    snap["status"] = rng.choice(["published", "submitted", "draft"])
                    type_ = INITIATIVE_APPROVED if snap["status"] == "published" \
                        else INITIATIVE_UPDATED
                known[known.index(base)] = snap
            data = {"action": "bench", "from_status": None, "to_status": snap["status"],
                    "comment": None, "actor": {"role": "system"}, "initiative": snap}
            event = new_event(type_, source="/registry", subject=snap["id"],
                              data=dump_data(type_, data))
            key, headers, value = event_to_message(event.to_dict())
            messages.append(Message(topic=topic_name(TOPIC_INITIATIVES), key=key, value=value,
                                    headers=headers))
        half = len(messages) // 2
        app = create_app({"DATABASE_URL": url})
        consumer = build_consumer(app)
        started = time.perf_counter()
        for message in messages[:half]:
            consumer.handle(message)
        elapsed = time.perf_counter() - started
        started = time.perf_counter()
        apply_in_batches(consumer, messages[half:], 100)
        batched_elapsed = time.perf_counter() - started
        app.extensions["db_engine"].dispose()
    rate = half / elapsed
    batched = (len(messages) - half) / batched_elapsed
    print(f"reporting consumer: {rate:,.0f} events/s with one transaction per event (today's "
          f"loop); {batched:,.0f} events/s with one transaction per 100 events")
    bench_row("reporting.consumer.events_per_s", "events/s", rate, None, "none (comparison)",
              None, half, higher_is_better=True,
              notes="EventConsumer.handle per event (validation, processed_events, upsert, "
                    "counters; one transaction each), 40% new / 30% tag edits / 30% status "
                    "changes; no Kafka poll")
    bench_row("reporting.consumer.batched_events_per_s", "events/s", batched, None,
              ">=2000 events/s", batched >= 2000, len(messages) - half, higher_is_better=True,
              notes="the same handler, 100 events per transaction (one processed_events "
                    "look-up, one commit) as the batched shared consumer loop will run it")


def apply_in_batches(consumer, messages: list, size: int) -> None:
    """Apply ``messages`` through ``consumer``'s handlers, ``size`` per transaction: envelope
    and payload validated, one ``processed_events`` look-up and one commit per batch."""
    from sqlalchemy import select

    from shared.events.envelope import event_from_message
    from shared.events.types import load_data

    model = consumer.processed_model
    for start in range(0, len(messages), size):
        events = [event_from_message(m.headers, m.value) for m in messages[start:start + size]]
        with consumer.session_factory() as session:
            seen = set(session.scalars(select(model.event_id).where(
                model.consumer == consumer.name, model.event_id.in_([e.id for e in events]))))
            for event in events:
                if event.id in seen:
                    continue
                consumer.handlers[event.type](session, event, load_data(event.type, event.data))
                session.add(model(consumer=consumer.name, event_id=event.id,
                                  event_type=event.type))
            session.commit()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="CI size (10,000, 3 s per run)")
    parser.add_argument("--size", type=int, help="published initiatives (default 100,000)")
    parser.add_argument("--seconds", type=float, help="seconds per wrk run (default 10)")
    parser.add_argument("--events", type=int, help="consumer events (default 10,000)")
    parser.add_argument("--reference-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reference_server:
        reference_server(args.url, args.port)
        return
    size = args.size or (10_000 if args.smoke else 100_000)
    seconds = args.seconds or (3.0 if args.smoke else 10.0)
    n_events = args.events or (2_000 if args.smoke else 10_000)

    from shared import migrate

    with fresh_database("reporting") as url:
        name = url.rsplit("/", 1)[1].split("?")[0]
        migrate.upgrade("reporting", url)
        snapshots = synthetic_snapshots(size)
        snapshots += synthetic_snapshots(size // 20, seed=43, published_share=0.0)
        took = bulk_fill(url, snapshots)
        print(f"read model filled: {len(snapshots):,} initiatives ({size:,} published) in "
              f"{took:.1f} s")
        measure_group_by(url, size)
        measure_http(url, name, seconds, size)
    measure_consumer(n_events)


if __name__ == "__main__":
    sys.stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", line_buffering=True)
    main()
