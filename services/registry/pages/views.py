"""Public pages: ``/`` (search, SDG filter, pagination), ``/initiatives/<public id>`` (the
approved content, its state, approved version, last update, the public part of its thread and
a banner for completed, completion-declared, withdrawn and archived records),
``/initiatives/<public id>/versions`` (every approved version),
``/initiatives/<public id>/diff?from=&to=`` (what changed between two versions) and
``/initiatives/<public id>/progress`` (the progress tab: the reporting traffic light, the
timeline of approved progress reports and SVG charts of progress and indicator actuals).

Plain server-rendered HTML on the shared layout (``base.html``), in the request's language
(``shared.i18n``); Jinja2 autoescapes everything users wrote. The public sees what anyone may
see (published, completion declared, completed, withdrawn, archived), always as the anonymous
public, through the same service functions as the API.
"""

from __future__ import annotations

import math

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import NotFound as HTTPNotFound

from registry import db
from registry.initiatives import service
from registry.pages.labels import register_labels
from shared import reference
from shared.config import number
from shared.identity import ANONYMOUS
from shared.problems import NotFound, problem

bp = Blueprint("pages", __name__, template_folder="templates")
register_labels(bp)

PER_PAGE = 20


def _int_arg(name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.args.get(name, "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        return default
    return value if lo <= value <= hi else default


@bp.app_errorhandler(404)
def not_found(exc):
    """An HTML 404 for page URLs; API paths keep their problem+json answer."""
    if request.path.startswith("/api/"):
        return problem(404, "Not Found", getattr(exc, "description", None))
    description = getattr(exc, "description", None)
    if not isinstance(description, str) or description == HTTPNotFound.description:
        description = _("There is no page at this address.")
    return render_template("not_found.html", message=description), 404


@bp.get("/")
def index():
    """The published registry: search box, SDG filter, pagination."""
    q = (request.args.get("q") or "").strip()[:200] or None
    sdg = _int_arg("sdg", None, 1, 17)
    page = _int_arg("page", 1, 1, 100_000) or 1
    # the reporting light (issue 9): ?reporting_status=green|yellow|red (others ignored)
    light = request.args.get("reporting_status")
    light = light if light in ("green", "yellow", "red") else None
    result = service.search_initiatives(db_session=db.session(), principal=ANONYMOUS,
                                        status="published", q=q, sdg=sdg, page=page,
                                        per_page=PER_PAGE, reporting_status=light)
    items, total = result.items, result.total
    pages = max(1, math.ceil(total / PER_PAGE))
    return render_template("index.html", items=items, total=total,
                           total_is_estimate=result.total_is_estimate, q=q or "", sdg=sdg,
                           page=page, pages=pages, goals=reference.goals(),
                           reporting_status=light)


def _public_initiative(public_id: str):
    """The initiative as the public sees it; 404 (HTML) when absent or not public."""
    try:
        return service.get_initiative(db_session=db.session(), principal=ANONYMOUS,
                                      public_id=public_id[:20])
    except NotFound:
        abort(404, description=_("No published initiative %(public_id)s.",
                                 public_id=public_id[:20]))


def _public_thread(initiative_id) -> list:
    """The public entries of the initiative's thread, oldest first (what anyone may see:
    ``registry.workflow.thread.initiative_thread`` as the anonymous public)."""
    from registry.workflow.thread import initiative_thread

    return [e for e in initiative_thread(db_session=db.session(), principal=ANONYMOUS,
                                         initiative_id=initiative_id)
            if e.visibility == "public"]


@bp.get("/initiatives/<public_id>")
def initiative(public_id: str):
    """One public initiative: its approved content, state, approved version, last update,
    the public part of its thread, and a banner when it is completed, declared complete,
    withdrawn or archived."""
    item = _public_initiative(public_id)
    entries = _public_thread(item.id)
    closing = next((e.body for e in reversed(entries)
                    if e.to_status == item.status and e.body), None)
    last_update = max((e.created_at for e in entries if e.created_at), default=None)
    if item.published_at and (last_update is None or item.published_at > last_update):
        last_update = item.published_at
    return render_template("initiative.html", item=item, entries=entries, closing=closing,
                           last_update=last_update, compliance=_compliance(item), tab="about")


def _compliance(item) -> dict | None:
    """The reporting traffic light of a public initiative as of now
    (``registry.compliance.service.compliance_of`` as the anonymous public: ``status``
    green/yellow/red or None, ``inactive``, ``anchor_on``, ``last_report_on``, ``yellow_on``,
    ``red_on``), None when the record has no light (not published / completion declared)."""
    from registry.compliance import service as compliance

    if item.status not in ("published", "completion_declared"):
        return None
    found = compliance.compliance_of(db_session=db.session(), principal=ANONYMOUS,
                                     initiative_id=item.id)
    return found if found and found.get("status") else None


def _progress_charts(series: dict) -> tuple[object | None, list[dict]]:
    """The progress chart and one chart per indicator with actuals, from
    ``registry.progress.service.progress_series``."""
    from registry.pages.charts import line_chart

    progress = series.get("progress") or []
    chart = line_chart(progress, percent=True, title=_("Progress over time"), description=_(
        "Progress in percent reported in each approved progress report, by date of the "
        "report.")) if progress else None
    indicators = []
    for ind in series.get("indicators") or []:
        actuals = ind.get("actuals") or []
        if not actuals:
            continue
        unit = ind.get("unit") or ""
        indicators.append({"indicator": ind, "chart": line_chart(
            actuals, title=ind.get("title") or "", description=_(
                "Actual values of the indicator %(title)s (%(unit)s) by end of period, with "
                "its baseline and target.", title=ind.get("title") or "", unit=unit or "—"),
            percent=False, baseline=ind.get("baseline_value"), target=ind.get("target_value"),
            baseline_label=_("Baseline"), target_label=_("Target"))})
    return chart, indicators


@bp.get("/initiatives/<public_id>/progress")
def initiative_progress(public_id: str):
    """The progress tab of a public initiative: its reporting traffic light (green, yellow,
    red = inactive; UN DESA's rule), the timeline of its approved progress reports (newest
    first) and server-rendered SVG charts of progress and of each indicator's actual values
    over time (``registry.progress.service.progress_series``), with the numbers as tables."""
    from registry.progress import service as progress
    from registry.progress.pages import _deliverable_rows

    item = _public_initiative(public_id)
    session = db.session()
    reports = [r for r in progress.list_reports(db_session=session, principal=ANONYMOUS,
                                                initiative_id=item.id)
               if getattr(r, "status", "approved") == "approved"]
    reports.sort(key=lambda r: (r.reported_on or r.approved_at or r.number, r.number),
                 reverse=True)
    series = progress.progress_series(db_session=session, initiative_id=item.id)
    chart, indicator_charts = _progress_charts(series)
    indicators = {str(i.get("id")): i for i in series.get("indicators") or []}
    timeline = []
    for report in reports:
        values = []
        for v in getattr(report, "indicator_values", None) or []:
            ind = indicators.get(str(v.get("indicator_id") if isinstance(v, dict)
                                     else v.indicator_id))
            if ind is not None:
                values.append({"id": ind.get("id"), "indicator": ind,
                               "value": v.get("value") if isinstance(v, dict) else v.value,
                               "comment": v.get("comment") if isinstance(v, dict)
                               else v.comment})
        timeline.append({"report": report, "actuals": values,
                         "deliverables": [d for d in _deliverable_rows(item, report)
                                          if d["note"] or any(
                                              str(u.get("deliverable_id") if isinstance(
                                                  u, dict) else u.deliverable_id) == d["id"]
                                              for u in report.deliverable_updates or [])]})
    return render_template("initiative_progress.html", item=item, tab="progress",
                           compliance=_compliance(item), timeline=timeline, chart=chart,
                           indicator_charts=indicator_charts,
                           progress_points=series.get("progress") or [],
                           yellow_months=int(number("REPORTING_YELLOW_MONTHS")),
                           red_months=int(number("REPORTING_RED_MONTHS")))


@bp.get("/initiatives/<public_id>/versions")
def initiative_versions(public_id: str):
    """Every approved version of a public initiative, newest first, with the fields each
    changed and links to the diff with the version before."""
    from registry.initiatives import versions

    item = _public_initiative(public_id)
    found = versions.list_versions(db_session=db.session(), principal=ANONYMOUS,
                                   initiative_id=item.id)
    found = sorted(found, key=lambda v: v.number, reverse=True)
    return render_template("initiative_versions.html", item=item, versions=found)


def _version_arg(name: str, errors: dict[str, str], numbers: list[int],
                 default: int | None) -> int | None:
    """The version number of query argument ``name`` (``default`` when absent); an error
    under ``name`` when it is not a number or not one of ``numbers``."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or len(raw) > 9:
        errors[name] = _("Give a version number.")
        return None
    value = int(raw)
    if value not in numbers:
        errors[name] = _("There is no version %(number)s.", number=value)
        return None
    return value


@bp.get("/initiatives/<public_id>/diff")
def initiative_diff(public_id: str):
    """What changed between two approved versions (``from``, ``to``: version numbers; by
    default the current version and the one before it, as the API), field by field, lists
    item by item. A non-numeric or unknown version answers 422 naming the field."""
    from registry.initiatives import versions

    item = _public_initiative(public_id)
    session = db.session()
    found = versions.list_versions(db_session=session, principal=ANONYMOUS,
                                   initiative_id=item.id)
    numbers = sorted(v.number for v in found)
    errors: dict[str, str] = {}
    end = _version_arg("to", errors, numbers, numbers[-1] if numbers else None)
    start = _version_arg("from", errors, numbers,
                         max((n for n in numbers if end is not None and n < end),
                             default=end))
    diff = None
    if not errors and start is not None and end is not None:
        diff = versions.diff_versions(db_session=session, principal=ANONYMOUS,
                                      initiative_id=item.id, from_=start, to=end)
    return render_template("initiative_diff.html", item=item, numbers=numbers, diff=diff,
                           errors=errors, start=start, end=end), 422 if errors else 200
