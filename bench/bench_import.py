"""Benchmark: import the full real file (2,120 UN Ocean Conference commitments) with its events.

Two modes, each in its own process (the mode is chosen by environment variables at start):

* ``embedded``: the embedded stack (SQLite files in a temporary ``VAR_DIR``, in-process bus, the
  notifier and reporting consumers) in the process.
* ``kafka``: the registry on PostgreSQL publishing to the real Kafka broker, the notifier and
  reporting consuming it, each on its own fresh PostgreSQL database (the shared servers:
  ``TEST_PG_ADMIN_URL``, ``TEST_KAFKA_BOOTSTRAP_SERVERS``), topics under a fresh prefix.

Rows (issue 6, "Import of the full real file with all its events: <= 10 s embedded, <= 20 s on
PostgreSQL + Kafka"): ``import.<mode>.seconds`` — from the start of the import until reporting
has counted every imported record (so every event was relayed and applied); the import alone
and records/s are in its notes — and ``import.<mode>.peak_rss_mb`` (the process's peak RSS,
no goal here: the memory goal is about flat memory in file size). No bare reference: ``null``.

Skips (``BENCH_SKIP <reason>``) when ``../shared/data`` is absent or, for ``kafka``, when no
broker answers. ``--smoke`` imports the first 200 records.

    .venv/bin/python bench/bench_import.py [--smoke] [--mode embedded|kafka|both] [--file PATH]
                                           [--limit N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

DEFAULT_FILE = (harness.ROOT.parent / "shared" / "data" / "ocean-commitments"
                / "ocean_commitments.jsonl")
GOALS = {"embedded": "<=10 s", "kafka": "<=20 s"}
BACKENDS = {"embedded": "sqlite", "kafka": "kafka"}
SMOKE_LIMIT = 200
KAFKA = os.environ.get("TEST_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def skip(reason: str) -> int:
    """Say why nothing was measured (``bench/run.py`` records it) and exit 0."""
    print(f"BENCH_SKIP {reason}", flush=True)
    return 0


def run_mode(mode: str, path: Path, limit: int | None) -> int:
    """Import ``path`` in ``mode`` in this process and emit its rows."""
    with contextlib.ExitStack() as stack:
        os.environ["VAR_DIR"] = stack.enter_context(tempfile.TemporaryDirectory(
            prefix="bench-var-"))
        os.environ["OUTBOX_POLL_SECONDS"] = "0.05"
        os.environ.setdefault("LOG_LEVEL", "WARNING")
        config: dict[str, dict] = {}
        if mode == "kafka":
            from shared.bus import kafka_ready

            servers = KAFKA.split(",")
            if not kafka_ready(servers, timeout=10.0):
                return skip(f"no Kafka broker answers at {KAFKA}")
            prefix = f"bench{uuid.uuid4().hex[:6]}."
            os.environ.update(KAFKA_BOOTSTRAP_SERVERS=KAFKA, KAFKA_TOPIC_PREFIX=prefix,
                              KAFKA_CONSUMER_GROUP_PREFIX=prefix)
            config = {name: {"DATABASE_URL": stack.enter_context(
                          harness.fresh_database(f"import_{name}")), "IN_PROCESS_BUS": False}
                      for name in ("registry", "notifier", "reporting")}
        return _import(mode, path, limit, config)


def _import(mode: str, path: Path, limit: int | None, config: dict[str, dict]) -> int:
    """Run the import in ``mode`` (``config``: per-service app config) and emit its rows."""
    from werkzeug.test import Client

    import embedded
    from registry.imports.service import import_commitments
    from shared import migrate

    if mode == "embedded":
        stack = embedded.build()
    else:  # the same composition, but each service on its own database and on Kafka
        from notifier.app import create_app as n_app
        from notifier.app import start_workers as n_workers
        from registry.app import create_app as r_app
        from registry.app import start_workers as r_workers
        from reporting.app import create_app as p_app
        from reporting.app import start_workers as p_workers

        apps, workers = {}, []
        for name, create, start in (("notifier", n_app, n_workers),
                                    ("reporting", p_app, p_workers),
                                    ("registry", r_app, r_workers)):
            migrate.upgrade(name, config[name]["DATABASE_URL"])
            apps[name] = create(config[name])
            workers.append(start(apps[name]))
        stack = embedded.Embedded(apps=apps, router=embedded.PrefixRouter(apps), bus=None,
                                  workers=workers)
    client = Client(stack.router)
    factory = stack.apps["registry"].extensions["db_session_factory"]
    t0 = time.perf_counter()
    report = import_commitments(path, session_factory=factory, limit=limit)
    t_import = time.perf_counter() - t0
    deadline = time.monotonic() + 600
    total = -1
    while time.monotonic() < deadline:
        total = client.get("/api/v1/reports/summary").json["total"]
        if total >= report.imported:
            break
        time.sleep(0.05)
    t_events = time.perf_counter() - t0
    stack.stop()
    complete = total >= report.imported
    what = f"{report.imported:,} of {report.total:,} records from {path.name}"
    harness.say(f"  {mode}: import {t_import:.1f} s, all events applied after {t_events:.1f} s "
                f"({what}; {len(report.skipped)} skipped, {len(report.warnings)} warnings; "
                f"peak RSS {peak_rss_mib():.0f} MiB)")
    harness.emit(harness.make_row(
        f"import.{mode}.seconds", "s", t_events, data_size=report.total,
        goal=GOALS[mode] if limit is None else "",  # the goals are for the whole file
        backend=BACKENDS[mode], lower_is_better=True,
        notes=(f"{what}; import alone {t_import:.1f} s ({report.imported / t_import:.0f} "
               f"records/s), until reporting counted all {t_events:.1f} s"
               + ("" if limit is None else f"; --limit {limit}: no goal (goals are for the "
                                             "whole file)")
               + ("" if complete else f"; INCOMPLETE: reporting counted {total}")
               + ("; PostgreSQL + Kafka" if mode == "kafka" else "; SQLite + in-process bus"))))
    harness.emit(harness.make_row(
        f"import.{mode}.peak_rss_mb", "MB", peak_rss_mib(), data_size=report.total,
        backend=BACKENDS[mode], lower_is_better=True,
        notes="peak RSS of the process running the import and all three services"))
    return 0 if complete else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("embedded", "kafka", "both"), default="both")
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--limit", type=int, default=None)
    args = harness.parse_args(__doc__.splitlines()[0], parser=parser, argv=argv)
    if not args.file.is_file():
        return skip(f"no file at {args.file} (../shared/data is beside the repository)")
    limit = args.limit or (SMOKE_LIMIT if args.smoke else None)
    if args.mode != "both":
        return run_mode(args.mode, args.file, limit)
    failed = 0
    for mode in ("embedded", "kafka"):  # one process each: the mode is set at import time
        cmd = [sys.executable, __file__, "--mode", mode, "--file", str(args.file)]
        if limit:
            cmd += ["--limit", str(limit)]
        t0 = time.perf_counter()
        failed += subprocess.run(cmd, check=False).returncode != 0
        harness.say(f"  {mode} mode took {time.perf_counter() - t0:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
