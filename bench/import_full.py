"""Benchmark: import the full real file (2,120 UN Ocean Conference commitments) with its events.

Prints figures, asserts nothing. Two modes:

* ``--mode embedded`` (default): the embedded stack (SQLite files in a temp VAR_DIR, in-process
  bus, the notifier and reporting consumers) in this process; prints the import time, the time
  until reporting counted every record (events delivered), and the peak RSS of the process.
* ``--mode kafka``: the registry on PostgreSQL publishing to the real Kafka broker, the
  notifier and reporting consuming it on their own PostgreSQL databases (started by
  ``scripts/services.sh up``); same figures.

    .venv/bin/python bench/import_full.py [--mode embedded|kafka] [--file PATH] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILE = ROOT.parent / "shared" / "data" / "ocean-commitments" / "ocean_commitments.jsonl"
PG_ADMIN = os.environ.get("TEST_PG_ADMIN_URL",
                          "postgresql+psycopg://registry:registry@127.0.0.1:55432/postgres")


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_pg_databases() -> dict[str, str]:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    urls = {}
    with engine.connect() as conn:
        for service in ("registry", "notifier", "reporting"):
            name = f"bench_{service}_{uuid.uuid4().hex[:6]}"
            conn.execute(text(f'CREATE DATABASE "{name}"'))
            urls[service] = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    engine.dispose()
    return urls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("embedded", "kafka"), default="embedded")
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    if not args.file.is_file():
        print(f"no file at {args.file} (../shared/data is beside the repository)")
        return 1

    os.environ["VAR_DIR"] = tempfile.mkdtemp(prefix="bench-var-")
    os.environ["OUTBOX_POLL_SECONDS"] = "0.05"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    config: dict[str, dict] = {}
    if args.mode == "kafka":
        urls = make_pg_databases()
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = os.environ.get(
            "TEST_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
        os.environ["KAFKA_TOPIC_PREFIX"] = f"bench{uuid.uuid4().hex[:6]}."
        os.environ["KAFKA_CONSUMER_GROUP_PREFIX"] = os.environ["KAFKA_TOPIC_PREFIX"]
        config = {name: {"DATABASE_URL": url, "IN_PROCESS_BUS": False}
                  for name, url in urls.items()}

    from werkzeug.test import Client

    from registry.imports.service import import_commitments
    from shared import embedded, migrate

    if args.mode == "embedded":
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
    rss_before = peak_rss_mib()
    t0 = time.perf_counter()
    report = import_commitments(args.file, session_factory=factory, limit=args.limit)
    t_import = time.perf_counter() - t0
    deadline = time.monotonic() + 600
    total = -1
    while time.monotonic() < deadline:
        total = client.get("/api/v1/reports/summary").json["total"]
        if total >= report.imported:
            break
        time.sleep(0.2)
    t_events = time.perf_counter() - t0
    stack.stop()
    print(json.dumps({
        "mode": args.mode,
        "records": report.total,
        "imported": report.imported,
        "skipped": len(report.skipped),
        "warnings": len(report.warnings),
        "import_seconds": round(t_import, 1),
        "until_reporting_counted_all_seconds": round(t_events, 1),
        "reporting_total": total,
        "records_per_second": round(report.imported / t_import, 1),
        "peak_rss_mib_before_import": round(rss_before, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }, indent=2))
    return 0 if total >= report.imported else 1


if __name__ == "__main__":
    sys.exit(main())
