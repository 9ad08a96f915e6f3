"""Which rule of the permission table each registry route that takes an object id answers to.

One row per (endpoint, HTTP method): the aggregate and action of
:mod:`registry.authz.permissions` the service function behind it authorizes. The
authorization matrix test (``tests/registry/integration/test_authorization_matrix.py``)
enumerates ``app.url_map``, fails for a route with an object id that is missing here, and
checks each route's answers for every kind of caller and every state against the table.

:func:`register_authentication_first` uses it too: an anonymous request to an API route whose
action nobody anonymous may take answers 401 before its body is parsed or any object is read
(no existence leak through 401 against 404; "authenticate first, then parse"); a page route
sends an anonymous visitor to the sign-in page (401 page without one).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, redirect, render_template, request, url_for

from registry.authz.permissions import ANYONE, Action, Aggregate, rows_for
from shared.identity.web import current_principal
from shared.problems import Unauthenticated


@dataclass(frozen=True)
class RouteRule:
    """The table rule a route answers to. ``anonymous_view``: the route always reads as
    anonymous (the public initiative page shows published initiatives only). ``gate``: the
    action whose refusal is 404 (default ``view``; revisions answer 404 to whoever may not
    see the initiative's private side: ``view_private``). ``alternative``: another action the
    route takes when the object's state calls for it (PATCH of a published initiative
    revises it instead of updating it)."""

    aggregate: Aggregate
    action: Action
    anonymous_view: bool = False
    gate: Action = Action.VIEW
    alternative: Action | None = None


INI, ORG, REV = Aggregate.INITIATIVE, Aggregate.ORGANIZATION, Aggregate.REVISION
LNK, INV, JRQ = Aggregate.INITIATIVE_LINK, Aggregate.INVITATION, Aggregate.JOIN_REQUEST
A = Action

#: (endpoint, method) -> rule
ROUTES: dict[tuple[str, str], RouteRule] = {
    # API: creation (no object id: for authentication first only)
    ("initiatives.Initiatives", "POST"): RouteRule(INI, A.CREATE),
    ("organizations.Organizations", "POST"): RouteRule(ORG, A.REGISTER),
    # API
    ("initiatives.InitiativeItem", "GET"): RouteRule(INI, A.VIEW),
    ("initiatives.InitiativeItem", "PATCH"): RouteRule(INI, A.UPDATE, alternative=A.REVISE),
    # (one route per lifecycle transition: added below from the workflow declaration)
    ("initiatives.initiative_thread", "GET"): RouteRule(INI, A.VIEW),
    ("initiatives.initiative_comment", "POST"): RouteRule(INI, A.COMMENT),
    ("initiatives.initiative_assign", "POST"): RouteRule(INI, A.ASSIGN),
    ("initiatives.initiative_revision_assign", "POST"): RouteRule(REV, A.ASSIGN),
    ("review.Queue", "GET"): RouteRule(Aggregate.STAFF, A.VIEW_REVIEW_QUEUE),
    # the reporting light (issue 9, registry.compliance.views)
    ("compliance.initiative_compliance", "GET"): RouteRule(INI, A.VIEW),
    ("compliance.initiative_remind", "POST"): RouteRule(INI, A.REMIND),
    ("compliance.dashboard", "GET"): RouteRule(Aggregate.STAFF, A.VIEW_COMPLIANCE),
    # versions (public for a public initiative) and revisions (registry.initiatives
    # .revision_views: the owner organisation and the secretariat only)
    ("initiative_versions.list_versions", "GET"): RouteRule(INI, A.VIEW),
    ("initiative_versions.get_version", "GET"): RouteRule(INI, A.VIEW),
    ("initiative_versions.diff", "GET"): RouteRule(INI, A.VIEW),
    ("initiative_versions.Revisions", "GET"): RouteRule(INI, A.VIEW_PRIVATE,
                                                        gate=A.VIEW_PRIVATE),
    ("initiative_versions.Revisions", "POST"): RouteRule(INI, A.REVISE, gate=A.VIEW_PRIVATE),
    ("initiative_versions.RevisionItem", "GET"): RouteRule(REV, A.VIEW),
    ("initiative_versions.RevisionItem", "PATCH"): RouteRule(REV, A.UPDATE),
    ("initiative_versions.revision_diff", "GET"): RouteRule(REV, A.VIEW),
    ("initiatives.initiative_link_confirm", "POST"): RouteRule(LNK, A.CONFIRM),
    ("initiatives.initiative_link_decline", "POST"): RouteRule(LNK, A.DECLINE),
    ("organizations.OrganizationItem", "GET"): RouteRule(ORG, A.VIEW),
    ("organizations.activities", "GET"): RouteRule(ORG, A.VIEW_MEMBERS),
    ("organizations.Members", "GET"): RouteRule(ORG, A.VIEW_MEMBERS),
    ("organizations.Member", "PATCH"): RouteRule(ORG, A.MANAGE_MEMBERS),
    ("organizations.Member", "DELETE"): RouteRule(ORG, A.MANAGE_MEMBERS),
    ("organizations.Invitations", "GET"): RouteRule(ORG, A.MANAGE_MEMBERS),
    ("organizations.Invitations", "POST"): RouteRule(ORG, A.MANAGE_MEMBERS),
    ("organizations.JoinRequests", "GET"): RouteRule(ORG, A.MANAGE_MEMBERS),
    ("organizations.JoinRequests", "POST"): RouteRule(ORG, A.REQUEST_JOIN),
    ("organizations.verify", "POST"): RouteRule(ORG, A.VERIFY),
    ("organizations.merge", "POST"): RouteRule(ORG, A.MERGE),
    ("organizations.join_request_accept", "POST"): RouteRule(JRQ, A.ACCEPT),
    ("organizations.join_request_decline", "POST"): RouteRule(JRQ, A.DECLINE),
    ("organizations.invitation_accept", "POST"): RouteRule(INV, A.ACCEPT),
    ("organizations.invitation_decline", "POST"): RouteRule(INV, A.DECLINE),
    # pages
    ("pages.initiative", "GET"): RouteRule(INI, A.VIEW, anonymous_view=True),
    ("organization_pages.show", "GET"): RouteRule(ORG, A.VIEW),
    ("organization_pages.invitation", "GET"): RouteRule(INV, A.VIEW),
    ("organization_pages.invitation", "POST"): RouteRule(INV, A.ACCEPT),
    ("organization_pages.invite", "POST"): RouteRule(ORG, A.MANAGE_MEMBERS),
    ("organization_pages.change_role", "POST"): RouteRule(ORG, A.MANAGE_MEMBERS),
    ("organization_pages.remove_member", "POST"): RouteRule(ORG, A.MANAGE_MEMBERS),
    ("organization_pages.answer_join_request", "POST"): RouteRule(JRQ, A.ACCEPT),
    ("organization_pages.answer_link", "POST"): RouteRule(LNK, A.CONFIRM),
    ("organization_pages.request_to_join", "POST"): RouteRule(ORG, A.REQUEST_JOIN),
    ("organization_pages.verify", "POST"): RouteRule(ORG, A.VERIFY),
    ("organization_pages.merge", "POST"): RouteRule(ORG, A.MERGE),
    # an organisation's OAuth API clients (registry.oauth.clients)
    ("clients.OrganizationClients", "GET"): RouteRule(ORG, A.MANAGE_CLIENTS),
    ("clients.OrganizationClients", "POST"): RouteRule(ORG, A.MANAGE_CLIENTS),
    ("clients.OrganizationClient", "GET"): RouteRule(ORG, A.MANAGE_CLIENTS),
    ("clients.OrganizationClient", "DELETE"): RouteRule(ORG, A.MANAGE_CLIENTS),
    ("oauth_pages.organization_clients", "GET"): RouteRule(ORG, A.MANAGE_CLIENTS),
    ("oauth_pages.organization_clients", "POST"): RouteRule(ORG, A.MANAGE_CLIENTS),
    ("oauth_pages.delete_organization_client", "POST"): RouteRule(ORG, A.MANAGE_CLIENTS),
    # the secretariat's staff roles (registry.accounts)
    ("staff.StaffRoleItem", "DELETE"): RouteRule(Aggregate.STAFF, A.MANAGE_STAFF),
}



def _transition_routes() -> None:
    from registry.initiatives.policy import INITIATIVE_WORKFLOW, REVISION_WORKFLOW

    for transition in INITIATIVE_WORKFLOW.transitions:
        ROUTES[(f"initiatives.initiative_{transition.action}", "POST")] = RouteRule(
            INI, Action(transition.action))
    for transition in REVISION_WORKFLOW.transitions:
        ROUTES[(f"initiative_versions.revision_{transition.action}", "POST")] = RouteRule(
            REV, Action(transition.action))


_transition_routes()


def _review_desk_routes() -> None:
    """The review desk's pages (``registry.review.pages``) and the public versions pages:
    one decision endpoint per transition, each answering to its own row."""
    from registry.review import INITIATIVE_DECISIONS, REVISION_DECISIONS

    rev = Aggregate.REVISION
    ROUTES[("review_pages.review", "GET")] = RouteRule(INI, A.REVIEW)
    ROUTES[("review_pages.revision", "GET")] = RouteRule(rev, A.REVIEW)
    ROUTES[("review_pages.comment", "POST")] = RouteRule(INI, A.COMMENT)
    ROUTES[("review_pages.assign", "POST")] = RouteRule(INI, A.ASSIGN)
    ROUTES[("review_pages.assign_revision", "POST")] = RouteRule(rev, A.ASSIGN)
    for action in INITIATIVE_DECISIONS:
        ROUTES[(f"review_pages.decide_{action}", "POST")] = RouteRule(INI, Action(action))
    for action in REVISION_DECISIONS:
        ROUTES[(f"review_pages.decide_revision_{action}", "POST")] = RouteRule(
            rev, Action(action))
    for endpoint in ("pages.initiative_versions", "pages.initiative_diff"):
        ROUTES[(endpoint, "GET")] = RouteRule(INI, A.VIEW, anonymous_view=True)


_review_desk_routes()

#: One-time links whose ``token`` is itself the credential (e-mail verification, password
#: reset, contact address confirmation: single use, expiring, stored hashed; see
#: ``registry.accounts``): possession of the link is the authorization, so no table rule.
CAPABILITY_LINK_ENDPOINTS = frozenset({"accounts_pages.verify", "accounts_pages.reset_password",
                                       "accounts_pages.verify_contact"})

#: Path arguments that name an object (routes with one must have a rule above); ``token``
#: and ``public_id`` are ids too, and the invitation API takes its token in the body.
OBJECT_ARGUMENTS = frozenset({"initiative_id", "organization_id", "user_id", "join_request_id",
                              "public_id", "token"})
BODY_ID_ENDPOINTS = frozenset({"organizations.invitation_accept",
                               "organizations.invitation_decline"})


def anonymous_may(rule: RouteRule) -> bool:
    """Whether some row of the rule's action lets anyone (anonymous) act."""
    return rule.anonymous_view or any(
        ANYONE in row.who for row in rows_for(rule.aggregate, rule.action))


def register_authentication_first(app: Flask) -> None:
    """Answer 401 (with ``WWW-Authenticate``) to an anonymous API request whose route's action
    no anonymous caller may take, before the body is parsed or an object read."""

    @app.before_request
    def _authenticate_first():
        if request.url_rule is None:
            return None
        rule = ROUTES.get((request.url_rule.endpoint, request.method))
        if rule is None or anonymous_may(rule) or current_principal().is_authenticated:
            return None
        if request.path.startswith("/api/"):
            raise Unauthenticated("Sign in (Authorization: Bearer <token>) first.")
        return sign_in_response()


def sign_in_response():
    """A page's answer to an anonymous visitor: the sign-in page (with ``next``) when the
    accounts pages exist, else a 401 page."""
    for endpoint in ("account_pages.sign_in", "accounts_pages.sign_in", "accounts.sign_in"):
        if endpoint in current_app.view_functions:
            return redirect(url_for(endpoint, next=request.full_path.rstrip("?")))
    return render_template("organizations/sign_in_required.html"), 401


#: the partner's initiative pages (``registry.initiatives.pages``, issue 8): each route
#: authorizes its row first, as the API does
ROUTES.update({
    ("initiative_pages.show", "GET"): RouteRule(INI, A.VIEW_PRIVATE),
    ("initiative_pages.wizard", "GET"): RouteRule(INI, A.UPDATE),
    ("initiative_pages.wizard", "POST"): RouteRule(INI, A.UPDATE),
    ("initiative_pages.submit", "POST"): RouteRule(INI, A.SUBMIT),
    ("initiative_pages.comment", "POST"): RouteRule(INI, A.COMMENT),
    ("initiative_pages.withdraw", "GET"): RouteRule(INI, A.WITHDRAW),
    ("initiative_pages.withdraw", "POST"): RouteRule(INI, A.WITHDRAW),
    ("initiative_pages.complete", "GET"): RouteRule(INI, A.DECLARE_COMPLETION),
    ("initiative_pages.complete", "POST"): RouteRule(INI, A.DECLARE_COMPLETION),
    ("initiative_pages.revision_step", "GET"): RouteRule(Aggregate.REVISION, A.UPDATE),
    ("initiative_pages.revision_step", "POST"): RouteRule(Aggregate.REVISION, A.UPDATE),
    ("initiative_pages.revision_submit", "POST"): RouteRule(Aggregate.REVISION, A.SUBMIT),
    ("initiative_pages.revision_discard", "POST"): RouteRule(Aggregate.REVISION, A.DISCARD),
})

#: the pages of issue 9 (``registry.progress.pages``, ``registry.compliance.pages``, the
#: public progress tab): each route answers to the row its service function authorizes
#: (report routes: the report is found first, 404 unless visible)
PR = Aggregate.PROGRESS_REPORT
ROUTES.update({
    ("pages.initiative_progress", "GET"): RouteRule(INI, A.VIEW, anonymous_view=True),
    ("progress_pages.my_reports", "GET"): RouteRule(INI, A.VIEW_PRIVATE),
    ("progress_pages.new", "GET"): RouteRule(INI, A.REPORT_PROGRESS),
    ("progress_pages.new", "POST"): RouteRule(INI, A.REPORT_PROGRESS),
    ("progress_pages.indicators", "GET"): RouteRule(INI, A.VIEW_PRIVATE),
    ("progress_pages.indicators", "POST"): RouteRule(INI, A.MANAGE_INDICATORS),
    ("progress_pages.update_indicator", "POST"): RouteRule(INI, A.MANAGE_INDICATORS),
    ("progress_pages.delete_indicator", "POST"): RouteRule(INI, A.MANAGE_INDICATORS),
    ("compliance_pages.remind", "POST"): RouteRule(INI, A.REMIND),
    ("compliance_pages.dashboard", "GET"): RouteRule(Aggregate.STAFF, A.VIEW_COMPLIANCE),
    # a report's pages answer to the progress report's rows (registry.progress.policy)
    ("progress_pages.report", "GET"): RouteRule(PR, A.VIEW),
    ("progress_pages.report", "POST"): RouteRule(PR, A.UPDATE),
    ("progress_pages.submit", "POST"): RouteRule(PR, A.SUBMIT),
    ("progress_pages.delete", "POST"): RouteRule(PR, A.DISCARD),
    ("progress_pages.comment", "POST"): RouteRule(PR, A.COMMENT),
    ("progress_pages.review", "GET"): RouteRule(PR, A.REVIEW),
    ("progress_pages.review_comment", "POST"): RouteRule(PR, A.COMMENT),
    ("progress_pages.decide_approve", "POST"): RouteRule(PR, A.APPROVE),
    ("progress_pages.decide_request_changes", "POST"): RouteRule(PR, A.REQUEST_CHANGES),
})
