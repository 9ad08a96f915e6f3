"""The page side of the generated workflow test: for every (state, action, actor) of the
initiative workflow's declaration (``registry.initiatives.policy.INITIATIVE_WORKFLOW``), the
review page shows the decision button iff the permission table allows the actor to take it
now, and POSTing the button's form answers as the table says — allowed: the redirect and the
new state; not visible: 404; allowed in another state: 409; never allowed: 403; never a 500.
The owner's side (submit, declare completion, withdraw) is checked on the owner page's forms.

The cases are generated from the declaration, so a transition added there is tested here
without a line of change.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import update

from registry.authz import permissions as table
from registry.authz.permissions import Action, Aggregate
from registry.initiatives.policy import INITIATIVE_WORKFLOW, REVISION_WORKFLOW
from shared.events.types import INITIATIVE_STATUSES
from tests.registry.unit.test_registry_organization_pages import Browser

#: Actors of the review desk and the owner page.
ACTORS = ("owner_member", "reviewer", "reviewer_of_owner", "other_member")
#: The decisions the review page offers (its buttons) and the owner page's forms.
REVIEW_ACTIONS = tuple(t.action for t in INITIATIVE_WORKFLOW.transitions
                       if t.action not in ("submit", "declare_completion", "withdraw"))
OWNER_ACTIONS = ("submit", "declare_completion", "withdraw")
OWNER_PATHS = {"submit": "submit", "declare_completion": "complete", "withdraw": "withdraw"}


@dataclass
class World:
    registry: Any
    owner_org: uuid.UUID
    other_org: uuid.UUID
    tokens: dict[str, str]
    principals: dict[str, Any]


def _user(session, email: str) -> uuid.UUID:
    from registry.accounts.models import User
    from shared.db import utcnow

    user = User(id=uuid.uuid4(), email=email, display_name=email.split("@")[0], locale="en",
                email_verified_at=utcnow())
    session.add(user)
    session.flush()
    return user.id


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    from registry.organizations.models import Organization, OrganizationMembership
    from shared.identity import OrgRole, Principal, PrincipalKind, StaffRole
    from tests.registry.conftest import build_registry

    url = f"sqlite:///{tmp_path_factory.mktemp('workflow-pages') / 'registry.db'}"
    registry = build_registry(url)
    with registry.session() as s:
        orgs = {}
        for name in ("Owner Org", "Other Org"):
            oid = uuid.uuid4()
            s.add(Organization(id=oid, name=name, normalized_name=f"{name.lower()} {oid.hex}",
                               stakeholder_group="ngo", verification_status="verified"))
            orgs[name] = oid
        s.flush()
        users = {who: _user(s, f"{who}@flow.test") for who in ACTORS}
        for who, org in (("owner_member", "Owner Org"), ("reviewer_of_owner", "Owner Org"),
                         ("other_member", "Other Org")):
            s.add(OrganizationMembership(id=uuid.uuid4(), organization_id=orgs[org],
                                         user_id=users[who], role="member"))
        s.commit()
    principals = {}
    for who in ACTORS:
        memberships = {orgs["Owner Org"]: OrgRole.MEMBER} if who in (
            "owner_member", "reviewer_of_owner") else {orgs["Other Org"]: OrgRole.MEMBER} \
            if who == "other_member" else {}
        staff = frozenset({StaffRole.REVIEWER}) if who.startswith("reviewer") else frozenset()
        principals[who] = Principal(PrincipalKind.USER, subject=str(users[who]),
                                    memberships=memberships, staff_roles=staff,
                                    email=f"{who}@flow.test")
    tokens = {who: registry.token_for(p) for who, p in principals.items()}
    yield World(registry, orgs["Owner Org"], orgs["Other Org"], tokens, principals)
    registry.app.extensions["db_engine"].dispose()


def make(world: World, state: str) -> Any:
    """A complete initiative of the owner organisation, put in ``state`` (public id and
    version 1 when it was ever published); the ORM row, detached."""
    import datetime as dt

    from registry.initiatives.models import Initiative
    from registry.initiatives.service import create_initiative

    data = {"title": f"Flow {state}", "description": "Restore reefs.",
            "lead_organization_id": world.owner_org, "owner_organization_id": world.owner_org,
            "sdg_targets": ["14.2"], "countries": ["FJI"],
            "start_date": dt.date(2026, 1, 1), "end_date": dt.date(2028, 12, 31),
            "deliverables": [{"description": "40 ha", "due_date": dt.date(2028, 6, 30)}],
            "resources": [{"type": "financing", "details": "Grant"}],
            "contact_email": "reefs@flow.test", "partners": None, "sdg_goals": None,
            "regions": None}
    published = state in ("published", "completion_declared", "completed", "archived",
                          "withdrawn", "suspended")
    with world.registry.session() as s:
        made = create_initiative(db_session=s, principal=world.principals["owner_member"],
                                 data=data)
        now = dt.datetime.now(dt.UTC)
        s.execute(update(Initiative).where(Initiative.id == made.id).values(
            status=state, submitted_at=now if state != "draft" else None,
            public_id=f"PR-2026-{uuid.uuid4().int % 10**9:09d}" if published else None,
            published_at=now if published else None,
            approved_version=1 if published else None,
            completion_declared_at=now if state == "completion_declared" else None))
        s.commit()
        obj = s.get(Initiative, made.id)
        s.expunge(obj)
    return obj


def expected(principal, action: str, obj: Any) -> int | str:
    """What the permission table says a POST of ``action`` answers ``principal``."""
    if not table.can(principal, Action.VIEW, obj, Aggregate.INITIATIVE):
        return 404
    if table.can(principal, action, obj, Aggregate.INITIATIVE):
        return "allowed"
    if table.may_ever(principal, action, obj, Aggregate.INITIATIVE):
        return 409
    return 403


def status_of(world: World, initiative_id: uuid.UUID) -> str:
    from registry.initiatives.models import Initiative

    with world.registry.session() as s:
        return s.get(Initiative, initiative_id).status


CASES = list(itertools.product(INITIATIVE_STATUSES, ACTORS))


@pytest.mark.parametrize(("state", "who"), CASES)
def test_review_page_buttons_and_posts_follow_the_table(world, state, who):
    principal = world.principals[who]
    obj = make(world, state)
    browser = Browser(world.registry, world.tokens[who])
    page = browser.get(f"/secretariat/review/{obj.id}")
    assert page.status_code < 500
    html = page.get_data(as_text=True)
    staff = who.startswith("reviewer")
    if not table.can(principal, Action.VIEW, obj, Aggregate.INITIATIVE):
        assert page.status_code == 404
    elif not staff:
        assert page.status_code == 403
    else:
        assert page.status_code == 200
        for action in REVIEW_ACTIONS:
            shown = f'class="decision decision-{action}"' in html
            assert shown == table.can(principal, action, obj, Aggregate.INITIATIVE), (
                state, who, action)
        if who == "reviewer_of_owner" and state in ("submitted", "completion_declared"):
            assert "You cannot decide: you are a member of the owner organisation." in html
    for action in REVIEW_ACTIONS:
        target = obj
        expect = expected(principal, action, target)
        if expect == "allowed":
            target = make(world, state)  # a fresh record: the decision changes it
        path = action.replace("_", "-")
        browser.get(f"/secretariat/review/{target.id}")  # a CSRF token of this session
        if browser.csrf is None:
            browser.get("/organizations/register")
        resp = browser.post(f"/secretariat/review/{target.id}/{path}",
                            {"comment": "Because the table says so."})
        assert resp.status_code < 500, (state, who, action, resp.status_code)
        if expect == "allowed":
            assert resp.status_code == 303, (state, who, action, resp.status_code)
            transition = INITIATIVE_WORKFLOW.transition(action)
            assert status_of(world, target.id) == transition.target, (state, who, action)
        else:
            assert resp.status_code == expect, (state, who, action, resp.status_code,
                                                expect)
            assert status_of(world, target.id) == state


@pytest.mark.parametrize(("state", "who"), CASES)
def test_owner_page_actions_follow_the_table(world, state, who):
    """The owner page offers submit / declare completion / withdraw iff allowed, and their
    forms answer as the table says."""
    principal = world.principals[who]
    obj = make(world, state)
    browser = Browser(world.registry, world.tokens[who])
    page = browser.get(f"/my/initiatives/{obj.id}")
    assert page.status_code < 500
    if page.status_code == 200:
        html = page.get_data(as_text=True)
        for action in OWNER_ACTIONS:
            offered = f"/my/initiatives/{obj.id}/{OWNER_PATHS[action]}" in html or (
                action == "submit" and f"/my/initiatives/{obj.id}/wizard/review" in html)
            assert offered == table.can(principal, action, obj, Aggregate.INITIATIVE), (
                state, who, action)
    if browser.csrf is None:
        browser.get("/organizations/register")
    for action in OWNER_ACTIONS:
        expect = expected(principal, action, obj)
        target = make(world, state) if expect == "allowed" else obj
        resp = browser.post(f"/my/initiatives/{target.id}/{OWNER_PATHS[action]}",
                            {"comment": "Because the table says so."})
        assert resp.status_code < 500, (state, who, action, resp.status_code)
        if expect == "allowed":
            assert resp.status_code in (302, 303), (state, who, action, resp.status_code)
            transition = INITIATIVE_WORKFLOW.transition(action)
            assert status_of(world, target.id) == transition.target, (state, who, action)
        else:
            assert resp.status_code == expect, (state, who, action, resp.status_code,
                                                expect)
            assert status_of(world, target.id) == state


# -- revisions (REVISION_WORKFLOW) --------------------------------------------------------------
REVISION_ACTIONS = tuple(t.action for t in REVISION_WORKFLOW.transitions
                         if t.action in ("approve", "request_changes", "reject"))


def make_revision(world: World, state: str) -> Any:
    """A published initiative of the owner organisation with revision 1 (a changed title)
    put in ``state``; the revision's ORM row, detached."""
    from registry.initiatives.models import InitiativeRevision
    from registry.initiatives.revisions import create_revision

    published = make(world, "published")
    with world.registry.session() as s:
        from registry.initiatives import versions
        from registry.initiatives.models import InitiativeVersion
        from registry.initiatives.service import get_initiative

        view = get_initiative(db_session=s, principal=world.principals["owner_member"],
                              initiative_id=published.id)
        s.add(InitiativeVersion(**versions.version_rows(
            published.id, versions.content_of(view), principal=None,
            approved_at=published.published_at)))
        s.flush()
        made = create_revision(db_session=s, principal=world.principals["owner_member"],
                               initiative_id=published.id, data={"title": "Flow revised"})
        s.execute(update(InitiativeRevision).where(InitiativeRevision.id == made.id).values(
            status=state, submitted_at=published.published_at))
        s.commit()
        obj = s.get(InitiativeRevision, made.id)
        s.expunge(obj)
    return obj


def revision_status(world: World, revision_id: uuid.UUID) -> str:
    from registry.initiatives.models import InitiativeRevision

    with world.registry.session() as s:
        return s.get(InitiativeRevision, revision_id).status


@pytest.mark.parametrize(("state", "who"), list(itertools.product(REVISION_WORKFLOW.states,
                                                                   ACTORS)))
def test_revision_review_page_buttons_and_posts_follow_the_table(world, state, who):
    principal = world.principals[who]
    obj = make_revision(world, state)
    url = f"/secretariat/review/{obj.initiative_id}/revisions/{obj.number}"
    browser = Browser(world.registry, world.tokens[who])
    page = browser.get(url)
    assert page.status_code < 500
    if who.startswith("reviewer"):
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        for action in REVISION_ACTIONS:
            shown = f'class="decision decision-{action}"' in html
            assert shown == table.can(principal, action, obj, Aggregate.REVISION), (
                state, who, action)
    else:
        assert page.status_code in (403, 404)
    if browser.csrf is None:
        browser.get("/organizations/register")
    for action in REVISION_ACTIONS:
        allowed = table.can(principal, action, obj, Aggregate.REVISION)
        target = make_revision(world, state) if allowed else obj
        resp = browser.post(f"/secretariat/review/{target.initiative_id}/revisions/"
                            f"{target.number}/{action.replace('_', '-')}",
                            {"comment": "Because the table says so."})
        assert resp.status_code < 500, (state, who, action, resp.status_code)
        if allowed:
            assert resp.status_code == 303, (state, who, action, resp.status_code)
            assert revision_status(world, target.id) == REVISION_WORKFLOW.transition(
                action).target
        else:
            assert resp.status_code in (403, 404, 409), (state, who, action)
            if table.may_ever(principal, action, obj, Aggregate.REVISION):
                assert resp.status_code == 409, (state, who, action, resp.status_code)
            assert revision_status(world, target.id) == state
