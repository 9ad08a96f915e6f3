"""Full-data tests skip on a clone without ``../shared/data`` even under ``CI=true`` (a user's
CI), and fail there only when ``REQUIRE_SHARED_DATA`` says the data must be present (this
project's ``.ci/run``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("env, outcome", [({"CI": "true"}, "1 skipped"),
                                          ({"CI": "true", "REQUIRE_SHARED_DATA": "1"},
                                           "1 error")])
def test_full_data_tests_need_the_data_only_when_required(tmp_path, env, outcome):
    clone = tmp_path / "clone"  # ../shared/data does not exist beside it
    (clone / "tests").mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "conftest.py", clone / "tests" / "conftest.py")
    shutil.copy(ROOT / "pyproject.toml", clone / "pyproject.toml")
    (clone / "tests" / "test_full.py").write_text(
        "def test_full(shared_data):\n    assert shared_data.is_dir()\n", encoding="utf-8")
    run_env = {k: v for k, v in os.environ.items()
               if k not in ("CI", "REQUIRE_SHARED_DATA")} | env
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "tests/test_full.py"], cwd=clone, env=run_env,
                            capture_output=True, text=True, timeout=120)
    assert outcome in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]
