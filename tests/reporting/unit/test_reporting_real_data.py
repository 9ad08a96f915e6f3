"""The summary over the first 300 real UN Ocean Conference commitments matches counts computed
straight from the file (embedded mode: in-process bus, SQLite)."""

from __future__ import annotations

import pytest

from reporting.summaries.service import compute_summary

pytestmark = pytest.mark.shared_data


def test_summary_of_real_commitments_matches_the_file(reporting_app, publish, ocean_snapshots,
                                                      ocean_expected):
    publish(*ocean_snapshots)

    with reporting_app.extensions["db_session_factory"]() as s:
        summary = compute_summary(db_session=s)

    assert summary.total == ocean_expected["total"] == 300
    assert summary.by_sdg_goal == ocean_expected["by_sdg_goal"]
    assert summary.by_sdg_goal["14"] == 300  # ocean commitments: every one is tagged 14
    expected_regions = {name: ocean_expected["by_region"].get(name, 0)
                        for name in ("Africa", "Americas", "Asia", "Europe", "Oceania")}
    expected_regions.update({k: v for k, v in ocean_expected["by_region"].items()
                             if k not in expected_regions})
    assert summary.by_region == expected_regions
    assert sum(summary.by_stakeholder_group.values()) == 300
    assert summary.by_status["published"] == 300
