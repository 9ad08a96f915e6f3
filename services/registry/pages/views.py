"""Public pages: ``/`` (search, SDG filter, pagination), ``/initiatives/<public id>`` (the
approved content, its state, approved version, last update, the public part of its thread and
a banner for completed, completion-declared, withdrawn and archived records),
``/initiatives/<public id>/versions`` (every approved version) and
``/initiatives/<public id>/diff?from=&to=`` (what changed between two versions).

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
                           last_update=last_update)


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
