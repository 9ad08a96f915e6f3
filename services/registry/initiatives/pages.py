"""The partner's initiative pages: "my initiatives", the registration wizard, the owner page
(state, next step, thread, actions), withdrawal and completion, and the same wizard on the
open revision of a published initiative.

URL contract (HELPERS.md, issue 8):

* ``/my/initiatives`` — the initiatives of my organisations, with state, version, last update
  and what is expected next;
* ``/my/initiatives/new`` then ``/my/initiatives/<id>/wizard/<step>``, steps :data:`STEPS`
  (basics → goals → geography → partners → deliverables → contact → review): every POST
  saves the draft (leniently: each field is checked, nothing is required but the title);
  the review step lists the SMART check (``service.submission_errors``) field by field with
  links back, and submitting validates strictly;
* ``/my/initiatives/<id>`` — the owner page; ``/my/initiatives/<id>/withdraw`` and
  ``/complete`` (a required reason / closing note);
* ``/my/initiatives/<id>/revision/<step>`` — the wizard on the open revision of a published
  initiative (the public keeps the approved version until the secretariat approves it).

Every form is a Flask-WTF form (CSRF) carrying the record's ``version``: a stale form is
refused with 412 ("someone changed this record since you opened it"). Every form posts to
the same service functions as the API (``registry.initiatives.service``, the revision
functions of ``registry.initiatives.revisions``), after loading its values through the API's
own input schema (``InitiativePatchSchema``): one set of rules, two doors. No JavaScript:
"add a row", "remove" and the SDG/country filters are submit buttons and GET forms.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError as SchemaError
from sqlalchemy import select

from registry import db
from registry.authz.permissions import Action, Aggregate, authorize
from registry.authz.routes import sign_in_response
from registry.initiatives import policy, revisions, service, versions
from registry.initiatives.forms import (
    BasicsForm,
    CommentForm,
    ContactForm,
    ReasonForm,
    StepForm,
    SubmitForm,
)
from registry.initiatives.schemas import (
    InitiativeInputSchema,
    InitiativePatchSchema,
)
from registry.organizations import service as organizations
from registry.organizations.models import Organization
from registry.reference import PARTNER_ROLES, RESOURCE_TYPES
from registry.workflow.queue import target_working_days, working_days_between
from registry.workflow.service import allowed_actions
from registry.workflow.thread import add_comment, initiative_thread
from shared import reference
from shared.events.types import DELIVERABLE_STATUSES
from shared.i18n import country_name, goal_label, goal_title, region_name, target_title
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

bp = Blueprint("initiative_pages", __name__)

#: The wizard's steps, in order.
STEPS = ("basics", "goals", "geography", "partners", "deliverables", "contact", "review")
STEP_TITLES = {
    "basics": _l("Basics"),
    "goals": _l("SDG goals and targets"),
    "geography": _l("Geography"),
    "partners": _l("Lead entity and partners"),
    "deliverables": _l("Deliverables and resources"),
    "contact": _l("Contact"),
    "review": _l("Review and submit"),
}
#: The step where each field of the content is edited (the review step links there).
FIELD_STEP = {
    "title": "basics", "description": "basics", "start_date": "basics", "end_date": "basics",
    "owner_organization_id": "basics", "sdg_targets": "goals", "sdg_goals": "goals",
    "countries": "geography", "regions": "geography", "lead_organization_id": "partners",
    "partners": "partners", "deliverables": "deliverables", "resources": "deliverables",
    "contact_email": "contact",
}
#: What a field's invalid value is told, in the page's language (the service's and the
#: schema's English details stay in the logs and the API).
FIELD_MESSAGES = {
    "title": _l("Give a title of 3 to 500 characters."),
    "description": _l("The description is too long (at most 20,000 characters)."),
    "start_date": _l("Give a date as YYYY-MM-DD."),
    "end_date": _l("The end date may not be before the start date."),
    "owner_organization_id": _l("Choose one of your organisations."),
    "sdg_targets": _l("Choose SDG targets from the list."),
    "sdg_goals": _l("Choose SDG goals from the list."),
    "countries": _l("Choose countries from the list."),
    "regions": _l("Choose regions from the list."),
    "lead_organization_id": _l("Choose a registered organisation."),
    "partners": _l("Choose registered organisations, each once, with a role from the list."),
    "description_row": _l("Describe the deliverable (1 to 5,000 characters)."),
    "due_date": _l("Give a date as YYYY-MM-DD."),
    "status": _l("Choose a status from the list."),
    "id": _l("This deliverable no longer exists: reload the page."),
    "type": _l("Choose the type of resource."),
    "details": _l("At most 5,000 characters."),
    "amount_usd": _l("Give an amount in US dollars, from 0 (digits, at most 2 decimals)."),
    "contact_email": _l("Give an e-mail address."),
    "comment": _l("Say why (required)."),
}
STATUS_LABELS = {
    "draft": _l("Draft"), "submitted": _l("Submitted"),
    "changes_requested": _l("Changes requested"), "published": _l("Published"),
    "rejected": _l("Rejected"), "completion_declared": _l("Completion declared"),
    "completed": _l("Completed"), "archived": _l("Archived"), "withdrawn": _l("Withdrawn"),
    "suspended": _l("Suspended"), "approved": _l("Approved"), "discarded": _l("Discarded"),
}
DELIVERABLE_STATUS_LABELS = {
    "planned": _l("Planned"), "in_progress": _l("In progress"), "achieved": _l("Achieved"),
    "delayed": _l("Delayed"), "cancelled": _l("Cancelled"),
}
ACTION_LABELS = {
    "create": _l("created the draft"), "update": _l("edited the content"),
    "submit": _l("submitted it for review"), "approve": _l("approved and published it"),
    "request_changes": _l("requested changes"), "reject": _l("rejected it"),
    "declare_completion": _l("declared it completed"),
    "confirm_completion": _l("confirmed the completion"),
    "decline_completion": _l("declined the completion"), "archive": _l("archived it"),
    "withdraw": _l("withdrew it"), "suspend": _l("suspended it"),
    "reinstate": _l("reinstated it"), "comment": _l("commented"), "import": _l("imported it"),
    "assign": _l("assigned a reviewer"),
}
ROLE_LABELS = {"owner": _l("owner"), "partner": _l("partner"),
               "secretariat": _l("secretariat"), "reviewer": _l("secretariat"),
               "system": _l("system"), "client": _l("API client")}
#: Most rows a deliverables/resources form takes (the schema allows 200 / 100).
MAX_ROWS = 200
#: Organisation search results shown on the partners step.
SEARCH_RESULTS = 20


# -- principal, errors ---------------------------------------------------------------------
def _principal_or_sign_in() -> tuple[Principal, Any]:
    principal = current_principal()
    if not principal.is_authenticated:
        return principal, sign_in_response()
    return principal, None


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
        return render_template("initiatives/my_stale.html", reload=request.path), 412
    if isinstance(exc, NotAllowed):
        return render_template("initiatives/my_refused.html", message=_(
            "You may not do that.")), 403
    if isinstance(exc, InvalidTransition):
        return render_template("initiatives/my_refused.html", message=_(
            "That cannot be done in the current state.")), 409
    if isinstance(exc, ValidationError):
        return render_template("initiatives/my_refused.html", message=_(
            "Please check the form: %(fields)s.",
            fields=", ".join(e.get("field", "") for e in exc.errors))), 422
    return render_template("initiatives/my_refused.html", message=_(
        "That cannot be done now.")), exc.status


def _message_for(path: str) -> str:
    """The page's message for an error at ``path`` (``deliverables.0.due_date``)."""
    parts = path.split(".")
    key = parts[-1]
    if parts[0] == "deliverables" and key == "description":
        key = "description_row"
    if parts[0] in ("sdg_targets", "sdg_goals", "countries", "regions", "partners"):
        key = parts[0]
    return str(FIELD_MESSAGES.get(key, _l("This value is not valid.")))


def _page_errors(errors: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    """``{field path: [messages in the page's language]}`` from service/schema errors."""
    out: dict[str, list[str]] = {}
    for error in errors:
        path = str(error.get("field") or "_schema")
        message = _message_for(path)
        if message not in out.get(path, []):
            out.setdefault(path, []).append(message)
    return out


# -- reading the content (an initiative, or a revision's proposed content) -------------------
@dataclass(frozen=True)
class _Org:
    id: uuid.UUID
    name: str


@dataclass(frozen=True)
class _Partner:
    organization: _Org
    role: str
    confirmed: bool = True


@dataclass(frozen=True)
class _Deliverable:
    description: str
    due_date: date | None
    status: str = "planned"
    id: str | None = None


@dataclass(frozen=True)
class _Resource:
    type: str
    details: str | None
    amount_usd: Decimal | None


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


class ContentView:
    """The content shape of ``versions.content_of`` (a revision's proposed content), read
    like an initiative by the wizard's templates and ``service.submission_errors``."""

    def __init__(self, content: dict[str, Any]):
        lead = content.get("lead_organization")
        self.title = content.get("title") or ""
        self.description = content.get("description")
        self.lead_organization = _Org(uuid.UUID(str(lead["id"])), lead.get("name") or "") \
            if lead else None
        self.lead_organization_id = self.lead_organization.id if self.lead_organization \
            else None
        self.partners = [_Partner(_Org(uuid.UUID(str(p["organization"]["id"])),
                                       p["organization"].get("name") or ""),
                                  p.get("role") or "partner")
                         for p in content.get("partners") or []]
        self.goal_codes = [int(g) for g in content.get("sdg_goals") or []]
        self.target_codes = list(content.get("sdg_targets") or [])
        self.country_codes = list(content.get("countries") or [])
        self.region_codes = list(content.get("regions") or [])
        self.start_date = _as_date(content.get("start_date"))
        self.end_date = _as_date(content.get("end_date"))
        self.deliverables = [_Deliverable(d.get("description") or "", _as_date(d.get(
            "due_date")), d.get("status") or "planned", d.get("id"))
            for d in content.get("deliverables") or []]
        self.resources = [_Resource(r.get("type") or "", r.get("details"),
                                    Decimal(str(r["amount_usd"]))
                                    if r.get("amount_usd") is not None else None)
                          for r in content.get("resources") or []]
        self.contact_email = content.get("contact_email")


@dataclass
class Record:
    """What the wizard edits: the initiative itself (draft, changes requested) or the
    revision of a published one (``revision_mode``; ``number`` None until the first save
    opens the revision). ``content`` reads like an initiative; ``version`` is the change
    counter the forms carry (None before the revision exists)."""

    initiative: Any
    content: Any
    version: int | None
    status: str
    revision_mode: bool = False
    number: int | None = None

    @property
    def is_revision(self) -> bool:
        return self.revision_mode

    def step_url(self, step: str, **args: Any) -> str:
        if self.revision_mode:
            return url_for(".revision_step", initiative_id=self.initiative.id, step=step,
                           **args)
        return url_for(".wizard", initiative_id=self.initiative.id, step=step, **args)

    def save(self, principal: Principal, data: dict[str, Any],
             expected_version: int | None) -> None:
        """Save ``data`` (a loaded ``InitiativePatchSchema``) through the service functions
        of the API (``update_initiative``; for a published initiative ``revisions.
        edit_published``, which opens the revision or updates the open one); the caller
        commits. 412 when ``expected_version`` is stale."""
        session = db.session()
        if self.revision_mode:
            revisions.edit_published(db_session=session, principal=principal,
                                     initiative_id=self.initiative.id, data=data,
                                     expected_version=expected_version
                                     if self.number is not None else None)
            return
        service.update_initiative(db_session=session, principal=principal,
                                  initiative_id=self.initiative.id, data=data,
                                  expected_version=expected_version)


def _load_initiative(principal: Principal, initiative_id: uuid.UUID,
                     action: Action = Action.VIEW_PRIVATE) -> Any:
    """The initiative if ``principal`` may take ``action`` on it now — the route's row of the
    permission table (``registry.authz.routes.ROUTES``), checked first as the API does:
    404 when absent or invisible, 401 anonymous, 409 allowed in another state, 403."""
    view = service.get_initiative(db_session=db.session(), principal=principal,
                                  initiative_id=initiative_id)
    authorize(principal, action, view, Aggregate.INITIATIVE, what="initiative")
    return view


def _open_revision(principal: Principal, initiative: Any) -> Any:
    """The open revision (draft, submitted, changes requested) of a published initiative, or
    None."""
    found = revisions.list_revisions(db_session=db.session(), principal=principal,
                                     initiative_id=initiative.id)
    for revision in found:
        if revision.status in ("draft", "submitted", "changes_requested"):
            return revision
    return None


def _editable_record(principal: Principal, initiative_id: uuid.UUID) -> Record | Any:
    """The initiative as a :class:`Record` when its owner may edit it now; else a redirect
    to the owner page (with a message saying why)."""
    view = service.get_initiative(db_session=db.session(), principal=principal,
                                  initiative_id=initiative_id)
    if view.status in revisions.REVISABLE_STATES and policy.is_owner(principal, view):
        return redirect(url_for(".revision_step", initiative_id=initiative_id, step="basics"))
    authorize(principal, Action.UPDATE, view, Aggregate.INITIATIVE, what="initiative")
    return Record(view, view, view.version, view.status)


# -- helpers for the templates ---------------------------------------------------------------
def next_step(initiative: Any, revision: Any = None) -> str:
    """What is expected next of the owner, in the page's language."""
    status = initiative.status
    if revision is not None:
        if revision.status == "submitted":
            return _("Revision %(number)s waits for the secretariat.", number=revision.number)
        if revision.status == "changes_requested":
            return _("Revision %(number)s: changes requested, answer the comments.",
                     number=revision.number)
        return _("Revision %(number)s is a draft: complete and submit it.",
                 number=revision.number)
    if status == "draft":
        return _("Complete and submit.")
    if status == "submitted":
        since = initiative.submitted_at or initiative.updated_at
        days = int(working_days_between(since, datetime.now(UTC))) if since else 0
        target = target_working_days()
        return _("Waiting for the secretariat (%(days)s of %(target)s working days).",
                 days=days, target=target)
    if status == "changes_requested":
        return _("Changes requested: answer the comments, edit and submit again.")
    if status == "published":
        return _("Published — edit as a revision, declare completion or withdraw.")
    if status == "rejected":
        return _("Rejected: see the secretariat's comments.")
    if status == "completion_declared":
        return _("Completion declared: waiting for the secretariat to confirm.")
    if status == "completed":
        return _("Completed: nothing more is expected.")
    if status == "archived":
        return _("Archived.")
    if status == "withdrawn":
        return _("Withdrawn.")
    if status == "suspended":
        return _("Suspended by the secretariat: see the reason in the thread.")
    return ""


def _template_helpers() -> dict[str, Any]:
    return {"STEPS": STEPS, "STEP_TITLES": STEP_TITLES, "status_label": lambda s: str(
        STATUS_LABELS.get(s, s)), "deliverable_status_label": lambda s: str(
        DELIVERABLE_STATUS_LABELS.get(s, s)), "action_label": lambda a: str(
        ACTION_LABELS.get(a, a)), "actor_role_label": lambda r: str(ROLE_LABELS.get(r, r or ""))}


def _render(template: str, status: int = 200, **context: Any):
    return render_template(template, **_template_helpers(), **context), status


# -- my initiatives --------------------------------------------------------------------------
@bp.get("/my/initiatives")
def my_initiatives():
    """The initiatives of my organisations: state, version, last update, what is next."""
    principal, refusal = _principal_or_sign_in()
    if refusal is not None:
        return refusal
    session = db.session()
    items = service.list_owned_initiatives(db_session=session, principal=principal)
    revisions_open = service.open_revisions(db_session=session, initiative_ids=[
        i.id for i in items if i.status in revisions.REVISABLE_STATES])
    orgs = _organizations(principal)
    rows = [{"item": item, "next": next_step(item, revisions_open.get(item.id)),
             "org": orgs.get(item.owner_organization_id) if item.owner_organization_id
             else None} for item in items]
    return _render("initiatives/my_list.html", rows=rows, has_orgs=bool(orgs))


def _organizations(principal: Principal) -> dict[uuid.UUID, Organization]:
    """The person's organisations by id (one statement)."""
    ids = list(principal.organization_ids)
    if not ids:
        return {}
    return {o.id: o for o in db.session().scalars(select(Organization).where(
        Organization.id.in_(ids)).order_by(Organization.name))}


# -- step 1: a new draft ---------------------------------------------------------------------
def _basics_form(principal: Principal, record: Record | None = None) -> BasicsForm:
    form = BasicsForm()
    orgs = _organizations(principal)
    form.owner_organization_id.choices = [(str(o.id), o.name) for o in orgs.values()]
    if record is not None or len(orgs) < 2:
        del form.owner_organization_id
    return form


@bp.route("/my/initiatives/new", methods=["GET", "POST"])
def new():
    """Step 1 of the wizard for a new initiative: saving it creates the draft."""
    principal, refusal = _principal_or_sign_in()
    if refusal is not None:
        return refusal
    orgs = _organizations(principal)
    form = _basics_form(principal)
    errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        raw = {"title": form.title.data, "description": form.description.data or None,
               "start_date": _iso(form.start_date.data), "end_date": _iso(form.end_date.data)}
        owner = (form.owner_organization_id.data if "owner_organization_id" in form._fields
                 else (str(next(iter(orgs))) if len(orgs) == 1 else None))
        if owner:
            raw["owner_organization_id"] = owner
            raw["lead_organization_id"] = owner  # the registering organisation leads it
        session = db.session()
        try:
            data = InitiativeInputSchema().load(raw)
            initiative = service.create_initiative(db_session=session, principal=principal,
                                                   data=data)
            session.commit()
        except SchemaError as exc:
            errors = _page_errors(field_errors(exc.messages))
        except ValidationError as exc:
            session.rollback()
            errors = _page_errors(exc.errors)
        else:
            flash(_("Draft saved. Continue with the SDG goals and targets."), "success")
            return redirect(url_for(".wizard", initiative_id=initiative.id, step="goals"),
                            303)
        _attach(form, errors)
    status = 422 if form.is_submitted() else 200
    return _render("initiatives/wizard_basics.html", status, form=form, record=None,
                   step="basics", errors=errors, has_orgs=bool(orgs))


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _attach(form: Any, errors: dict[str, list[str]]) -> None:
    """Put the errors of the form's own fields on them (the rest stays in ``errors``)."""
    for name, messages in list(errors.items()):
        form_field = form._fields.get(name)
        if form_field is not None:
            form_field.errors = [*form_field.errors, *messages]
            errors.pop(name)


# -- the wizard (a draft or an initiative sent back for changes) -----------------------------
@bp.route("/my/initiatives/<uuid:initiative_id>/wizard/<step>", methods=["GET", "POST"])
def wizard(initiative_id: uuid.UUID, step: str):
    """One step of the wizard on the initiative itself."""
    return _wizard_step(initiative_id, step, _editable_record)


def _wizard_step(initiative_id: uuid.UUID, step: str, load):
    """Sign-in, step and record checks shared by the two wizards; ``load(principal,
    initiative_id)`` gives the :class:`Record` (the initiative, or its open revision) or the
    refusal page."""
    principal, refusal = _principal_or_sign_in()
    if refusal is not None:
        return refusal
    if step not in STEPS:
        return render_template("not_found.html", message=_("There is no such step.")), 404
    record = load(principal, initiative_id)
    if not isinstance(record, Record):
        return record
    return _step(principal, record, step)


def _step(principal: Principal, record: Record, step: str):
    """GET shows the step, POST saves it (and goes where the pressed button says)."""
    handler = _STEP_HANDLERS[step]
    return handler(principal, record)


def _after_save(record: Record, step: str, **stay_args: Any):
    """Where a saved step goes: the button ``nav`` says ``back``, ``stay`` or (default)
    the next step."""
    nav = request.form.get("nav", "next")
    index = STEPS.index(step)
    if nav == "back" and index > 0:
        return redirect(record.step_url(STEPS[index - 1]), 303)
    if nav == "stay" or stay_args:
        flash(_("Draft saved."), "success")
        return redirect(record.step_url(step, **stay_args), 303)
    if nav.startswith("goto:") and nav[5:] in STEPS:
        return redirect(record.step_url(nav[5:]), 303)
    return redirect(record.step_url(STEPS[min(index + 1, len(STEPS) - 1)]), 303)


def _save_step(principal: Principal, record: Record, raw: dict[str, Any],
               version: int | None) -> dict[str, list[str]]:
    """Load ``raw`` through the API's patch schema and save it; the errors per field (empty
    when saved). 412 (stale version) propagates to the error page."""
    try:
        data = InitiativePatchSchema().load(raw)
    except SchemaError as exc:
        return _page_errors(field_errors(exc.messages))
    session = db.session()
    try:
        record.save(principal, data, version)
        session.commit()
    except ValidationError as exc:
        session.rollback()
        return _page_errors(exc.errors)
    return {}


def _step_basics(principal: Principal, record: Record):
    form = _basics_form(principal, record)
    errors: dict[str, list[str]] = {}
    if request.method == "GET":
        content = record.content
        form.title.data = content.title
        form.description.data = content.description
        form.start_date.data = content.start_date
        form.end_date.data = content.end_date
        form.version.data = str(record.version)
    elif form.validate_on_submit():
        raw = {"title": form.title.data, "description": form.description.data or None,
               "start_date": _iso(form.start_date.data), "end_date": _iso(form.end_date.data)}
        errors = _save_step(principal, record, raw, form.posted_version())
        if not errors:
            return _after_save(record, "basics")
        _attach(form, errors)
    return _render("initiatives/wizard_basics.html", 422 if request.method == "POST" else 200,
                   form=form, record=record, step="basics", errors=errors, has_orgs=True)


# -- goals -----------------------------------------------------------------------------------
def _matches(q: str, *texts: str) -> bool:
    needle = q.casefold()
    return any(needle in (t or "").casefold() for t in texts)


def _goal_tree(q: str) -> list[dict[str, Any]]:
    """The SDG goals with their targets, filtered by ``q`` (a code or words of a title, in
    the page's language or in English): a matching goal keeps all its targets."""
    tree = []
    targets_by_goal: dict[int, list[Any]] = {}
    for target in reference.targets().values():
        targets_by_goal.setdefault(target.goal, []).append(target)
    for code, goal in reference.goals().items():
        goal_hit = not q or _matches(q, str(code), goal.title_en, goal.short_title_en,
                                     goal_title(code), goal_label(code))
        shown = [t for t in targets_by_goal.get(code, [])
                 if goal_hit or _matches(q, t.code, t.title_en, target_title(t.code))]
        if goal_hit or shown:
            tree.append({"code": code, "targets": [t.code for t in shown]})
    return tree


def _step_goals(principal: Principal, record: Record):
    form = StepForm()
    q = (request.args.get("q") or "").strip()[:100]
    errors: dict[str, list[str]] = {}
    selected_targets = list(record.content.target_codes)
    derived = {reference.goal_of_target(t) for t in selected_targets
               if t in reference.targets()}
    selected_goals = [g for g in record.content.goal_codes if g not in derived]
    if request.method == "POST":
        if not form.validate_on_submit():
            return _csrf_refused()
        targets = list(dict.fromkeys(request.form.getlist("sdg_targets")))[:200]
        goals_raw = list(dict.fromkeys(request.form.getlist("sdg_goals")))[:50]
        goals: list[Any] = [int(g) if g.isdigit() and len(g) < 4 else g for g in goals_raw]
        errors = _save_step(principal, record, {"sdg_targets": targets, "sdg_goals": goals},
                            form.posted_version())
        if not errors:
            return _after_save(record, "goals", **({"q": q} if q and request.form.get(
                "nav") == "stay" else {}))
        selected_targets = [t for t in targets if t in reference.targets()]
        selected_goals = [g for g in goals if isinstance(g, int)]
    else:
        form.version.data = str(record.version)
    tree = _goal_tree(q)
    shown_targets = {t for g in tree for t in g["targets"]}
    shown_goals = {g["code"] for g in tree}
    hidden_targets = [t for t in selected_targets if t not in shown_targets]
    hidden_goals = [g for g in selected_goals if g not in shown_goals]
    return _render("initiatives/wizard_goals.html", 422 if errors else 200, form=form,
                   record=record, step="goals", errors=errors, q=q, tree=tree,
                   selected_targets=set(selected_targets), selected_goals=set(selected_goals),
                   hidden_targets=hidden_targets, hidden_goals=hidden_goals)


# -- geography -------------------------------------------------------------------------------
def _region_list() -> list[Any]:
    """M49 regions in a useful order: World, the regions, then sub- and intermediate regions
    by name."""
    order = {"world": 0, "region": 1, "subregion": 2, "intermediate": 3}
    return sorted(reference.regions().values(), key=lambda r: (order.get(r.level, 9),
                                                               region_name(r.code)))


def _country_groups(q: str) -> list[dict[str, Any]]:
    """Countries grouped by M49 region, names in the page's language, filtered by ``q``."""
    groups: dict[str, list[str]] = {}
    for code, country in reference.countries().items():
        if q and not _matches(q, code, country.name_en, country_name(code)):
            continue
        groups.setdefault(country.region_code or "", []).append(code)
    return [{"region": region, "countries": sorted(codes, key=country_name)}
            for region, codes in sorted(groups.items(), key=lambda kv: region_name(kv[0])
                                        if kv[0] else "~")]


def _step_geography(principal: Principal, record: Record):
    form = StepForm()
    q = (request.args.get("q") or "").strip()[:100]
    errors: dict[str, list[str]] = {}
    countries = list(record.content.country_codes)
    regions = list(record.content.region_codes)
    if request.method == "POST":
        if not form.validate_on_submit():
            return _csrf_refused()
        countries = list(dict.fromkeys(request.form.getlist("countries")))[:300]
        regions = list(dict.fromkeys(request.form.getlist("regions")))[:60]
        errors = _save_step(principal, record, {"countries": countries, "regions": regions},
                            form.posted_version())
        if not errors:
            return _after_save(record, "geography", **({"q": q} if q and request.form.get(
                "nav") == "stay" else {}))
    else:
        form.version.data = str(record.version)
    groups = _country_groups(q)
    shown = {c for g in groups for c in g["countries"]}
    return _render("initiatives/wizard_geography.html", 422 if errors else 200, form=form,
                   record=record, step="geography", errors=errors, q=q, groups=groups,
                   regions=[r for r in _region_list() if r.code != "001"],
                   selected_countries=set(countries), selected_regions=set(regions),
                   hidden_countries=[c for c in countries if c not in shown
                                     and c in reference.countries()])


# -- partners --------------------------------------------------------------------------------
def _uuid(value: str | None) -> str | None:
    try:
        return str(uuid.UUID(str(value or "")[:40]))
    except ValueError:
        return None


def _step_partners(principal: Principal, record: Record):
    form = StepForm()
    q = (request.args.get("q") or "").strip()[:200]
    errors: dict[str, list[str]] = {}
    content = record.content
    if request.method == "POST":
        if not form.validate_on_submit():
            return _csrf_refused()
        lead = str(content.lead_organization.id) if content.lead_organization else None
        partners = [{"organization_id": str(p.organization.id), "role": p.role}
                    for p in content.partners]
        for p in partners:  # roles changed in the table
            posted = request.form.get(f"role-{p['organization_id']}")
            if posted is not None:
                p["role"] = posted[:50]
        op = request.form.get("op", "save")[:100]
        chosen = _uuid(request.form.get("organization_id"))
        if op == "lead":
            lead = chosen or "not-an-id"
        elif op == "lead_clear":
            lead = None
        elif op == "add":
            partners.append({"organization_id": chosen or "not-an-id",
                             "role": (request.form.get("role") or "partner")[:50]})
        elif op.startswith("remove:"):
            partners = [p for p in partners if p["organization_id"] != op[7:]]
        errors = _save_step(principal, record, {"lead_organization_id": lead,
                                                "partners": partners},
                            form.posted_version())
        if not errors:
            if op != "save" or request.form.get("nav") == "stay":
                flash(_("Draft saved."), "success")
                return redirect(record.step_url("partners", **({"q": q} if q else {})), 303)
            return _after_save(record, "partners")
    else:
        form.version.data = str(record.version)
    found: list[Organization] = []
    if q:
        found, _total = organizations.list_organizations(db_session=db.session(),
                                                         principal=principal, q=q,
                                                         per_page=SEARCH_RESULTS)
        found = [o for o in found if o.merged_into_id is None]
    return _render("initiatives/wizard_partners.html", 422 if errors else 200, form=form,
                   record=record, step="partners", errors=errors, q=q, found=found,
                   my_orgs=list(_organizations(principal).values()),
                   roles=list(PARTNER_ROLES))


# -- deliverables and resources --------------------------------------------------------------
def _bounded_int(value: str | None, lo: int, hi: int) -> int:
    try:
        number_ = int(str(value or "0")[:6])
    except ValueError:
        return lo
    return max(lo, min(hi, number_))


def _parse_date(text: str) -> tuple[str | None, bool]:
    """(ISO date or None when blank, whether the text is a valid ``YYYY-MM-DD`` date)."""
    text = text.strip()
    if not text:
        return None, True
    try:
        return date.fromisoformat(text).isoformat(), len(text) == 10
    except ValueError:
        return None, False


def _parse_amount(text: str) -> tuple[str | None, bool]:
    """(amount as text with 2 decimals or None when blank, whether it is a valid amount:
    digits, at most 2 decimals, not negative; thousands separators allowed)."""
    text = text.strip().replace(",", "").replace(" ", "")
    if not text:
        return None, True
    if len(text) > 25:
        return None, False
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None, False
    exponent = value.as_tuple().exponent
    if not value.is_finite() or value < 0 or not isinstance(exponent, int) or exponent < -2:
        return None, False
    return str(value.quantize(Decimal("0.01"))), True


@dataclass
class _Rows:
    """The rows of the deliverables step as shown (values as text) and what they save."""

    deliverables: list[dict[str, Any]] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)
    blank_deliverables: int = 0
    blank_resources: int = 0


def _rows_from_content(content: Any, add_d: int, add_r: int) -> _Rows:
    rows = _Rows()
    for d in content.deliverables:
        rows.deliverables.append({"description": d.description, "due_date": _iso(
            d.due_date) or "", "status": getattr(d, "status", None) or "planned",
            "id": str(getattr(d, "id", None) or "")})
    for r in content.resources:
        rows.resources.append({"type": r.type, "details": r.details or "",
                               "amount_usd": "" if r.amount_usd is None else str(
                                   r.amount_usd)})
    blank_d = add_d or (0 if rows.deliverables else 1)
    blank_r = add_r or (0 if rows.resources else 1)
    rows.deliverables += [{"description": "", "due_date": "", "status": "planned", "id": ""}
                          for _ in range(blank_d)]
    rows.resources += [{"type": "", "details": "", "amount_usd": ""} for _ in range(blank_r)]
    return rows


def _rows_from_form(op: str) -> tuple[_Rows, dict[str, Any]]:
    """The posted rows (shown again on errors) and the data they save; a blank row is
    skipped, a removed one dropped."""
    form = request.form
    rows = _Rows()
    deliverables, resources = [], []
    d_index: list[int] = []  # the shown row of each saved deliverable
    r_index: list[int] = []
    for i in range(_bounded_int(form.get("deliverable_rows"), 0, MAX_ROWS)):
        if op == f"remove_deliverable:{i}":
            continue
        description = (form.get(f"deliverable-{i}-description") or "")[:6000]
        due_text = (form.get(f"deliverable-{i}-due_date") or "")[:40]
        status = (form.get(f"deliverable-{i}-status") or "planned")[:40]
        row_id = (form.get(f"deliverable-{i}-id") or "")[:40]
        shown = len(rows.deliverables)
        rows.deliverables.append({"description": description, "due_date": due_text,
                                  "status": status, "id": row_id})
        if not description.strip() and not due_text.strip():
            rows.blank_deliverables += 1
            continue
        due, valid = _parse_date(due_text)
        if not valid:
            rows.errors.setdefault(f"deliverables.{shown}.due_date", []).append(
                str(FIELD_MESSAGES["due_date"]))
        item: dict[str, Any] = {"description": description, "due_date": due, "status": status}
        if row_id:
            item["id"] = row_id  # an existing deliverable keeps its id (and identity)
        deliverables.append(item)
        d_index.append(shown)
    for i in range(_bounded_int(form.get("resource_rows"), 0, MAX_ROWS)):
        if op == f"remove_resource:{i}":
            continue
        kind = (form.get(f"resource-{i}-type") or "")[:60]
        details = (form.get(f"resource-{i}-details") or "")[:6000]
        amount_text = (form.get(f"resource-{i}-amount_usd") or "")[:60]
        shown = len(rows.resources)
        rows.resources.append({"type": kind, "details": details, "amount_usd": amount_text})
        if not kind and not details.strip() and not amount_text.strip():
            rows.blank_resources += 1
            continue
        amount, valid = _parse_amount(amount_text)
        if not valid:
            rows.errors.setdefault(f"resources.{shown}.amount_usd", []).append(
                str(FIELD_MESSAGES["amount_usd"]))
        resources.append({"type": kind, "details": details.strip() or None,
                          "amount_usd": amount})
        r_index.append(shown)
    rows_map = {"deliverables": d_index, "resources": r_index}
    return rows, {"deliverables": deliverables, "resources": resources, "_map": rows_map}


def _reindex(errors: dict[str, list[str]], mapping: dict[str, list[int]]) -> dict[str,
                                                                                  list[str]]:
    """Errors keyed by the saved list's positions -> keyed by the shown rows."""
    out: dict[str, list[str]] = {}
    for path, messages in errors.items():
        parts = path.split(".")
        if parts[0] in mapping and len(parts) > 1 and parts[1].isdigit():
            positions = mapping[parts[0]]
            index = int(parts[1])
            if index < len(positions):
                parts[1] = str(positions[index])
        out.setdefault(".".join(parts), []).extend(messages)
    return out


def _step_deliverables(principal: Principal, record: Record):
    form = StepForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return _csrf_refused()
        op = (request.form.get("op") or "save")[:40]
        rows, data = _rows_from_form(op)
        mapping = data.pop("_map")
        if not rows.errors:
            saved = _save_step(principal, record, data, form.posted_version())
            rows.errors = _reindex(saved, mapping)
        if not rows.errors:
            if op in ("add_deliverable", "add_resource") or op.startswith("remove_"):
                args = {}
                if op == "add_deliverable" or rows.blank_deliverables:
                    args["add_d"] = min(MAX_ROWS, rows.blank_deliverables + (
                        op == "add_deliverable"))
                if op == "add_resource" or rows.blank_resources:
                    args["add_r"] = min(MAX_ROWS, rows.blank_resources + (
                        op == "add_resource"))
                flash(_("Draft saved."), "success")
                return redirect(record.step_url("deliverables", **args), 303)
            return _after_save(record, "deliverables")
    else:
        form.version.data = str(record.version)
        rows = _rows_from_content(record.content,
                                  _bounded_int(request.args.get("add_d"), 0, 20),
                                  _bounded_int(request.args.get("add_r"), 0, 20))
    return _render("initiatives/wizard_deliverables.html", 422 if rows.errors else 200,
                   form=form, record=record, step="deliverables", errors=rows.errors,
                   rows=rows, statuses=DELIVERABLE_STATUSES,
                   resource_types=list(RESOURCE_TYPES))


# -- contact ---------------------------------------------------------------------------------
def _step_contact(principal: Principal, record: Record):
    form = ContactForm()
    errors: dict[str, list[str]] = {}
    if request.method == "GET":
        form.contact_email.data = record.content.contact_email
        form.version.data = str(record.version)
    elif form.validate_on_submit():
        errors = _save_step(principal, record,
                            {"contact_email": (form.contact_email.data or "").strip() or None},
                            form.posted_version())
        if not errors:
            return _after_save(record, "contact")
        _attach(form, errors)
    return _render("initiatives/wizard_contact.html", 422 if request.method == "POST" else 200,
                   form=form, record=record, step="contact", errors=errors)


# -- review and submit -----------------------------------------------------------------------
def _step_review(principal: Principal, record: Record, form: SubmitForm | None = None,
                 errors: dict[str, list[str]] | None = None, status: int = 200):
    if form is None:
        if request.method == "POST":  # the review step saves nothing: show it again
            return redirect(record.step_url("review"), 303)
        form = SubmitForm()
    if request.method == "GET" or not form.version.data:
        form.version.data = str(record.version)
    orgs = _organizations(principal)
    owner_id = record.initiative.owner_organization_id
    diff = None
    if record.number is not None:  # what the revision changes in the approved version
        diff = revisions.diff_revision(db_session=db.session(), principal=principal,
                                       initiative_id=record.initiative.id,
                                       number=record.number)
    return _render("initiatives/wizard_review.html", status, form=form, record=record,
                   step="review", errors=errors or {}, diff=diff,
                   smart=service.submission_errors(record.content),
                   fix_links=_fix_links(record), owner=orgs.get(owner_id) if owner_id else None)


def _fix_links(record: Record) -> dict[str, str]:
    """``{field: the wizard step that fills it}`` for the SMART check's links."""
    return {name: record.step_url(step) for name, step in FIELD_STEP.items()}


_STEP_HANDLERS: dict[str, Callable[[Principal, Record], Any]] = {
    "basics": _step_basics, "goals": _step_goals, "geography": _step_geography,
    "partners": _step_partners, "deliverables": _step_deliverables, "contact": _step_contact,
    "review": lambda principal, record: _step_review(principal, record),
}


def _csrf_refused():
    return render_template("errors/csrf.html"), 400


@bp.post("/my/initiatives/<uuid:initiative_id>/submit")
def submit(initiative_id: uuid.UUID):
    """Submit the draft (or the initiative sent back for changes) for review: the strict
    SMART check; on errors the review step again, listing them (422)."""
    principal, refusal = _principal_or_sign_in()
    if refusal is not None:
        return refusal
    form = SubmitForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors or "csrf_token" in form.errors:
            return _csrf_refused()
    view = _load_initiative(principal, initiative_id, Action.SUBMIT)
    record = Record(view, view, view.version, view.status)
    if form.errors:
        return _step_review(principal, record, form, status=422)
    session = db.session()
    try:
        _transition(principal, initiative_id, "submit", form.comment.data or None,
                    form.posted_version(), view.version)
        session.commit()
    except ValidationError as exc:
        session.rollback()
        return _step_review(principal, record, form, _page_errors(exc.errors), 422)
    flash(_("Submitted. The secretariat reviews it within %(days)s working days; you will "
            "get an e-mail.", days=target_working_days()), "success")
    return redirect(url_for(".show", initiative_id=initiative_id), 303)


def _transition(principal: Principal, initiative_id: uuid.UUID, action: str,
                comment: str | None, expected_version: int | None, current: int) -> Any:
    """``service.transition`` with the form's version (412 when stale)."""
    return service.transition(db_session=db.session(), principal=principal,
                              initiative_id=initiative_id, action=action, comment=comment,
                              expected_version=expected_version)


# -- the owner page --------------------------------------------------------------------------
def _thread(principal: Principal, view: Any) -> list[Any]:
    """The thread the owner sees, oldest first (``workflow.thread.initiative_thread``:
    comments, replies and transitions; never the secretariat's internal notes)."""
    return list(initiative_thread(db_session=db.session(), principal=principal,
                                  initiative_id=view.id))


def _allowed_actions(principal: Principal, view: Any) -> set[str]:
    """The actions of the initiative's workflow ``principal`` may take now."""
    return set(allowed_actions(principal, policy.INITIATIVE_WORKFLOW, view))


@bp.get("/my/initiatives/<uuid:initiative_id>")
def show(initiative_id: uuid.UUID):
    """The owner page: state, version, what is next, the content, the thread with a comment
    form, and the actions allowed now."""
    principal, refusal = _principal_or_sign_in()
    if refusal is not None:
        return refusal
    view = _load_initiative(principal, initiative_id)
    return _owner_page(principal, view)


def _owner_page(principal: Principal, view: Any, comment_form: CommentForm | None = None,
                status: int = 200):
    revisable = view.status in revisions.REVISABLE_STATES
    revision = _open_revision(principal, view) if revisable else None
    allowed = _allowed_actions(principal, view)
    thread = _thread(principal, view)
    form = comment_form or CommentForm()
    reply_to = None
    wanted = _uuid(request.args.get("reply_to")) or _uuid(form.reply_to_id.data)
    if wanted:
        reply_to = next((e for e in thread if str(getattr(e, "id", "")) == wanted), None)
        form.reply_to_id.data = wanted if reply_to is not None else ""
    form.version.data = str(view.version)
    discard_form = SubmitForm()
    discard_form.version.data = str(revision.version) if revision is not None else ""
    orgs = _organizations(principal)
    owner = orgs.get(view.owner_organization_id) if view.owner_organization_id else None
    return _render("initiatives/my_initiative.html", status, item=view, revision=revision,
                   next=next_step(view, revision), allowed=allowed,
                   may_revise=revisable and policy.is_owner(principal, view),
                   thread=thread, comment_form=form, reply_to=reply_to,
                   may_comment="comment" in allowed,
                   owner=owner, discard_form=discard_form,
                   smart=service.submission_errors(view)
                   if view.status in ("draft", "changes_requested") else [],
                   fix_links=_fix_links(Record(view, view, view.version, view.status)))


@bp.post("/my/initiatives/<uuid:initiative_id>/comments")
def comment(initiative_id: uuid.UUID):
    """Add a comment (or a reply: ``reply_to_id``) to the thread, through the workflow's
    ``add_comment`` (which authorizes); errors shown under the field (422)."""
    principal, refusal = _principal_or_sign_in()
    if refusal is not None:
        return refusal
    form = CommentForm()
    if not form.validate_on_submit() and "csrf_token" in form.errors:
        return _csrf_refused()
    view = _load_initiative(principal, initiative_id, Action.COMMENT)
    if form.errors:
        return _owner_page(principal, view, form, 422)
    reply_to = _uuid(form.reply_to_id.data) if form.reply_to_id.data else None
    session = db.session()
    try:
        add_comment(db_session=session, principal=principal, initiative_id=initiative_id,
                    body=form.body.data,
                    reply_to_id=uuid.UUID(reply_to) if reply_to else None)
        session.commit()
    except ValidationError as exc:
        session.rollback()
        if any(e.get("field") == "reply_to_id" for e in exc.errors):
            form.reply_to_id.data = ""
            flash(_("That comment no longer exists."), "error")
        else:
            form.body.errors = [*form.body.errors, str(_l("This value is not valid."))]
        return _owner_page(principal, view, form, 422)
    flash(_("Comment added."), "success")
    return redirect(url_for(".show", initiative_id=initiative_id) + "#thread-heading", 303)


def _reason_page(initiative_id: uuid.UUID, action: Action, template: str, done: str):
    principal, refusal = _principal_or_sign_in()
    if refusal is not None:
        return refusal
    view = _load_initiative(principal, initiative_id, action)
    form = ReasonForm()
    if request.method == "GET":
        form.version.data = str(view.version)
        return _render(template, item=view, form=form)
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            return _csrf_refused()
        return _render(template, 422, item=view, form=form)
    session = db.session()
    try:
        _transition(principal, initiative_id, action, form.comment.data,
                    form.posted_version(), view.version)
        session.commit()
    except ValidationError as exc:
        session.rollback()
        _attach(form, _page_errors(exc.errors))
        return _render(template, 422, item=view, form=form)
    flash(done, "success")
    return redirect(url_for(".show", initiative_id=initiative_id), 303)


@bp.route("/my/initiatives/<uuid:initiative_id>/withdraw", methods=["GET", "POST"])
def withdraw(initiative_id: uuid.UUID):
    """Withdraw a published initiative (the owner, with the reason the public will read)."""
    return _reason_page(initiative_id, Action.WITHDRAW, "initiatives/my_withdraw.html",
                        _("The initiative is withdrawn."))


@bp.route("/my/initiatives/<uuid:initiative_id>/complete", methods=["GET", "POST"])
def complete(initiative_id: uuid.UUID):
    """Declare a published initiative completed (the owner, with a closing note; the
    secretariat confirms)."""
    return _reason_page(initiative_id, Action.DECLARE_COMPLETION,
                        "initiatives/my_complete.html",
                        _("Completion declared: the secretariat will confirm it."))


# -- the revision of a published initiative --------------------------------------------------
def _revision_record(principal: Principal, initiative_id: uuid.UUID) -> Record | Any:
    """The revision of the published initiative as a :class:`Record`: the open revision
    when there is one (draft or changes requested), else the approved content (the first
    save opens the revision: a GET changes nothing). Otherwise a redirect with the reason."""
    view = _load_initiative(principal, initiative_id)
    if not policy.is_owner(principal, view):
        raise NotAllowed("Only members of the organisation that owns this initiative may "
                         "propose a revision.")
    if view.status not in revisions.REVISABLE_STATES:
        if view.status in policy.EDITABLE_STATES:
            return redirect(url_for(".wizard", initiative_id=initiative_id, step="basics"))
        flash(_("This initiative is %(state)s: it cannot be edited now.",
                state=STATUS_LABELS.get(view.status, view.status)), "warning")
        return redirect(url_for(".show", initiative_id=initiative_id))
    revision = _open_revision(principal, view)
    if revision is None:
        return Record(view, ContentView(versions.content_of(view)), None, "draft",
                      revision_mode=True)
    if revision.status not in ("draft", "changes_requested"):
        flash(_("Revision %(number)s waits for the secretariat: it cannot be edited now.",
                number=revision.number), "warning")
        return redirect(url_for(".show", initiative_id=initiative_id))
    return Record(view, ContentView(revision.content), revision.version, revision.status,
                  revision_mode=True, number=revision.number)


@bp.route("/my/initiatives/<uuid:initiative_id>/revision/<step>", methods=["GET", "POST"])
def revision_step(initiative_id: uuid.UUID, step: str):
    """One step of the wizard on the open revision of a published initiative."""
    return _wizard_step(initiative_id, step, _revision_record)


@bp.post("/my/initiatives/<uuid:initiative_id>/revision/submit")
def revision_submit(initiative_id: uuid.UUID):
    """Submit revision ``number`` (a form field) for review (``revisions.revision_action``,
    which authorizes: the revision workflow's ``submit``)."""
    principal, refusal = _principal_or_sign_in()
    if refusal is not None:
        return refusal
    form = SubmitForm()
    if not form.validate_on_submit() and "csrf_token" in form.errors:
        return _csrf_refused()
    number_ = _bounded_int(request.form.get("number"), 0, 10**6)
    if not number_:
        flash(_("Nothing has changed yet: edit a step first, then submit the revision."),
              "warning")
        return redirect(url_for(".revision_step", initiative_id=initiative_id,
                                step="basics"), 303)
    if form.errors:
        record = _revision_record(principal, initiative_id)
        if not isinstance(record, Record):
            return record
        return _step_review(principal, record, form, status=422)
    session = db.session()
    try:
        revisions.revision_action(db_session=session, principal=principal,
                                  initiative_id=initiative_id, number=number_,
                                  action="submit", comment=form.comment.data or None,
                                  expected_version=form.posted_version())
        session.commit()
    except ValidationError as exc:
        session.rollback()
        record = _revision_record(principal, initiative_id)
        if not isinstance(record, Record):
            return record
        return _step_review(principal, record, form, _page_errors(exc.errors), 422)
    flash(_("Revision submitted. The public keeps seeing the approved version until the "
            "secretariat approves it."), "success")
    return redirect(url_for(".show", initiative_id=initiative_id), 303)


@bp.post("/my/initiatives/<uuid:initiative_id>/revision/discard")
def revision_discard(initiative_id: uuid.UUID):
    """Discard revision ``number`` (a form field; ``revisions.revision_action``, which
    authorizes: the revision workflow's ``discard``, the owner, draft or changes
    requested): the approved version stays as it is."""
    principal, refusal = _principal_or_sign_in()
    if refusal is not None:
        return refusal
    form = SubmitForm()
    if not form.validate_on_submit() and "csrf_token" in form.errors:
        return _csrf_refused()
    number_ = _bounded_int(request.form.get("number"), 0, 10**6)
    if not number_:
        raise NotFound("No such revision.")
    session = db.session()
    revisions.revision_action(db_session=session, principal=principal,
                              initiative_id=initiative_id, number=number_,
                              action="discard", expected_version=form.posted_version())
    session.commit()
    flash(_("Revision %(number)s is discarded.", number=number_), "success")
    return redirect(url_for(".show", initiative_id=initiative_id), 303)
