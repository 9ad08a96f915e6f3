"""Initiative drafts, SDG tagging, lists with filters and pagination, and who sees what
(SQLite)."""

from __future__ import annotations

import uuid

import pytest


def test_a_partner_creates_a_draft_it_owns(registry):
    partner = registry.token("partner", email="p@ngo.test")
    org = registry.org(partner, "Reef Alliance")
    draft = registry.create(partner, title="  Reef restoration  ", lead_organization_id=org["id"],
                            countries=["FJI", "TON"], regions=["009"],
                            deliverables=[{"description": "Nursery built"}],
                            contact_email="reef@ngo.test")
    assert draft["status"] == "draft" and draft["version"] == 1
    assert draft["public_id"] is None and draft["published_at"] is None
    assert draft["title"] == "Reef restoration"
    assert draft["lead_organization"]["name"] == "Reef Alliance"
    assert draft["countries"] == ["FJI", "TON"] and draft["regions"] == ["009"]
    assert [{k: d[k] for k in ("description", "due_date", "status")}
            for d in draft["deliverables"]] == [
        {"description": "Nursery built", "due_date": None, "status": "planned"}]
    assert draft["deliverables"][0]["id"]
    # the owner sees private fields and what it may do now
    assert draft["contact_email"] == "reef@ngo.test"
    assert draft["allowed_actions"] == ["update", "comment", "submit"]
    assert [t["action"] for t in draft["timeline"]] == ["create"]
    assert draft["timeline"][0]["actor_email"] == "p@ngo.test"


def test_anonymous_cannot_create(registry, problem):
    problem(registry.post("/api/v1/initiatives", {"title": "Hello world"}), 401)


def test_goals_are_derived_from_targets(registry):
    partner = registry.token("partner")
    draft = registry.create(partner, sdg_targets=["14.1", "12.5", "14.1"])
    assert draft["sdg_goals"] == [12, 14]
    assert draft["sdg_targets"] == ["12.5", "14.1"]  # framework order, no duplicates


def test_goals_tagged_without_target_survive_a_change_of_targets(registry):
    partner = registry.token("partner")
    draft = registry.create(partner, sdg_targets=["14.1"], sdg_goals=[5])
    assert draft["sdg_goals"] == [5, 14]
    resp = registry.patch(f"/api/v1/initiatives/{draft['id']}", {"sdg_targets": ["12.a"]},
                          partner)
    assert resp.status_code == 200
    assert resp.json["sdg_goals"] == [5, 12]  # 14 was only derived; 5 was tagged
    resp = registry.patch(f"/api/v1/initiatives/{draft['id']}", {"sdg_goals": [3]}, partner)
    assert resp.json["sdg_goals"] == [3, 12]


@pytest.fixture
def catalogue(registry, complete):
    """Three published initiatives with distinct tags, a draft and a submitted one."""
    partner = registry.token("partner")
    sec = registry.token("secretariat")
    ocean = registry.publish(partner, sec, title="Ocean plastics cleanup",
                             sdg_targets=["14.1"], countries=["KEN"],
                             description="Beach clean-ups along the coast")
    waste = registry.publish(partner, sec, title="Food waste halved",
                             sdg_targets=["12.3"], countries=["FRA", "DEU"], regions=["150"])
    pacific = registry.publish(partner, sec, title="Pacific mangroves",
                               sdg_targets=["14.2", "13.1"], countries=["FJI"],
                               regions=["009"])
    draft = registry.create(partner, title="Ocean draft idea", sdg_targets=["14.1"])
    submitted = registry.create(partner, **(complete(registry, partner)
                                            | {"title": "Submitted ocean plan"}))
    assert registry.action(partner, submitted["id"], "submit").status_code == 200
    return {"partner": partner, "sec": sec, "ocean": ocean, "waste": waste,
            "pacific": pacific, "draft": draft, "submitted": submitted}


def _titles(registry, query: str, token: str | None = None) -> list[str]:
    resp = registry.get(f"/api/v1/initiatives{query}", token)
    assert resp.status_code == 200, resp.json
    return sorted(i["title"] for i in resp.json["items"])


def test_list_filters(registry, catalogue):
    published = ["Food waste halved", "Ocean plastics cleanup", "Pacific mangroves"]
    assert _titles(registry, "") == published
    assert _titles(registry, "?sdg=14") == ["Ocean plastics cleanup", "Pacific mangroves"]
    assert _titles(registry, "?sdg=13") == ["Pacific mangroves"]
    assert _titles(registry, "?sdg=1") == []
    assert _titles(registry, "?target=12.3") == ["Food waste halved"]
    assert _titles(registry, "?country=DEU") == ["Food waste halved"]
    assert _titles(registry, "?region=009") == ["Pacific mangroves"]
    assert _titles(registry, "?status=published&sdg=12") == ["Food waste halved"]
    # q: title, description, lead entity name, public id (case-insensitive)
    assert _titles(registry, "?q=MANGROVES") == ["Pacific mangroves"]
    assert _titles(registry, "?q=beach%20clean") == ["Ocean plastics cleanup"]
    lead = catalogue["waste"]["lead_organization"]["name"]
    assert _titles(registry, f"?q={lead}") == ["Food waste halved"]
    assert _titles(registry, f"?q={catalogue['pacific']['public_id'].lower()}") == [
        "Pacific mangroves"]
    # a LIKE wildcard in q is literal
    assert _titles(registry, "?q=%25") == []
    # the secretariat filters by status across owners
    sec = catalogue["sec"]
    assert _titles(registry, "?status=submitted", sec) == ["Submitted ocean plan"]
    assert _titles(registry, "?status=draft&sdg=14", sec) == ["Ocean draft idea"]


def test_list_items_are_public_summaries(registry, catalogue):
    items = registry.get("/api/v1/initiatives", catalogue["partner"]).json["items"]
    for item in items:
        assert "contact_email" not in item and "timeline" not in item
        assert item["sdg_goals"] and item["updated_at"]


def test_list_items_dump_exactly_as_the_summary_schema_would(registry, catalogue):
    """List pages dump through ``fast_dumper`` (speed); it stays equal to marshmallow's dump,
    key order included, for items with and without lead organisation, dates and codes."""
    import json

    from marshmallow import Schema, fields

    from registry import db
    from registry.initiatives import service
    from registry.initiatives.schemas import InitiativeSummarySchema, fast_dumper
    from shared.identity import ANONYMOUS, Principal, PrincipalKind, StaffRole

    registry.create(catalogue["partner"], title="Bare draft")
    schema = InitiativeSummarySchema()
    with registry.app.app_context():
        sec = service.search_initiatives(
            db_session=db.session(),
            principal=Principal(PrincipalKind.USER,
                                staff_roles=frozenset({StaffRole.REVIEWER}))).items
        public = service.search_initiatives(db_session=db.session(), principal=ANONYMOUS).items
    assert any(i.lead_organization is None for i in sec)
    assert any(i.published_at is not None for i in sec)
    dump = fast_dumper(schema)
    for item in sec:
        assert json.dumps(dump(item)) == json.dumps(schema.dump(item))
    answered = registry.get("/api/v1/initiatives").json["items"]
    assert answered == [json.loads(json.dumps(schema.dump(i))) for i in public]

    class Other(Schema):
        amount = fields.Decimal(as_string=True)

    with pytest.raises(TypeError):
        fast_dumper(Other())


def test_pagination_totals_and_pages_cover_everything_once(registry, catalogue):
    sec = catalogue["sec"]
    everything = registry.get("/api/v1/initiatives?per_page=100", sec).json
    assert everything["total"] == 5 and len(everything["items"]) == 5
    seen: list[str] = []
    for page in (1, 2, 3):
        body = registry.get(f"/api/v1/initiatives?per_page=2&page={page}", sec).json
        assert body["total"] == 5 and body["page"] == page and body["per_page"] == 2
        assert len(body["items"]) == (2 if page < 3 else 1)
        seen += [i["id"] for i in body["items"]]
    assert sorted(seen) == sorted(i["id"] for i in everything["items"])
    beyond = registry.get("/api/v1/initiatives?per_page=2&page=4", sec).json
    assert beyond["items"] == [] and beyond["total"] == 5
    # published first (newest first), then the rest
    statuses = [i["status"] for i in everything["items"]]
    assert statuses[:3] == ["published"] * 3


def test_visibility_by_role(registry, catalogue, problem):
    partner = catalogue["partner"]
    other = registry.token("partner")
    sec = catalogue["sec"]
    draft_id = catalogue["draft"]["id"]

    anonymous = registry.get("/api/v1/initiatives").json
    assert anonymous["total"] == 3
    assert {i["status"] for i in anonymous["items"]} == {"published"}
    assert registry.get("/api/v1/initiatives", partner).json["total"] == 5
    assert registry.get("/api/v1/initiatives", other).json["total"] == 3
    assert registry.get("/api/v1/initiatives", sec).json["total"] == 5
    # a filter cannot widen what one sees
    assert registry.get("/api/v1/initiatives?status=draft").json["total"] == 0
    assert registry.get("/api/v1/initiatives?status=draft", other).json["total"] == 0

    assert registry.get(f"/api/v1/initiatives/{draft_id}", partner).status_code == 200
    assert registry.get(f"/api/v1/initiatives/{draft_id}", sec).status_code == 200
    # another partner's or anonymous GET of a draft: as if it did not exist
    problem(registry.get(f"/api/v1/initiatives/{draft_id}", other), 404)
    problem(registry.get(f"/api/v1/initiatives/{draft_id}"), 404)
    problem(registry.patch(f"/api/v1/initiatives/{draft_id}", {"title": "Mine now"}, other), 404)
    problem(registry.action(other, draft_id, "submit"), 404)
    problem(registry.get(f"/api/v1/initiatives/{uuid.uuid4()}", sec), 404)


def test_partners_of_the_same_organisation_share_drafts(registry):
    sec = registry.token("secretariat")
    org = registry.org(sec, "Shared NGO")
    alice = registry.token("partner", organization_id=org["id"])
    bob = registry.token("partner", organization_id=org["id"])
    stranger = registry.token("partner")
    draft = registry.create(alice, title="Team draft")
    assert registry.get(f"/api/v1/initiatives/{draft['id']}", bob).json["allowed_actions"] == [
        "update", "comment", "submit"]
    assert registry.patch(f"/api/v1/initiatives/{draft['id']}", {"title": "Bob edits"},
                          bob).status_code == 200
    assert registry.get("/api/v1/initiatives", bob).json["total"] == 1
    assert registry.get("/api/v1/initiatives", stranger).json["total"] == 0


def test_the_public_never_sees_private_fields(registry, catalogue):
    ocean = catalogue["ocean"]
    public = registry.get(f"/api/v1/initiatives/{ocean['id']}").json
    other = registry.get(f"/api/v1/initiatives/{ocean['id']}", registry.token("partner")).json
    for body in (public, other):
        assert body["title"] == "Ocean plastics cleanup"
        for private in ("contact_email", "timeline", "allowed_actions", "owner_organization_id"):
            assert private not in body
    owner = registry.get(f"/api/v1/initiatives/{ocean['id']}", catalogue["partner"]).json
    assert owner["contact_email"] == "reefs@ngo.test"
    assert [t["action"] for t in owner["timeline"]] == ["create", "submit", "approve"]
    # published: the owner may revise it, comment, declare completion or withdraw it
    assert owner["allowed_actions"] == ["revise", "comment", "declare_completion", "withdraw"]
