"""The authorization matrix, generated from the permission table (issue 7, "Tests that prove
it"), on PostgreSQL.

For every registry route that takes an object id (``app.url_map``: API and pages), for each
caller — anonymous, a member of the owner organisation, an admin of it, a member of another
organisation, a reviewer, a secretariat admin, an API client with the route's scope and one
without it — and for each state the object can be in, the expected answer is derived from
``registry.authz.permissions`` (the same table the services consult) and compared with what
the route answers:

- the caller may not see the object: 404 (no existence leak);
- anonymous, for an action nobody anonymous may take: 401 with ``WWW-Authenticate`` (pages:
  401, or a redirect to the sign-in page);
- allowed in another state: 409; otherwise not allowed: 403;
- allowed: a success (2xx; a page form: its redirect).

A route with an object id that has no rule (``registry.authz.routes.ROUTES``) or no fixture
here fails the suite. Callers carry real JWTs issued by the registry's token machinery; every
case gets fresh objects (a success changes state). The matrix size is printed and asserted.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import update

from registry.authz import permissions as table
from registry.authz.permissions import Action, Aggregate
from registry.authz.routes import (
    BODY_ID_ENDPOINTS,
    CAPABILITY_LINK_ENDPOINTS,
    OBJECT_ARGUMENTS,
    ROUTES,
    RouteRule,
    anonymous_may,
)
from shared.identity import ANONYMOUS, SYSTEM, OrgRole, Principal, PrincipalKind, Scope, StaffRole

pytestmark = pytest.mark.postgres

PRINCIPALS = ("anonymous", "owner_member", "owner_admin", "other_member", "reviewer",
              "secretariat_admin", "client_with_scope", "client_without_scope")

#: every lifecycle state (issue 8: ``shared.events.types.INITIATIVE_STATUSES``)
from shared.events.types import INITIATIVE_STATUSES as INITIATIVE_STATES  # noqa: E402
from shared.events.types import PROGRESS_REPORT_STATES, REVISION_STATUSES  # noqa: E402

ORGANIZATION_STATES = ("unverified", "verified")


# -- the world every case starts from ---------------------------------------------------------
@dataclass
class World:
    """Users and organisations shared by the cases; objects are made fresh per case."""

    registry: Any
    users: dict[str, uuid.UUID] = field(default_factory=dict)
    other_org: uuid.UUID | None = None
    owner_org: uuid.UUID | None = None  # the verified owner of initiative cases
    tokens: dict[tuple, str] = field(default_factory=dict)

    def session(self):
        return self.registry.session()


def _user(session, email: str) -> uuid.UUID:
    from registry.accounts.models import User
    from shared.db import utcnow

    user = User(id=uuid.uuid4(), email=email, display_name=email.split("@")[0], locale="en",
                email_verified_at=utcnow())
    session.add(user)
    return user.id


def _organization(session, name: str, status: str = "verified",
                  members: dict[uuid.UUID, OrgRole] | None = None) -> uuid.UUID:
    from registry.organizations.models import Organization, OrganizationMembership

    oid = uuid.uuid4()
    session.add(Organization(id=oid, name=name, normalized_name=f"{name.lower()} {oid.hex}",
                             stakeholder_group="ngo", verification_status=status))
    session.flush()
    for user_id, role in (members or {}).items():
        session.add(OrganizationMembership(id=uuid.uuid4(), organization_id=oid,
                                           user_id=user_id, role=role.value))
    return oid


@pytest.fixture(scope="module")
def world(create_pg_database):
    from tests.registry.conftest import build_registry

    # forms without CSRF tokens (CSRF has its own tests); everything else as in production
    registry = build_registry(create_pg_database("matrix"), WTF_CSRF_ENABLED=False)
    w = World(registry)
    with w.session() as s:
        for name in ("owner_admin", "owner_member", "other_member", "reviewer",
                     "secretariat_admin", "target"):
            w.users[name] = _user(s, f"{name}@matrix.test")
        s.flush()
        w.other_org = _organization(s, "Other Org", members={
            w.users["other_member"]: OrgRole.MEMBER})
        w.owner_org = _organization(s, "Owner Org", members={
            w.users["owner_admin"]: OrgRole.ADMIN, w.users["owner_member"]: OrgRole.MEMBER,
            w.users["target"]: OrgRole.MEMBER})
        # the reviewer holds the role in the database too (assignment names a staff user)
        from registry.accounts.models import UserStaffRole

        s.add(UserStaffRole(user_id=w.users["reviewer"], role="reviewer"))
        s.commit()
    yield w
    registry.app.extensions["db_engine"].dispose()


def principal_of(w: World, who: str, owner: uuid.UUID, scopes: frozenset[Scope]) -> Principal:
    """The :class:`Principal` of caller ``who`` when ``owner`` is the owner organisation."""
    users = w.users
    if who == "anonymous":
        return ANONYMOUS
    if who in ("owner_member", "owner_admin"):
        role = OrgRole.ADMIN if who == "owner_admin" else OrgRole.MEMBER
        return Principal(PrincipalKind.USER, subject=str(users[who]),
                         memberships={owner: role}, email=f"{who}@matrix.test")
    if who == "other_member":
        return Principal(PrincipalKind.USER, subject=str(users[who]),
                         memberships={w.other_org: OrgRole.MEMBER}, email=f"{who}@matrix.test")
    if who in ("reviewer", "secretariat_admin"):
        return Principal(PrincipalKind.USER, subject=str(users[who]),
                         staff_roles=frozenset({StaffRole(who)}), email=f"{who}@matrix.test")
    client = f"cli_matrix_{who}"
    # a route needing no scope: the client "with the scope" holds a read scope, the one
    # "without" every scope (neither may be limited to nothing: such a token is refused)
    needed = scopes or frozenset({Scope.INITIATIVES_READ})
    granted = needed if who == "client_with_scope" else (frozenset(Scope) - scopes)
    return Principal(PrincipalKind.CLIENT, subject=client, client_id=client,
                     memberships={owner: OrgRole.MEMBER}, scopes=granted)


def token_of(w: World, principal: Principal) -> str | None:
    """A real JWT for ``principal`` (cached per principal)."""
    if not principal.is_authenticated:
        return None
    key = (principal.kind, principal.subject, tuple(sorted(
        (str(k), v.value) for k, v in principal.memberships.items())),
           tuple(sorted(principal.staff_roles)),
           tuple(sorted(principal.scopes)) if principal.scopes is not None else None)
    if key not in w.tokens:
        w.tokens[key] = w.registry.token_for(principal)
    return w.tokens[key]


def required_scopes(rule: RouteRule) -> frozenset[Scope]:
    """The scopes the rule's rows name (a client "with the scope" holds them)."""
    return frozenset(r.scope for r in table.rows_for(rule.aggregate, rule.action)
                     if r.scope is not None)


# -- objects per aggregate and state ------------------------------------------------------------
@dataclass
class Case:
    """What one request needs: the object the table judges, the owner organisation (whose
    members are the "owner" callers), the URL values and the body."""

    obj: Any
    owner: uuid.UUID
    values: dict[str, Any]
    body: dict[str, Any] = field(default_factory=dict)


def _complete(lead: uuid.UUID) -> dict[str, Any]:
    import datetime as dt
    from decimal import Decimal

    return {"title": "Matrix reef restoration", "description": "Restore reefs.",
            "lead_organization_id": lead, "owner_organization_id": lead,
            "sdg_targets": ["14.2"], "countries": ["FJI"],
            "start_date": dt.date(2026, 1, 1), "end_date": dt.date(2028, 12, 31),
            "deliverables": [{"description": "40 ha", "due_date": dt.date(2028, 6, 30)}],
            "resources": [{"type": "financing", "details": "Grant",
                           "amount_usd": Decimal("1000")}],
            "contact_email": "reefs@matrix.test", "partners": None, "sdg_goals": None,
            "regions": None}


def make_initiative(w: World, state: str) -> Case:
    from registry.initiatives.models import Initiative
    from registry.initiatives.service import create_initiative

    owner = w.owner_org
    admin = principal_of(w, "owner_admin", owner, frozenset())
    with w.session() as s:
        made = create_initiative(db_session=s, principal=admin, data=_complete(owner))
        public_id = f"PR-2026-{uuid.uuid4().int % 10**9:09d}" if state not in (
            "draft", "submitted", "changes_requested") else None
        s.execute(update(Initiative).where(Initiative.id == made.id).values(
            status=state, public_id=public_id))
        # an approved version 1 in every state (versions and their diff are then readable;
        # who may read them is what the matrix checks)
        from registry.initiatives import service, versions

        versions.record_version(s, service._load_view(s, initiative_id=made.id),
                                principal=SYSTEM)
        s.commit()
        obj = s.get(Initiative, made.id)
        s.expunge(obj)
    return Case(obj, owner, {"initiative_id": made.id, "public_id": public_id,
                             "reviewer_id": str(w.users["reviewer"]), "number": 1})


def make_revision(w: World, state: str) -> Case:
    """Revision 1 of a published initiative of the owner organisation, in ``state``."""
    from registry.initiatives import service, versions
    from registry.initiatives.models import InitiativeRevision
    from shared.db import utcnow

    base = make_initiative(w, "published")
    with w.session() as s:
        view = service._load_view(s, initiative_id=base.obj.id)
        now = utcnow()
        content = versions.content_of(view) | {"title": "Matrix reef restoration, revised"}
        revision = InitiativeRevision(
            id=uuid.uuid4(), initiative_id=base.obj.id, number=1, status=state,
            content=content, base_version=1, version=1,
            owner_organization_id=base.owner, created_at=now, updated_at=now,
            submitted_at=now if state != "draft" else None)
        s.add(revision)
        s.commit()
        s.expunge(revision)
    return Case(revision, base.owner, base.values | {"number": 1})


def make_organization(w: World, state: str) -> Case:
    from registry.organizations.models import Organization

    with w.session() as s:
        oid = _organization(s, "Matrix Org", status=state, members={
            w.users["owner_admin"]: OrgRole.ADMIN, w.users["owner_member"]: OrgRole.MEMBER,
            w.users["target"]: OrgRole.MEMBER})
        survivor = _organization(s, "Survivor Org")
        s.commit()
        client_id = _api_client(s, oid)
        obj = s.get(Organization, oid)
        s.expunge(obj)
    return Case(obj, oid, {"organization_id": oid, "user_id": w.users["target"],
                           "client_id": client_id}, {"into_id": str(survivor)})


def _api_client(s, organization_id: uuid.UUID) -> str:
    """A new API client of the organisation (what its admins list and delete)."""
    from registry.oauth.clients import create_client

    made = create_client(db_session=s, principal=SYSTEM, organization_id=organization_id,
                         name="Matrix system", scopes=["initiatives:read"])
    s.commit()
    return made.client.client_id


def make_staff(w: World, state: str) -> Case:
    """The target person holds the reviewer role (a secretariat admin may revoke it)."""
    from registry.accounts.service import grant_staff_role

    with w.session() as s:
        grant_staff_role(db_session=s, principal=SYSTEM, user_id=w.users["target"],
                         role=StaffRole.REVIEWER.value)
        s.commit()
    return Case(None, w.other_org, {"user_id": w.users["target"], "role": "reviewer"})


def make_link(w: World, state: str) -> Case:
    """An initiative of the other organisation naming the owner organisation as a partner
    (proposed: the owner organisation's admins answer it)."""
    from registry.initiatives.service import ProposedLink, create_initiative

    other = principal_of(w, "other_member", w.owner_org, frozenset())
    data = _complete(w.other_org) | {"partners": [{"organization_id": w.owner_org,
                                                   "role": "funding"}]}
    with w.session() as s:
        made = create_initiative(db_session=s, principal=other, data=data)
        s.commit()
        link = ProposedLink(made.id, made.title, w.other_org, w.owner_org, "Owner Org",
                            "partner", "funding", state)
    return Case(link, w.owner_org, {"initiative_id": made.id, "organization_id": w.owner_org,
                                    "verb": "confirm"})


def _reset_other_member(s, w: World) -> None:
    """The other organisation's member is not (or no longer) in the owner organisation and
    has nothing pending there (an earlier case may have let it in)."""
    from sqlalchemy import delete

    from registry.organizations.models import OrganizationJoinRequest, OrganizationMembership

    s.execute(delete(OrganizationMembership).where(
        OrganizationMembership.organization_id == w.owner_org,
        OrganizationMembership.user_id == w.users["other_member"]))
    s.execute(update(OrganizationJoinRequest).where(
        OrganizationJoinRequest.organization_id == w.owner_org,
        OrganizationJoinRequest.status == "pending").values(status="withdrawn"))


def make_invitation(w: World, state: str) -> Case:
    """An invitation of the owner organisation sent to the other organisation's member."""
    from registry.organizations.models import OrganizationInvitation
    from registry.organizations.service import invite_member

    admin = principal_of(w, "owner_admin", w.owner_org, frozenset())
    with w.session() as s:
        _reset_other_member(s, w)
        invitation, token = invite_member(db_session=s, principal=admin,
                                          organization_id=w.owner_org,
                                          email="other_member@matrix.test")
        s.commit()
        obj = s.get(OrganizationInvitation, invitation.id)
        s.expunge(obj)
    return Case(obj, w.owner_org, {"token": token}, {"token": token, "answer": "accept"})


def make_join_request(w: World, state: str) -> Case:
    """The other organisation's member asks to join the owner organisation."""
    from registry.organizations.models import OrganizationJoinRequest
    from registry.organizations.service import request_to_join

    requester = principal_of(w, "other_member", w.owner_org, frozenset())
    with w.session() as s:
        _reset_other_member(s, w)
        made = request_to_join(db_session=s, principal=requester,
                               organization_id=w.owner_org, message="matrix")
        s.commit()
        obj = s.get(OrganizationJoinRequest, made.id)
        s.expunge(obj)
    return Case(obj, w.owner_org, {"join_request_id": obj.id, "verb": "accept"})


def make_progress_report(w: World, state: str) -> Case:
    """Progress report 1, complete, of a published initiative of the owner organisation, in
    ``state`` (issue 9: the report pages answer to the progress report's rows)."""
    import datetime as dt

    from registry.progress.models import ProgressReport
    from shared.db import utcnow

    base = make_initiative(w, "published")
    with w.session() as s:
        now = utcnow()
        report = ProgressReport(
            id=uuid.uuid4(), initiative_id=base.obj.id, number=1, status=state,
            period_start=dt.date(2026, 1, 1), period_end=dt.date(2026, 12, 31),
            reported_on=dt.date(2027, 1, 10) if state != "draft" else None,
            overall_status="on_track", progress_percent=50,
            narrative_html="<p>Matrix progress.</p>", resources_mobilised=[], milestones=[],
            links=[], source="form", version=1, owner_organization_id=base.owner,
            created_at=now, updated_at=now,
            submitted_at=now if state != "draft" else None,
            approved_at=now if state == "approved" else None)
        s.add(report)
        s.commit()
        s.expunge(report)
    return Case(report, base.owner, base.values | {"number": 1, "report_id": report.id})


MAKERS: dict[Aggregate, tuple[Callable[[World, str], Case], tuple[str, ...]]] = {
    Aggregate.INITIATIVE: (make_initiative, INITIATIVE_STATES),
    Aggregate.ORGANIZATION: (make_organization, ORGANIZATION_STATES),
    Aggregate.INITIATIVE_LINK: (make_link, ("pending",)),
    Aggregate.INVITATION: (make_invitation, ("pending",)),
    Aggregate.JOIN_REQUEST: (make_join_request, ("pending",)),
    Aggregate.STAFF: (make_staff, ("any",)),
    Aggregate.REVISION: (make_revision, REVISION_STATUSES),
    Aggregate.PROGRESS_REPORT: (make_progress_report, PROGRESS_REPORT_STATES),
}

#: request bodies per endpoint (JSON for the API, form fields for pages)
BODIES: dict[str, Callable[[Case], dict[str, Any]]] = {
    "initiatives.InitiativeItem": lambda c: {"title": "Matrix reef restoration, edited"},
    # (every transition gets a comment: those that require one then succeed when allowed)
    **{f"initiatives.initiative_{t}": (lambda c: {"comment": "Matrix reason."})
       for t in ("submit", "approve", "request_changes", "reject", "declare_completion",
                 "confirm_completion", "decline_completion", "archive", "withdraw",
                 "suspend", "reinstate")},
    "initiatives.initiative_comment": lambda c: {"body": "Matrix comment."},
    "initiatives.initiative_revision_assign": lambda c: {
        "reviewer_id": c.values["reviewer_id"]},
    "initiative_versions.Revisions": lambda c: {"title": "Matrix reef, revised"},
    "initiative_versions.RevisionItem": lambda c: {"title": "Matrix reef, revised again"},
    **{f"initiative_versions.revision_{t}": (lambda c: {"comment": "Matrix reason."})
       for t in ("request_changes", "reject")},
    # the review desk's pages (registry.review.pages)
    **{f"review_pages.decide_{t}": (lambda c: {"comment": "Matrix reason."})
       for t in ("approve", "request_changes", "reject", "confirm_completion",
                 "decline_completion", "archive", "suspend", "reinstate")},
    "review_pages.comment": lambda c: {"body": "Matrix comment.",
                                       "visibility": "participants"},
    "review_pages.assign": lambda c: {"reviewer": c.values["reviewer_id"]},
    "review_pages.assign_revision": lambda c: {"reviewer": c.values["reviewer_id"]},
    **{f"review_pages.decide_revision_{t}": (lambda c: {"comment": "Matrix reason."})
       for t in ("approve", "request_changes", "reject")},
    "initiatives.initiative_assign": lambda c: {"reviewer_id": c.values["reviewer_id"]},
    "organizations.Member": lambda c: {"role": "admin"},
    "organizations.Invitations": lambda c: {"email": f"new-{uuid.uuid4().hex[:6]}@m.test"},
    "organizations.JoinRequests": lambda c: {"message": "Please."},
    "organizations.merge": lambda c: {"into_id": c.body["into_id"]},
    "organizations.invitation_accept": lambda c: {"token": c.body["token"]},
    "organizations.invitation_decline": lambda c: {"token": c.body["token"]},
    "organization_pages.invitation": lambda c: {"answer": "accept"},
    # the progress report pages (issue 9)
    "progress_pages.comment": lambda c: {"body": "Matrix comment."},
    "progress_pages.review_comment": lambda c: {"body": "Matrix comment."},
    **{f"progress_pages.decide_{t}": (lambda c: {"comment": "Matrix reason."})
       for t in ("approve", "request_changes")},
    "progress_pages.indicators": lambda c: {"new-title": "Matrix indicator",
                                            "new-measure": "unit"},
    # the partner's initiative pages (forms)
    "initiative_pages.comment": lambda c: {"body": "Matrix comment."},
    "initiative_pages.withdraw": lambda c: {"comment": "Matrix reason."},
    "initiative_pages.complete": lambda c: {"comment": "Matrix reason."},
    "initiative_pages.revision_submit": lambda c: {"number": str(c.values["number"])},
    "initiative_pages.revision_discard": lambda c: {"number": str(c.values["number"])},
    "organization_pages.invite": lambda c: {"email": f"new-{uuid.uuid4().hex[:6]}@m.test",
                                            "role": "member"},
    "organization_pages.change_role": lambda c: {"role": "admin"},
    "organization_pages.request_to_join": lambda c: {"message": "Please."},
    "organization_pages.merge": lambda c: {"into_id": c.body["into_id"]},
    "clients.OrganizationClients": lambda c: {"name": "Matrix app", "scopes": [
        "initiatives:read"]},
    "oauth_pages.organization_clients": lambda c: {"name": "Matrix app", "kind": "organization",
                                                   "scopes": "initiatives:read"},
}


# -- expectations from the table ---------------------------------------------------------------
ALLOWED = "allowed"


def expected(rule: RouteRule, principal: Principal, obj: Any) -> int | str:
    """What the table says the route answers ``principal`` for ``obj``."""
    if rule.anonymous_view:
        principal = ANONYMOUS
    if not principal.is_authenticated and not anonymous_may(rule):
        return 401
    if table.rows_for(rule.aggregate, rule.gate) and not table.can(
            principal, rule.gate, obj, rule.aggregate):
        return 404
    actions = [rule.action, *([rule.alternative] if rule.alternative else [])]
    if any(table.can(principal, a, obj, rule.aggregate) for a in actions):
        return ALLOWED
    if rule.action is Action.VIEW:
        return 404
    if not principal.is_authenticated:
        return 401
    if any(table.may_ever(principal, a, obj, rule.aggregate) for a in actions):
        return 409
    return 403


def answered(expect: int | str, status: int, headers: Any, api: bool, method: str) -> bool:
    """Does the answer match the expectation?"""
    if expect == ALLOWED:
        return 200 <= status < 300 or (not api and method == "POST" and status in (302, 303))
    if expect == 401:
        if api:
            return status == 401 and headers.get("WWW-Authenticate", "").startswith("Bearer")
        return status == 401 or (status == 302 and "sign" in headers.get("Location", ""))
    return status == expect


# -- the routes ------------------------------------------------------------------------------------
def object_routes(app) -> list[tuple[str, str, str]]:
    """(rule, endpoint, method) of every route taking an object id (path or body)."""
    out = []
    for rule in app.url_map.iter_rules():
        if not (set(rule.arguments) & OBJECT_ARGUMENTS or rule.endpoint in BODY_ID_ENDPOINTS):
            continue
        if rule.endpoint in CAPABILITY_LINK_ENDPOINTS:
            continue  # the one-time link is the credential (tested in test_registry_accounts)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule.rule, rule.endpoint, method))
    return sorted(out)


def test_every_route_with_an_object_id_has_a_rule_and_a_fixture(world):
    missing = [(r, e, m) for r, e, m in object_routes(world.registry.app)
               if (e, m) not in ROUTES]
    assert missing == [], f"routes without a rule in registry.authz.routes: {missing}"
    for (endpoint, method), rule in ROUTES.items():
        assert table.rows_for(rule.aggregate, rule.action), (endpoint, method, rule)
        assert rule.aggregate in MAKERS, (endpoint, rule.aggregate)


def _url(app, endpoint: str, values: dict[str, Any]) -> str | None:
    from flask import url_for

    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    args = {k: values.get(k) for k in rule.arguments}
    if any(v is None for v in args.values()):
        return None  # e.g. the public page of an initiative without a public id
    with app.test_request_context():
        return url_for(endpoint, **args)


def _cases(app) -> list[tuple[str, str, str]]:
    return object_routes(app)


def _aggregates() -> list[str]:
    """The aggregates the route rules name: the matrix runs one test per aggregate, so each
    stays well inside the suite's per-test timeout and a failure names its aggregate."""
    return sorted({rule.aggregate.value for rule in ROUTES.values()})


@pytest.mark.parametrize("aggregate", _aggregates())
def test_matrix(world, capsys, aggregate):
    app = world.registry.app
    client = app.test_client()
    failures: list[str] = []
    size = {"routes": 0, "cases": 0}
    states_seen: set[tuple[str, str]] = set()
    for _rule, endpoint, method in object_routes(app):
        rule = ROUTES[(endpoint, method)]
        if rule.aggregate.value != aggregate:
            continue
        maker, states = MAKERS[rule.aggregate]
        scopes = required_scopes(rule)
        size["routes"] += 1
        for state in states:
            for who in PRINCIPALS:
                case = maker(world, state)
                url = _url(app, endpoint, case.values)
                if url is None:
                    continue
                principal = principal_of(world, who, case.owner, scopes)
                token = token_of(world, principal)
                api = url.startswith("/api/")
                body = BODIES.get(endpoint, lambda c: {})(case)
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                if api:
                    resp = client.open(url, method=method, headers=headers,
                                       json=body if method != "GET" else None)
                else:
                    resp = client.open(url, method=method, headers=headers,
                                       data=body if method != "GET" else None)
                expect = expected(rule, principal, case.obj)
                size["cases"] += 1
                states_seen.add((rule.aggregate.value, state))
                if resp.status_code >= 500 or not answered(expect, resp.status_code,
                                                           resp.headers, api, method):
                    failures.append(f"{method} {endpoint} [{state}] as {who}: expected "
                                    f"{expect}, got {resp.status_code} "
                                    f"{resp.get_data(as_text=True)[:160]!r}")
    with capsys.disabled():
        print(f"\nauthorization matrix, {aggregate}: {size['routes']} routes x "
              f"{len(PRINCIPALS)} callers, {len(states_seen)} (aggregate, state) pairs: "
              f"{size['cases']} cases")
    assert not failures, "\n".join(failures)
    assert size["cases"] > 0
