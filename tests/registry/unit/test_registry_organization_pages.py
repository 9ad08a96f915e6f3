"""The organisation pages: my organisations, registration, invitations, the secretariat's
verification list (server-rendered, CSRF on every form, English and Chinese)."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select

from registry.organizations.models import Organization, OrganizationMembership
from tests.registry.unit.test_registry_memberships import People

CSRF = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def people(registry):
    return People(registry)


class Browser:
    """The test client with a bearer token (until web sessions sign people in) and the CSRF
    token of the last page read."""

    def __init__(self, registry, token: str | None):
        self.client = registry.app.test_client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.csrf = None

    def get(self, path: str, **kw):
        resp = self.client.get(path, headers=self.headers | kw.pop("headers", {}), **kw)
        found = CSRF.search(resp.get_data(as_text=True))
        if found:
            self.csrf = found.group(1)
        return resp

    def post(self, path: str, data: dict | None = None, csrf: bool = True):
        form = dict(data or {})
        if csrf:
            form["csrf_token"] = self.csrf
        return self.client.post(path, data=form, headers=self.headers)


def test_anonymous_is_asked_to_sign_in(registry):
    browser = Browser(registry, None)
    for path in ("/my/organizations", "/organizations/register", "/secretariat/organizations"):
        resp = browser.get(path)
        assert resp.status_code in (302, 401), path


def test_register_an_organisation_with_the_form(registry, people):
    ana = people.user("ana@reef.test")
    browser = Browser(registry, people.token(ana))
    page = browser.get("/organizations/register")
    assert page.status_code == 200 and "Register an organisation" in page.get_data(as_text=True)
    bad = browser.post("/organizations/register", {"name": "Reef Keepers",
                                                   "stakeholder_group": "ngo",
                                                   "website": "javascript:alert(1)"})
    assert bad.status_code == 422 and "http://" in bad.get_data(as_text=True)
    resp = browser.post("/organizations/register", {"name": "Reef Keepers",
                                                    "stakeholder_group": "ngo",
                                                    "country": "FJI",
                                                    "website": "https://reef.test"})
    assert resp.status_code == 302
    with registry.session() as s:
        org = s.scalar(select(Organization).where(Organization.name == "Reef Keepers"))
        assert org.verification_status == "unverified"
        assert s.scalar(select(OrganizationMembership.role)) == "admin"
    shown = browser.get(resp.headers["Location"])
    assert "Not verified yet" in shown.get_data(as_text=True)
    assert 'href="https://reef.test"' in shown.get_data(as_text=True)


def test_a_form_without_its_csrf_token_is_refused(registry, people):
    browser = Browser(registry, people.token(people.user("ana@reef.test")))
    browser.get("/organizations/register")
    resp = browser.post("/organizations/register", {"name": "Reef Keepers",
                                                    "stakeholder_group": "ngo"}, csrf=False)
    assert resp.status_code == 400
    assert registry.count(Organization) == 0


def test_my_organisations_page_invites_and_answers_join_requests(registry, people):
    ana = people.user("ana@reef.test")
    org = registry.org(people.token(ana), "Reef Keepers")
    bob = people.user("bob@reef.test")
    bob_browser = Browser(registry, people.token(bob))
    found = bob_browser.get("/my/organizations?q=reef").get_data(as_text=True)
    assert "Reef Keepers" in found and "Ask to join" in found
    assert bob_browser.post(f"/organizations/{org['id']}/join",
                            {"message": "Suva chapter"}).status_code == 302

    browser = Browser(registry, people.token(ana))
    page = browser.get("/my/organizations").get_data(as_text=True)
    assert "bob@reef.test" in page and "Suva chapter" in page
    assert "Invite a member" in page
    rid = re.search(r"/my/organizations/join-requests/([0-9a-f-]{36})/accept", page).group(1)
    assert browser.post(f"/my/organizations/join-requests/{rid}/accept").status_code == 302
    resp = browser.post(f"/my/organizations/{org['id']}/invitations",
                        {"email": "zhao@reef.test", "role": "member"})
    assert resp.status_code == 302
    page = browser.get("/my/organizations").get_data(as_text=True)
    assert "zhao@reef.test" in page and "Invitation sent to zhao@reef.test." in page
    # bob (a member, not an admin) sees the members but no invitation form
    member_page = Browser(registry, people.token(bob)).get("/my/organizations").get_data(
        as_text=True)
    assert "ana@reef.test" in member_page and "Invite a member" not in member_page


def test_invitation_link_page_accepts_for_its_recipient_only(registry, people):
    from shared.events.types import ORGANIZATION_INVITATION_CREATED, load_data

    ana = people.user("ana@reef.test")
    org = registry.org(people.token(ana), "Reef Keepers")
    registry.post(f"/api/v1/organizations/{org['id']}/invitations",
                  {"email": "zhao@reef.test"}, people.token(ana))
    [row] = [r for r in registry.outbox() if r.event_type == ORGANIZATION_INVITATION_CREATED]
    path = "/" + load_data(ORGANIZATION_INVITATION_CREATED,
                           row.envelope["data"])["link"].split("/", 3)[3]
    eve = Browser(registry, people.token(people.user("eve@else.test")))
    assert eve.get(path).status_code == 404
    zhao = people.user("zhao@reef.test")
    browser = Browser(registry, people.token(zhao))
    page = browser.get(path)
    assert page.status_code == 200 and "Reef Keepers" in page.get_data(as_text=True)
    assert browser.post(path, {"answer": "accept"}).status_code == 302
    with registry.session() as s:
        assert s.scalar(select(OrganizationMembership.role).where(
            OrganizationMembership.user_id == zhao)) == "member"
    assert browser.get(path).status_code == 404  # used


def test_the_secretariat_verifies_and_merges_from_its_list(registry, people):
    sec_browser = Browser(registry, registry.user_token(staff=("secretariat_admin",)))
    sec = registry.token("secretariat")
    keep = registry.org(sec, "Ocean Fund")
    dup = registry.org(sec, "Ocean Fund Intl")
    page = sec_browser.get("/secretariat/organizations").get_data(as_text=True)
    assert "Ocean Fund Intl" in page and "Merge into it" in page
    assert sec_browser.post(f"/secretariat/organizations/{keep['id']}/verify").status_code \
        == 302
    assert sec_browser.post(f"/secretariat/organizations/{dup['id']}/merge",
                            {"into_id": keep["id"]}).status_code == 302
    page = sec_browser.get("/secretariat/organizations").get_data(as_text=True)
    assert "Ocean Fund" not in page
    moved = sec_browser.get(f"/organizations/{dup['id']}")
    assert moved.status_code == 301 and moved.headers["Location"].endswith(keep["id"])
    # a reviewer verifies but does not merge; a partner sees no list
    reviewer = Browser(registry, registry.user_token(staff=("reviewer",)))
    registry.org(sec, "Coral Trust")
    assert "Merge into it" not in reviewer.get("/secretariat/organizations").get_data(
        as_text=True)
    partner = Browser(registry, people.token(people.user("ana@reef.test")))
    assert partner.get("/secretariat/organizations").status_code == 403


def test_pages_speak_chinese(registry, people):
    browser = Browser(registry, people.token(people.user("ana@reef.test")))
    page = browser.get("/my/organizations", headers={"Accept-Language": "zh-CN"})
    text = page.get_data(as_text=True)
    assert 'lang="zh' in text and "我的组织" in text


def test_initiative_page_shows_an_unconfirmed_link(registry, people, complete):
    ana = people.user("ana@reef.test")
    theirs = registry.org(people.token(ana), "Blue Finance")
    sec = registry.token("secretariat")
    partner = registry.token("partner")
    made = registry.create(partner, **complete(registry, partner) | {
        "partners": [{"organization_id": theirs["id"], "role": "funding"}]})
    registry.action(partner, made["id"], "submit")
    published = registry.action(sec, made["id"], "approve").json
    page = registry.client.get(f"/initiatives/{published['public_id']}").get_data(as_text=True)
    assert "Blue Finance" in page and "(not confirmed by this organisation)" in page
    assert uuid.UUID(theirs["id"])
