"""The review workflow: transitions, permissions, public ids, and that every change writes
exactly one timeline entry and one outbox event in the same transaction (SQLite)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

import pytest

from registry.initiatives.models import Initiative
from registry.workflow.models import Activity
from shared.events import types as ev
from shared.events.types import load_data

PUBLIC_ID = re.compile(r"^PR-(\d{4})-(\d{5})$")


@pytest.fixture
def actors(registry):
    return {"partner": registry.token("partner", email="lead@ngo.test"),
            "sec": registry.token("secretariat", email="review@un.test")}


def _state(registry, iid: str) -> tuple:
    """What a failed request must not change: status, version, timeline and outbox sizes."""
    with registry.session() as s:
        row = s.get(Initiative, uuid.UUID(iid))
        head = (row.status, row.version, row.title, row.public_id)
    return head + (len(registry.activities(iid)), len(registry.outbox(iid)))


def _event(row) -> dict:
    """The validated payload of an outbox row (the shared contract is the judge)."""
    return load_data(row.event_type, row.envelope["data"])


def test_full_workflow_writes_one_event_and_one_timeline_entry_per_change(
        registry, actors, complete, problem):
    partner, sec = actors["partner"], actors["sec"]
    draft = registry.create(partner, **complete(registry, partner), title="Mangrove belt")
    iid = draft["id"]

    steps = [
        ("submit", partner, None, "draft", "submitted", ev.INITIATIVE_SUBMITTED),
        ("request-changes", sec, "Add a baseline survey.", "submitted", "changes_requested",
         ev.INITIATIVE_CHANGES_REQUESTED),
        ("PATCH", partner, None, "changes_requested", "changes_requested",
         ev.INITIATIVE_UPDATED),
        ("submit", partner, None, "changes_requested", "submitted", ev.INITIATIVE_SUBMITTED),
        ("approve", sec, "Welcome", "submitted", "published", ev.INITIATIVE_APPROVED),
    ]
    rows = registry.outbox(iid)
    assert [r.event_type for r in rows] == [ev.INITIATIVE_CREATED]
    assert _event(rows[0])["initiative"]["version"] == 1

    for action, token, comment, before, after, event_type in steps:
        n_events, n_steps = len(registry.outbox(iid)), len(registry.activities(iid))
        if action == "PATCH":
            resp = registry.patch(f"/api/v1/initiatives/{iid}", {
                "deliverables": [{"description": "Baseline survey", "due_date": "2026-06-30"},
                                 {"description": "40 ha restored", "due_date": "2028-06-30"}]},
                token)
        else:
            resp = registry.action(token, iid, action, comment)
        assert resp.status_code == 200, resp.json
        assert resp.json["status"] == after

        new_rows = registry.outbox(iid)[n_events:]
        assert [r.event_type for r in new_rows] == [event_type]
        data = _event(new_rows[0])
        assert (data["from_status"], data["to_status"]) == (before, after)
        assert data["comment"] == comment
        assert data["initiative"]["version"] == resp.json["version"]
        assert data["initiative"]["status"] == after
        assert new_rows[0].subject == iid and new_rows[0].topic == "registry.initiatives"
        assert new_rows[0].envelope["source"] == "/registry"

        new_steps = registry.activities(iid)[n_steps:]
        assert len(new_steps) == 1
        assert (new_steps[0].from_status, new_steps[0].to_status) == (before, after)
        assert new_steps[0].comment == comment

    versions = [_event(r)["initiative"]["version"] for r in registry.outbox(iid)]
    assert versions == list(range(1, 7))  # +1 with every change
    actions = [_event(r)["action"] for r in registry.outbox(iid)]
    assert actions == ["create", "submit", "request_changes", "update", "submit", "approve"]

    # the PATCH's timeline entry says what changed, before and after
    update = [a for a in registry.activities(iid) if a.action == "update"][0]
    assert set(update.changes) == {"deliverables"}
    before = update.changes["deliverables"]["before"]
    assert [{k: d[k] for k in ("description", "due_date", "status")} for d in before] == [
        {"description": "40 ha restored", "due_date": "2028-06-30", "status": "planned"}]
    after = update.changes["deliverables"]["after"][0]
    assert {k: after[k] for k in ("description", "due_date", "status")} == {
        "description": "Baseline survey", "due_date": "2026-06-30", "status": "planned"}
    assert after["id"] != before[0]["id"]  # a row without id is a new deliverable
    assert update.actor_role == "partner" and update.actor_email == "lead@ngo.test"

    approve = registry.activities(iid)[-1]
    assert approve.actor_role == "secretariat" and approve.actor_email == "review@un.test"
    approved = _event(registry.outbox(iid)[-1])
    assert {k: approved["actor"][k] for k in ("role", "organization_id", "email")} == {
        "role": "secretariat", "organization_id": None, "email": "review@un.test"}


def test_approval_gives_a_stable_public_id_numbered_per_year(registry, actors):
    partner, sec = actors["partner"], actors["sec"]
    first = registry.publish(partner, sec, title="First published")
    match = PUBLIC_ID.match(first["public_id"])
    assert match, first["public_id"]
    published_at = datetime.fromisoformat(first["published_at"])
    assert int(match.group(1)) == published_at.year
    assert match.group(2) == "00001"
    assert first["published_at"] and first["submitted_at"]

    second = registry.publish(partner, sec, title="Second published")
    assert second["public_id"] == f"PR-{published_at.year}-00002"

    # stable across later reads, lists, the public page and the event snapshot
    for token in (None, partner, sec):
        assert registry.get(f"/api/v1/initiatives/{first['id']}",
                            token).json["public_id"] == first["public_id"]
    listed = {i["id"]: i["public_id"] for i in registry.get("/api/v1/initiatives").json["items"]}
    assert listed[first["id"]] == first["public_id"]
    assert registry.client.get(f"/initiatives/{first['public_id']}").status_code == 200
    snap = _event(registry.outbox(first["id"])[-1])["initiative"]
    assert snap["public_id"] == first["public_id"]


def test_request_changes_and_reject_need_a_comment(registry, actors, complete, problem):
    partner, sec = actors["partner"], actors["sec"]
    draft = registry.create(partner, **complete(registry, partner))
    iid = draft["id"]
    registry.action(partner, iid, "submit")
    before = _state(registry, iid)
    for action in ("request-changes", "reject"):
        for comment in (None, "   "):
            problem(registry.action(sec, iid, action, comment), 422, "comment")
    assert _state(registry, iid) == before

    resp = registry.action(sec, iid, "reject", "Out of scope for this registry.")
    assert resp.status_code == 200 and resp.json["status"] == "rejected"
    assert resp.json["public_id"] is None
    assert resp.json["timeline"][-1]["comment"] == "Out of scope for this registry."
    assert registry.outbox(iid)[-1].event_type == ev.INITIATIVE_REJECTED
    # a rejected initiative is closed: nothing is allowed any more
    body = problem(registry.action(partner, iid, "submit"), 409)
    assert body["current_status"] == "rejected" and body["allowed_actions"] == []
    assert "rejected" in body["detail"] and "none" in body["detail"]
    # and the public never sees it
    assert registry.get(f"/api/v1/initiatives/{iid}").status_code == 404


@pytest.mark.parametrize("status_path, action, who, expected_allowed", [
    ((), "approve", "sec", ["update", "submit"]),
    ((), "request-changes", "sec", ["update", "submit"]),
    (("submit",), "submit", "partner", ["approve", "request_changes", "reject"]),
    (("submit", "approve"), "submit", "partner",
     ["revise", "declare_completion", "withdraw", "suspend"]),
    (("submit", "approve"), "reject", "sec",
     ["revise", "declare_completion", "withdraw", "suspend"]),
])
def test_illegal_transitions_are_409_naming_state_and_allowed_actions(
        registry, actors, complete, problem, status_path, action, who, expected_allowed):
    partner, sec = actors["partner"], actors["sec"]
    draft = registry.create(partner, **complete(registry, partner))
    iid = draft["id"]
    for step in status_path:
        assert registry.action(partner if step == "submit" else sec, iid, step,
                               "ok").status_code == 200
    current = registry.get(f"/api/v1/initiatives/{iid}", sec).json["status"]
    before = _state(registry, iid)

    body = problem(registry.action(actors[who], iid, action, "A comment"), 409)
    assert body["type"].endswith("/invalid-transition")
    assert body["current_status"] == current
    assert body["allowed_actions"] == expected_allowed
    assert f"is {current}" in body["detail"]
    for allowed in expected_allowed:
        assert allowed in body["detail"]
    assert _state(registry, iid) == before


def test_editing_outside_editable_states_is_409(registry, actors, complete, problem):
    partner = actors["partner"]
    draft = registry.create(partner, **complete(registry, partner))
    registry.action(partner, draft["id"], "submit")
    body = problem(registry.patch(f"/api/v1/initiatives/{draft['id']}", {"title": "Changed"},
                                  partner), 409)
    assert body["current_status"] == "submitted"


def test_who_may_act(registry, actors, complete, problem):
    partner, sec = actors["partner"], actors["sec"]
    draft = registry.create(partner, **complete(registry, partner))
    iid = draft["id"]
    # the secretariat sees the draft but may neither edit nor submit it for the partner
    problem(registry.patch(f"/api/v1/initiatives/{iid}", {"title": "Edited by sec"}, sec), 403)
    problem(registry.action(sec, iid, "submit"), 403)
    registry.action(partner, iid, "submit")
    before = _state(registry, iid)
    # a partner may not review, not even its own
    for action in ("approve", "request-changes", "reject"):
        problem(registry.action(partner, iid, action, "self-review"), 403)
    assert _state(registry, iid) == before
    registry.action(sec, iid, "approve")
    # anonymous on a published one: it can see it, so it is told to sign in
    problem(registry.action(None, iid, "reject", "no"), 401)
    # the secretariat's view lists what it may do now (the thread's comment, suspension)
    assert registry.get(f"/api/v1/initiatives/{iid}", sec).json["allowed_actions"] == [
        "comment", "suspend"]


def test_a_failed_submit_lists_each_missing_field_and_changes_nothing(registry, actors, problem):
    partner = actors["partner"]
    draft = registry.create(partner, title="Barely started",
                            deliverables=[{"description": "Undated deliverable"}])
    iid = draft["id"]
    before = _state(registry, iid)
    body = problem(registry.action(partner, iid, "submit"), 422,
                   "description", "lead_organization_id", "sdg_targets", "countries",
                   "start_date", "end_date", "resources", "contact_email",
                   "deliverables.0.due_date")
    assert "deliverables" not in {e["field"] for e in body["errors"]}  # one is listed
    assert _state(registry, iid) == before
    assert registry.get(f"/api/v1/initiatives/{iid}", partner).json["submitted_at"] is None


def test_regions_or_goals_alone_satisfy_geography_and_sdg_requirements(
        registry, actors, complete, problem):
    partner = actors["partner"]
    fields = complete(registry, partner) | {"countries": [], "regions": ["009"],
                                            "sdg_targets": [], "sdg_goals": [14]}
    draft = registry.create(partner, **fields)
    resp = registry.action(partner, draft["id"], "submit")
    assert resp.status_code == 200, resp.json


def test_a_rejected_patch_is_not_half_written(registry, actors, complete, problem):
    partner = actors["partner"]
    draft = registry.create(partner, **complete(registry, partner))
    iid = draft["id"]
    before = _state(registry, iid)
    # the schema cannot see the stored start date; the service refuses after setting the title
    body = problem(registry.patch(f"/api/v1/initiatives/{iid}",
                                  {"title": "Renamed", "end_date": "2020-01-01"}, partner),
                   422, "end_date")
    assert "2026-01-01" in body["errors"][0]["message"]
    assert _state(registry, iid) == before
    stored = registry.get(f"/api/v1/initiatives/{iid}", partner).json
    assert stored["title"] == draft["title"] and stored["end_date"] == "2028-12-31"

    # unknown partner organisation: 422 naming it, nothing written
    problem(registry.patch(f"/api/v1/initiatives/{iid}", {
        "title": "Renamed", "partners": [{"organization_id": draft["lead_organization"]["id"]},
                                         {"organization_id": uuid.uuid4().hex}]},
        partner), 422, "partners.1.organization_id")
    assert _state(registry, iid) == before


def test_duplicate_partner_is_422(registry, actors, problem):
    partner = actors["partner"]
    org = registry.org(partner, "Twice Listed")
    problem(registry.post("/api/v1/initiatives", {
        "title": "Twice", "partners": [{"organization_id": org["id"]},
                                       {"organization_id": org["id"], "role": "funding"}]},
        partner), 422, "partners.1.organization_id")
    assert registry.count(Initiative) == 0


def test_a_patch_that_changes_nothing_writes_nothing(registry, actors):
    partner = actors["partner"]
    draft = registry.create(partner, title="Same title", countries=["KEN"])
    before = _state(registry, draft["id"])
    resp = registry.patch(f"/api/v1/initiatives/{draft['id']}",
                          {"title": "Same title", "countries": ["KEN"]}, partner)
    assert resp.status_code == 200 and resp.json["version"] == 1
    assert _state(registry, draft["id"]) == before


def test_every_event_the_registry_writes_fits_the_shared_contract(registry, actors, complete):
    partner, sec = actors["partner"], actors["sec"]
    published = registry.publish(partner, sec, partners=[])
    rows = registry.outbox()
    assert rows, "nothing written"
    seqs = [r.seq for r in rows]
    assert seqs == sorted(seqs) and len(set(r.event_id for r in rows)) == len(rows)
    for row in rows:
        env = row.envelope
        assert env["specversion"] == "1.0" and env["type"] == row.event_type
        assert env["id"] == row.event_id and env["subject"] == row.subject
        assert env["time"].endswith("+00:00")
        load_data(row.event_type, env["data"])  # raises if the payload breaks the schema
        assert row.published_at is None and row.attempts == 0
    snapshot = load_data(rows[-1].event_type, rows[-1].envelope["data"])["initiative"]
    assert snapshot["id"] == published["id"]
    assert str(snapshot["resources"][0]["amount_usd"]) == "250000.00"
    assert snapshot["contact_email"] == "reefs@ngo.test"
    with registry.session() as s:
        assert s.query(Activity).filter_by(record_type="initiative").count() == 3
