"""The secretariat's review desk: the review queue (``/secretariat/review``), the review page
of an initiative (``/secretariat/review/<initiative id>``: a submission, a completion
declaration or any record the secretariat acts on) and of a revision
(``…/revisions/<n>``).

Each page shows the record, the SMART check, the diff against the last approved version where
there is one, the thread with its reply form and internal notes, the reviewer assignment and
the decision buttons the permission table allows the reviewer now (four eyes: a reviewer who
is a member of the owner organisation is told so instead). Every form is a Flask-WTF form
(CSRF) posting to the same service functions as the API (``registry.initiatives.service``,
``registry.initiatives.revisions``, ``registry.workflow.thread``), which authorize; each
decision carries the record's ``version``, so a decision taken on a stale page answers 412
("someone changed this record since you opened it") and changes nothing. Works without
JavaScript.

One endpoint per decision (``review_pages.decide_<action>``: ``…/<initiative id>/approve``,
``…/request-changes``...; revisions ``review_pages.decide_revision_<action>``), so each route
answers to one row of the permission table (``registry.authz.routes``).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from typing import Any, cast

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from wtforms.fields.choices import SelectChoice

from registry import db
from registry.authz.permissions import Action, Aggregate, can
from registry.initiatives import policy, service
from registry.review import INITIATIVE_DECISIONS, REVISION_DECISIONS
from registry.review.forms import BODY_MAX, AssignForm, CommentForm, DecisionForm
from shared.identity import Principal
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
KINDS = ("submission", "revision", "completion", "progress_report")
ASSIGNED = ("any", "me", "none")


# -- answers shared by every page --------------------------------------------------------------
def _sign_in_or_none(principal: Principal):
    from registry.authz.routes import sign_in_response

    return None if principal.is_authenticated else sign_in_response()


def _refusal(exc: DomainError):
    """The page answer of a refusal the permission table gives (401 -> sign in, 403, 404,
    409); None for other errors (shown on the page the form came from)."""
    if isinstance(exc, Unauthenticated):
        return _sign_in_or_none(current_principal()) or (render_template(
            "review/refused.html", message=_("You may not do that.")), 401)
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
    if "member of the owner" in detail or "four eyes" in detail:
        return _("You cannot decide: you are a member of the owner organisation.")
    return _("You may not do that.")


def _not_a_reviewer():
    return render_template("review/refused.html", message=_(
        "Only the secretariat's reviewers may see this page.")), 403


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    try:
        value = int(request.args.get(name, default))
    except ValueError:
        return default
    return value if lo <= value <= hi else default


def _may_review(principal: Principal, record: Any, aggregate: Aggregate) -> bool:
    """May ``principal`` open the review page of ``record`` (``review`` in the permission
    table: the secretariat's reviewers, in any state)?"""
    return can(principal, Action.REVIEW, record, aggregate)


# -- the queue -------------------------------------------------------------------------------
@bp.get("/secretariat/review")
def queue():
    """The review queue: submissions, revisions and completion declarations waiting for a
    decision, oldest first, with their age in working days against the target
    (``REVIEW_TARGET_WORKING_DAYS``, 5), the assigned reviewer, and whether the reviewer may
    decide (four eyes). Filters: ``kind`` (submission, revision, completion,
    progress_report), ``assigned``
    (me, none, any); ``page``. Unknown filter values are ignored."""
    from registry.workflow.queue import review_queue

    principal = current_principal()
    refusal = _sign_in_or_none(principal)
    if refusal is not None:
        return refusal
    kind = request.args.get("kind") or None
    kind = kind if kind in KINDS else None
    assigned = request.args.get("assigned") or "any"
    assigned = assigned if assigned in ASSIGNED else "any"
    page = _int_arg("page", 1, 1, 100_000)
    try:
        result = review_queue(db_session=db.session(), principal=principal, kind=kind,
                              assigned=assigned, page=page, per_page=PER_PAGE)
    except (NotAllowed, NotFound):
        return _not_a_reviewer()
    pages = max(1, math.ceil(result.total / PER_PAGE))
    return render_template("review/secretariat_review_queue.html", items=result.items,
                           total=result.total, kind=kind or "", assigned=assigned, page=page,
                           pages=pages, target=result.target_working_days)


# -- what a review page shows ------------------------------------------------------------------
def _record_kind(status: str) -> str:
    """What the secretariat reviews in ``status``: a submission, a completion declaration or
    any other record."""
    return {"submitted": "submission", "completion_declared": "completion"}.get(status, "record")


def _decisions(principal: Principal, workflow: Any, record: Any, candidates: tuple[str, ...],
               url: Callable[[str], str], errors: dict[str, str] | None = None,
               comments: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The decision buttons ``principal`` may press now on ``record`` (the workflow's
    ``allowed_actions``): ``[{action, url, comment_required, error, comment}]``."""
    from registry.workflow.service import allowed_actions

    allowed = set(allowed_actions(principal, workflow, record))
    out = []
    for action in candidates:
        transition = workflow.transition(action)
        if action in allowed and transition is not None:
            out.append({"action": action, "url": url(action),
                        "comment_required": transition.comment_required,
                        "error": (errors or {}).get(action),
                        "comment": (comments or {}).get(action)})
    return out


def _four_eyes(principal: Principal, owner_organization_id: uuid.UUID | None,
               pending: bool) -> bool:
    """The reviewer is a member of the owner organisation of a record on which a four-eyes
    decision is ``pending`` (the decision is someone else's)."""
    return pending and principal.is_member_of(owner_organization_id)


def _decision_pending(status: str) -> bool:
    """A four-eyes decision of the initiative workflow may be taken in ``status``."""
    return any(status in t.sources and policy.DECIDER[0] in t.who
               for t in policy.INITIATIVE_WORKFLOW.transitions)


def _reply_to(entries: list[Any]) -> Any:
    """The thread entry named by ``?reply_to=`` (None when absent or not visible)."""
    wanted = (request.args.get("reply_to") or "")[:40]
    return next((e for e in entries if str(e.id) == wanted), None) if wanted else None


def _age(since: Any) -> tuple[float | None, bool, int]:
    """Working days since ``since``, whether that is past the target, and the target."""
    from registry.workflow.queue import target_working_days, working_days_between
    from shared.db import utcnow

    target = target_working_days()
    if since is None:
        return None, False, target
    days = working_days_between(since, utcnow())
    return days, days > target, target


def _assign_form(session: Any, principal: Principal, assigned_id: uuid.UUID | None
                 ) -> AssignForm:
    """The assignment form: "me", "no one", and every other reviewer (its current choice
    selected)."""
    from registry.review.reviewers import list_reviewers

    form = AssignForm(formdata=None)
    me = principal.subject
    choices = [SelectChoice("me", _("Me")), SelectChoice("none", _("No one"))]
    choices += [SelectChoice(str(r.id), r.label) for r in list_reviewers(
        db_session=session, principal=principal) if str(r.id) != me]
    form.reviewer.choices = choices
    form.reviewer.data = ("me" if assigned_id is not None and str(assigned_id) == me
                          else str(assigned_id) if assigned_id else "none")
    return form


def _names(session: Any, *user_ids: uuid.UUID | None) -> dict[uuid.UUID, str]:
    from registry.workflow.thread import reviewer_names

    return reviewer_names(session, {u for u in user_ids if u is not None})


def _organization(session: Any, organization_id: uuid.UUID | None) -> Any:
    if organization_id is None:
        return None
    from registry.organizations.models import Organization

    return session.get(Organization, organization_id)


def _comment_form(entries: list[Any], form: CommentForm | None = None) -> CommentForm:
    form = form or CommentForm(secretariat=True, formdata=None)
    reply = _reply_to(entries)
    if reply is not None and not form.reply_to_id.data:
        form.reply_to_id.data = str(reply.id)
    return form


def _page(*, session: Any, principal: Principal, initiative: Any, revision: Any,
          record: Any, aggregate: Aggregate, content: dict[str, Any],
          smart_errors: list[dict[str, str]], diff: dict[str, Any] | None,
          diff_heading: str, entries: list[Any], here: str, assign_action: str | None,
          decisions: list[dict[str, Any]], since: Any, status: int, stale: bool,
          comment_form: CommentForm | None, pending: bool):
    """Render ``review/secretariat_review.html`` (both kinds of review page)."""
    age, overdue, target = _age(since)
    names = _names(session, record.assigned_reviewer_id)
    return render_template(
        "review/secretariat_review.html", initiative=initiative, revision=revision,
        record_kind="revision" if revision is not None else _record_kind(initiative.status),
        content=content, smart_errors=smart_errors, diff=diff, diff_heading=diff_heading,
        entries=entries, comment_form=_comment_form(entries, comment_form) if can(
            principal, Action.COMMENT, initiative, Aggregate.INITIATIVE) else None,
        comment_action=url_for(".comment", initiative_id=initiative.id),
        reply_to=_reply_to(entries), here=here,
        assign_form=_assign_form(session, principal, record.assigned_reviewer_id),
        assign_action=assign_action if assign_action and can(
            principal, Action.ASSIGN, record, aggregate) else None,
        assigned_name=names.get(record.assigned_reviewer_id),
        decisions=decisions,
        four_eyes=_four_eyes(principal, initiative.owner_organization_id, pending),
        version=record.version, owner=_organization(session, initiative.owner_organization_id),
        submitted_at=getattr(record, "submitted_at", None), age=age, overdue=overdue,
        target=target, stale=stale), status


# -- the review page of an initiative ----------------------------------------------------------
def _initiative_page(initiative_id: uuid.UUID, *, status: int = 200, stale: bool = False,
                     errors: dict[str, str] | None = None,
                     comments: dict[str, str] | None = None,
                     comment_form: CommentForm | None = None):
    """The review page of an initiative (GET, and the answer of a refused form)."""
    from registry.initiatives import versions
    from registry.workflow.thread import initiative_thread

    principal = current_principal()
    refusal = _sign_in_or_none(principal)
    if refusal is not None:
        return refusal
    session = db.session()
    try:
        view = service.get_initiative(db_session=session, principal=principal,
                                      initiative_id=initiative_id)
        if not _may_review(principal, view, Aggregate.INITIATIVE):
            return _not_a_reviewer()
        entries = initiative_thread(db_session=session, principal=principal,
                                    initiative_id=initiative_id)
    except DomainError as exc:
        return _refusal(exc) or abort(400)
    content = versions.content_of(view)
    diff = None
    if view.approved_version and view.status in ("submitted", "changes_requested"):
        # a re-submission after an approval: what changed since the approved version
        approved = versions.get_version(db_session=session, principal=principal,
                                        initiative_id=initiative_id,
                                        number=view.approved_version)
        diff = versions.diff_content(approved.content or {}, content)
    since = {"submitted": view.submitted_at,
             "completion_declared": view.completion_declared_at}.get(view.status)
    workflow = policy.INITIATIVE_WORKFLOW
    return _page(
        session=session, principal=principal, initiative=view, revision=None,
        record=view, aggregate=Aggregate.INITIATIVE, content=content,
        smart_errors=service.submission_errors(cast(Any, view)), diff=diff,
        diff_heading=_("Changes since the approved version"), entries=entries,
        here=url_for(".review", initiative_id=initiative_id),
        assign_action=url_for(".assign", initiative_id=initiative_id),
        decisions=_decisions(principal, workflow, view, INITIATIVE_DECISIONS,
                             lambda a: url_for(f".decide_{a}", initiative_id=initiative_id),
                             errors, comments),
        since=since, status=status, stale=stale, comment_form=comment_form,
        pending=_decision_pending(view.status))


@bp.get("/secretariat/review/<uuid:initiative_id>")
def review(initiative_id: uuid.UUID):
    """The review page of an initiative: its record, the SMART check, the diff against the
    last approved version (a re-submission after an approval), the thread with internal
    notes and the reply form, the assignment, and the decision buttons allowed now."""
    return _initiative_page(initiative_id)


def _decide(work: Callable[[Any, str | None, int | None], Any], *, page: Callable[..., Any],
            action: str):
    """Run a decision (``work(session, comment, version)``) and commit; None on success, else
    the page again with the reason: 422 (the comment, an incomplete record), 412 (stale
    version), 409/403/404/401 as the permission table says."""
    form = DecisionForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        return page(status=422, errors={action: _("Give at most %(num)s characters.",
                                                   num=BODY_MAX)},
                    comments={action: (request.form.get("comment") or "")[:BODY_MAX]})
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
        else:
            message = _("The record is not complete: see the SMART check.")
        return page(status=422, errors={action: message}, comments={action: comment or ""})
    except DomainError as exc:
        session.rollback()
        refusal = _refusal(exc)
        if refusal is not None:
            return refusal
        message = (_("The owner organisation is not verified yet: verify it first.")
                   if isinstance(exc, Conflict) and "verif" in (exc.detail or "").lower()
                   else _("That cannot be done in the current state."))
        return page(status=exc.status, errors={action: message},
                    comments={action: comment or ""})
    return None


def _decision_label(action: str) -> str:
    return {"approve": _("approved"), "request_changes": _("changes requested"),
            "reject": _("rejected"), "confirm_completion": _("completion confirmed"),
            "decline_completion": _("completion declined"), "suspend": _("suspended"),
            "reinstate": _("reinstated"), "archive": _("archived")}.get(action, action)


def _decide_initiative(initiative_id: uuid.UUID, action: str):
    """Take ``action`` on an initiative through ``service.transition`` with the page's
    ``version``; back to the review page."""

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


def _register_initiative_decision(action: str) -> None:
    path = action.replace("_", "-")

    def view(initiative_id: uuid.UUID):
        return _decide_initiative(initiative_id, action)

    view.__name__ = f"decide_{action}"
    view.__doc__ = (f"POST ``{action}`` on an initiative from its review page "
                    "(``service.transition``).")
    bp.add_url_rule(f"/secretariat/review/<uuid:initiative_id>/{path}",
                    endpoint=f"decide_{action}", view_func=view, methods=["POST"])


for _action in INITIATIVE_DECISIONS:
    _register_initiative_decision(_action)


# -- the thread and the assignment ------------------------------------------------------------
def _back_to(initiative_id: uuid.UUID, principal: Principal) -> str:
    """Where a form of the thread goes back to: the review page (the secretariat) or the
    owner page (the owner organisation's members)."""
    if principal.is_staff:
        return url_for(".review", initiative_id=initiative_id)
    return f"/my/initiatives/{initiative_id}"


@bp.post("/secretariat/review/<uuid:initiative_id>/comments")
def comment(initiative_id: uuid.UUID):
    """Post a comment, a reply (``reply_to_id``) or an internal note (``visibility``
    ``internal``) to the initiative's thread (``registry.workflow.thread.add_comment``, which
    authorizes: ``comment`` in the permission table)."""
    from registry.workflow.thread import add_comment

    principal = current_principal()
    form = CommentForm(secretariat=True)
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        return _initiative_page(initiative_id, status=422, comment_form=form)
    session = db.session()
    try:
        add_comment(db_session=session, principal=principal, initiative_id=initiative_id,
                    body=form.body.data, visibility=form.visibility.data,
                    reply_to_id=_uuid_or_none(form.reply_to_id.data))
        session.commit()
    except ValidationError as exc:
        session.rollback()
        for error in exc.errors or [{"field": "body"}]:
            field = form.visibility if error.get("field") == "visibility" else form.body
            field.errors = [*field.errors, _("Check this field.")]
        return _initiative_page(initiative_id, status=422, comment_form=form)
    except DomainError as exc:
        session.rollback()
        return _refusal(exc) or abort(400)
    flash(_("Internal note added.") if form.visibility.data == "internal"
          else _("Comment posted."), "success")
    return redirect(_back_to(initiative_id, principal) + "#thread-heading", 303)


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _assignee(principal: Principal) -> tuple[bool, uuid.UUID | None]:
    """``(valid, reviewer id)`` from the form's ``reviewer`` (``me``, ``none`` or an id)."""
    choice = (request.form.get("reviewer") or "").strip()
    if choice == "me":
        me = _uuid_or_none(principal.subject)
        return me is not None, me
    if choice == "none":
        return True, None
    chosen = _uuid_or_none(choice)
    return chosen is not None, chosen


def _assign(work: Callable[[Any, uuid.UUID | None, int | None], Any], *, target: str,
            page: Callable[..., Any]):
    """Check the CSRF token, run the assignment, commit; back to ``target`` (412 answers the
    page again)."""
    form = DecisionForm()
    if not form.validate_on_submit() and "csrf_token" in form.errors:
        abort(400)
    valid, reviewer_id = _assignee(current_principal())
    session = db.session()
    try:
        if not valid:
            raise ValidationError("Choose a reviewer.", errors=[{"field": "reviewer_id"}])
        work(session, reviewer_id, form.version.data)
        session.commit()
    except PreconditionFailed:
        session.rollback()
        return page(status=412, stale=True)
    except ValidationError:
        session.rollback()
        flash(_("Choose a reviewer from the list."), "error")
        return redirect(target, 303)
    except DomainError as exc:
        session.rollback()
        refusal = _refusal(exc)
        if refusal is not None:
            return refusal
        flash(_("That cannot be done in the current state."), "error")
        return redirect(target, 303)
    flash(_("Assignment saved."), "success")
    return redirect(target, 303)


@bp.post("/secretariat/review/<uuid:initiative_id>/assign")
def assign(initiative_id: uuid.UUID):
    """Assign the initiative's review to me, to another reviewer or to no one
    (``registry.workflow.thread.assign_reviewer``)."""
    from registry.workflow.thread import assign_reviewer

    def work(session, reviewer_id, version):
        assign_reviewer(db_session=session, principal=current_principal(),
                        initiative_id=initiative_id, reviewer_id=reviewer_id,
                        expected_version=version)

    return _assign(work, target=url_for(".review", initiative_id=initiative_id),
                   page=lambda **kw: _initiative_page(initiative_id, **kw))


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
        deliverables=[SimpleNamespace(due_date=d.get("due_date"))
                      for d in content.get("deliverables") or []],
        resources=content.get("resources") or [],
        contact_email=content.get("contact_email"))
    return service.submission_errors(record)  # type: ignore[arg-type]


def _revision_record(revision: Any, initiative: Any) -> Any:
    """The revision as the permission table judges it: its fields plus the owner
    organisation (copied from the initiative, as the revision row has it)."""
    from types import SimpleNamespace

    return SimpleNamespace(**{**vars(revision),
                              "owner_organization_id": initiative.owner_organization_id})


def _revision_page(initiative_id: uuid.UUID, number: int, *, status: int = 200,
                   stale: bool = False, errors: dict[str, str] | None = None,
                   comments: dict[str, str] | None = None,
                   comment_form: CommentForm | None = None):
    """The review page of revision ``number`` (GET, and the answer of a refused form)."""
    from registry.initiatives import revisions
    from registry.workflow.thread import initiative_thread

    principal = current_principal()
    refusal = _sign_in_or_none(principal)
    if refusal is not None:
        return refusal
    session = db.session()
    try:
        view = service.get_initiative(db_session=session, principal=principal,
                                      initiative_id=initiative_id)
        revision = revisions.get_revision(db_session=session, principal=principal,
                                          initiative_id=initiative_id, number=number)
        if not _may_review(principal, _revision_record(revision, view), Aggregate.REVISION):
            return _not_a_reviewer()
        diff = revisions.diff_revision(db_session=session, principal=principal,
                                       initiative_id=initiative_id, number=number)
        entries = initiative_thread(db_session=session, principal=principal,
                                    initiative_id=initiative_id)
    except DomainError as exc:
        return _refusal(exc) or abort(400)
    return _page(
        session=session, principal=principal, initiative=view, revision=revision,
        record=_revision_record(revision, view), aggregate=Aggregate.REVISION,
        content=revision.content, smart_errors=_content_errors(revision.content), diff=diff,
        diff_heading=_("Changes proposed against version %(number)s",
                       number=revision.base_version or view.approved_version or 1),
        entries=entries, here=url_for(".revision", initiative_id=initiative_id, number=number),
        assign_action=url_for(".assign_revision", initiative_id=initiative_id, number=number),
        decisions=_decisions(principal, policy.REVISION_WORKFLOW, _revision_record(
            revision, view), REVISION_DECISIONS,
            lambda a: url_for(f".decide_revision_{a}", initiative_id=initiative_id,
                              number=number), errors, comments),
        since=revision.submitted_at if revision.status == "submitted" else None,
        status=status, stale=stale, comment_form=comment_form,
        pending=revision.status == "submitted")


@bp.get("/secretariat/review/<uuid:initiative_id>/revisions/<int:number>")
def revision(initiative_id: uuid.UUID, number: int):
    """The review page of a revision of a published initiative: the proposed content, its
    SMART check, the diff against the approved version, the thread, the assignment and the
    decisions (approve, request changes, reject)."""
    return _revision_page(initiative_id, number)


def _decide_revision(initiative_id: uuid.UUID, number: int, action: str):
    """Take ``action`` on a revision (``revisions.revision_action`` with the page's
    ``version``); back to the revision's review page."""
    from registry.initiatives import revisions

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


def _register_revision_decision(action: str) -> None:
    path = action.replace("_", "-")

    def view(initiative_id: uuid.UUID, number: int):
        return _decide_revision(initiative_id, number, action)

    view.__name__ = f"decide_revision_{action}"
    view.__doc__ = (f"POST ``{action}`` on a revision from its review page "
                    "(``revisions.revision_action``).")
    bp.add_url_rule(f"/secretariat/review/<uuid:initiative_id>/revisions/<int:number>/{path}",
                    endpoint=f"decide_revision_{action}", view_func=view, methods=["POST"])


for _action in REVISION_DECISIONS:
    _register_revision_decision(_action)


@bp.post("/secretariat/review/<uuid:initiative_id>/revisions/<int:number>/assign")
def assign_revision(initiative_id: uuid.UUID, number: int):
    """Assign a revision's review to me, to another reviewer or to no one
    (``registry.workflow.thread.assign_revision_reviewer``)."""
    from registry.workflow.thread import assign_revision_reviewer

    def work(session, reviewer_id, version):
        assign_revision_reviewer(db_session=session, principal=current_principal(),
                                 initiative_id=initiative_id, number=number,
                                 reviewer_id=reviewer_id, expected_version=version)

    return _assign(work, target=url_for(".revision", initiative_id=initiative_id,
                                        number=number),
                   page=lambda **kw: _revision_page(initiative_id, number, **kw))
