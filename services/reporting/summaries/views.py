"""``/api/v1/reports/summary`` in JSON, CSV and HTML: compute -> render. Public: aggregates of
published initiatives only (plus the count per workflow status)."""

from __future__ import annotations

from flask import Response, current_app
from flask_smorest import Blueprint

from reporting import db
from reporting.summaries.rendering import MEDIA_TYPES, render_csv, render_html_page
from reporting.summaries.schemas import SummarySchema
from reporting.summaries.service import Summary, SummaryCache, compute_summary

blp = Blueprint("reports", __name__, url_prefix="/api/v1/reports", template_folder="templates",
                description="Reports over the initiatives, built from the registry's events.")

_TEXT = {"schema": {"type": "string"}}


@blp.get("/summary")
@blp.response(200, SummarySchema)
def summary() -> Response:
    """Summary of published initiatives by SDG goal, region and stakeholder group, and of all
    initiatives by status."""
    summary_ = _current_summary()
    body = _cache().rendered(summary_, "json", lambda: current_app.json.dumps(
        SummarySchema().dump(summary_)) + "\n")  # as jsonify() would write it
    return Response(body, content_type="application/json")


def _cache() -> SummaryCache:
    return current_app.extensions["reporting_summary_cache"]


def _current_summary() -> Summary:
    """The summary via this process's :class:`SummaryCache` (the database only on a miss)."""
    return _cache().get(lambda: compute_summary(db_session=db.session()))


def _download(body: str, fmt: str, summary_: Summary) -> Response:
    stamp = summary_.generated_at.strftime("%Y%m%dT%H%M%SZ")
    response = Response(body, content_type=MEDIA_TYPES[fmt])
    response.headers["Content-Disposition"] = (
        f'inline; filename="partnership-registry-summary-{stamp}.{fmt}"')
    response.headers["Cache-Control"] = "no-cache"
    return response


@blp.get("/summary.csv")
@blp.doc(responses={"200": {"description": "CSV (UTF-8, header row): dimension,key,label,count",
                            "content": {"text/csv": _TEXT}}})
def summary_csv() -> Response:
    """The summary as CSV: one row per count, columns ``dimension,key,label,count``."""
    summary_ = _current_summary()
    return _download(_cache().rendered(summary_, "csv", lambda: render_csv(summary_)), "csv",
                     summary_)


@blp.get("/summary.html")
@blp.doc(responses={"200": {"description": "An HTML page with tables and charts, in the "
                                            "request's language",
                            "content": {"text/html": _TEXT}}})
def summary_html() -> Response:
    """The summary as a readable page in the request's language: tables with bar charts,
    goals by short title. Not kept in the rendering cache: it depends on the language and
    carries the language switcher's links to this URL."""
    summary_ = _current_summary()
    return _download(render_html_page(summary_), "html", summary_)
