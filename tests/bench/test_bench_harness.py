"""The benchmark harness does not rot: a CI-sized run of ``bench/run.py --smoke --only http``
on the real PostgreSQL gives well-formed rows with positive figures for every expected name
(issue 6, "A CI-sized smoke of the harness ... runs in make test"), plus the harness's own
row arithmetic.

The smoke writes to a temporary folder, never to ``bench/results``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import harness  # noqa: E402

HTTP_THROUGHPUT = ("http.list.req_s", "http.detail.req_s", "http.create.req_s",
                   "http.submit.req_s", "http.approve.req_s")
HTTP_SEARCH = ("http.search.q_coral.p95_ms", "http.search.q_haiyang.p95_ms",
               "http.search.q_ocean.p95_ms")


# -- row arithmetic (no server) -----------------------------------------------------------------
def test_goal_on_a_ratio_compares_the_ratio_and_on_a_unit_the_figure():
    assert harness.judge(">=0.5x", product=10, ratio=0.6) is True
    assert harness.judge(">=0.5x", product=1e6, ratio=0.4) is False
    assert harness.judge("<=50 ms", product=49.9, ratio=None) is True
    assert harness.judge("<=50 ms", product=50.1, ratio=None) is False
    assert harness.judge(">=5000 events/s", product=4999, ratio=None) is False
    assert harness.judge("", product=1, ratio=1) is None
    assert harness.judge(">=0.5x", product=1, ratio=None) is None


def test_ratio_is_above_one_when_the_product_is_better_for_throughput_and_latency():
    throughput = harness.make_row("x.req_s", "req/s", 300, reference=200, goal=">=0.5x")
    latency = harness.make_row("x.p95_ms", "ms", 20, reference=40, goal="<=50 ms",
                               lower_is_better=True)
    assert throughput["ratio"] == 1.5 and throughput["met"] is True
    assert latency["ratio"] == 2.0 and latency["met"] is True


def test_emit_prints_a_row_that_parse_rows_reads_back(capsys):
    row = harness.make_row("x.req_s", "req/s", 12.5, reference=25, goal=">=0.5x",
                           data_size=10, notes="海洋")
    harness.emit(row)
    (parsed,) = harness.parse_rows(capsys.readouterr().out)
    assert parsed == row and list(parsed)[:len(harness.ROW_KEYS)] == list(harness.ROW_KEYS)


def test_emit_refuses_a_row_without_the_common_keys_or_with_an_unknown_backend():
    with pytest.raises(ValueError, match="lacks"):
        harness.emit({"name": "x", "unit": "ms", "product": 1})
    with pytest.raises(ValueError, match="backend"):
        harness.emit(harness.make_row("x", "ms", 1, backend="mysql"))


def test_cpu_ms_counts_this_process_busy_time():
    before = harness.cpu_ms([os.getpid()])
    x = 0
    for i in range(3_000_000):
        x += i
    assert harness.cpu_ms([os.getpid()]) > before
    assert harness.cpu_ms([2**22 + 7]) == 0  # a pid that does not exist counts 0


# -- the smoke run on PostgreSQL ---------------------------------------------------------------
@pytest.fixture(scope="module")
def smoke_run(pg_admin_url, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    if shutil.which("wrk") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("wrk is not installed (make test-deps)", pytrace=False)
        pytest.skip("wrk is not installed (make test-deps installs Debian's wrk)")
    results = tmp_path_factory.mktemp("bench-results")
    env = dict(os.environ, TEST_PG_ADMIN_URL=pg_admin_url)
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--only",
                           "http", "--results-dir", str(results)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return results, proc


def test_smoke_writes_the_results_files_in_the_given_folder(smoke_run):
    results, _proc = smoke_run
    latest = results / "latest.json"
    dated = [p for p in results.glob("????-??-??.json")]
    assert latest.is_file() and len(dated) == 1
    assert json.loads(dated[0].read_text()) == json.loads(latest.read_text())
    table = (results / "latest.md").read_text()
    for name in HTTP_THROUGHPUT + HTTP_SEARCH:
        assert f"| {name} |" in table


def test_smoke_header_records_machine_commit_and_server_settings(smoke_run):
    header = json.loads((smoke_run[0] / "latest.json").read_text())["header"]
    assert header["smoke"] is True and header["elapsed_s"] > 0
    assert header["machine"]["cores"] >= 1 and header["machine"]["memory_mib"] > 0
    assert re.fullmatch(r"[0-9a-f]{40}", header["git"]["commit"])
    assert header["server_settings"]["waitress_threads"] >= 1
    assert header["server_settings"]["postgresql"]["version"]
    assert header["data_sizes"] == [10_000]
    (script,) = header["scripts"]
    assert script["script"] == "bench_http.py" and script["returncode"] == 0


def test_smoke_rows_are_well_formed_with_positive_figures(smoke_run):
    rows = json.loads((smoke_run[0] / "latest.json").read_text())["rows"]
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) == set(HTTP_THROUGHPUT + HTTP_SEARCH)
    for row in rows:
        assert set(harness.ROW_KEYS) <= set(row), row
        assert row["backend"] == "postgresql" and row["data_size"] == 10_000
        assert row["product"] > 0, row
        assert isinstance(row["met"], bool), row
        assert row["cpu_ms_per_req_service"] > 0 and row["cpu_ms_per_req_postgres"] > 0, row
        assert "wrk -t" in row["notes"], row
    for name in HTTP_THROUGHPUT:
        row = by_name[name]
        assert row["unit"] == "req/s" and row["goal"] == ">=0.5x"
        assert row["reference"] > 0
        assert row["ratio"] == pytest.approx(row["product"] / row["reference"], rel=0.02)
        assert "errors" not in row["notes"], row  # every request answered 2xx
    for name in HTTP_SEARCH:
        row = by_name[name]
        assert row["unit"] == "ms" and row["reference"] is None and row["ratio"] is None
        assert row["goal"] in ("<=50 ms", "<=300 ms")


# -- run.py: collecting rows, skips, carrying rows over --------------------------------------
def test_run_script_collects_rows_and_a_skip_reason(tmp_path, capsys):
    import run

    script = tmp_path / "bench_fake.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / 'bench')!r})\n"
        "import harness\n"
        "harness.emit(harness.make_row('fake.req_s', 'req/s', 10, reference=20, goal='>=0.5x'))\n"
        "print('BENCH_SKIP kafka part: no broker')\n")
    result = run.run_script(script, ["--smoke"], timeout=60)
    assert result["returncode"] == 0 and result["rows"] == 1
    assert result["skipped"] == "kafka part: no broker"
    (row,) = result["_rows"]
    assert row["name"] == "fake.req_s" and row["ratio"] == 0.5 and row["met"] is True
    assert row["script"] == "bench_fake.py"
    assert "fake.req_s" in capsys.readouterr().out  # the script's output is echoed


def test_only_some_scripts_carry_the_other_rows_over_from_latest(tmp_path):
    import run

    header = {"started_at": "2026-12-01T10:00:00+00:00"}
    rows = [harness.make_row("a.x", "ms", 1) | {"script": "bench_a.py"},
            harness.make_row("b.x", "ms", 2) | {"script": "bench_b.py"}]
    (tmp_path / "latest.json").write_text(json.dumps({"header": header, "rows": rows}))
    kept = run.carried_over(tmp_path, {"bench_a.py"})
    assert [r["name"] for r in kept] == ["b.x"]
    assert kept[0]["carried_over_from"] == header["started_at"]
