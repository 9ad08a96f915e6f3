"""The progress-report pages (issue 9): the partner's report form, its own page (draft,
submit, thread), the initiative's indicators, and the secretariat's review page of a report.

URL contract (HELPERS.md, issue 9):

* ``/my/initiatives/<id>/progress`` — the initiative's reports (any state) and a link to
  file a new one;
* ``/my/initiatives/<id>/progress/new`` — the report form (the reminders' one-click link):
  period, overall status (the UN platform's vocabulary), progress 0-100, one row per
  deliverable (status then and a note), one row per indicator (the actual value of the
  period), dated milestones, resources mobilised (amount and ISO 4217 currency), links and a
  narrative; saving creates a draft (leniently);
* ``/my/initiatives/<id>/progress/<n>`` — report ``n``: the same form while it is a draft
  or sent back for changes, else the report as filed; the thread (submission, the
  secretariat's decisions and their comments); submit (``…/submit``) and delete a draft
  (``…/delete``);
* ``/my/initiatives/<id>/indicators`` — declare, edit and delete the initiative's
  indicators (IATI result model: title, unit, measure, baseline and target, SDG indicator);
* ``/secretariat/review/progress/<report id>`` — the secretariat's review of a report:
  approve or request changes (``…/approve``, ``…/request-changes``), with the thread.

Every form is a Flask-WTF form (CSRF) posting to the service functions of the API
(``registry.progress.service``: ``create_report``, ``update_report``, ``report_action``,
``delete_draft``, the indicator functions), which authorize; each carries the record's
``version``, so a stale form answers 412 and changes nothing. No JavaScript: "add a row" and
"remove" are submit buttons.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from wtforms.fields.choices import SelectChoice

from registry import db
from registry.authz.permissions import Action, Aggregate, authorize, can
from registry.authz.routes import sign_in_response
from registry.progress.forms import (
    DecisionForm,
    DeleteForm,
    IndicatorForm,
    ReportCommentForm,
    ReportForm,
    SubmitReportForm,
)
from shared import reference
from shared.events.types import DELIVERABLE_STATUSES, INDICATOR_MEASURES, PROGRESS_STATUSES
from shared.identity import Principal
from shared.identity.web import current_principal
from shared.problems import (
    DomainError,
    InvalidTransition,
    NotAllowed,
    NotFound,
    PreconditionFailed,
    Unauthenticated,
    ValidationError,
    field_errors,
)

bp = Blueprint("progress_pages", __name__, static_folder="static",
               static_url_path="/static/progress")

#: The overall statuses the form offers (``inactive`` is kept on import only).
FORM_STATUSES = tuple(s for s in PROGRESS_STATUSES if s != "inactive")
#: Report states in which the owner edits the report.
EDITABLE = ("draft", "changes_requested")
#: The secretariat's decisions on a submitted report (``PROGRESS_REPORT_WORKFLOW``).
DECISIONS = ("approve", "request_changes")
#: Most rows of each repeated list a form takes.
MAX_ROWS = 100

PROGRESS_STATUS_LABELS = {
    "on_track": _l("On track"), "off_track": _l("Off track"), "completed": _l("Completed"),
    "financial_issues": _l("Financial issues"), "cancelled": _l("Cancelled"),
    "inactive": _l("Inactive"),
}
DELIVERABLE_STATUS_LABELS = {
    "planned": _l("Planned"), "in_progress": _l("In progress"), "achieved": _l("Achieved"),
    "delayed": _l("Delayed"), "cancelled": _l("Cancelled"),
}
MEASURE_LABELS = {
    "unit": _l("Unit (a count or an amount)"), "percentage": _l("Percentage"),
    "nominal": _l("Nominal (a category)"), "ordinal": _l("Ordinal (a rank)"),
    "qualitative": _l("Qualitative (text only)"),
}
REPORT_STATE_LABELS = {
    "draft": _l("Draft"), "submitted": _l("Submitted"),
    "changes_requested": _l("Changes requested"), "approved": _l("Approved"),
}
#: What an invalid value of each field is told, in the page's language (the service's
#: English details stay in the API).
FIELD_MESSAGES = {
    "period_start": _l("Give a date as YYYY-MM-DD."),
    "period_end": _l("Give a date as YYYY-MM-DD, not before the start of the period."),
    "overall_status": _l("Choose a status from the list."),
    "progress_percent": _l("Give a whole number from 0 to 100."),
    "narrative_html": _l("The narrative is too long."),
    "deliverable_updates": _l("Choose a status from the list (notes: at most 5,000 "
                              "characters)."),
    "indicator_values": _l("Give a number (digits, a point for decimals)."),
    "milestones": _l("Give a date (YYYY-MM-DD) and a title of at most 500 characters."),
    "resources_mobilised": _l("Give an amount from 0 (digits, at most 2 decimals) and a "
                              "currency from the list."),
    "links": _l("Give an address starting with http:// or https://."),
}


@bp.app_template_filter("clean_html")
def clean_html(value: str | None) -> Markup:
    """Jinja filter: a report's narrative as safe HTML (nh3, the same allow-list rules as the
    service applies when saving: basic formatting and http(s) links; again at display, so a
    row written by an older version or by hand cannot inject markup)."""
    import nh3

    cleaned = nh3.clean(value or "", url_schemes={"http", "https", "mailto"},
                        link_rel="nofollow noopener noreferrer")
    return Markup(cleaned)  # noqa: S704  # nosec B704 -- sanitised by nh3 just above


@bp.app_template_filter("to_date")
def to_date(value: Any) -> date | None:
    """Jinja filter: a date from a date or an ISO text (JSON columns keep dates as text)."""
    return _as_date(value)


@bp.app_template_filter("to_decimal")
def to_decimal(value: Any) -> Decimal | None:
    """Jinja filter: a Decimal from a number or its text (JSON columns keep amounts as
    text); None when it is not a number."""
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


# -- answers shared by every page ------------------------------------------------------------
def _principal_or_sign_in() -> tuple[Principal, Any]:
    principal = current_principal()
    if not principal.is_authenticated:
        return principal, sign_in_response()
    return principal, None


def _refused(message: str, status: int):
    return render_template("progress/refused.html", message=message), status


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError):
    """A refusal of the service, as a page in the request's language (never a 500)."""
    db.session().rollback()
    if isinstance(exc, Unauthenticated):
        return sign_in_response()
    if isinstance(exc, NotFound):
        return render_template("not_found.html", message=_(
            "That no longer exists, or you may not see it.")), 404
    if isinstance(exc, PreconditionFailed):
        return render_template("progress/stale.html", reload=request.path), 412
    if isinstance(exc, NotAllowed):
        detail = (exc.detail or "").lower()
        if "member of the owner" in detail or "four eyes" in detail:
            return _refused(_("You cannot decide: you are a member of the owner "
                              "organisation."), 403)
        return _refused(_("You may not do that."), 403)
    if isinstance(exc, InvalidTransition):
        return _refused(_("That cannot be done in the current state."), 409)
    if isinstance(exc, ValidationError):
        return _refused(_("Please check the form: %(fields)s.", fields=", ".join(
            str(e.get("field", "")) for e in exc.errors or [])), 422)
    return _refused(_("That cannot be done now."), exc.status)


def _csrf_refused():
    return render_template("errors/csrf.html"), 400


def _get(obj: Any, name: str, default: Any = None) -> Any:
    """``obj.name`` or ``obj[name]`` (views are objects, nested rows often dicts)."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _iso(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)[:10]


# -- service calls (registry.progress.service, registry.initiatives.service) -----------------
def _progress():
    from registry.progress import service

    return service


def _initiative(principal: Principal, initiative_id: uuid.UUID, *,
                private: bool = True, action: Action | None = None) -> Any:
    """The initiative as ``principal`` sees it (404 when absent or invisible); ``private``:
    only for whoever may see its private side (its owner organisation, the secretariat:
    ``view_private``, 403 otherwise); ``action``: only for whoever may take it now
    (``report_progress``, ``manage_indicators``: 403, or 409 in another state) — the route's
    row of ``registry.authz.routes``, checked first as the API does."""
    from registry.initiatives import service

    view = service.get_initiative(db_session=db.session(), principal=principal,
                                  initiative_id=initiative_id)
    if private or action is not None:
        authorize(principal, action or Action.VIEW_PRIVATE, view, Aggregate.INITIATIVE,
                  what="initiative")
    return view


def _reports(principal: Principal, initiative_id: uuid.UUID) -> list[Any]:
    return list(_progress().list_reports(db_session=db.session(), principal=principal,
                                         initiative_id=initiative_id))


def _report_by_number(principal: Principal, initiative_id: uuid.UUID, number: int) -> Any:
    """Report ``number`` of the initiative (404 when there is none the caller may see)."""
    return _progress().report_by_number(db_session=db.session(), principal=principal,
                                        initiative_id=initiative_id, number=number)


def _indicators(principal: Principal, initiative_id: uuid.UUID) -> list[Any]:
    return list(_progress().list_indicators(db_session=db.session(), principal=principal,
                                            initiative_id=initiative_id))


def _thread(principal: Principal, report: Any) -> list[Any]:
    """The report's thread as ``principal`` may see it (submission, decisions, comments)."""
    return list(_progress().report_thread(db_session=db.session(), principal=principal,
                                          report_id=_get(report, "id")))


def _allowed(principal: Principal, report: Any) -> set[str]:
    """The actions of the report's workflow ``principal`` may take now (``update``,
    ``discard``, ``comment``, ``submit``, ``approve``, ``request_changes``: the permission
    table, ``registry.progress.policy.allowed_actions``)."""
    from registry.progress.policy import allowed_actions

    return {str(a) for a in allowed_actions(principal, report)}


def load_report_data(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` loaded through the API's own input schema (``ProgressReportInputSchema``):
    one set of rules, two doors. ValidationError naming the fields otherwise."""
    from marshmallow import ValidationError as SchemaError

    from registry.progress.schemas import ProgressReportInputSchema

    try:
        return ProgressReportInputSchema().load(data)
    except SchemaError as exc:
        raise ValidationError("The progress report is not valid.",
                              errors=field_errors(exc.messages)) from exc


# -- labels and choices for the templates ----------------------------------------------------
def currency_choices() -> list[tuple[str, str]]:
    """``[(ISO 4217 code, "CODE — name in the page's language")]`` of the currencies in use
    today (CLDR's territory currencies without an end date; Babel), sorted by code."""
    from babel.core import get_global
    from babel.numbers import get_currency_name

    codes: set[str] = set()
    for entries in get_global("territory_currencies").values():
        for code, _start, end, tender in entries:
            if end is None and tender:
                codes.add(code)
    codes.discard("XXX")
    locale = get_locale() or "en"
    return [(c, f"{c} — {get_currency_name(c, locale=locale)}") for c in sorted(codes)]


def sdg_indicator_choices() -> list[SelectChoice]:
    """The 251 SDG indicators of the reference data, titled in the page's language."""
    zh = str(get_locale() or "en").startswith("zh")
    choices = [SelectChoice("", _("— none —"))]
    for code, indicator in reference.indicators().items():
        title = indicator.title_zh if zh and indicator.title_zh else indicator.title_en
        label = f"{code} — {title}"
        choices.append(SelectChoice(code, label[:140] + ("…" if len(label) > 140 else "")))
    return choices


def _helpers() -> dict[str, Any]:
    return {
        "progress_status_label": lambda s: str(PROGRESS_STATUS_LABELS.get(s, s or "—")),
        "deliverable_status_label": lambda s: str(DELIVERABLE_STATUS_LABELS.get(s, s or "—")),
        "measure_label": lambda s: str(MEASURE_LABELS.get(s, s or "—")),
        "report_state_label": lambda s: str(REPORT_STATE_LABELS.get(s, s or "—")),
    }


def _render(template: str, status: int = 200, **context: Any):
    return render_template(template, **_helpers(), **context), status


# -- the rows of the report form -------------------------------------------------------------
@dataclass
class Rows:
    """The report form's repeated rows as shown (values as text), the data they save, and
    the errors found while reading them (``{path: [message]}``, paths of the shown rows)."""

    deliverables: list[dict[str, Any]] = field(default_factory=list)
    indicators: list[dict[str, Any]] = field(default_factory=list)
    milestones: list[dict[str, Any]] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)
    #: saved list position -> shown row, per list
    positions: dict[str, list[int]] = field(default_factory=dict)

    def error(self, path: str, key: str) -> None:
        message = str(FIELD_MESSAGES[key])
        if message not in self.errors.get(path, []):
            self.errors.setdefault(path, []).append(message)


def _bounded(value: str | None, lo: int, hi: int) -> int:
    try:
        number = int(str(value or "0")[:6])
    except ValueError:
        return lo
    return max(lo, min(hi, number))


def _parse_date(text: str) -> tuple[str | None, bool]:
    text = text.strip()
    if not text:
        return None, True
    try:
        return date.fromisoformat(text).isoformat(), len(text) == 10
    except ValueError:
        return None, False


def _parse_decimal(text: str, *, places: int | None = None, negative: bool = True
                   ) -> tuple[str | None, bool]:
    """(decimal as text or None when blank, whether valid); thousands separators allowed."""
    text = text.strip().replace(",", "").replace(" ", "")
    if not text:
        return None, True
    if len(text) > 30:
        return None, False
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None, False
    exponent = value.as_tuple().exponent
    if not value.is_finite() or not isinstance(exponent, int):
        return None, False
    if (not negative and value < 0) or (places is not None and exponent < -places):
        return None, False
    return str(value), True


def _deliverable_rows(initiative: Any, report: Any | None) -> list[dict[str, Any]]:
    """One row per deliverable of the initiative: its description and due date, the status
    reported (the report's update, else the deliverable's current status) and the note."""
    updates = {str(_get(u, "deliverable_id")): u
               for u in (_get(report, "deliverable_updates") or [] if report else [])}
    rows = []
    for d in _get(initiative, "deliverables") or []:
        update = updates.get(str(_get(d, "id")))
        rows.append({"id": str(_get(d, "id")), "description": _get(d, "description") or "",
                     "due_date": _get(d, "due_date"),
                     "status": _get(update, "status") if update else (
                         _get(d, "status") or "planned"),
                     "note": (_get(update, "note") or "") if update else ""})
    return rows


def _indicator_rows(indicators: list[Any], report: Any | None) -> list[dict[str, Any]]:
    values = {str(_get(v, "indicator_id")): v
              for v in (_get(report, "indicator_values") or [] if report else [])}
    rows = []
    for indicator in indicators:
        value = values.get(str(_get(indicator, "id")))
        rows.append({"id": str(_get(indicator, "id")), "indicator": indicator,
                     "value": "" if value is None or _get(value, "value") is None
                     else str(_get(value, "value")),
                     "comment": (_get(value, "comment") or "") if value else ""})
    return rows


def rows_from_report(initiative: Any, indicators: list[Any], report: Any | None,
                     add: dict[str, int]) -> Rows:
    """The rows of a report as stored (``report`` None: a new report), plus ``add`` blank
    rows per list (``m``, ``r``, ``l``)."""
    rows = Rows(deliverables=_deliverable_rows(initiative, report),
                indicators=_indicator_rows(indicators, report))
    for m in (_get(report, "milestones") or []) if report else []:
        rows.milestones.append({"date": _iso(_get(m, "date")), "title": _get(m, "title") or "",
                                "achieved": bool(_get(m, "achieved", True))})
    for r in (_get(report, "resources_mobilised") or []) if report else []:
        rows.resources.append({"amount": "" if _get(r, "amount") is None
                               else str(_get(r, "amount")),
                               "currency": _get(r, "currency") or "",
                               "description": _get(r, "description") or ""})
    for link in (_get(report, "links") or []) if report else []:
        rows.links.append({"url": link if isinstance(link, str) else _get(link, "url") or ""})
    rows.milestones += [{"date": "", "title": "", "achieved": True}
                        for _ in range(add.get("m", 0 if rows.milestones else 1))]
    rows.resources += [{"amount": "", "currency": "", "description": ""}
                       for _ in range(add.get("r", 0 if rows.resources else 1))]
    rows.links += [{"url": ""} for _ in range(add.get("l", 0 if rows.links else 1))]
    return rows


def rows_from_form(initiative: Any, indicators: list[Any], op: str,
                   period: tuple[str | None, str | None]) -> tuple[Rows, dict[str, Any]]:
    """The posted rows (shown again on errors) and the data they save; a blank row is left
    out, a removed one dropped. ``period``: the report's (start, end), the period of the
    indicator values."""
    form = request.form
    rows = Rows(deliverables=_deliverable_rows(initiative, None),
                indicators=_indicator_rows(indicators, None))
    data: dict[str, Any] = {"deliverable_updates": [], "indicator_values": [],
                            "milestones": [], "resources_mobilised": [], "links": []}
    positions: dict[str, list[int]] = {k: [] for k in data}
    known = {row["id"] for row in rows.deliverables}
    for i, row in enumerate(rows.deliverables):
        status = (form.get(f"deliverable-{i}-status") or row["status"])[:40]
        note = (form.get(f"deliverable-{i}-note") or "")[:6000]
        row.update(status=status, note=note)
        row_id = (form.get(f"deliverable-{i}-id") or "")[:40]
        if row_id not in known:
            continue
        data["deliverable_updates"].append({"deliverable_id": row_id, "status": status,
                                            "note": note.strip() or None})
        positions["deliverable_updates"].append(i)
    for i, row in enumerate(rows.indicators):
        text = (form.get(f"indicator-{i}-value") or "")[:60]
        comment = (form.get(f"indicator-{i}-comment") or "")[:6000]
        row.update(value=text, comment=comment)
        if not text.strip() and not comment.strip():
            continue
        value, valid = _parse_decimal(text)
        if not valid:
            rows.error(f"indicator_values.{i}.value", "indicator_values")
        data["indicator_values"].append({"indicator_id": row["id"], "value": value,
                                         "period_start": period[0], "period_end": period[1],
                                         "comment": comment.strip() or None})
        positions["indicator_values"].append(i)
    for i in range(_bounded(form.get("milestone_rows"), 0, MAX_ROWS)):
        if op == f"remove_milestone:{i}":
            continue
        day = (form.get(f"milestone-{i}-date") or "")[:40]
        title = (form.get(f"milestone-{i}-title") or "")[:600]
        achieved = bool(form.get(f"milestone-{i}-achieved"))
        shown = len(rows.milestones)
        rows.milestones.append({"date": day, "title": title, "achieved": achieved})
        if not day.strip() and not title.strip():
            continue
        parsed, valid = _parse_date(day)
        if not valid or parsed is None or not title.strip() or len(title) > 500:
            rows.error(f"milestones.{shown}", "milestones")
        data["milestones"].append({"date": parsed, "title": title.strip(),
                                   "achieved": achieved})
        positions["milestones"].append(shown)
    currencies = {code for code, _label in currency_choices()}
    for i in range(_bounded(form.get("resource_rows"), 0, MAX_ROWS)):
        if op == f"remove_resource:{i}":
            continue
        amount_text = (form.get(f"resource-{i}-amount") or "")[:60]
        currency = (form.get(f"resource-{i}-currency") or "")[:3].upper()
        description = (form.get(f"resource-{i}-description") or "")[:6000]
        shown = len(rows.resources)
        rows.resources.append({"amount": amount_text, "currency": currency,
                               "description": description})
        if not amount_text.strip() and not currency and not description.strip():
            continue
        amount, valid = _parse_decimal(amount_text, places=2, negative=False)
        if not valid or amount is None or currency not in currencies:
            rows.error(f"resources_mobilised.{shown}", "resources_mobilised")
        data["resources_mobilised"].append({"amount": amount, "currency": currency,
                                            "description": description.strip() or None})
        positions["resources_mobilised"].append(shown)
    for i in range(_bounded(form.get("link_rows"), 0, MAX_ROWS)):
        if op == f"remove_link:{i}":
            continue
        url = (form.get(f"link-{i}-url") or "")[:2100].strip()
        shown = len(rows.links)
        rows.links.append({"url": url})
        if not url:
            continue
        if not url.lower().startswith(("http://", "https://")) or " " in url:
            rows.error(f"links.{shown}", "links")
        data["links"].append(url)
        positions["links"].append(shown)
    for name, blank in (("milestones", {"date": "", "title": "", "achieved": True}),
                        ("resources", {"amount": "", "currency": "", "description": ""}),
                        ("links", {"url": ""})):
        if op == f"add_{name.rstrip('s')}":
            getattr(rows, name).append(dict(blank))
    rows.positions = positions
    return rows, data


def service_errors(errors: Iterable[dict[str, Any]], positions: dict[str, list[int]]
                   ) -> dict[str, list[str]]:
    """``{path of the shown field or row: [message]}`` from the service's errors (paths like
    ``resources_mobilised.1.currency``; list positions mapped to the shown rows)."""
    out: dict[str, list[str]] = {}
    for error in errors:
        parts = str(error.get("field") or "_schema").split(".")
        key = parts[0]
        if key in positions and len(parts) > 1 and parts[1].isdigit():
            index = int(parts[1])
            shown = positions[key]
            parts[1] = str(shown[index] if index < len(shown) else index)
        if key in ("milestones", "resources_mobilised", "links"):
            path = ".".join(parts[:2])
        elif key == "indicator_values" and len(parts) > 1:
            path = f"indicator_values.{parts[1]}.value"
        elif key == "deliverable_updates" and len(parts) > 1:
            path = f"deliverable_updates.{parts[1]}"
        else:
            path = key
        message = str(FIELD_MESSAGES.get(key, _l("This value is not valid.")))
        if message not in out.get(path, []):
            out.setdefault(path, []).append(message)
    return out


# -- the report form -------------------------------------------------------------------------
def _report_form(report: Any | None) -> ReportForm:
    form = ReportForm(formdata=None if request.method == "GET" else request.form)
    form.overall_status.choices = [SelectChoice("", _("— choose —"))] + [
        SelectChoice(s, str(PROGRESS_STATUS_LABELS[s])) for s in FORM_STATUSES]
    if request.method == "GET" and report is not None:
        form.period_start.data = _as_date(_get(report, "period_start"))
        form.period_end.data = _as_date(_get(report, "period_end"))
        form.overall_status.data = _get(report, "overall_status") or ""
        form.progress_percent.data = _get(report, "progress_percent")
        form.narrative_html.data = _get(report, "narrative_html") or ""
    if request.method == "GET":
        form.version.data = str(_get(report, "version") or "") if report else ""
    return form


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _scalar_data(form: ReportForm) -> dict[str, Any]:
    return {
        "period_start": _iso(form.period_start.data) or None,
        "period_end": _iso(form.period_end.data) or None,
        "overall_status": form.overall_status.data or None,
        "progress_percent": form.progress_percent.data,
        "narrative_html": (form.narrative_html.data or "").strip() or None,
    }


def _form_page(*, initiative: Any, report: Any | None, form: ReportForm, rows: Rows,
               status: int = 200, principal: Principal):
    """The report form (new, or a draft / a report sent back for changes)."""
    action = (url_for(".report", initiative_id=initiative.id, number=_get(report, "number"))
              if report is not None else url_for(".new", initiative_id=initiative.id))
    extra: dict[str, Any] = {}
    if report is not None:
        allowed = _allowed(principal, report)
        submit_form = SubmitReportForm(formdata=None)
        submit_form.version.data = str(_get(report, "version"))
        delete_form = DeleteForm(formdata=None)
        delete_form.version.data = str(_get(report, "version"))
        extra = {"allowed": allowed, "submit_form": submit_form, "delete_form": delete_form,
                 "thread": _thread(principal, report),
                 "comment_form": ReportCommentForm(formdata=None) if "comment" in allowed
                 else None}
    return _render("progress/report_form.html", status, initiative=initiative,
                   report=report, form=form, rows=rows, errors=rows.errors, action=action,
                   statuses=DELIVERABLE_STATUSES, currencies=currency_choices(), **extra)


def _save(*, principal: Principal, initiative: Any, report: Any | None, indicators: list[Any]):
    """Read the posted form, save it (create the draft or update it), commit; back to the
    report (with blank rows when a row was added) or the form again with the errors (422)."""
    form = _report_form(report)
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            return _csrf_refused()
    op = (request.form.get("op") or "save")[:40]
    scalars = _scalar_data(form)
    rows, data = rows_from_form(initiative, indicators, op,
                                (scalars["period_start"], scalars["period_end"]))
    if form.errors or rows.errors:
        return _form_page(initiative=initiative, report=report, form=form, rows=rows,
                          status=422, principal=principal)
    data = scalars | data
    session = db.session()
    service = _progress()
    try:
        data = load_report_data(data)
        if report is None:
            saved = service.create_report(db_session=session, principal=principal,
                                          initiative_id=initiative.id, data=data,
                                          source="form")
        else:
            saved = service.update_report(db_session=session, principal=principal,
                                          report_id=_get(report, "id"), data=data,
                                          expected_version=form.posted_version())
        session.commit()
    except ValidationError as exc:
        session.rollback()
        rows.errors = service_errors(exc.errors or [], rows.positions)
        for name in ("period_start", "period_end", "overall_status", "progress_percent",
                     "narrative_html"):
            if name in rows.errors:
                getattr(form, name).errors = list(rows.errors.pop(name))
        if not rows.errors and not any(getattr(form, n).errors for n in scalars):
            rows.errors["_schema"] = [str(_l("This value is not valid."))]
        return _form_page(initiative=initiative, report=report, form=form, rows=rows,
                          status=422, principal=principal)
    flash(_("Draft saved."), "success")
    args: dict[str, Any] = {}
    for name, key in (("milestone", "add_m"), ("resource", "add_r"), ("link", "add_l")):
        if op == f"add_{name}":
            args[key] = 1
    return redirect(url_for(".report", initiative_id=initiative.id,
                            number=_get(saved, "number"), **args)
                    + ("#rows-" + op[4:] if args else ""), 303)


@bp.get("/my/initiatives/<uuid:initiative_id>/progress")
def my_reports(initiative_id: uuid.UUID):
    """The initiative's progress reports (any state, newest first) and the link to file a
    new one."""
    principal, refusal = _principal_or_sign_in()
    if refusal is not None:
        return refusal
    initiative = _initiative(principal, initiative_id)
    reports = sorted(_reports(principal, initiative_id), key=lambda r: _get(r, "number"),
                     reverse=True)
    return _render("progress/my_reports.html", initiative=initiative, reports=reports,
                   may_file=initiative.status in ("published", "completion_declared"))


@bp.route("/my/initiatives/<uuid:initiative_id>/progress/new", methods=["GET", "POST"])
def new(initiative_id: uuid.UUID):
    """The report form of a new progress report (the reminders' one-click link); saving
    creates a draft (``service.create_report``, lenient)."""
    principal, refusal = _principal_or_sign_in()
    if refusal is not None:
        return refusal
    initiative = _initiative(principal, initiative_id, action=Action.REPORT_PROGRESS)
    indicators = _indicators(principal, initiative_id)
    if request.method == "POST":
        return _save(principal=principal, initiative=initiative, report=None,
                     indicators=indicators)
    form = _report_form(None)
    return _form_page(initiative=initiative, report=None, form=form,
                      rows=rows_from_report(initiative, indicators, None, {}),
                      principal=principal)


@bp.route("/my/initiatives/<uuid:initiative_id>/progress/<int:number>",
          methods=["GET", "POST"])
def report(initiative_id: uuid.UUID, number: int):
    """Report ``number``: the form while it is a draft or sent back for changes (POST saves:
    ``service.update_report`` with the page's version), else the report as filed; the thread
    and the actions allowed now (submit, delete the draft). An approved report of a public
    initiative is readable by anyone (the service answers 404 to whoever may not see it)."""
    principal = current_principal()
    if request.method == "POST" and not principal.is_authenticated:
        return sign_in_response()
    found = _report_by_number(principal, initiative_id, number)  # 404 unless visible
    initiative = _initiative(principal, initiative_id, private=False)
    indicators = _indicators(principal, initiative_id)
    allowed = _allowed(principal, found)
    editable = _get(found, "status") in EDITABLE and "update" in allowed
    if request.method == "POST":  # the service refuses what the table refuses (403, 409)
        return _save(principal=principal, initiative=initiative, report=found,
                     indicators=indicators)
    if editable:
        add = {k[-1]: _bounded(request.args.get(k), 0, 20)
               for k in ("add_m", "add_r", "add_l") if request.args.get(k)}
        return _form_page(initiative=initiative, report=found, form=_report_form(found),
                          rows=rows_from_report(initiative, indicators, found, add),
                          principal=principal)
    submit_form = SubmitReportForm(formdata=None)
    submit_form.version.data = str(_get(found, "version"))
    return _render("progress/report_show.html", initiative=initiative, report=found,
                   allowed=allowed, thread=_thread(principal, found),
                   comment_form=ReportCommentForm(formdata=None) if "comment" in allowed
                   else None,
                   deliverables=_deliverable_rows(initiative, found),
                   indicator_rows=_indicator_rows(indicators, found), submit_form=submit_form)


@bp.post("/my/initiatives/<uuid:initiative_id>/progress/<int:number>/submit")
def submit(initiative_id: uuid.UUID, number: int):
    """Submit report ``number`` for review (``service.report_action`` ``submit``: the strict
    check; its errors shown on the form, 422)."""
    principal, refusal = _principal_or_sign_in()
    if refusal is not None:
        return refusal
    form = SubmitReportForm()
    if not form.validate_on_submit() and "csrf_token" in form.errors:
        return _csrf_refused()
    found = _report_by_number(principal, initiative_id, number)  # 404 unless visible
    initiative = _initiative(principal, initiative_id, private=False)
    session = db.session()
    try:
        _progress().report_action(db_session=session, principal=principal,
                                  report_id=_get(found, "id"), action="submit",
                                  comment=(form.comment.data or "").strip() or None,
                                  expected_version=form.posted_version())
        session.commit()
    except ValidationError as exc:
        session.rollback()
        indicators = _indicators(principal, initiative_id)
        rows = rows_from_report(initiative, indicators, found, {})
        positions = {"deliverable_updates": list(range(len(rows.deliverables))),
                     "indicator_values": [], "milestones": list(range(len(rows.milestones))),
                     "resources_mobilised": list(range(len(rows.resources))),
                     "links": list(range(len(rows.links)))}
        values = {str(_get(v, "indicator_id")) for v in _get(found, "indicator_values") or []}
        positions["indicator_values"] = [i for i, r in enumerate(rows.indicators)
                                         if r["id"] in values]
        rows.errors = service_errors(exc.errors or [], positions)
        report_form = _report_form(found)
        for name in ("period_start", "period_end", "overall_status", "progress_percent",
                     "narrative_html"):
            if name in rows.errors:
                getattr(report_form, name).errors = list(rows.errors.pop(name))
        flash(_("The report is not complete yet: see the fields marked below."), "error")
        return _form_page(initiative=initiative, report=found, form=report_form,
                          rows=rows, status=422, principal=principal)
    flash(_("Submitted. The secretariat reviews it; you will get an e-mail."), "success")
    return redirect(url_for(".report", initiative_id=initiative_id, number=number), 303)


@bp.post("/my/initiatives/<uuid:initiative_id>/progress/<int:number>/delete")
def delete(initiative_id: uuid.UUID, number: int):
    """Delete the draft report ``number`` (``service.delete_draft``)."""
    principal, refusal = _principal_or_sign_in()
    if refusal is not None:
        return refusal
    form = DeleteForm()
    if not form.validate_on_submit() and "csrf_token" in form.errors:
        return _csrf_refused()
    found = _report_by_number(principal, initiative_id, number)
    session = db.session()
    _progress().delete_draft(db_session=session, principal=principal,
                             report_id=_get(found, "id"),
                             expected_version=form.posted_version())
    session.commit()
    flash(_("Draft deleted."), "success")
    return redirect(url_for(".my_reports", initiative_id=initiative_id), 303)


# -- indicators ------------------------------------------------------------------------------
def _indicator_form(indicator: Any | None = None, formdata: Any = None) -> IndicatorForm:
    form = IndicatorForm(formdata=formdata, prefix=f"i{_get(indicator, 'id')}-"
                         if indicator is not None else "new-")
    form.measure.choices = [SelectChoice(m, str(MEASURE_LABELS[m])) for m in
                            INDICATOR_MEASURES]
    form.sdg_indicator_code.choices = sdg_indicator_choices()
    if formdata is None and indicator is not None:
        for name in ("title", "unit", "measure", "baseline_year", "target_year"):
            getattr(form, name).data = _get(indicator, name)
        form.ascending.data = bool(_get(indicator, "ascending", True))
        for name in ("baseline_value", "target_value"):
            value = _get(indicator, name)
            getattr(form, name).data = "" if value is None else str(value)
        form.sdg_indicator_code.data = _get(indicator, "sdg_indicator_code") or ""
        form.version.data = str(_get(indicator, "version") or "")
    elif formdata is None:
        form.measure.data = "unit"
    return form


def _indicator_data(form: IndicatorForm) -> tuple[dict[str, Any], bool]:
    """The indicator's data from the form, and whether its numbers are valid."""
    valid = True
    data: dict[str, Any] = {"title": (form.title.data or "").strip(),
                            "unit": (form.unit.data or "").strip() or None,
                            "measure": form.measure.data,
                            "ascending": bool(form.ascending.data),
                            "baseline_year": form.baseline_year.data,
                            "target_year": form.target_year.data,
                            "sdg_indicator_code": form.sdg_indicator_code.data or None}
    for name in ("baseline_value", "target_value"):
        value, ok = _parse_decimal(getattr(form, name).data or "")
        if not ok:
            getattr(form, name).errors = [*getattr(form, name).errors,
                                          _("Give a number (digits, a point for decimals).")]
            valid = False
        data[name] = value
    return data, valid


def load_indicator_data(data: dict[str, Any], *, patch: bool = False) -> dict[str, Any]:
    """``data`` loaded through the API's input schema (``IndicatorInputSchema``, or
    ``IndicatorPatchSchema`` for an edit); ValidationError naming the fields otherwise."""
    from marshmallow import ValidationError as SchemaError

    from registry.progress.schemas import IndicatorInputSchema, IndicatorPatchSchema

    try:
        return (IndicatorPatchSchema() if patch else IndicatorInputSchema()).load(data)
    except SchemaError as exc:
        raise ValidationError("The indicator is not valid.",
                              errors=field_errors(exc.messages)) from exc


INDICATOR_FIELDS = ("title", "unit", "measure", "ascending", "baseline_value",
                    "baseline_year", "target_value", "target_year", "sdg_indicator_code")


def _attach_indicator_errors(form: IndicatorForm, exc: ValidationError) -> None:
    for error in exc.errors or [{"field": "title"}]:
        name = str(error.get("field") or "title").split(".")[0]
        target = getattr(form, name) if name in INDICATOR_FIELDS else form.title
        message = (_("Choose an SDG indicator from the list.") if name == "sdg_indicator_code"
                   else _("This value is not valid."))
        target.errors = [*target.errors, message]


def _indicators_page(principal: Principal, initiative: Any, *, new_form: Any = None,
                     forms: dict[str, Any] | None = None, status: int = 200):
    indicators = _indicators(principal, initiative.id)
    forms = forms or {}
    rows = []
    for indicator in indicators:
        key = str(_get(indicator, "id"))
        delete_form = DeleteForm(formdata=None)
        delete_form.version.data = str(_get(indicator, "version") or "")
        rows.append({"indicator": indicator,
                     "form": forms.get(key) or _indicator_form(indicator),
                     "delete_form": delete_form})
    return _render("progress/indicators.html", status, initiative=initiative, rows=rows,
                   new_form=new_form or _indicator_form())


@bp.route("/my/initiatives/<uuid:initiative_id>/indicators", methods=["GET", "POST"])
def indicators(initiative_id: uuid.UUID):
    """The initiative's indicators, each with its edit form, and a form to add one (POST:
    ``service.create_indicator``; the SDG indicator code checked against the reference
    data's 251 indicators)."""
    principal, refusal = _principal_or_sign_in()
    if refusal is not None:
        return refusal
    if request.method == "GET":
        return _indicators_page(principal, _initiative(principal, initiative_id))
    initiative = _initiative(principal, initiative_id, action=Action.MANAGE_INDICATORS)
    form = _indicator_form(formdata=request.form)
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            return _csrf_refused()
        _indicator_data(form)
        return _indicators_page(principal, initiative, new_form=form, status=422)
    data, valid = _indicator_data(form)
    if not valid:
        return _indicators_page(principal, initiative, new_form=form, status=422)
    session = db.session()
    try:
        _progress().create_indicator(db_session=session, principal=principal,
                                     initiative_id=initiative_id,
                                     data=load_indicator_data(data))
        session.commit()
    except ValidationError as exc:
        session.rollback()
        _attach_indicator_errors(form, exc)
        return _indicators_page(principal, initiative, new_form=form, status=422)
    flash(_("Indicator added."), "success")
    return redirect(url_for(".indicators", initiative_id=initiative_id), 303)


@bp.post("/my/initiatives/<uuid:initiative_id>/indicators/<uuid:indicator_id>")
def update_indicator(initiative_id: uuid.UUID, indicator_id: uuid.UUID):
    """Save an indicator's edit form (``service.update_indicator``)."""
    principal, refusal = _principal_or_sign_in()
    if refusal is not None:
        return refusal
    initiative = _initiative(principal, initiative_id, action=Action.MANAGE_INDICATORS)
    form = _indicator_form(_IndicatorKey(indicator_id), formdata=request.form)
    key = str(indicator_id)
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            return _csrf_refused()
        _indicator_data(form)
        return _indicators_page(principal, initiative, forms={key: form}, status=422)
    data, valid = _indicator_data(form)
    if not valid:
        return _indicators_page(principal, initiative, forms={key: form}, status=422)
    session = db.session()
    try:
        _progress().update_indicator(db_session=session, principal=principal,
                                     initiative_id=initiative_id, indicator_id=indicator_id,
                                     data=load_indicator_data(data, patch=True))
        session.commit()
    except ValidationError as exc:
        session.rollback()
        _attach_indicator_errors(form, exc)
        return _indicators_page(principal, initiative, forms={key: form}, status=422)
    flash(_("Indicator saved."), "success")
    return redirect(url_for(".indicators", initiative_id=initiative_id), 303)


@dataclass(frozen=True)
class _IndicatorKey:
    id: uuid.UUID


@bp.post("/my/initiatives/<uuid:initiative_id>/indicators/<uuid:indicator_id>/delete")
def delete_indicator(initiative_id: uuid.UUID, indicator_id: uuid.UUID):
    """Delete an indicator (``service.delete_indicator``)."""
    principal, refusal = _principal_or_sign_in()
    if refusal is not None:
        return refusal
    form = DeleteForm()
    if not form.validate_on_submit() and "csrf_token" in form.errors:
        return _csrf_refused()
    _initiative(principal, initiative_id, action=Action.MANAGE_INDICATORS)
    session = db.session()
    _progress().delete_indicator(db_session=session, principal=principal,
                                 initiative_id=initiative_id, indicator_id=indicator_id)
    session.commit()
    flash(_("Indicator deleted."), "success")
    return redirect(url_for(".indicators", initiative_id=initiative_id), 303)


# -- the secretariat's review of a report ----------------------------------------------------
def _review_page(report_id: uuid.UUID, *, status: int = 200, stale: bool = False,
                 errors: dict[str, str] | None = None,
                 comments: dict[str, str] | None = None,
                 comment_form: ReportCommentForm | None = None):
    """The review page of a progress report (GET, and the answer of a refused decision)."""
    from registry.progress.policy import PROGRESS_REPORT_WORKFLOW

    principal, refusal = _principal_or_sign_in()
    if refusal is not None:
        return refusal
    session = db.session()
    found = _progress().get_report(db_session=session, principal=principal,
                                   report_id=report_id)
    if not can(principal, Action.REVIEW, found, Aggregate.PROGRESS_REPORT):
        return _refused(_("Only the secretariat's reviewers may see this page."), 403)
    initiative = _initiative(principal, _get(found, "initiative_id"))
    allowed = _allowed(principal, found)
    decisions = []
    for action in DECISIONS:
        transition = PROGRESS_REPORT_WORKFLOW.transition(action)
        if action in allowed and transition is not None:
            decisions.append({"action": action,
                              "url": url_for(f".decide_{action}", report_id=report_id),
                              "comment_required": transition.comment_required,
                              "error": (errors or {}).get(action),
                              "comment": (comments or {}).get(action)})
    four_eyes = (_get(found, "status") == "submitted" and not decisions
                 and principal.is_member_of(_get(initiative, "owner_organization_id")))
    indicators = _indicators(principal, initiative.id)
    return _render("progress/review.html", status, initiative=initiative, report=found,
                   decisions=decisions, four_eyes=four_eyes, stale=stale,
                   comment_form=comment_form or ReportCommentForm(formdata=None,
                                                                  secretariat=True)
                   if "comment" in allowed else None,
                   here=url_for(".review", report_id=report_id),
                   thread=_thread(principal, found),
                   deliverables=_deliverable_rows(initiative, found),
                   indicator_rows=_indicator_rows(indicators, found))


@bp.get("/secretariat/review/progress/<uuid:report_id>")
def review(report_id: uuid.UUID):
    """The secretariat's review page of a progress report: the report (period, status,
    progress, deliverables, indicator actuals, milestones, resources, links, narrative), the
    thread and the decisions allowed now (approve, request changes)."""
    return _review_page(report_id)


def _decide(report_id: uuid.UUID, action: str):
    """Take ``action`` on the report through ``service.report_action`` with the page's
    version; back to the review page (412 when stale, 422 when a required comment is
    missing)."""
    principal, refusal = _principal_or_sign_in()
    if refusal is not None:
        return refusal
    form = DecisionForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            return _csrf_refused()
        return _review_page(report_id, status=422, errors={action: _(
            "Give at most %(num)s characters.", num=10_000)},
            comments={action: (request.form.get("comment") or "")[:10_000]})
    comment = (form.comment.data or "").strip() or None
    session = db.session()
    try:
        _progress().report_action(db_session=session, principal=principal,
                                  report_id=report_id, action=action, comment=comment,
                                  expected_version=form.posted_version())
        session.commit()
    except PreconditionFailed:
        session.rollback()
        return _review_page(report_id, status=412, stale=True,
                            comments={action: comment or ""})
    except ValidationError:
        session.rollback()
        return _review_page(report_id, status=422, errors={action: _(
            "Say why: a comment is required for this decision.")},
            comments={action: comment or ""})
    flash(_("Done: the report is approved.") if action == "approve"
          else _("Done: changes requested."), "success")
    return redirect(url_for(".review", report_id=report_id), 303)


def _register_decision(action: str) -> None:
    def view(report_id: uuid.UUID):
        return _decide(report_id, action)

    view.__name__ = f"decide_{action}"
    view.__doc__ = (f"POST ``{action}`` on a progress report from its review page "
                    "(``service.report_action``).")
    bp.add_url_rule(f"/secretariat/review/progress/<uuid:report_id>/"
                    f"{action.replace('_', '-')}", endpoint=f"decide_{action}",
                    view_func=view, methods=["POST"])


for _action in DECISIONS:
    _register_decision(_action)


# -- the thread ------------------------------------------------------------------------------
def _post_comment(report_id: Any, *, secretariat: bool, back: str, page: Any):
    """Post the thread's comment form (``service.comment_on_report``, which authorizes);
    back to ``back`` (its thread), or ``page(status=422, comment_form=form)``."""
    principal, refusal = _principal_or_sign_in()
    if refusal is not None:
        return refusal
    form = ReportCommentForm(secretariat=secretariat)
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            return _csrf_refused()
        return page(form)
    session = db.session()
    try:
        _progress().comment_on_report(db_session=session, principal=principal,
                                      report_id=report_id, body=form.body.data,
                                      visibility=form.visibility.data)
        session.commit()
    except ValidationError:
        session.rollback()
        form.body.errors = [*form.body.errors, _("Check this field.")]
        return page(form)
    flash(_("Internal note added.") if form.visibility.data == "internal"
          else _("Comment posted."), "success")
    return redirect(back + "#thread-heading", 303)


@bp.post("/my/initiatives/<uuid:initiative_id>/progress/<int:number>/comments")
def comment(initiative_id: uuid.UUID, number: int):
    """A comment of the owner organisation on report ``number``'s thread."""
    principal, refusal = _principal_or_sign_in()
    if refusal is not None:
        return refusal
    found = _report_by_number(principal, initiative_id, number)
    here = url_for(".report", initiative_id=initiative_id, number=number)

    def page(form: ReportCommentForm):
        initiative = _initiative(principal, initiative_id, private=False)
        indicators = _indicators(principal, initiative_id)
        allowed = _allowed(principal, found)
        return _render("progress/report_show.html", 422, initiative=initiative,
                       report=found, allowed=allowed, thread=_thread(principal, found),
                       comment_form=form, deliverables=_deliverable_rows(initiative, found),
                       indicator_rows=_indicator_rows(indicators, found),
                       submit_form=SubmitReportForm(formdata=None))

    return _post_comment(_get(found, "id"), secretariat=False, back=here, page=page)


@bp.post("/secretariat/review/progress/<uuid:report_id>/comments")
def review_comment(report_id: uuid.UUID):
    """A comment or an internal note of the secretariat on a report's thread."""
    return _post_comment(report_id, secretariat=True,
                         back=url_for(".review", report_id=report_id),
                         page=lambda form: _review_page(report_id, status=422,
                                                        comment_form=form))
