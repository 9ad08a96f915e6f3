"""The secretariat's review desk: the review queue (``/secretariat/review``), the review page
of an initiative (``/secretariat/review/<initiative id>``: a submission, a completion
declaration or any record the secretariat acts on) and of a revision
(``…/revisions/<n>``).

Each page shows the record, the SMART check, the diff against the last approved version where
there is one, the thread with its reply form and internal notes, the reviewer assignment and
the decision buttons the permission table allows the reviewer now (four eyes: a reviewer who
is a member of the owner organisation is told so instead). Every form is a Flask-WTF form
(CSRF) posting to the same service functions as the API (``registry.initiatives.service``,
``registry.initiatives.revisions``, ``registry.workflow``); each carries the record's
``version``, so a decision taken on a stale page answers 412 ("someone changed this record
since you opened it") and changes nothing. Works without JavaScript.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from registry import db
from registry.initiatives import service
from registry.review.forms import AssignForm, CommentForm, DecisionForm
from shared.config import number
from shared.identity import Principal, StaffRole
from shared.identity.web import current_principal
from shared.problems import (
    Conflict,
    DomainError,
    InvalidTransition,
    NotAllowed,
    NotFound,
    PreconditionFailed,
    Unauthenticated,
    ValidationError,
)

bp = Blueprint("review_pages", __name__, template_folder="templates")

PER_PAGE = 50
KINDS = ("submission", "revision", "completion")
ASSIGNED = ("any", "me", "none")


# -- answers shared by every page --------------------------------------------------------------
def _sign_in_or_none(principal: Principal):
    from registry.authz.routes import sign_in_response

    return None if principal.is_authenticated else sign_in_response()


def _refusal(exc: DomainError):
    """The page answer of a refusal the permission table gives (401 -> sign in, 403, 404,
    409); None for other errors (shown on the page the form came from)."""
    if isinstance(exc, Unauthenticated):
        return _sign_in_or_none(current_principal())
    if isinstance(exc, NotFound):
        return render_template("not_found.html",
                               message=_("That no longer exists, or you may not see it.")), 404
    if isinstance(exc, NotAllowed):
        return render_template("review/refused.html", message=_refusal_message(exc)), 403
    if isinstance(exc, InvalidTransition):
        return render_template("review/refused.html",
                               message=_("That cannot be done in the current state.")), 409
    return None


def _refusal_message(exc: DomainError) -> str:
    """The page's words for a 403: four eyes has its own sentence."""
    detail = (exc.detail or "").lower()
    if "member of the owner" in detail or "four eyes" in detail or "four-eyes" in detail:
        return _("You cannot decide: you are a member of the owner organisation.")
    return _("You may not do that.")


def _require_reviewer(principal: Principal):
    """Sign-in page for anonymous visitors, 403 for anyone but reviewers; None if allowed."""
    refusal = _sign_in_or_none(principal)
    if refusal is not None:
        return refusal
    if not principal.has_staff_role(StaffRole.REVIEWER):
        return render_template("review/refused.html",
                               message=_("Only the secretariat's reviewers may see this page.")
                               ), 403
    return None


def _stale_message() -> str:
    return _("Someone changed this record since you opened it: nothing was saved.")


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    try:
        value = int(request.args.get(name, default))
    except ValueError:
        return default
    return value if lo <= value <= hi else default


# -- the queue -------------------------------------------------------------------------------
@bp.get("/secretariat/review")
def queue():
    """The review queue: submissions, revisions and completion declarations waiting for a
    decision, oldest first, with their age in working days against the target
    (``REVIEW_TARGET_WORKING_DAYS``, 5), the assigned reviewer, and whether the reviewer may
    decide (four eyes). Filters: ``kind`` (submission, revision, completion), ``assigned``
    (me, none, any); ``page``."""
    principal = current_principal()
    refusal = _require_reviewer(principal)
    if refusal is not None:
        return refusal
    from registry.workflow.queue import review_queue

    kind = request.args.get("kind") or None
    kind = kind if kind in KINDS else None
    assigned = request.args.get("assigned") or "any"
    assigned = assigned if assigned in ASSIGNED else "any"
    page = _int_arg("page", 1, 1, 100_000)
    try:
        result = review_queue(db_session=db.session(), principal=principal, kind=kind,
                              assigned=None if assigned == "any" else assigned, page=page,
                              per_page=PER_PAGE)
    except DomainError as exc:
        return _refusal(exc) or abort(400)
    pages = max(1, math.ceil(result.total / PER_PAGE))
    target = getattr(result, "target_working_days", None) or int(
        number("REVIEW_TARGET_WORKING_DAYS") or 5)
    return render_template("review/secretariat_review_queue.html", result=result,
                           items=result.items, total=result.total, kind=kind or "",
                           assigned=assigned, page=page, pages=pages, target=target)


# -- what the review page shows ----------------------------------------------------------------
#: Decisions the review desk offers, in the order of its buttons (initiatives, revisions).
INITIATIVE_DECISIONS = ("approve", "request_changes", "reject", "confirm_completion",
                        "decline_completion", "suspend", "reinstate", "archive")
REVISION_DECISIONS = ("approve", "request_changes", "reject")


def _record_kind(status: str) -> str:
    """What the secretariat reviews in ``status``: a submission, a completion declaration or
    any other record."""
    return {"submitted": "submission", "completion_declared": "completion"}.get(status, "record")


def _comment_required(workflow: Any, action: str) -> bool:
    transition = workflow.transition(action)
    return bool(transition and transition.comment_required)


def _decisions(principal: Principal, workflow: Any, record: Any, candidates: tuple[str, ...],
               url: Any, errors: dict[str, str] | None = None,
               comments: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The decision buttons ``principal`` may press now on ``record`` (the permission table's
    ``allowed_actions``): ``[{action, url, comment_required, error, comment}]``."""
    from registry.workflow.service import allowed_actions

    allowed = set(allowed_actions(principal, workflow, record))
    return [{"action": a, "url": url(a), "comment_required": _comment_required(workflow, a),
             "error": (errors or {}).get(a), "comment": (comments or {}).get(a)}
            for a in candidates if a in allowed]


def _four_eyes(principal: Principal, owner_organization_id: uuid.UUID | None,
               status: str) -> bool:
    """The reviewer belongs to the owner organisation of a record waiting for a decision."""
    return (principal.is_member_of(owner_organization_id)
            and status in ("submitted", "completion_declared"))


def _reply_to(entries: list[Any]) -> Any:
    """The thread entry named by ``?reply_to=`` (None when absent or not visible)."""
    wanted = (request.args.get("reply_to") or "")[:40]
    return next((e for e in entries if str(e.id) == wanted), None) if wanted else None


def _age(submitted_at: Any) -> tuple[float | None, bool]:
    """Working days since ``submitted_at`` and whether that is past the target."""
    if submitted_at is None:
        return None, False
    from registry.workflow.queue import working_days_between
    from shared.db import utcnow

    days = working_days_between(submitted_at, utcnow())
    return days, days > _target()


def _target() -> int:
    return int(number("REVIEW_TARGET_WORKING_DAYS") or 5)


def _assign_form(session: Any, principal: Principal, assigned_id: uuid.UUID | None
                 ) -> AssignForm:
    """The assignment form: "me", "no one", and every other reviewer."""
    from wtforms.fields.choices import SelectChoice

    from registry.review.reviewers import list_reviewers

    form = AssignForm()
    me = principal.subject
    choices = [SelectChoice("me", _("Me")), SelectChoice("none", _("No one"))]
    choices += [SelectChoice(str(r.id), r.label) for r in list_reviewers(
        db_session=session, principal=principal) if str(r.id) != me]
    form.reviewer.choices = choices
    if not form.is_submitted():
        form.reviewer.data = ("me" if assigned_id is not None and str(assigned_id) == me
                              else str(assigned_id) if assigned_id else "none")
    return form


def _reviewer_name(session: Any, user_id: uuid.UUID | None) -> str | None:
    if user_id is None:
        return None
    from registry.accounts.models import User

    user = session.get(User, user_id)
    return (user.display_name or user.email) if user is not None else None


def _organization(session: Any, organization_id: uuid.UUID | None) -> Any:
    if organization_id is None:
        return None
    from registry.organizations.models import Organization

    return session.get(Organization, organization_id)


def _initiative_page(initiative_id: uuid.UUID, *, status: int = 200, stale: bool = False,
                     errors: dict[str, str] | None = None,
                     comments: dict[str, str] | None = None,
                     comment_form: CommentForm | None = None):
    """The review page of an initiative (GET, and the answer of a refused form)."""
    from registry.initiatives import versions
    from registry.initiatives.policy import WORKFLOW
    from registry.workflow.thread import thread_entries

    principal = current_principal()
    refusal = _require_reviewer(principal)
    if refusal is not None:
        return refusal
    session = db.session()
    try:
        view = service.get_initiative(db_session=session, principal=principal,
                                      initiative_id=initiative_id)
        entries = thread_entries(db_session=session, principal=principal,
                                 initiative_id=initiative_id)
    except DomainError as exc:
        return _refusal(exc) or abort(400)
    content = versions.content_of(view)
    diff = None
    if view.approved_version and view.status in ("submitted", "changes_requested"):
        approved = versions.get_version(db_session=session, principal=principal,
                                        initiative_id=initiative_id,
                                        number=view.approved_version)
        diff = versions.diff_content(approved.content, content)
    age, overdue = _age(view.submitted_at if view.status == "submitted" else
                        getattr(view, "completion_declared_at", None))
    here = url_for(".review", initiative_id=initiative_id)
    return render_template(
        "review/secretariat_review.html", initiative=view, revision=None,
        record_kind=_record_kind(view.status), content=content,
        smart_errors=service.submission_errors(view), diff=diff,
        diff_heading=_("Changes since the approved version"),
        entries=entries, comment_form=comment_form or _comment_form(entries),
        comment_action=url_for(".comment", initiative_id=initiative_id),
        reply_to=_reply_to(entries), here=here,
        assign_form=_assign_form(session, principal, view.assigned_reviewer_id),
        assign_action=url_for(".assign", initiative_id=initiative_id)
        if view.status in ("submitted", "completion_declared") else None,
        assigned_name=_reviewer_name(session, view.assigned_reviewer_id),
        decisions=_decisions(principal, WORKFLOW, view, INITIATIVE_DECISIONS,
                             lambda a: url_for(".decide", initiative_id=initiative_id,
                                               action=a), errors, comments),
        four_eyes=_four_eyes(principal, view.owner_organization_id, view.status),
        version=view.version, owner=_organization(session, view.owner_organization_id),
        submitted_at=view.submitted_at, age=age, overdue=overdue, target=_target(),
        stale=stale), status


def _comment_form(entries: list[Any]) -> CommentForm:
    form = CommentForm(secretariat=True)
    reply = _reply_to(entries)
    if reply is not None and not form.is_submitted():
        form.reply_to_id.data = str(reply.id)
    return form


@bp.get("/secretariat/review/<uuid:initiative_id>")
def review(initiative_id: uuid.UUID):
    """The review page of an initiative: its record, the SMART check, the diff against the
    last approved version (a re-submission after an approval), the thread with internal
    notes and the reply form, the assignment, and the decision buttons allowed now."""
    return _initiative_page(initiative_id)


def _decide(work, *, page, action: str):
    """Run a decision (``work(session, comment, version)``), commit, flash, and go back to the
    page; a refused decision answers the page again with the reason (422: the comment, 412:
    stale, 409/403/404)."""
    form = DecisionForm()
    if not form.validate_on_submit():
        if form.errors.keys() - {"csrf_token"}:
            return page(status=422, errors={action: _("Give at most %(num)s characters.",
                                                       num=10_000)},
                        comments={action: request.form.get("comment", "")[:10_000]})
        abort(400)
    comment = (form.comment.data or "").strip() or None
    session = db.session()
    try:
        work(session, comment, form.version.data)
        session.commit()
    except PreconditionFailed:
        session.rollback()
        return page(status=412, stale=True, comments={action: comment or ""})
    except ValidationError as exc:
        session.rollback()
        fields = {e.get("field") for e in exc.errors or []}
        if "comment" in fields:
            message = _("Say why: a comment is required for this decision.")
        elif fields:
            message = _("The record is not complete: see the SMART check.")
        else:
            message = _("That cannot be done in the current state.")
        return page(status=422, errors={action: message}, comments={action: comment or ""})
    except Conflict as exc:
        session.rollback()
        refusal = _refusal(exc)
        if refusal is not None:
            return refusal
        return page(status=409, errors={action: _conflict_message(exc)},
                    comments={action: comment or ""})
    except DomainError as exc:
        session.rollback()
        return _refusal(exc) or page(status=exc.status)
    return None


def _conflict_message(exc: DomainError) -> str:
    if "verified" in (exc.detail or "").lower():
        return _("The owner organisation is not verified yet: verify it first.")
    return _("That cannot be done in the current state.")


@bp.post("/secretariat/review/<uuid:initiative_id>/decisions/<action>")
def decide(initiative_id: uuid.UUID, action: str):
    """Take a decision on an initiative (``approve``, ``request_changes``, ``reject``,
    ``confirm_completion``, ``decline_completion``, ``suspend``, ``reinstate``,
    ``archive``) through ``service.transition`` with the page's ``version``."""
    if action not in INITIATIVE_DECISIONS:
        abort(404)

    def work(session, comment, version):
        service.transition(db_session=session, principal=current_principal(),
                           initiative_id=initiative_id, action=action, comment=comment,
                           expected_version=version)

    answer = _decide(work, action=action, page=lambda **kw: _initiative_page(
        initiative_id, **kw))
    if answer is not None:
        return answer
    flash(_("Done: %(decision)s.", decision=_decision_label(action)), "success")
    return redirect(url_for(".review", initiative_id=initiative_id), 303)


def _decision_label(action: str) -> str:
    return {"approve": _("approved"), "request_changes": _("changes requested"),
            "reject": _("rejected"), "confirm_completion": _("completion confirmed"),
            "decline_completion": _("completion declined"), "suspend": _("suspended"),
            "reinstate": _("reinstated"), "archive": _("archived")}.get(action, action)


@bp.post("/secretariat/review/<uuid:initiative_id>/comments")
def comment(initiative_id: uuid.UUID):
    """Post a comment, a reply or an internal note to the initiative's thread."""
    from registry.workflow.thread import add_comment

    principal = current_principal()
    refusal = _require_reviewer(principal)
    if refusal is not None:
        return refusal
    form = CommentForm(secretariat=True)
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        return _initiative_page(initiative_id, status=422, comment_form=form)
    session = db.session()
    try:
        add_comment(db_session=session, principal=principal, initiative_id=initiative_id,
                    body=form.body.data.strip(), visibility=form.visibility.data,
                    reply_to_id=_uuid_or_none(form.reply_to_id.data))
        session.commit()
    except ValidationError as exc:
        session.rollback()
        for error in exc.errors or [{"field": "body"}]:
            target = form.visibility if error.get("field") == "visibility" else form.body
            target.errors = [*target.errors, _("Check this field.")]
        return _initiative_page(initiative_id, status=422, comment_form=form)
    except DomainError as exc:
        session.rollback()
        return _refusal(exc) or abort(400)
    flash(_("Internal note added.") if form.visibility.data == "internal"
          else _("Comment posted."), "success")
    return redirect(url_for(".review", initiative_id=initiative_id) + "#thread-heading", 303)


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _assignee(form: AssignForm, principal: Principal) -> uuid.UUID | None:
    choice = form.reviewer.data
    if choice == "me":
        return uuid.UUID(principal.subject) if principal.subject else None
    if choice == "none":
        return None
    return _uuid_or_none(choice)


@bp.post("/secretariat/review/<uuid:initiative_id>/assign")
def assign(initiative_id: uuid.UUID):
    """Assign the initiative's review to me, to another reviewer or to no one."""
    from registry.workflow.queue import assign_reviewer

    principal = current_principal()
    refusal = _require_reviewer(principal)
    if refusal is not None:
        return refusal
    session = db.session()
    form = _assign_form(session, principal, None)
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        flash(_("Choose a reviewer from the list."), "error")
        return redirect(url_for(".review", initiative_id=initiative_id), 303)
    try:
        assign_reviewer(db_session=session, principal=principal, initiative_id=initiative_id,
                        reviewer_id=_assignee(form, principal),
                        expected_version=form.version.data)
        session.commit()
    except PreconditionFailed:
        session.rollback()
        return _initiative_page(initiative_id, status=412, stale=True)
    except DomainError as exc:
        session.rollback()
        refusal = _refusal(exc)
        if refusal is not None:
            return refusal
        flash(_("That cannot be done in the current state."), "error")
        return redirect(url_for(".review", initiative_id=initiative_id), 303)
    flash(_("Assignment saved."), "success")
    return redirect(url_for(".review", initiative_id=initiative_id), 303)


# -- revisions ---------------------------------------------------------------------------------
def _content_errors(content: dict[str, Any]) -> list[dict[str, str]]:
    """The SMART check of a content (a revision's proposed content): the same rule as
    ``service.submission_errors``, read from the content shape."""
    from types import SimpleNamespace

    lead = content.get("lead_organization") or None
    record = SimpleNamespace(
        description=content.get("description"),
        lead_organization_id=(lead or {}).get("id"),
        target_codes=content.get("sdg_targets") or [],
        goal_codes=content.get("sdg_goals") or [],
        country_codes=content.get("countries") or [],
        region_codes=content.get("regions") or [],
        start_date=content.get("start_date"), end_date=content.get("end_date"),
        deliverables=[SimpleNamespace(**d) for d in content.get("deliverables") or []],
        resources=content.get("resources") or [],
        contact_email=content.get("contact_email"))
    return service.submission_errors(record)  # type: ignore[arg-type]


def _revision_page(initiative_id: uuid.UUID, number: int, *, status: int = 200,
                   stale: bool = False, errors: dict[str, str] | None = None,
                   comments: dict[str, str] | None = None,
                   comment_form: CommentForm | None = None):
    """The review page of revision ``number`` (GET, and the answer of a refused form)."""
    from registry.initiatives import revisions
    from registry.workflow.thread import thread_entries

    principal = current_principal()
    refusal = _require_reviewer(principal)
    if refusal is not None:
        return refusal
    session = db.session()
    try:
        view = service.get_initiative(db_session=session, principal=principal,
                                      initiative_id=initiative_id)
        revision = revisions.get_revision(db_session=session, principal=principal,
                                          initiative_id=initiative_id, number=number)
        diff = revisions.diff_revision(db_session=session, principal=principal,
                                       initiative_id=initiative_id, number=number)
        entries = thread_entries(db_session=session, principal=principal,
                                 initiative_id=initiative_id)
    except DomainError as exc:
        return _refusal(exc) or abort(400)
    age, overdue = _age(revision.submitted_at if revision.status == "submitted" else None)
    here = url_for(".revision", initiative_id=initiative_id, number=number)
    return render_template(
        "review/secretariat_review.html", initiative=view, revision=revision,
        record_kind="revision", content=revision.content,
        smart_errors=_content_errors(revision.content), diff=diff,
        diff_heading=_("Changes proposed against version %(number)s",
                       number=revision.base_version or view.approved_version or 1),
        entries=entries, comment_form=comment_form or _comment_form(entries),
        comment_action=url_for(".comment", initiative_id=initiative_id),
        reply_to=_reply_to(entries), here=here,
        assign_form=_assign_form(session, principal, revision.assigned_reviewer_id),
        assign_action=url_for(".assign_revision", initiative_id=initiative_id, number=number)
        if revision.status == "submitted" else None,
        assigned_name=_reviewer_name(session, revision.assigned_reviewer_id),
        decisions=_decisions(principal, revisions.WORKFLOW, revision, REVISION_DECISIONS,
                             lambda a: url_for(".decide_revision", initiative_id=initiative_id,
                                               number=number, action=a), errors, comments),
        four_eyes=_four_eyes(principal, revision.owner_organization_id, revision.status),
        version=revision.version, owner=_organization(session, view.owner_organization_id),
        submitted_at=revision.submitted_at, age=age, overdue=overdue, target=_target(),
        stale=stale), status


@bp.get("/secretariat/review/<uuid:initiative_id>/revisions/<int:number>")
def revision(initiative_id: uuid.UUID, number: int):
    """The review page of a revision of a published initiative: the proposed content, its
    SMART check, the diff against the approved version it was based on, the thread, the
    assignment and the decisions (approve, request changes, reject)."""
    return _revision_page(initiative_id, number)


@bp.post("/secretariat/review/<uuid:initiative_id>/revisions/<int:number>/decisions/<action>")
def decide_revision(initiative_id: uuid.UUID, number: int, action: str):
    """Approve, request changes to or reject a revision (``revisions.revision_action`` with
    the page's ``version``)."""
    from registry.initiatives import revisions

    if action not in REVISION_DECISIONS:
        abort(404)

    def work(session, comment, version):
        revisions.revision_action(db_session=session, principal=current_principal(),
                                  initiative_id=initiative_id, number=number, action=action,
                                  comment=comment, expected_version=version)

    answer = _decide(work, action=action, page=lambda **kw: _revision_page(
        initiative_id, number, **kw))
    if answer is not None:
        return answer
    flash(_("Done: %(decision)s.", decision=_decision_label(action)), "success")
    return redirect(url_for(".revision", initiative_id=initiative_id, number=number), 303)


@bp.post("/secretariat/review/<uuid:initiative_id>/revisions/<int:number>/assign")
def assign_revision(initiative_id: uuid.UUID, number: int):
    """Assign a revision's review to me, to another reviewer or to no one."""
    from registry.workflow.queue import assign_reviewer

    principal = current_principal()
    refusal = _require_reviewer(principal)
    if refusal is not None:
        return refusal
    session = db.session()
    form = _assign_form(session, principal, None)
    target = url_for(".revision", initiative_id=initiative_id, number=number)
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        flash(_("Choose a reviewer from the list."), "error")
        return redirect(target, 303)
    try:
        assign_reviewer(db_session=session, principal=principal, initiative_id=initiative_id,
                        revision_number=number, reviewer_id=_assignee(form, principal),
                        expected_version=form.version.data)
        session.commit()
    except PreconditionFailed:
        session.rollback()
        return _revision_page(initiative_id, number, status=412, stale=True)
    except DomainError as exc:
        session.rollback()
        refusal = _refusal(exc)
        if refusal is not None:
            return refusal
        flash(_("That cannot be done in the current state."), "error")
        return redirect(target, 303)
    flash(_("Assignment saved."), "success")
    return redirect(target, 303)
