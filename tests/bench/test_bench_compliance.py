"""The traffic-light job's benchmark does not rot (issue 9, "Benchmarks"): the progress data
generator gives the exact number of reports, dated between publication and the as-of moment,
with the initiatives' roll-ups equal to their approved reports; the bulk loader fills the
tables ``alembic upgrade head`` made; a CI-sized run of ``bench/run.py --smoke --only
compliance`` on the real PostgreSQL gives every row, well formed, with the job's lights equal
to the bare reference's row by row.

The smoke writes to a temporary folder, never to ``bench/results``.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import datagen  # noqa: E402
import harness  # noqa: E402

ROWS = ("compliance.job.seconds", "compliance.job_rerun.seconds", "compliance.job_next_day.seconds",
        "compliance.job.statements_per_batch", "compliance.job.plans_per_batch")
STATUS = 2  # index of ``status`` in an initiatives tuple
EXTRA = len(datagen._TABLES["initiatives"])  # where the progress columns start


# -- the generator (no database) ---------------------------------------------------------------
def test_progress_rows_have_the_exact_total_and_consistent_roll_ups():
    n = 400
    shape = datagen.ProgressShape(reports=1200)
    info = datagen.ProgressLoadInfo(count=n)
    data = datagen.ProgressData(n, 3, shape, info)
    assert sum(data.counts) == 1200
    assert 0.15 < data.counts.count(0) / n < 0.35  # about a quarter never reported
    rng = random.Random(1)
    statuses = set()
    reports_seen = 0
    for i, record in enumerate(datagen.generate(n, seed=3)):
        rows = data.rows(i, record, datagen._rows(record, rng, i), rng)
        (initiative,) = rows["initiatives"]
        owner, declared, archived, percent, count, last_on = initiative[EXTRA:]
        reports = rows["progress_reports"]
        reports_seen += len(reports)
        assert len(reports) == data.counts[i]
        assert owner == record["lead_organization_id"]
        assert [r[2] for r in reports] == list(range(1, len(reports) + 1))
        dated = [r[6] for r in reports if r[6] is not None]
        assert dated == sorted(dated)
        for r in reports:
            assert r[1] == record["id"] and r[16] == owner
            if r[6] is not None:
                assert record["published_at"].date() <= r[6] <= datagen.PROGRESS_AS_OF.date()
            if r[3] == "approved":
                assert r[6] <= r[20].date() and r[20] <= datagen.PROGRESS_AS_OF
            else:
                assert r[20] is None
        approved = [r for r in reports if r[3] == "approved"]
        assert count == len(approved)
        assert last_on == (max(r[6] for r in approved) if approved else None)
        assert percent == (approved[-1][8] if approved else None)
        statuses.add(initiative[STATUS])
        assert (initiative[STATUS] == "completion_declared") == (declared is not None)
        assert (initiative[STATUS] == "archived") == (archived is not None)
    assert reports_seen == 1200
    assert statuses == {"published", "completion_declared", "archived"}
    assert set(info.reports_by_status) == {"approved", "submitted", "draft",
                                           "changes_requested"}
    assert sum(info.reports_by_status.values()) == 1200


# -- the loader on PostgreSQL ------------------------------------------------------------------
@pytest.mark.postgres
def test_load_progress_fills_the_migrated_tables_and_the_job_lights_them(create_pg_database):
    from sqlalchemy import func, select

    from registry.compliance.service import run_compliance_job
    from registry.db import import_models
    from registry.initiatives.models import Initiative
    from registry.progress.models import ProgressReport
    from shared import migrate
    from shared.db import make_engine, make_session_factory

    import_models()
    url = create_pg_database("progress_load")
    migrate.upgrade("registry", url)
    info = datagen.load_progress(url, 300, seed=7)
    assert info.reports == 900 and sum(info.reports_by_status.values()) == 900
    engine = make_engine(url)
    try:
        factory = make_session_factory(engine)
        with factory() as s:
            assert s.scalar(select(func.count()).select_from(ProgressReport)) == 900
            assert s.scalar(select(func.count()).select_from(Initiative)) == 300
            # the roll-up the product keeps equals the approved reports
            approved = select(func.count()).where(
                ProgressReport.initiative_id == Initiative.id,
                ProgressReport.status == "approved").scalar_subquery()
            assert s.scalar(select(func.count()).where(
                Initiative.progress_reports_count != approved)) == 0
            active = s.scalar(select(func.count()).where(Initiative.status.in_(
                ("published", "completion_declared"))))
        result = run_compliance_job(factory, now=datagen.PROGRESS_AS_OF
                                    + timedelta(seconds=1))
        assert result.total == active and result.changed == active
        assert min(result.counts.values()) > 0  # green, yellow and red all present
    finally:
        engine.dispose()


# -- the smoke run --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def smoke_run(pg_admin_url, tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("bench-compliance-results")
    env = dict(os.environ, TEST_PG_ADMIN_URL=pg_admin_url)
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--only",
                           "compliance", "--results-dir", str(results)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return results


@pytest.mark.postgres
def test_smoke_measures_every_compliance_row_beside_the_reference(smoke_run):
    document = json.loads((smoke_run / "latest.json").read_text())
    (script,) = document["header"]["scripts"]
    assert script["script"] == "bench_compliance.py" and script["returncode"] == 0
    assert script["skipped"] is None, script["skipped"]
    rows = {r["name"]: r for r in document["rows"]}
    assert sorted(rows) == sorted(ROWS)
    for row in rows.values():
        assert set(harness.ROW_KEYS) <= set(row), row
        assert row["backend"] == "postgresql" and row["data_size"] == 2_000
        assert row["product"] > 0 and row["reference"] > 0 and row["ratio"] > 0, row
    job = rows["compliance.job.seconds"]
    assert job["unit"] == "s" and job["goal"] == "<=30 s" and job["met"] is True
    assert "lights equal the reference's row by row" in job["notes"], job["notes"]
    assert job["ratio"] == pytest.approx(job["reference"] / job["product"], rel=0.02,
                                         abs=0.001)  # rounded to 3 decimals
    assert rows["compliance.job.plans_per_batch"]["product"] <= \
        rows["compliance.job.statements_per_batch"]["product"]
