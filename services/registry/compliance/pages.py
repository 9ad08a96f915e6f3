"""The secretariat's compliance dashboard (issue 9): ``/secretariat/compliance`` — the
published initiatives counted by reporting light (green, yellow, red = inactive; UN DESA's
rule, ``registry.compliance.rule``), and the yellow and red ones listed with their anchor,
due date and last reminder, filterable by the lead's stakeholder group, M49 region and SDG;
``POST /secretariat/compliance/<initiative id>/remind`` sends the owner organisation a
reminder now (``registry.compliance.service.send_reminder_now``).

Server-rendered, no JavaScript (filters are a GET form, "send reminder now" a one-button
POST form with its CSRF token); the data comes from ``registry.compliance.service.dashboard``,
which authorizes (the secretariat only).
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime, time
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from registry import db
from registry.authz.routes import sign_in_response
from shared import reference
from shared.config import number
from shared.events.types import REPORTING_STATUSES
from shared.i18n import region_name, stakeholder_group_label
from shared.identity.web import current_principal
from shared.problems import DomainError, NotAllowed, NotFound, Unauthenticated

bp = Blueprint("compliance_pages", __name__)

PER_PAGE = 50
#: The lists the dashboard shows (green initiatives are only counted).
LISTED = ("yellow", "red")


class RemindForm(FlaskForm):
    """"Send reminder now": the CSRF token only."""


def _refused(message: str, status: int):
    return render_template("progress/refused.html", message=message), status


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError):
    """A refusal of the service, as a page (never a 500)."""
    db.session().rollback()
    if isinstance(exc, Unauthenticated):
        return sign_in_response()
    if isinstance(exc, NotFound):
        return render_template("not_found.html", message=_(
            "That no longer exists, or you may not see it.")), 404
    if isinstance(exc, NotAllowed):
        return _refused(_("Only the secretariat may see this page."), 403)
    return _refused(_("That cannot be done now."), exc.status)


def _filters() -> dict[str, Any]:
    """The dashboard's filters from the query string; unknown values are ignored."""
    args = request.args
    status = args.get("status") or None
    group = args.get("stakeholder_group") or None
    region = args.get("region") or None
    sdg_text = (args.get("sdg") or "")[:3]
    as_of_text = (args.get("as_of") or "")[:10]
    try:
        as_of = date.fromisoformat(as_of_text) if as_of_text else None
    except ValueError:
        as_of = None
    try:
        page = max(1, min(100_000, int((args.get("page") or "1")[:6])))
    except ValueError:
        page = 1
    return {
        "status": status if status in LISTED else None,
        "stakeholder_group": group if group in reference.STAKEHOLDER_GROUPS else None,
        "region": region if region in reference.regions() else None,
        "sdg": int(sdg_text) if sdg_text.isdigit() and 1 <= int(sdg_text) <= 17 else None,
        "as_of": as_of,
        "page": page,
    }


def _moment(day: date | None) -> datetime | None:
    """The end of ``day`` (UTC), the dashboard's "as of" moment (None: now)."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC) if day else None


@bp.get("/secretariat/compliance")
def dashboard():
    """Counts by reporting light, and the yellow and red initiatives (oldest anchor first),
    filterable by ``status`` (yellow, red), ``stakeholder_group``, ``region`` (M49 code),
    ``sdg`` (1-17) and ``as_of`` (a past date: the lights as they were); ``page``."""
    from registry.compliance import service as compliance

    principal = current_principal()
    if not principal.is_authenticated:
        return sign_in_response()
    if not principal.is_staff:
        return _refused(_("Only the secretariat may see this page."), 403)
    chosen = _filters()
    result = compliance.dashboard(db_session=db.session(), principal=principal,
                                  as_of=_moment(chosen["as_of"]), status=chosen["status"],
                                  stakeholder_group=chosen["stakeholder_group"],
                                  region=chosen["region"], sdg=chosen["sdg"],
                                  page=chosen["page"], per_page=PER_PAGE)
    rows = result["rows"]
    total = result["total"]
    regions = sorted(reference.regions().values(), key=lambda r: (r.code != "001", r.code))
    return render_template(
        "compliance/dashboard.html", counts=result.get("counts") or {}, rows=rows,
        total=total, pages=max(1, math.ceil(total / PER_PAGE)), chosen=chosen,
        statuses=REPORTING_STATUSES, listed=LISTED,
        groups=[(code, stakeholder_group_label(code)) for code in reference.STAKEHOLDER_GROUPS],
        regions=[(r.code, region_name(r.code)) for r in regions],
        goals=list(range(1, 18)), remind_form=RemindForm(formdata=None),
        yellow_months=int(number("REPORTING_YELLOW_MONTHS")),
        red_months=int(number("REPORTING_RED_MONTHS")))


@bp.post("/secretariat/compliance/<uuid:initiative_id>/remind")
def remind(initiative_id: uuid.UUID):
    """Send the owner organisation's members a reminder now (``send_reminder_now``: a
    ``manual`` reminder, any number of times); back to the dashboard with its filters."""
    from registry.compliance import service as compliance

    principal = current_principal()
    if not principal.is_authenticated:
        return sign_in_response()
    form = RemindForm()
    if not form.validate_on_submit():
        return render_template("errors/csrf.html"), 400
    session = db.session()
    compliance.send_reminder_now(db_session=session, principal=principal,
                                 initiative_id=initiative_id)
    session.commit()
    flash(_("Reminder sent to the owner organisation."), "success")
    back = request.form.get("back") or ""
    if not back.startswith("/secretariat/compliance") or "//" in back:
        back = url_for(".dashboard")
    return redirect(back, 303)
