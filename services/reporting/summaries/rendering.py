"""The three renderings of a :class:`~reporting.summaries.service.Summary`: JSON, CSV, HTML.

Used by the API (``/api/v1/reports/summary[.csv|.html]``) and by ``reporting summary``, so a
file and a download of the same moment are identical.

* JSON — :class:`~reporting.summaries.schemas.SummarySchema`, UTF-8.
* CSV — RFC 4180, UTF-8, a header row ``dimension,key,label,count``; one ``total`` row, then
  the rows of ``sdg_goal``, ``region``, ``stakeholder_group``, ``reporting_status``,
  ``status`` in the JSON's order.
  Labels are the goals' short titles, the regions' names, the stakeholder groups' labels and
  the statuses in words. Cells starting with ``= + - @`` or a tab / CR are prefixed with ``'``
  (OWASP "CSV injection"): keys such as stakeholder group codes come from events. The time the
  summary was computed is not a row (it is in the JSON and the HTML) so ``count`` stays an
  integer column.
* HTML — tables with a bar per row (an SVG rectangle, no inline style), scaled to the largest
  count of that table; autoescaped (Jinja2). Two forms from the same tables
  (``templates/reports/summary_tables.html``):

  - the page ``GET /api/v1/reports/summary.html`` (:func:`render_html_page`): on the shared
    layout, in the request's language (goal titles, region names from the reference data,
    stakeholder groups and statuses from the catalogues, numbers and the time by Babel);
  - the self-contained file of ``reporting summary --format html`` (:func:`render_html`):
    inline CSS (the shared stylesheet), no script, no external resource, English.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from babel.dates import format_datetime as babel_format_datetime
from babel.numbers import format_decimal as babel_format_decimal
from flask import render_template
from flask_babel import gettext
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from reporting.readmodel.models import UNSPECIFIED_REGION
from reporting.summaries.schemas import SummarySchema
from reporting.summaries.service import UNSPECIFIED_STAKEHOLDER_GROUP, Summary
from shared import i18n
from shared.reference import STAKEHOLDER_GROUPS, goals, regions

FORMATS = ("json", "csv", "html")
MEDIA_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8",
               "html": "text/html; charset=utf-8"}
CSV_HEADER = ("dimension", "key", "label", "count")



def N_(message: str) -> str:  # noqa: N802 (gettext's marker name)
    """Mark ``message`` for extraction (translated where it is shown)."""
    return message


#: Workflow statuses in words, one per code of ``shared.events.types.INITIATIVE_STATUSES``
#: (issue 8 added the lifecycle after publication: completion, archive, withdrawal,
#: suspension); a code outside it is shown as is.
STATUS_LABELS = {"draft": N_("Draft"), "submitted": N_("Submitted"),
                 "changes_requested": N_("Changes requested"), "published": N_("Published"),
                 "rejected": N_("Rejected"), "completion_declared": N_("Completion declared"),
                 "completed": N_("Completed"), "archived": N_("Archived"),
                 "withdrawn": N_("Withdrawn"), "suspended": N_("Suspended")}
#: The reporting light in words (issue 9; ``shared.events.types.REPORTING_STATUSES``).
REPORTING_STATUS_LABELS = {"green": N_("Green: reported on time"),
                           "yellow": N_("Yellow: progress report overdue"),
                           "red": N_("Red: inactive, no report for two years")}
UNSPECIFIED_GROUP_LABEL = N_("Unspecified (no lead organisation)")
UNSPECIFIED_REGION_LABEL = N_("Unspecified")

_TEMPLATES = Path(__file__).parent / "templates"
_SHARED_STATIC = Path(i18n.__file__).parent / "static"

#: The self-contained file's environment (English, no request): same tables as the page.
_env = Environment(loader=ChoiceLoader([FileSystemLoader(_TEMPLATES)]),
                   autoescape=select_autoescape(default=True, default_for_string=True),
                   trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.i18n"])
_env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
_env.filters["decimalformat"] = lambda n: babel_format_decimal(n, locale="en")


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
        return UNSPECIFIED_GROUP_LABEL
    group = STAKEHOLDER_GROUPS.get(code)
    return group.label if group else code


def status_label(code: str) -> str:
    """A workflow status in words (``changes_requested`` -> ``Changes requested``)."""
    return STATUS_LABELS.get(code, code)


def reporting_status_label(code: str) -> str:
    """The reporting light in words (``yellow`` -> ``Yellow: progress report overdue``)."""
    return REPORTING_STATUS_LABELS.get(code, code)


def _region_codes_by_english_name() -> dict[str, str]:
    return {r.name_en: code for code, r in regions().items() if r.level in ("world", "region")}


def localized_label(dimension: str, key: str) -> str:
    """The label of one row in the current language (request locale; English outside one):
    goal short titles and M49 region names from the reference data, stakeholder groups and
    statuses from the catalogues."""
    if dimension == "sdg_goal":
        return i18n.goal_label(key)
    if dimension == "region":
        if key == UNSPECIFIED_REGION:
            return gettext(UNSPECIFIED_REGION_LABEL)
        code = _region_codes_by_english_name().get(key)
        return i18n.region_name(code) if code else key
    if dimension == "stakeholder_group":
        if key == UNSPECIFIED_STAKEHOLDER_GROUP:
            return gettext(UNSPECIFIED_GROUP_LABEL)
        return i18n.stakeholder_group_label(key)
    if dimension == "status":
        return gettext(STATUS_LABELS[key]) if key in STATUS_LABELS else key
    if dimension == "reporting_status":
        return gettext(REPORTING_STATUS_LABELS[key]) if key in REPORTING_STATUS_LABELS else key
    return key


#: (dimension, Summary attribute, English label function, HTML heading msgid)
SECTIONS = (
    ("sdg_goal", "by_sdg_goal", goal_label, N_("Published initiatives by SDG goal")),
    ("region", "by_region", str, N_("Published initiatives by region (UN M49)")),
    ("stakeholder_group", "by_stakeholder_group", stakeholder_group_label,
     N_("Published initiatives by stakeholder group of the lead organisation")),
    ("reporting_status", "by_reporting_status", reporting_status_label,
     N_("Published initiatives by reporting status")),
    ("status", "by_status", status_label, N_("All initiatives by workflow status")),
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


def _html_context(summary: Summary) -> dict:
    sections = []
    for dimension, attr, _label, heading in SECTIONS:
        counts: dict[str, int] = getattr(summary, attr)
        largest = max(counts.values(), default=0)
        sections.append({
            "dimension": dimension, "heading": gettext(heading),
            "rows": [{"key": key, "label": localized_label(dimension, key), "count": count,
                      "percent": round(100 * count / largest, 1) if largest else 0.0}
                     for key, count in counts.items()],
        })
    return {"summary": summary, "generated_at": summary_dict(summary)["generated_at"],
            "sections": sections}


def render_html(summary: Summary) -> str:
    """The summary as a self-contained HTML file, in English (see the module docstring)."""
    context = _html_context(summary)
    context["generated_label"] = babel_format_datetime(summary.generated_at, "medium",
                                                       tzinfo=None, locale="en")
    context["stylesheet"] = (_SHARED_STATIC / "site.css").read_text(encoding="utf-8")
    return _env.get_template("reports/summary_standalone.html").render(**context)


def render_html_page(summary: Summary) -> str:
    """The summary page on the shared layout, in the request's language (needs a request
    context of the reporting app)."""
    from flask_babel import format_datetime

    context = _html_context(summary)
    context["generated_label"] = format_datetime(summary.generated_at, "medium")
    return render_template("reports/summary.html", **context)


def render(summary: Summary, fmt: str) -> str:
    """``summary`` in ``fmt`` (one of :data:`FORMATS`); ``ValueError`` for another format."""
    renderers = {"json": render_json, "csv": render_csv, "html": render_html}
    if fmt not in renderers:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return renderers[fmt](summary)
