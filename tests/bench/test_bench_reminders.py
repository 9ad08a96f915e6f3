"""The reminder fan-out benchmark does not rot (issue 9, "Benchmarks"): a CI-sized run of
``bench/run.py --smoke --only reminders`` on the real PostgreSQL, against postfix's
``smtp-sink`` (the bench installs it when missing), gives one well-formed row: e-mails/s of
one notifier process beside the bare smtplib loop, with CPU per e-mail.

The smoke writes to a temporary folder, never to ``bench/results``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import bench_reminders  # noqa: E402
import harness  # noqa: E402


@pytest.fixture(scope="module")
def smoke_run(pg_admin_url, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    results = tmp_path_factory.mktemp("bench-results")
    env = dict(os.environ, TEST_PG_ADMIN_URL=pg_admin_url)
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--only",
                           "reminders", "--results-dir", str(results)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=280)
    if "BENCH_SKIP" in proc.stdout:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("smtp-sink (Debian's postfix) could not be installed", pytrace=False)
        pytest.skip("smtp-sink (Debian's postfix) is not installed and could not be")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return results, proc


def test_smoke_row_is_well_formed_with_positive_figures(smoke_run):
    rows = json.loads((smoke_run[0] / "latest.json").read_text())["rows"]

    (row,) = rows
    assert set(harness.ROW_KEYS) <= set(row), row
    assert row["name"] == "notifier.reminders.emails_per_s" and row["unit"] == "e-mails/s"
    assert row["backend"] == "postgresql" and row["data_size"] == 300
    assert row["product"] > 0 and row["reference"] > 0, row
    assert row["ratio"] == pytest.approx(row["product"] / row["reference"], rel=0.02)
    assert row["goal"] == ">=500 e-mails/s" and isinstance(row["met"], bool)
    assert row["cpu_ms_per_req_service"] > 0 and row["cpu_ms_per_req_postgres"] > 0, row
    assert "smtp-sink" in row["notes"]


def test_the_sink_counts_what_it_accepted():
    import smtplib

    exe = bench_reminders.smtp_sink_path(install=False)
    if exe is None:
        pytest.skip("smtp-sink is not installed (the smoke run installs it)")
    sink = bench_reminders.SmtpSink(exe)
    try:
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as smtp:
            for i in range(3):
                smtp.sendmail("a@example.org", [f"b{i}@example.org"],
                              b"Subject: x\r\n\r\nbody\r\n")
        assert sink.wait_for(3, timeout=10) and sink.count == 3
    finally:
        sink.close()
