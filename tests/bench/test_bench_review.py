"""The review desk's benchmark does not rot (issue 8, "Benchmarks"): its data generator gives
the product's content shape and versions that differ field by field, the bulk loader fills
the tables ``alembic upgrade head`` made (the product reads them back), and a CI-sized run of
``bench/run.py --smoke --only review`` on the real PostgreSQL gives every row, well formed,
with every approval leaving one activity and one outbox event.

The smoke writes to a temporary folder, never to ``bench/results``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import datagen  # noqa: E402
import harness  # noqa: E402

LATENCY_ROWS = ("review.queue_page.p95_ms", "review.queue_api.p95_ms",
                "review.queue_api_revisions.p95_ms", "review.queue_api_page5.p95_ms",
                "review.diff_versions.p95_ms", "review.diff_revision.p95_ms")
THROUGHPUT_ROWS = ("review.approve.req_s", "review.approve_revision.req_s")


# -- the generator (no database) ---------------------------------------------------------------
def _content() -> dict:
    from types import SimpleNamespace

    record = next(r for r in datagen.generate(50, seed=5) if r["deliverables"]
                  and r["sdg_targets"])
    orgs = {o["id"]: SimpleNamespace(id=o["id"], name=o["name"], acronym=None,
                                     stakeholder_group=o["stakeholder_group"],
                                     country=o["country"])
            for o in datagen.generate_organizations(datagen.organization_count(50), seed=5)}
    ids = [uuid.uuid4() for _ in record["deliverables"]]
    return datagen.content_of_record(record, orgs, ids, ["in_progress"] * len(ids))


def test_generated_content_has_the_products_content_shape():
    from registry.initiatives.versions import CONTENT_FIELDS

    content = _content()
    assert tuple(content) == CONTENT_FIELDS
    assert json.loads(json.dumps(content)) == content  # JSON-ready
    assert all(d["id"] and d["status"] == "in_progress" for d in content["deliverables"])


def test_five_versions_differ_field_by_field_and_end_with_the_current_content():
    from registry.initiatives.versions import diff_content

    current = _content()
    versions = datagen.version_contents(current, 5)
    assert len(versions) == 5 and versions[-1][0] == current
    assert versions[0][1] == []
    for (before, _), (after, changed) in zip(versions, versions[1:], strict=False):
        assert len(changed) == 1
        diff = diff_content(before, after)
        touched = {f["field"] for f in diff["fields"]} | {
            name for name, d in diff["lists"].items()
            if d["added"] or d["removed"] or d["changed"]}
        assert touched == set(changed), (changed, diff)
    whole = diff_content(versions[0][0], current)
    assert len({f["field"] for f in whole["fields"]} | {
        n for n, d in whole["lists"].items() if d["added"] or d["removed"] or d["changed"]}) == 4


def test_the_shape_scales_with_the_size_and_keeps_a_queue_at_small_sizes():
    full = datagen.ReviewShape.scaled(100_000)
    assert (full.submitted, full.revisions_submitted, full.versions) == (3000, 1500, 5)
    small = datagen.ReviewShape.scaled(500)
    assert small.submitted >= 60 and 10 <= small.revisions_submitted <= 100


# -- the loader on PostgreSQL ------------------------------------------------------------------
@pytest.mark.postgres
def test_load_review_fills_the_migrated_tables_and_the_product_reads_them(create_pg_database):
    from sqlalchemy import func, select

    from registry.app import create_app
    from registry.initiatives.models import Initiative, InitiativeRevision, InitiativeVersion
    from registry.initiatives.versions import content_of
    from registry.workflow.models import Activity
    from shared import migrate

    url = create_pg_database("review_load")
    migrate.upgrade("registry", url)
    shape = datagen.ReviewShape.scaled(300)
    info = datagen.load_review(url, 300, seed=7, shape=shape)
    app = create_app({"DATABASE_URL": url, "TESTING": True})
    try:
        with app.extensions["db_session_factory"]() as s:
            def count(model, *where) -> int:
                return s.scalar(select(func.count()).select_from(model).where(*where))

            assert count(Initiative, Initiative.status == "submitted") == shape.submitted \
                == len(info.submitted_ids)
            assert count(Initiative, Initiative.approved_version == 5) == 300
            assert count(InitiativeVersion) == 300 * 5
            assert count(InitiativeRevision, InitiativeRevision.status == "submitted") \
                == shape.revisions_submitted == len(info.revision_initiative_ids)
            assert count(Activity) > 300 * 7
            # the newest version is the initiative as its tables hold it
            published = s.get(Initiative, info.initiative_ids[0])
            newest = s.get(InitiativeVersion, (published.id, 5))
            assert newest.content == content_of(published)
            assert newest.changed_fields and s.get(InitiativeVersion,
                                                   (published.id, 1)).changed_fields == []
        resp = app.test_client().get(f"/api/v1/initiatives/{info.initiative_ids[0]}")
        assert resp.status_code == 200 and resp.get_json()["status"] == "published"
    finally:
        app.extensions["db_engine"].dispose()


# -- the smoke run --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def smoke_run(pg_admin_url, tmp_path_factory) -> Path:
    if shutil.which("wrk") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("wrk is not installed (make test-deps)", pytrace=False)
        pytest.skip("wrk is not installed (make test-deps installs Debian's wrk)")
    results = tmp_path_factory.mktemp("bench-review-results")
    env = dict(os.environ, TEST_PG_ADMIN_URL=pg_admin_url)
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--only",
                           "review", "--results-dir", str(results)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return results


@pytest.mark.postgres
def test_smoke_measures_every_review_row_without_skipping(smoke_run):
    document = json.loads((smoke_run / "latest.json").read_text())
    (script,) = document["header"]["scripts"]
    assert script["script"] == "bench_review.py" and script["returncode"] == 0
    assert script["skipped"] is None, script["skipped"]
    names = [r["name"] for r in document["rows"]]
    assert sorted(names) == sorted(LATENCY_ROWS + THROUGHPUT_ROWS)
    assert f"| {LATENCY_ROWS[0]} |" in (smoke_run / "latest.md").read_text()


@pytest.mark.postgres
def test_smoke_rows_are_well_formed_and_approvals_atomic(smoke_run):
    rows = {r["name"]: r for r in json.loads((smoke_run / "latest.json").read_text())["rows"]}
    for row in rows.values():
        assert set(harness.ROW_KEYS) <= set(row), row
        assert row["backend"] == "postgresql" and row["data_size"] == 2_000
        assert row["product"] > 0 and row["reference"] > 0, row
        assert isinstance(row["met"], bool) and row["ratio"] > 0, row
        assert "wrk -t" in row["notes"], row
    for name in LATENCY_ROWS:
        row = rows[name]
        assert row["unit"] == "ms" and row["goal"] == "<=100 ms"
        assert 0 < row["p50_ms"] <= row["product"] <= row["p99_ms"], row
        assert row["ratio"] == pytest.approx(row["reference"] / row["product"], rel=0.02)
    for name in THROUGHPUT_ROWS:
        row = rows[name]
        assert row["unit"] == "req/s" and row["goal"] == ">=0.5x"
        assert "consistent: one of each per record" in row["atomic_check"], row
