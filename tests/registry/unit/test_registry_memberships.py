"""Organisations' members, invitations, join requests, verification, merges and proposed
lead/partner links (issue 7, "Accounts and organisations" and "Authorization")."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from registry.accounts.models import User
from registry.organizations.models import (
    Organization,
    OrganizationMembership,
)
from registry.workflow.models import Activity
from shared.db import utcnow
from shared.events.types import (
    ORGANIZATION_INVITATION_CREATED,
    ORGANIZATION_JOIN_REQUESTED,
    ORGANIZATION_MERGED,
    ORGANIZATION_VERIFIED,
    load_data,
)


class People:
    """Accounts (rows in ``users``) and their tokens, minted with their current memberships."""

    def __init__(self, registry):
        self.registry = registry

    def user(self, email: str, locale: str = "en") -> uuid.UUID:
        with self.registry.session() as s:
            user = User(id=uuid.uuid4(), email=email, display_name=email.split("@")[0],
                        locale=locale, email_verified_at=utcnow())
            s.add(user)
            s.commit()
            return user.id

    def token(self, user_id: uuid.UUID, staff: tuple[str, ...] = ()) -> str:
        from registry.organizations.service import memberships_of

        with self.registry.session() as s:
            user = s.get(User, user_id)
            orgs = {o: r.value for o, r in memberships_of(db_session=s,
                                                          user_id=user_id).items()}
            email = user.email
        return self.registry.user_token(orgs=orgs, staff=staff, email=email,
                                        subject=str(user_id))


@pytest.fixture
def people(registry):
    return People(registry)


def _events(registry, type_):
    return [load_data(type_, r.envelope["data"]) for r in registry.outbox()
            if r.event_type == type_]


def test_the_registrant_becomes_admin_and_the_organisation_starts_unverified(registry, people):
    ana = people.user("ana@reef.test")
    org = registry.org(people.token(ana), "Reef Keepers")
    assert org["verification_status"] == "unverified" and org["merged_into_id"] is None
    with registry.session() as s:
        from registry.organizations.service import memberships_of

        assert {str(k): v.value for k, v in memberships_of(db_session=s, user_id=ana).items()} \
            == {org["id"]: "admin"}
    members = registry.get(f"/api/v1/organizations/{org['id']}/members", people.token(ana))
    assert members.status_code == 200 and members.json[0]["role"] == "admin"
    # outsiders may not list the members; the organisation itself is public
    outsider = people.token(people.user("bob@else.test"))
    assert registry.get(f"/api/v1/organizations/{org['id']}/members", outsider).status_code \
        == 403
    assert registry.get(f"/api/v1/organizations/{org['id']}").status_code == 200


@pytest.mark.parametrize("website", ["javascript:alert(1)", "ftp://reef.test", "reef.test"])
def test_a_website_must_be_http_or_https(registry, people, problem, website):
    token = people.token(people.user("ana@reef.test"))
    resp = registry.post("/api/v1/organizations", {"name": "Reef", "stakeholder_group": "ngo",
                                                   "website": website}, token)
    problem(resp, 422, "website")
    ok = registry.post("/api/v1/organizations", {"name": "Reef", "stakeholder_group": "ngo",
                                                 "website": "https://reef.test/about"}, token)
    assert ok.status_code == 201 and ok.json["website"] == "https://reef.test/about"


def test_invitation_by_email_is_single_use_and_only_for_its_recipient(registry, people):
    ana = people.user("ana@reef.test")
    org = registry.org(people.token(ana), "Reef Keepers")
    zhao = people.user("zhao@reef.test", locale="zh")
    resp = registry.post(f"/api/v1/organizations/{org['id']}/invitations",
                         {"email": "Zhao@Reef.test", "role": "member"}, people.token(ana))
    assert resp.status_code == 201 and "token" not in resp.json
    [event] = _events(registry, ORGANIZATION_INVITATION_CREATED)
    assert event["recipient"] == "zhao@reef.test" and event["locale"] == "zh"
    assert event["organization"]["name"] == "Reef Keepers"
    assert event["inviter"]["email"] == "ana@reef.test"
    token = event["link"].rsplit("/", 1)[1]
    with registry.session() as s:  # only the digest is stored
        assert token not in str(s.execute(select(OrganizationMembership)).all())
    # someone else cannot use it (and learns nothing: 404)
    eve = people.user("eve@else.test")
    assert registry.post("/api/v1/organizations/invitations/accept", {"token": token},
                         people.token(eve)).status_code == 404
    # a member of the organisation (not admin) may not invite
    accepted = registry.post("/api/v1/organizations/invitations/accept", {"token": token},
                             people.token(zhao))
    assert accepted.status_code == 200 and accepted.json["status"] == "accepted"
    assert registry.post("/api/v1/organizations/invitations/accept", {"token": token},
                         people.token(zhao)).status_code == 404  # single use
    assert registry.post(f"/api/v1/organizations/{org['id']}/invitations",
                         {"email": "x@y.test"}, people.token(zhao)).status_code == 403
    roles = {m["email"]: m["role"] for m in registry.get(
        f"/api/v1/organizations/{org['id']}/members", people.token(zhao)).json}
    assert roles == {"ana@reef.test": "admin", "zhao@reef.test": "member"}


def test_an_expired_invitation_is_refused(registry, people):
    from registry.organizations.models import OrganizationInvitation

    ana = people.user("ana@reef.test")
    org = registry.org(people.token(ana), "Reef Keepers")
    zhao = people.user("zhao@reef.test")
    registry.post(f"/api/v1/organizations/{org['id']}/invitations", {"email": "zhao@reef.test"},
                  people.token(ana))
    token = _events(registry, ORGANIZATION_INVITATION_CREATED)[0]["link"].rsplit("/", 1)[1]
    with registry.session() as s:
        s.scalar(select(OrganizationInvitation)).expires_at = utcnow()
        s.commit()
    assert registry.post("/api/v1/organizations/invitations/accept", {"token": token},
                         people.token(zhao)).status_code == 404


def test_join_request_goes_to_the_admins_who_accept_it(registry, people):
    ana = people.user("ana@reef.test", locale="zh")
    org = registry.org(people.token(ana), "Reef Keepers")
    bob = people.user("bob@reef.test")
    resp = registry.post(f"/api/v1/organizations/{org['id']}/join-requests",
                         {"message": "I run the Suva chapter."}, people.token(bob))
    assert resp.status_code == 201
    again = registry.post(f"/api/v1/organizations/{org['id']}/join-requests", {},
                          people.token(bob))
    assert again.status_code == 409
    [event] = _events(registry, ORGANIZATION_JOIN_REQUESTED)
    assert event["recipients"] == [{"email": "ana@reef.test", "locale": "zh"}]
    assert event["requester"]["user_id"] == str(bob)
    listed = registry.get(f"/api/v1/organizations/{org['id']}/join-requests",
                          people.token(ana)).json
    assert [r["email"] for r in listed] == ["bob@reef.test"]
    # the requester cannot accept itself; the admin can
    rid = resp.json["id"]
    assert registry.post(f"/api/v1/organizations/join-requests/{rid}/accept", {},
                         people.token(bob)).status_code == 403
    assert registry.post(f"/api/v1/organizations/join-requests/{rid}/accept", {},
                         people.token(ana)).json["status"] == "accepted"
    mine = registry.get("/api/v1/organizations/mine", people.token(bob)).json
    assert [(o["name"], o["role"]) for o in mine] == [("Reef Keepers", "member")]


def test_the_last_admin_stays(registry, people, problem):
    ana = people.user("ana@reef.test")
    org = registry.org(people.token(ana), "Reef Keepers")
    problem(registry.client.delete(f"/api/v1/organizations/{org['id']}/members/{ana}",
                                   headers=registry.headers(people.token(ana))), 409)
    problem(registry.patch(f"/api/v1/organizations/{org['id']}/members/{ana}",
                           {"role": "member"}, people.token(ana)), 409)
    bob = people.user("bob@reef.test")
    rid = registry.post(f"/api/v1/organizations/{org['id']}/join-requests", {},
                        people.token(bob)).json["id"]
    registry.post(f"/api/v1/organizations/join-requests/{rid}/accept", {}, people.token(ana))
    assert registry.patch(f"/api/v1/organizations/{org['id']}/members/{bob}",
                          {"role": "admin"}, people.token(ana)).json["role"] == "admin"
    resp = registry.client.delete(f"/api/v1/organizations/{org['id']}/members/{ana}",
                                  headers=registry.headers(people.token(bob)))
    assert resp.status_code == 204
    with registry.session() as s:
        actions = [a.action for a in s.scalars(select(Activity).where(
            Activity.record_type == "organization").order_by(Activity.created_at))]
    assert actions == ["register", "join_requested", "join_accepted", "role_changed",
                       "member_removed"]


def test_unverified_organisation_drafts_and_submits_but_is_not_published(registry, complete,
                                                                         problem):
    sec = registry.token("secretariat")
    org = registry.org(sec, "New Coast Network")
    partner = registry.token("partner", organization_id=org["id"])
    draft = registry.create(partner, **complete(registry, partner) | {
        "lead_organization_id": org["id"]})
    assert registry.action(partner, draft["id"], "submit").status_code == 200
    body = problem(registry.action(sec, draft["id"], "approve"), 409)
    assert body["reason"] == "organization_unverified" and "New Coast Network" in body["detail"]
    reviewer = registry.user_token(staff=("reviewer",))
    verified = registry.post(f"/api/v1/organizations/{org['id']}/verify", {}, reviewer)
    assert verified.status_code == 200 and verified.json["verification_status"] == "verified"
    assert _events(registry, ORGANIZATION_VERIFIED)[0]["organization"]["id"] == org["id"]
    problem(registry.post(f"/api/v1/organizations/{org['id']}/verify", {}, reviewer), 409)
    assert registry.action(sec, draft["id"], "approve").json["status"] == "published"
    # partners may not verify
    other = registry.org(sec, "Other Coast")
    assert registry.post(f"/api/v1/organizations/{other['id']}/verify", {},
                         partner).status_code == 403


def test_merge_moves_every_link_and_keeps_the_history(registry, people, complete):
    sec = registry.token("secretariat")
    ana = people.user("ana@reef.test")
    keep = registry.org(people.token(ana), "Pacific Reef Alliance")
    bob = people.user("bob@reef.test")
    dup = registry.org(people.token(bob), "Pacific Reef Aliance")
    bob_token = people.token(bob)
    owned = registry.create(bob_token, title="Reef census",
                            lead_organization_id=dup["id"],
                            partners=[{"organization_id": keep["id"], "role": "partner"}])
    third = registry.token("partner")
    partnered = registry.create(third, title="Shared reef plan",
                                partners=[{"organization_id": dup["id"], "role": "funding"}])
    both = registry.create(third, title="Twice named", partners=[
        {"organization_id": dup["id"], "role": "funding"},
        {"organization_id": keep["id"], "role": "partner"}])
    # only a secretariat admin merges
    assert registry.post(f"/api/v1/organizations/{dup['id']}/merge", {"into_id": keep["id"]},
                         registry.user_token(staff=("reviewer",))).status_code == 403
    resp = registry.post(f"/api/v1/organizations/{dup['id']}/merge", {"into_id": keep["id"]},
                         sec)
    assert resp.status_code == 200 and resp.json["id"] == keep["id"]
    gone = registry.get(f"/api/v1/organizations/{dup['id']}").json
    assert gone["merged_into_id"] == keep["id"]
    [event] = _events(registry, ORGANIZATION_MERGED)
    assert event["merged_into"]["id"] == keep["id"]
    assert event["moved"]["owned_initiatives"] == 1 and event["moved"]["memberships"] == 1
    with registry.session() as s:
        roles = {str(m.user_id): m.role for m in s.scalars(select(OrganizationMembership))}
    assert roles == {str(ana): "admin", str(bob): "admin"}
    # bob (now of the surviving organisation) still edits the draft
    moved = registry.get(f"/api/v1/initiatives/{owned['id']}", people.token(bob)).json
    assert moved["owner_organization_id"] == keep["id"]
    assert moved["lead_organization"]["id"] == keep["id"]
    assert [p["organization"]["id"] for p in moved["partners"]] == [keep["id"]]
    assert moved["timeline"][-1]["comment"] == "Organisation merged into another."
    after = registry.get(f"/api/v1/initiatives/{partnered['id']}", third).json
    assert [p["organization"]["id"] for p in after["partners"]] == [keep["id"]]
    # named twice: one partner row is kept (the survivor's)
    after = registry.get(f"/api/v1/initiatives/{both['id']}", third).json
    assert [(p["organization"]["id"], p["role"]) for p in after["partners"]] == [
        (keep["id"], "partner")]
    # registering the duplicate's name again points to the survivor
    again = registry.post("/api/v1/organizations", {"name": "Pacific Reef Aliance",
                                                    "stakeholder_group": "ngo"}, sec)
    assert again.status_code == 409 and again.json["existing_id"] == keep["id"]
    with registry.session() as s:
        history = {a.action for a in s.scalars(select(Activity).where(
            Activity.record_type == "organization",
            Activity.record_id.in_([uuid.UUID(keep["id"]), uuid.UUID(dup["id"])])))}
        assert {"merge", "merged_into"} <= history
        assert s.get(Organization, uuid.UUID(dup["id"])).merged_into_id == uuid.UUID(
            keep["id"])


def test_naming_another_organisation_is_a_proposed_link_its_admin_answers(registry, people):
    sec = registry.token("secretariat")
    ana = people.user("ana@reef.test")
    theirs = registry.org(people.token(ana), "Blue Finance")
    partner = registry.token("partner")
    draft = registry.create(partner, title="Reef bonds", lead_organization_id=theirs["id"],
                            partners=[{"organization_id": theirs["id"], "role": "funding"}])
    assert draft["lead_confirmed"] is False
    assert draft["partners"][0]["confirmed"] is False
    links = registry.get("/api/v1/organizations/proposed-links", people.token(ana)).json
    assert sorted(link["kind"] for link in links) == ["lead", "partner"]
    assert links[0]["initiative_title"] == "Reef bonds"
    # nobody else may answer for Blue Finance (and learns nothing)
    base = f"/api/v1/initiatives/{draft['id']}/links/{theirs['id']}"
    assert registry.post(f"{base}/confirm", {}, partner).status_code == 404
    assert registry.post(f"{base}/confirm", {}, people.token(ana)).json["status"] == "confirmed"
    after = registry.get(f"/api/v1/initiatives/{draft['id']}", partner).json
    assert after["lead_confirmed"] is True and after["partners"][0]["confirmed"] is False
    assert registry.post(f"{base}/decline", {}, people.token(ana)).json["status"] == "declined"
    after = registry.get(f"/api/v1/initiatives/{draft['id']}", partner).json
    assert after["partners"] == []
    assert registry.get("/api/v1/organizations/proposed-links", people.token(ana)).json == []
    # a link the secretariat makes, or to one's own organisation, is confirmed at once
    own = registry.create(sec, title="On behalf", owner_organization_id=theirs["id"],
                          lead_organization_id=theirs["id"])
    assert own["lead_confirmed"] is True


def test_operator_commands_verify_merge_and_add_members(registry, people):
    from registry.app import create_app
    from registry.organizations.cli import register_commands
    from shared.cli import service_cli

    group = service_cli("registry", create_app, None, default_port=5001)
    register_commands(group)
    runner = registry.app.test_cli_runner()
    sec = registry.token("secretariat")
    keep = registry.org(sec, "Ocean Fund")
    dup = registry.org(sec, "Ocean Fund Intl")
    people.user("ana@reef.test")
    listed = runner.invoke(group, ["organizations", "list-unverified", "--q", "ocean"])
    assert listed.exit_code == 0 and keep["id"] in listed.output and dup["id"] in listed.output
    added = runner.invoke(group, ["organizations", "add-member", keep["id"], "--email",
                                 "ana@reef.test", "--role", "admin"])
    assert added.exit_code == 0, added.output
    unknown = runner.invoke(group, ["organizations", "add-member", keep["id"], "--email",
                                   "nobody@reef.test"])
    assert unknown.exit_code != 0 and "No account" in unknown.output
    assert runner.invoke(group, ["organizations", "verify", keep["id"]]).exit_code == 0
    again = runner.invoke(group, ["organizations", "verify", keep["id"]])
    assert again.exit_code != 0 and "verified" in again.output
    merged = runner.invoke(group, ["organizations", "merge", dup["id"], "--into", keep["id"]])
    assert merged.exit_code == 0, merged.output
    assert registry.get(f"/api/v1/organizations/{dup['id']}").json["merged_into_id"] == keep["id"]
