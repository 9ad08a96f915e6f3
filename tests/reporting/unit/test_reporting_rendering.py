"""CSV and HTML renderings of the summary: labels, escaping, and the endpoints serving them;
no request input ever makes the reports API answer 500."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest

from reporting.summaries.rendering import CSV_HEADER, render, render_csv, render_html
from reporting.summaries.service import Summary
from shared.events.types import INITIATIVE_STATUSES
from shared.reference import STAKEHOLDER_GROUPS

HOSTILE_GROUP = '<script>alert("x")</script>&'
FORMULA_GROUP = "=HYPERLINK(\"http://evil.example\",\"click\")"


def _summary(**over) -> Summary:
    groups = {code: 0 for code in STAKEHOLDER_GROUPS}
    groups.update({"ngo": 2, HOSTILE_GROUP: 1, FORMULA_GROUP: 1, "unspecified": 1})
    values = dict(
        total=5,
        by_sdg_goal={**{str(g): 0 for g in range(1, 18)}, "14": 5, "13": 2},
        by_region={"Africa": 3, "Americas": 0, "Asia": 1, "Europe": 0, "Oceania": 2,
                   "World": 1},
        by_stakeholder_group=groups,
        by_status={**dict.fromkeys(INITIATIVE_STATUSES, 0), "published": 5, "draft": 7,
                   "changes_requested": 1},
        generated_at=datetime(2026, 11, 23, 19, 40, 0, tzinfo=UTC),
    )
    values.update(over)
    return Summary(**values)


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_has_a_header_and_one_row_per_count_with_labels():
    text = render_csv(_summary())
    rows = _csv_rows(text)

    assert text.splitlines()[0] == ",".join(CSV_HEADER)
    assert rows[0] == {"dimension": "total", "key": "published",
                       "label": "Published initiatives", "count": "5"}
    goal_rows = [r for r in rows if r["dimension"] == "sdg_goal"]
    assert [r["key"] for r in goal_rows] == [str(g) for g in range(1, 18)]
    assert {"dimension": "sdg_goal", "key": "14", "label": "Life below water",
            "count": "5"} in goal_rows
    assert {"dimension": "region", "key": "World", "label": "World", "count": "1"} in rows
    assert {"dimension": "stakeholder_group", "key": "ngo",
            "label": "Non-governmental organization (NGO)", "count": "2"} in rows
    assert {"dimension": "status", "key": "changes_requested", "label": "Changes requested",
            "count": "1"} in rows
    assert all(r["count"].isdigit() for r in rows)
    assert {"dimension": "reporting_status", "key": "yellow",
            "label": "Yellow: progress report overdue", "count": "0"} in rows
    # + the three lights (issue 9)
    assert len(rows) == 1 + 17 + 6 + len(STAKEHOLDER_GROUPS) + 3 + 3 + len(INITIATIVE_STATUSES)


def test_csv_neutralises_cells_a_spreadsheet_would_run_as_formulas():
    rows = _csv_rows(render_csv(_summary()))

    [row] = [r for r in rows if "HYPERLINK" in r["key"]]
    assert row["key"] == "'" + FORMULA_GROUP and row["label"] == "'" + FORMULA_GROUP
    assert not any(r["key"].startswith(("=", "+", "-", "@")) for r in rows)


def test_html_escapes_what_came_from_events_and_is_self_contained():
    page = render_html(_summary())

    assert "<script" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", page)
    assert "<link" not in page
    assert "<style>" in page
    assert "Life below water" in page and "Non-governmental organization (NGO)" in page
    assert '<time datetime="2026-11-23T19:40:00+00:00">' in page


def test_html_bars_scale_to_the_largest_count_of_each_table():
    page = render_html(_summary())
    goals = page.split('id="sdg_goal"')[1].split("</section>")[0]

    assert 'width="100.0%"' in goals  # goal 14, the largest
    assert 'width="40.0%"' in goals  # goal 13: 2 of 5
    assert goals.count('class="zero"') == 15
    assert "style=" not in page.split("</style>")[1]  # bars are SVG: no inline style (CSP)


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="unknown format"):
        render(_summary(), "pdf")


def test_csv_and_html_endpoints(reporting_app, publish, make_snapshot):
    publish(make_snapshot(goals=[14], stakeholder_group=HOSTILE_GROUP))
    client = reporting_app.test_client()

    csv_response = client.get("/api/v1/reports/summary.csv")
    html_response = client.get("/api/v1/reports/summary.html")

    assert csv_response.status_code == 200
    assert csv_response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(r'inline; filename="partnership-registry-summary-\d{8}T\d{6}Z\.csv"',
                        csv_response.headers["Content-Disposition"])
    rows = _csv_rows(csv_response.get_data(as_text=True))
    assert {"dimension": "sdg_goal", "key": "14", "label": "Life below water",
            "count": "1"} in rows
    assert html_response.status_code == 200
    assert html_response.headers["Content-Type"] == "text/html; charset=utf-8"
    page = html_response.get_data(as_text=True)
    assert "<script" not in page and "&lt;script&gt;" in page


@pytest.mark.parametrize("path", [
    "/api/v1/reports/summary?format=%ff%fe&x=1&x=2",
    "/api/v1/reports/summary?" + "a" * 8000,
    "/api/v1/reports/summary.csv?%zz=%",
    "/api/v1/reports/summary.html?q=<script>",
    "/api/v1/reports/summary.pdf",
    "/api/v1/reports/summary/",
    "/api/v1/reports/%ff",
    "/api/v1/reports/summary.json/../../etc/passwd",
])
def test_bad_request_input_never_gives_a_500(reporting_app, path):
    response = reporting_app.test_client().get(path)

    assert response.status_code < 500
    if response.status_code >= 400:
        assert response.headers["Content-Type"].startswith("application/problem+json")


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_the_reports_are_read_only(reporting_app, method):
    response = getattr(reporting_app.test_client(), method)("/api/v1/reports/summary",
                                                            data=b"\xff{", )

    assert response.status_code == 405


def test_summary_page_is_on_the_layout_in_the_request_language(reporting_app, publish,
                                                               make_snapshot):
    publish(make_snapshot(goals=[14]))
    client = reporting_app.test_client()

    page = client.get("/api/v1/reports/summary.html",
                      headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)

    assert '<html lang="zh-Hans" dir="ltr">' in page and '<main id="main"' in page
    assert "水下生物" in page and "非洲" in page and "非政府组织" in page and "已发布" in page
    assert "按可持续发展目标分列的已发布倡议" in page
    assert "<style" not in page and "style=" not in page and "<script" not in page
    english = client.get("/api/v1/reports/summary.html?lang=en").get_data(as_text=True)
    assert "Life below water" in english and "Africa" in english
