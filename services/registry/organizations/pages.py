"""Organisation pages: "my organisations" (members, invitations, join requests, proposed
links), registering an organisation, answering an invitation, an organisation's public page,
and the secretariat's verification list. Each form posts to the same service functions as
the API (``registry.organizations.service``, ``registry.initiatives.service``); every page
works without JavaScript; forms carry a CSRF token (Flask-WTF)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from registry import db
from registry.authz.limits import organization_register_limit
from registry.authz.permissions import Action, Aggregate, can
from registry.authz.routes import sign_in_response
from registry.initiatives import service as initiatives
from registry.organizations import service
from registry.organizations.forms import (
    ActionForm,
    InviteForm,
    JoinForm,
    MergeForm,
    OrganizationForm,
    RoleForm,
)
from registry.organizations.models import Organization
from shared.identity import OrgRole, Principal
from shared.identity.web import current_principal
from shared.problems import (
    Conflict,
    DomainError,
    InvalidTransition,
    NotAllowed,
    NotFound,
    Unauthenticated,
    ValidationError,
)

bp = Blueprint("organization_pages", __name__, template_folder="templates")


def _sign_in_or_401(principal: Principal):
    """Anonymous: to the sign-in page when the accounts pages exist, else a 401 page."""
    if principal.is_authenticated:
        return None
    return sign_in_response()


def _flash_error(exc: DomainError) -> None:
    """A refusal in the page's language (the service's English detail stays in the logs)."""
    if isinstance(exc, NotFound):
        flash(_("That no longer exists, or you may not see it."), "error")
    elif isinstance(exc, NotAllowed):
        flash(_("You may not do that."), "error")
    elif isinstance(exc, Conflict) and exc.detail.startswith("The organisation's last admin"):
        flash(_("An organisation keeps at least one admin: make another member admin first."),
              "error")
    elif isinstance(exc, Conflict) and "already a member" in exc.detail:
        flash(_("That person is already a member."), "error")
    elif isinstance(exc, Conflict) and "already waiting" in exc.detail:
        flash(_("Your request to join is already waiting for an answer."), "error")
    elif isinstance(exc, ValidationError) and exc.errors:
        flash(_("Please check the form: %(fields)s.",
                fields=", ".join(e["field"] for e in exc.errors)), "error")
    else:
        flash(_("That cannot be done in the current state."), "error")


def _act(work, success: str, target: str):
    """Validate the CSRF token, run ``work(session)``, commit, flash, redirect to ``target``."""
    if not ActionForm().validate_on_submit():
        abort(400)
    session = db.session()
    try:
        work(session)
        session.commit()
        flash(success, "success")
    except DomainError as exc:
        session.rollback()
        refusal = _refusal_page(exc)
        if refusal is not None:
            return refusal
        _flash_error(exc)
    return redirect(target)


def _refusal_page(exc: DomainError):
    """The page answer of an authorization refusal (the table's status: 401 -> sign in,
    403, 404); None for other errors (flashed on the page the form came from)."""
    if isinstance(exc, Unauthenticated):
        return _sign_in_or_401(current_principal())
    if isinstance(exc, NotFound):
        return render_template("not_found.html",
                               message=_("That no longer exists, or you may not see it.")), 404
    if isinstance(exc, NotAllowed):
        return render_template("organizations/forbidden.html"), 403
    if isinstance(exc, InvalidTransition):
        return render_template("organizations/forbidden.html", state=True), 409
    return None


# -- my organisations ------------------------------------------------------------------------
@bp.get("/my/organizations")
def my_organizations():
    """The signed-in person's organisations: members, invitations, join requests (admins),
    proposed links naming them (admins), and forms to invite, answer and manage."""
    principal = current_principal()
    refusal = _sign_in_or_401(principal)
    if refusal is not None:
        return refusal
    session = db.session()
    entries: list[dict[str, Any]] = []
    for oid, role in sorted(principal.memberships.items(), key=lambda kv: str(kv[0])):
        org = session.get(Organization, oid)
        if org is None:
            continue
        entry: dict[str, Any] = {"org": org, "role": role, "admin": role is OrgRole.ADMIN,
                                 "members": [], "invitations": [], "join_requests": []}
        entry["members"] = service.list_members(db_session=session, principal=principal,
                                                organization_id=oid)
        if role is OrgRole.ADMIN and can(principal, Action.MANAGE_MEMBERS, org):
            entry["invitations"] = service.list_invitations(
                db_session=session, principal=principal, organization_id=oid)
            entry["join_requests"] = service.list_join_requests(
                db_session=session, principal=principal, organization_id=oid)
        entries.append(entry)
    entries.sort(key=lambda e: e["org"].name.casefold())
    links = initiatives.proposed_links(db_session=session, principal=principal)
    q = (request.args.get("q") or "").strip()[:200]
    found: list[Organization] = []
    if q:
        found, _total = service.list_organizations(db_session=session, principal=principal,
                                                   q=q, per_page=20)
        found = [o for o in found if o.id not in principal.memberships
                 and o.merged_into_id is None]
    return render_template("organizations/my.html", entries=entries, links=links, q=q,
                           found=found, invite_form=InviteForm(), role_form=RoleForm(),
                           join_form=JoinForm(), action_form=ActionForm(),
                           user_id=principal.subject)


@bp.post("/my/organizations/<uuid:organization_id>/invitations")
def invite(organization_id: uuid.UUID):
    """Invite someone by e-mail (admins)."""
    form = InviteForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return redirect(url_for(".my_organizations"))
    return _act(lambda s: service.invite_member(
        db_session=s, principal=current_principal(), organization_id=organization_id,
        email=form.email.data, role=OrgRole(form.role.data)),
        _("Invitation sent to %(email)s.", email=form.email.data),
        url_for(".my_organizations"))


@bp.post("/my/organizations/<uuid:organization_id>/members/<uuid:user_id>/role")
def change_role(organization_id: uuid.UUID, user_id: uuid.UUID):
    """Change a member's role (admins)."""
    form = RoleForm()
    if not form.validate_on_submit():
        abort(400)
    return _act(lambda s: service.change_member_role(
        db_session=s, principal=current_principal(), organization_id=organization_id,
        user_id=user_id, role=OrgRole(form.role.data)), _("Role changed."),
        url_for(".my_organizations"))


@bp.post("/my/organizations/<uuid:organization_id>/members/<uuid:user_id>/remove")
def remove_member(organization_id: uuid.UUID, user_id: uuid.UUID):
    """Remove a member (admins), or leave (oneself)."""
    return _act(lambda s: service.remove_member(
        db_session=s, principal=current_principal(), organization_id=organization_id,
        user_id=user_id), _("Member removed."), url_for(".my_organizations"))


@bp.post("/my/organizations/join-requests/<uuid:join_request_id>/<any(accept, decline):verb>")
def answer_join_request(join_request_id: uuid.UUID, verb: str):
    """Accept or decline a join request (admins)."""
    accept = verb == "accept"
    return _act(lambda s: service.decide_join_request(
        db_session=s, principal=current_principal(), join_request_id=join_request_id,
        accept=accept),
        _("Join request accepted.") if accept else _("Join request declined."),
        url_for(".my_organizations"))


@bp.post("/my/organizations/links/<uuid:initiative_id>/<uuid:organization_id>/"
         "<any(confirm, decline):verb>")
def answer_link(initiative_id: uuid.UUID, organization_id: uuid.UUID, verb: str):
    """Confirm or decline a proposed lead/partner link (the named organisation's admins)."""
    confirm = verb == "confirm"
    return _act(lambda s: initiatives.answer_link(
        db_session=s, principal=current_principal(), initiative_id=initiative_id,
        organization_id=organization_id, confirm=confirm),
        _("Link confirmed.") if confirm else _("Link declined."),
        url_for(".my_organizations"))


@bp.post("/organizations/<uuid:organization_id>/join")
def request_to_join(organization_id: uuid.UUID):
    """Ask to join an organisation (a signed-in person)."""
    form = JoinForm()
    if not form.validate_on_submit():
        abort(400)
    return _act(lambda s: service.request_to_join(
        db_session=s, principal=current_principal(), organization_id=organization_id,
        message=form.message.data),
        _("Your request was sent to the organisation's admins."),
        url_for(".my_organizations"))


# -- registration ----------------------------------------------------------------------------
@bp.route("/organizations/register", methods=["GET", "POST"])
@organization_register_limit()
def register():
    """Register an organisation: the signed-in person becomes its admin; it starts
    unverified."""
    principal = current_principal()
    refusal = _sign_in_or_401(principal)
    if refusal is not None:
        return refusal
    form = OrganizationForm()
    if form.validate_on_submit():
        session = db.session()
        data = {"name": form.name.data.strip(), "acronym": form.acronym.data or None,
                "stakeholder_group": form.stakeholder_group.data,
                "country": form.country.data or None,
                "website": (form.website.data or "").strip() or None}
        try:
            org = service.create_organization(db_session=session, principal=principal,
                                              data=data)
            session.commit()
        except Conflict as exc:
            session.rollback()
            form.name.errors.append(_("An organisation of that name is already registered: "
                                      "ask to join it instead."))
            existing = exc.extra.get("existing_id")
            return render_template("organizations/register.html", form=form,
                                   existing_id=existing), 409
        except DomainError as exc:
            session.rollback()
            _flash_error(exc)
            return render_template("organizations/register.html", form=form), exc.status
        flash(_("%(name)s is registered. The secretariat will verify it; until then its "
                "initiatives can be drafted and submitted but not published.", name=org.name),
              "success")
        return redirect(url_for(".show", organization_id=org.id))
    status = 422 if form.is_submitted() else 200
    return render_template("organizations/register.html", form=form), status


# -- invitations -----------------------------------------------------------------------------
@bp.route("/organizations/invitations/<token>", methods=["GET", "POST"])
def invitation(token: str):
    """The e-mailed link: who invites to what; accept or decline (signed in with the address
    the invitation was sent to)."""
    principal = current_principal()
    refusal = _sign_in_or_401(principal)
    if refusal is not None:
        return refusal
    session = db.session()
    form = ActionForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        accept = request.form.get("answer") == "accept"
        try:
            answered = service.answer_invitation(db_session=session, principal=principal,
                                                 token=token[:200], accept=accept)
            session.commit()
        except DomainError as exc:
            session.rollback()
            refusal = _refusal_page(exc)
            if refusal is not None:
                return refusal
            _flash_error(exc)
            return redirect(url_for(".my_organizations"))
        flash(_("You joined the organisation.") if accept else _("Invitation declined."),
              "success")
        if accept:
            flash(_("Sign out and in again if the organisation is not listed yet."), "info")
        return redirect(url_for(".show", organization_id=answered.organization_id))
    try:
        found = service.find_invitation(db_session=session, token=token[:200])
        if not can(principal, Action.VIEW, found, Aggregate.INVITATION):
            raise NotFound("not for this person")
    except NotFound:
        return render_template("organizations/invitation.html", invitation=None,
                               form=form), 404
    org = session.get(Organization, found.organization_id)
    return render_template("organizations/invitation.html", invitation=found, org=org,
                           form=form)


# -- an organisation -------------------------------------------------------------------------
@bp.get("/organizations/<uuid:organization_id>")
def show(organization_id: uuid.UUID):
    """An organisation's public page (a merged duplicate redirects to the survivor), with the
    public initiatives it owns, leads or is a partner of."""
    principal = current_principal()
    session = db.session()
    try:
        org = service.get_organization(db_session=session, principal=principal,
                                       organization_id=organization_id)
    except NotFound:
        return render_template("not_found.html",
                               message=_("No such organisation.")), 404
    if org.merged_into_id is not None:
        return redirect(url_for(".show", organization_id=org.merged_into_id), 301)
    from shared.identity import ANONYMOUS

    # the public list (what anyone may see), whoever reads the page
    listed = initiatives.organization_initiatives(db_session=session, principal=ANONYMOUS,
                                                  organization_id=org.id)
    return render_template("organizations/show.html", org=org, join_form=JoinForm(),
                           initiatives=listed,
                           may_join=principal.is_authenticated
                           and can(principal, Action.REQUEST_JOIN, org)
                           and not principal.is_member_of(org.id),
                           is_member=principal.is_member_of(org.id))


# -- the secretariat -------------------------------------------------------------------------
@bp.get("/secretariat/organizations")
def verification_list():
    """Organisations awaiting verification, with verify and merge forms (reviewers verify,
    secretariat admins merge)."""
    principal = current_principal()
    refusal = _sign_in_or_401(principal)
    if refusal is not None:
        return refusal
    q = (request.args.get("q") or "").strip()[:200] or None
    try:
        orgs = service.list_for_verification(db_session=db.session(), principal=principal,
                                              q=q)
    except DomainError:
        abort(403)
    return render_template("organizations/verification.html", orgs=orgs, q=q or "",
                           action_form=ActionForm(), merge_form=MergeForm(),
                           may_merge=any(can(principal, Action.MERGE, o) for o in orgs[:1]))


@bp.post("/secretariat/organizations/<uuid:organization_id>/verify")
def verify(organization_id: uuid.UUID):
    """Verify an organisation (reviewers)."""
    return _act(lambda s: service.verify_organization(
        db_session=s, principal=current_principal(), organization_id=organization_id),
        _("Organisation verified."), url_for(".verification_list"))


@bp.post("/secretariat/organizations/<uuid:organization_id>/merge")
def merge(organization_id: uuid.UUID):
    """Merge a duplicate into another organisation (secretariat admins)."""
    form = MergeForm()
    if not form.validate_on_submit():
        flash(_("Give the id of the organisation it duplicates."), "error")
        return redirect(url_for(".verification_list"))
    return _act(lambda s: service.merge_organizations(
        db_session=s, principal=current_principal(), duplicate_id=organization_id,
        into_id=uuid.UUID(form.into_id.data.strip())),
        _("Organisations merged."), url_for(".verification_list"))
