"""How fast reporting applies initiative events and computes its summary.

Run: ``.venv/bin/python bench/reporting_summary.py [N] [--url DATABASE_URL]`` — loads ``N``
(default 10,000) synthetic published snapshots into a fresh read model (a temporary SQLite file
unless ``--url`` names an empty database) through the ``reporting`` consumer (validation,
idempotency row, upsert; one transaction per event, as from Kafka), then prints the time of
applying them and of one summary computation and each rendering. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from reporting.app import build_consumer, create_app
from reporting.summaries.rendering import render
from reporting.summaries.service import compute_summary
from shared import migrate
from shared.events import new_event
from shared.events.types import INITIATIVE_IMPORTED, dump_data
from shared.reference import STAKEHOLDER_GROUPS, countries, targets


def synthetic_events(n: int, seed: int = 42) -> list:
    """``n`` ``initiative.imported.v1`` events of published initiatives with 1-4 targets, 0-5
    countries, sometimes the World region."""
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data, not security
    target_codes, country_codes = sorted(targets()), sorted(countries())
    groups = sorted(STAKEHOLDER_GROUPS)
    now = datetime.now(UTC)
    events = []
    for i in range(n):
        picked = rng.sample(target_codes, rng.randint(1, 4))
        initiative = {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "public_id": f"PR-2026-{i:05d}", "status": "published", "version": 1,
            "title": f"Initiative {i}", "description": None,
            "lead_organization": {"id": str(uuid.uuid4()), "name": f"Organisation {i % 997}",
                                  "acronym": None, "stakeholder_group": rng.choice(groups),
                                  "country": rng.choice(country_codes)},
            "partners": [], "sdg_goals": sorted({int(t.split(".")[0]) for t in picked}),
            "sdg_targets": picked,
            "countries": rng.sample(country_codes, rng.randint(0, 5)),
            "regions": ["001"] if rng.random() < 0.1 else [],
            "start_date": None, "end_date": None, "deliverables": [], "resources": [],
            "contact_email": None, "created_at": now, "updated_at": now, "published_at": now,
        }
        data = {"action": "import", "from_status": None, "to_status": "published",
                "comment": None, "actor": {"role": "system"}, "initiative": initiative}
        events.append(new_event(INITIATIVE_IMPORTED, source="/registry",
                                subject=initiative["id"],
                                data=dump_data(INITIATIVE_IMPORTED, data)))
    return events


def main(argv: list[str] | None = None) -> None:
    """Print events/s applied and the summary's time for ``N`` snapshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=10_000)
    parser.add_argument("--url", help="an EMPTY database to use instead of a temporary SQLite")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'reporting-bench.db'}"
        migrate.upgrade("reporting", url)
        app = create_app({"DATABASE_URL": url, "IN_PROCESS_BUS": True})
        consumer = build_consumer(app)
        events = synthetic_events(args.n)

        start = time.perf_counter()
        for event in events:
            consumer.apply(event)
        applied = time.perf_counter() - start
        print(f"applied {args.n} events in {applied:.2f} s "
              f"({args.n / applied:,.0f} events/s) on {url.split(':', 1)[0]}")

        factory = app.extensions["db_session_factory"]
        timings = []
        for _ in range(5):
            with factory() as session:
                start = time.perf_counter()
                summary = compute_summary(db_session=session)
                timings.append(time.perf_counter() - start)
        print(f"summary of {summary.total} published initiatives: "
              f"first {timings[0] * 1000:.1f} ms, median {statistics.median(timings) * 1000:.1f} "
              f"ms (5 runs)")
        for fmt in ("json", "csv", "html"):
            start = time.perf_counter()
            body = render(summary, fmt)
            print(f"render {fmt}: {(time.perf_counter() - start) * 1000:.2f} ms, "
                  f"{len(body.encode()):,} bytes")
        app.extensions["db_engine"].dispose()


if __name__ == "__main__":
    main(sys.argv[1:])
