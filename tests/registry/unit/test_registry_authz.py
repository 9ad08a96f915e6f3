"""The registry's permission table (``registry.authz.permissions``): decisions per principal
and state, the SQL filter agreeing with the item rule, and the 404/401/403/409 answers."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from registry.authz import permissions as p
from registry.authz.permissions import Action, Aggregate
from registry.initiatives.models import Initiative
from shared.identity import (
    ANONYMOUS,
    SYSTEM,
    OrgRole,
    Principal,
    PrincipalKind,
    Scope,
    StaffRole,
)
from shared.problems import InvalidTransition, NotAllowed, NotFound, Unauthenticated

OWNER = uuid.uuid4()
OTHER = uuid.uuid4()

MEMBER = Principal(PrincipalKind.USER, subject=str(uuid.uuid4()),
                   memberships={OWNER: OrgRole.MEMBER})
STRANGER = Principal(PrincipalKind.USER, subject=str(uuid.uuid4()),
                     memberships={OTHER: OrgRole.ADMIN})
REVIEWER = Principal(PrincipalKind.USER, subject=str(uuid.uuid4()),
                     staff_roles=frozenset({StaffRole.REVIEWER}))
SEC_ADMIN = Principal(PrincipalKind.USER, subject=str(uuid.uuid4()),
                      staff_roles=frozenset({StaffRole.SECRETARIAT_ADMIN}))
CLIENT_RO = Principal(PrincipalKind.CLIENT, subject="c1", memberships={OWNER: OrgRole.ADMIN},
                      scopes=frozenset({Scope.INITIATIVES_READ}))
CLIENT_RW = Principal(PrincipalKind.CLIENT, subject="c2", memberships={OWNER: OrgRole.ADMIN},
                      scopes=frozenset({Scope.INITIATIVES_READ, Scope.INITIATIVES_WRITE}))


def initiative(status: str) -> SimpleNamespace:
    return SimpleNamespace(id=uuid.uuid4(), status=status, owner_organization_id=OWNER,
                           __aggregate__="initiative")


@pytest.mark.parametrize(("principal", "status", "action", "expected"), [
    (ANONYMOUS, "published", Action.VIEW, True),
    (ANONYMOUS, "draft", Action.VIEW, False),
    (STRANGER, "draft", Action.VIEW, False),
    (MEMBER, "draft", Action.VIEW, True),
    (MEMBER, "draft", Action.UPDATE, True),
    (MEMBER, "submitted", Action.UPDATE, False),
    (MEMBER, "draft", Action.SUBMIT, True),
    (MEMBER, "submitted", Action.APPROVE, False),
    (REVIEWER, "submitted", Action.APPROVE, True),
    (SEC_ADMIN, "submitted", Action.APPROVE, True),  # a secretariat admin counts as reviewer
    (REVIEWER, "draft", Action.UPDATE, False),  # no role bypasses the table
    (SYSTEM, "draft", Action.VIEW, True),
    (SYSTEM, "submitted", Action.APPROVE, False),
    (CLIENT_RO, "draft", Action.VIEW, True),
    (CLIENT_RO, "draft", Action.UPDATE, False),  # scope initiatives:write missing
    (CLIENT_RW, "draft", Action.UPDATE, True),
])
def test_decisions(principal, status, action, expected):
    assert p.can(principal, action, initiative(status)) is expected


def test_undeclared_action_is_denied():
    assert not p.can(SYSTEM, "delete", initiative("draft"))
    assert not p.can(SEC_ADMIN, "fly", initiative("draft"))


def test_authorize_answers_404_401_403_409():
    draft = initiative("draft")
    with pytest.raises(NotFound):
        p.authorize(STRANGER, Action.UPDATE, draft)  # may not see it: no existence leak
    with pytest.raises(NotFound):
        p.authorize(ANONYMOUS, Action.SUBMIT, draft)
    with pytest.raises(Unauthenticated):
        p.authorize(ANONYMOUS, Action.SUBMIT, initiative("published"))
    with pytest.raises(NotAllowed):
        p.authorize(REVIEWER, Action.SUBMIT, draft)
    with pytest.raises(NotAllowed) as scope:
        p.authorize(CLIENT_RO, Action.SUBMIT, draft)
    assert scope.value.extra["required_scope"] == "initiatives:write"
    with pytest.raises(InvalidTransition) as state:
        p.authorize(MEMBER, Action.SUBMIT, initiative("submitted"))
    assert state.value.extra["current_status"] == "submitted"
    p.authorize(MEMBER, Action.SUBMIT, draft)


def test_allowed_actions_follow_state_and_principal():
    # (manage_indicators: issue 9, an editable initiative's indicators)
    assert p.allowed_actions(MEMBER, initiative("draft"), Aggregate.INITIATIVE) == [
        "manage_indicators", "update", "comment", "submit"]
    assert p.allowed_actions(REVIEWER, initiative("submitted"), Aggregate.INITIATIVE) == [
        "comment", "assign", "approve", "request_changes", "reject"]


def test_every_row_names_declared_who_rules_and_an_aggregate():
    for row in p.describe_table():
        assert row["who"] and row["aggregate"] in {a.value for a in Aggregate}


@pytest.mark.parametrize("principal", [ANONYMOUS, MEMBER, STRANGER, REVIEWER, SYSTEM,
                                       CLIENT_RO])
def test_list_filter_selects_exactly_what_the_item_rule_allows(registry, principal):
    """Same rule for lists and items: the SQL filter keeps the rows ``can`` allows."""
    with registry.session() as s:
        rows = []
        for status in ("draft", "submitted", "changes_requested", "published", "rejected"):
            for owner in (OWNER, OTHER):
                rows.append(Initiative(id=uuid.uuid4(), status=status, title=status,
                                       owner_organization_id=owner, version=1))
        s.add_all(rows)
        s.commit()
        seen = set(s.scalars(select(Initiative.id).where(
            p.visible_filter(principal, Aggregate.INITIATIVE))))
        expected = {r.id for r in rows if p.can(principal, Action.VIEW, r)}
        assert seen == expected


def test_a_draft_the_secretariat_creates_for_an_organisation_is_that_organisations(registry):
    sec = registry.token("secretariat")
    org = registry.org(sec, "Coral Triangle Initiative")
    member = registry.token("partner", organization_id=org["id"])
    outsider = registry.token("partner")
    made = registry.create(sec, title="Reef census", owner_organization_id=org["id"])
    assert made["owner_organization_id"] == org["id"]
    # the organisation's members edit and submit it; no one else sees it
    assert registry.patch(f"/api/v1/initiatives/{made['id']}", {"title": "Reef census 2027"},
                          member).status_code == 200
    assert registry.get(f"/api/v1/initiatives/{made['id']}", outsider).status_code == 404
    # without naming it, the lead entity is the owner
    lead = registry.create(sec, title="Mangroves", lead_organization_id=org["id"])
    assert lead["owner_organization_id"] == org["id"]
    resp = registry.post("/api/v1/initiatives", {"title": "Nobody's"}, sec)
    assert resp.status_code == 422
    assert resp.json["errors"][0]["field"] == "owner_organization_id"


def test_a_partner_may_not_draft_for_another_organisation(registry):
    partner = registry.token("partner")
    other = registry.org(registry.token("secretariat"), "Someone Else")
    resp = registry.post("/api/v1/initiatives", {"title": "Not mine",
                                                 "owner_organization_id": other["id"]}, partner)
    assert resp.status_code == 403


def test_anonymous_write_is_401_with_www_authenticate(registry):
    resp = registry.post("/api/v1/initiatives", {"title": "Reefs"})
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_denials_are_recorded_in_the_audit_log(registry):
    from registry.audit.models import AuditEntry

    partner = registry.token("partner")
    draft = registry.create(partner, title="Quiet draft")
    elsewhere = registry.org(registry.token("secretariat"), "Elsewhere")
    outsider = registry.user_token(orgs={elsewhere["id"]: "admin"}, email="o@else.test")
    assert registry.get(f"/api/v1/initiatives/{draft['id']}", outsider).status_code == 404
    assert registry.action(outsider, draft["id"], "submit").status_code == 404
    assert registry.patch(f"/api/v1/initiatives/{draft['id']}", {"title": "Mine now"},
                          registry.user_token(staff=("reviewer",))).status_code == 403
    with registry.session() as s:
        rows = list(s.scalars(select(AuditEntry).where(
            AuditEntry.event == "authorization.denied").order_by(AuditEntry.id)))
    assert [(r.detail["action"], r.detail["status"], r.outcome) for r in rows] == [
        ("view", 404, "denied"), ("submit", 404, "denied"), ("update", 403, "denied")]
    assert rows[0].subject == draft["id"] and rows[0].actor_email == "o@else.test"
    assert registry.get(f"/api/v1/initiatives/{draft['id']}",
                        partner).json["title"] == "Quiet draft"  # nothing changed
