"""The three renderings of a :class:`~reporting.summaries.service.Summary`: JSON, CSV, HTML.

Used by the API (``/api/v1/reports/summary[.csv|.html]``) and by ``reporting summary``, so a
file and a download of the same moment are identical.

* JSON — :class:`~reporting.summaries.schemas.SummarySchema`, UTF-8.
* CSV — RFC 4180, UTF-8, a header row ``dimension,key,label,count``; one ``total`` row, then
  the rows of ``sdg_goal``, ``region``, ``stakeholder_group``, ``status`` in the JSON's order.
  Labels are the goals' short titles, the regions' names, the stakeholder groups' labels and
  the statuses in words. Cells starting with ``= + - @`` or a tab / CR are prefixed with ``'``
  (OWASP "CSV injection"): keys such as stakeholder group codes come from events. The time the
  summary was computed is not a row (it is in the JSON and the HTML) so ``count`` stays an
  integer column.
* HTML — one self-contained page (inline CSS, no script, no external resource): tables with a
  bar per row, scaled to the largest count of that table. Autoescaped (Jinja2).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from reporting.summaries.schemas import SummarySchema
from reporting.summaries.service import UNSPECIFIED_STAKEHOLDER_GROUP, Summary
from shared.reference import STAKEHOLDER_GROUPS, goals

FORMATS = ("json", "csv", "html")
MEDIA_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8",
               "html": "text/html; charset=utf-8"}
CSV_HEADER = ("dimension", "key", "label", "count")

#: Workflow statuses in words (codes from ``shared.events.types.INITIATIVE_STATUSES``).
STATUS_LABELS = {"draft": "Draft", "submitted": "Submitted",
                 "changes_requested": "Changes requested", "published": "Published",
                 "rejected": "Rejected"}

_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True),
                   trim_blocks=True, lstrip_blocks=True)


@dataclass(frozen=True)
class Row:
    """One count of one breakdown: ``dimension`` (``sdg_goal``…), ``key``, ``label``, ``count``."""

    dimension: str
    key: str
    label: str
    count: int


def goal_label(key: str) -> str:
    """Short English title of SDG goal ``key`` (``"14"`` -> ``Life below water``)."""
    goal = goals().get(int(key)) if key.isdigit() else None
    return goal.short_title_en if goal else key


def stakeholder_group_label(code: str) -> str:
    """Label of a stakeholder group code; the code itself when outside the catalogue."""
    if code == UNSPECIFIED_STAKEHOLDER_GROUP:
        return "Unspecified (no lead organisation)"
    group = STAKEHOLDER_GROUPS.get(code)
    return group.label if group else code


def status_label(code: str) -> str:
    """A workflow status in words (``changes_requested`` -> ``Changes requested``)."""
    return STATUS_LABELS.get(code, code)


#: (dimension, Summary attribute, label function, HTML heading)
SECTIONS = (
    ("sdg_goal", "by_sdg_goal", goal_label, "Published initiatives by SDG goal"),
    ("region", "by_region", str, "Published initiatives by region (UN M49)"),
    ("stakeholder_group", "by_stakeholder_group", stakeholder_group_label,
     "Published initiatives by stakeholder group of the lead organisation"),
    ("status", "by_status", status_label, "All initiatives by workflow status"),
)


def rows(summary: Summary) -> Iterator[Row]:
    """Every count of ``summary`` as a :class:`Row`, the ``total`` first."""
    yield Row("total", "published", "Published initiatives", summary.total)
    for dimension, attr, label, _heading in SECTIONS:
        for key, count in getattr(summary, attr).items():
            yield Row(dimension, key, label(key), count)


def summary_dict(summary: Summary) -> dict:
    """The JSON object (``SummarySchema`` dump)."""
    return SummarySchema().dump(summary)


def render_json(summary: Summary) -> str:
    """The summary as a JSON document (keys in the summary's order, non-ASCII kept)."""
    return json.dumps(summary_dict(summary), ensure_ascii=False, indent=2) + "\n"


def _csv_cell(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def render_csv(summary: Summary) -> str:
    """The summary as CSV (see the module docstring), lines ending in CRLF per RFC 4180."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for row in rows(summary):
        writer.writerow((row.dimension, _csv_cell(row.key), _csv_cell(row.label), row.count))
    return out.getvalue()


def render_html(summary: Summary) -> str:
    """The summary as a self-contained HTML page (see the module docstring)."""
    sections = []
    for dimension, attr, label, heading in SECTIONS:
        counts: dict[str, int] = getattr(summary, attr)
        largest = max(counts.values(), default=0)
        sections.append({
            "dimension": dimension, "heading": heading,
            "rows": [{"key": key, "label": label(key), "count": count,
                      "percent": round(100 * count / largest, 1) if largest else 0.0}
                     for key, count in counts.items()],
        })
    return _env.get_template("summary.html").render(
        summary=summary, generated_at=summary_dict(summary)["generated_at"], sections=sections)


def render(summary: Summary, fmt: str) -> str:
    """``summary`` in ``fmt`` (one of :data:`FORMATS`); ``ValueError`` for another format."""
    renderers = {"json": render_json, "csv": render_csv, "html": render_html}
    if fmt not in renderers:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return renderers[fmt](summary)
