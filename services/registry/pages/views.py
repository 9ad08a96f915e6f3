"""Public pages: ``/`` (search, SDG filter, pagination) and ``/initiatives/<public id>``.

Plain server-rendered HTML on the shared layout (``base.html``), in the request's language
(``shared.i18n``); Jinja2 autoescapes everything users wrote. Only published initiatives are
shown, through the same service functions as the API.
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
    result = service.search_initiatives(db_session=db.session(), principal=ANONYMOUS,
                                        status="published", q=q, sdg=sdg, page=page,
                                        per_page=PER_PAGE)
    items, total = result.items, result.total
    pages = max(1, math.ceil(total / PER_PAGE))
    return render_template("index.html", items=items, total=total,
                           total_is_estimate=result.total_is_estimate, q=q or "", sdg=sdg,
                           page=page, pages=pages, goals=reference.goals())


@bp.get("/initiatives/<public_id>")
def initiative(public_id: str):
    """One published initiative."""
    try:
        item = service.get_initiative(db_session=db.session(), principal=ANONYMOUS,
                                      public_id=public_id[:20])
    except NotFound:
        abort(404, description=_("No published initiative %(public_id)s.",
                                 public_id=public_id[:20]))
    return render_template("initiative.html", item=item)
