"""The review desk's API (issue 8): the lifecycle after publication, ETag / If-Match, the
thread and its visibility, the review queue, assignment, four eyes, deliverable status and
stable ids, the actor in timeline rows and events, recipients."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from registry.initiatives.models import Initiative
from shared.events.types import load_data
from tests.registry.review_desk import make_desk


@pytest.fixture
def desk(registry):
    return make_desk(registry)


def _events(registry, iid):
    return [(r.event_type.split(".")[-2], load_data(r.event_type, r.envelope["data"]))
            for r in registry.outbox(iid)]


def test_the_whole_lifecycle_through_the_api(registry, desk, problem):
    published = desk.published()
    iid = published["id"]
    assert published["status"] == "published" and published["approved_version"] == 1
    # declaring completion needs a closing note
    problem(desk.act("owner", iid, "declare-completion"), 422, "comment")
    assert desk.act("owner", iid, "declare-completion", "All 40 ha restored.").json[
        "status"] == "completion_declared"
    # the secretariat declines (with a reason), the owner declares again, it is confirmed
    problem(desk.act("reviewer", iid, "decline-completion"), 422, "comment")
    assert desk.act("reviewer", iid, "decline-completion", "Report the survey first.").json[
        "status"] == "published"
    desk.act("owner", iid, "declare-completion", "Survey attached.")
    done = desk.act("reviewer2", iid, "confirm-completion").json
    assert done["status"] == "completed" and done["completed_at"]
    archived = desk.act("admin", iid, "archive").json
    assert archived["status"] == "archived" and archived["archived_at"]
    # archived stays public; no further step
    assert registry.get(f"/api/v1/initiatives/{iid}").json["status"] == "archived"
    body = problem(desk.act("owner", iid, "withdraw", "Too late."), 409)
    assert body["current_status"] == "archived"
    kinds = [k for k, _ in _events(registry, iid)]
    assert kinds == ["created", "submitted", "approved", "completion-declared",
                     "completion-declined", "completion-declared", "completed", "archived"]
    # every event after creation names the people to tell, and the pages to act on
    for _kind, data in _events(registry, iid)[1:]:
        assert data["review_url"].endswith(f"/secretariat/review/{iid}")
        assert data["owner_url"].endswith(f"/my/initiatives/{iid}")
    _kind, declared = _events(registry, iid)[3]
    emails = {r["email"]: r for r in declared["recipients"]}
    # the owner's co-member hears of it in their language; the actor does not
    assert [r["role"] for r in emails.values()] == ["owner", "owner"]
    assert not any(e.startswith("owner-") for e in emails)
    assert any(e.startswith("owner2-") and r["locale"] == "zh" for e, r in emails.items())
    # secretariat actions carry the reviewer's name and e-mail (timeline and event)
    _kind, confirmed = _events(registry, iid)[6]
    assert confirmed["actor"]["name"] == "Raj Reviewer"
    assert confirmed["actor"]["email"].startswith("reviewer2-")
    assert confirmed["actor"]["user_id"] == str(desk.ids["reviewer2"])
    row = [a for a in registry.activities(iid) if a.action == "confirm_completion"][0]
    assert (row.actor_name, row.actor_role, row.visibility) == (
        "Raj Reviewer", "secretariat", "public")
    assert row.actor_email.startswith("reviewer2-")


def test_withdraw_suspend_and_reinstate(registry, desk, problem):
    one = desk.published()["id"]
    problem(desk.act("owner", one, "withdraw"), 422, "comment")
    assert desk.act("owner", one, "withdraw", "Funding ended.").json["status"] == "withdrawn"
    # withdrawn stays public, with the reason in the public thread
    public = registry.get(f"/api/v1/initiatives/{one}/thread").json
    assert [(e["action"], e["body"]) for e in public if e["kind"] == "transition"][-1] == (
        "withdraw", "Funding ended.")
    two = desk.published()["id"]
    problem(desk.act("owner", two, "suspend", "no"), 403)
    assert desk.act("reviewer", two, "suspend", "Misleading claims.").json[
        "status"] == "suspended"
    # suspended: hidden from the public, still the owner's
    problem(registry.get(f"/api/v1/initiatives/{two}"), 404)
    assert registry.get(f"/api/v1/initiatives/{two}", desk["owner"]).status_code == 200
    assert desk.act("reviewer", two, "reinstate").json["status"] == "published"
    assert registry.get(f"/api/v1/initiatives/{two}").status_code == 200


def test_etag_and_if_match(registry, desk, problem):
    made = desk.draft()
    iid = made["id"]
    read = registry.get(f"/api/v1/initiatives/{iid}", desk["owner"])
    assert read.headers["ETag"] == f'"{made["version"]}"'
    stale = f'"{made["version"]}"'
    ok = registry.client.patch(f"/api/v1/initiatives/{iid}", json={"title": "Reefs, v2"},
                               headers=registry.headers(desk["owner"]) | {"If-Match": stale})
    assert ok.status_code == 200 and ok.headers["ETag"] == f'"{made["version"] + 1}"'
    before = (len(registry.activities(iid)), len(registry.outbox(iid)))
    # a second client still holding the first version is refused, and nothing is written
    body = problem(registry.client.patch(
        f"/api/v1/initiatives/{iid}", json={"title": "Lost update"},
        headers=registry.headers(desk["owner2"]) | {"If-Match": stale}), 412)
    assert body["current_version"] == made["version"] + 1
    problem(desk.act("owner", iid, "submit", if_match=stale), 412)
    problem(desk.act("owner", iid, "submit", if_match="not-an-etag"), 412)
    assert (len(registry.activities(iid)), len(registry.outbox(iid))) == before
    assert registry.get(f"/api/v1/initiatives/{iid}", desk["owner"]).json["title"] == (
        "Reefs, v2")
    # the current ETag (or none, or *) is accepted
    current = registry.get(f"/api/v1/initiatives/{iid}", desk["owner"]).headers["ETag"]
    assert desk.act("owner", iid, "submit", if_match=current).status_code == 200
    assert desk.act("reviewer", iid, "approve", if_match="*").status_code == 200


def test_internal_notes_never_reach_the_partner(registry, desk, problem):
    made = desk.draft()
    iid = made["id"]
    # the secretariat does not comment on a draft (not submitted yet)
    problem(registry.post(f"/api/v1/initiatives/{iid}/comments", {"body": "Early"},
                          desk["reviewer"]), 409)
    desk.act("owner", iid, "submit")
    question = registry.post(f"/api/v1/initiatives/{iid}/comments",
                             {"body": "Which sites exactly?"}, desk["reviewer"])
    assert question.status_code == 201 and question.json["kind"] == "comment"
    note = registry.post(f"/api/v1/initiatives/{iid}/comments",
                         {"body": "SECRET: check the funder", "visibility": "internal"},
                         desk["reviewer"])
    assert note.status_code == 201 and note.json["kind"] == "note"
    answer = registry.post(f"/api/v1/initiatives/{iid}/comments",
                           {"body": "Lau and Kadavu.", "reply_to_id": question.json["id"]},
                           desk["owner"])
    assert answer.status_code == 201 and answer.json["reply_to_id"] == question.json["id"]
    # a partner may not write internal or public entries, nor reply to what it cannot see
    problem(registry.post(f"/api/v1/initiatives/{iid}/comments",
                          {"body": "x", "visibility": "internal"}, desk["owner"]), 403)
    problem(registry.post(f"/api/v1/initiatives/{iid}/comments",
                          {"body": "x", "reply_to_id": note.json["id"]}, desk["owner"]),
            422, "reply_to_id")
    problem(registry.post(f"/api/v1/initiatives/{iid}/comments", {"body": "  "},
                          desk["owner"]), 422, "body")
    # the owner's thread and detail leave the note out; the secretariat's show it
    owner_thread = registry.get(f"/api/v1/initiatives/{iid}/thread", desk["owner"]).json
    bodies = [e["body"] for e in owner_thread]
    assert "Which sites exactly?" in bodies and "Lau and Kadavu." in bodies
    assert not any("SECRET" in (b or "") for b in bodies)
    detail = registry.get(f"/api/v1/initiatives/{iid}", desk["owner"]).json
    assert not any("SECRET" in (e["body"] or "") for e in detail["timeline"])
    staff_thread = registry.get(f"/api/v1/initiatives/{iid}/thread", desk["reviewer2"]).json
    assert any(e["body"] == "SECRET: check the funder" and e["visibility"] == "internal"
               for e in staff_thread)
    # ... and no event carries it (the notifier could mail it); comments emit one each
    for row in registry.outbox(iid):
        assert "SECRET" not in str(row.envelope)
    commented = [d for k, d in _events(registry, iid) if k == "commented"]
    assert [c["thread_entry"]["body"] for c in commented] == ["Which sites exactly?",
                                                               "Lau and Kadavu."]
    # the reviewer's question goes to the owner organisation's members
    assert {r["role"] for r in commented[0]["recipients"]} == {"owner"}
    assert commented[0]["actor"]["name"] == "Rita Reviewer"
    # the public sees none of it while the initiative is not public; then only public entries
    problem(registry.get(f"/api/v1/initiatives/{iid}/thread"), 404)
    desk.act("reviewer", iid, "approve")
    public = registry.get(f"/api/v1/initiatives/{iid}/thread").json
    assert all(e["visibility"] == "public" for e in public)


def test_the_review_queue_oldest_first_with_the_working_day_target(registry, desk, problem):
    made = [desk.draft(title=f"Queue {i}") for i in range(3)]
    for m in made:
        desk.act("owner", m["id"], "submit")
    ten_days_ago = datetime.now(UTC) - timedelta(days=14)
    with registry.session() as s:
        s.execute(update(Initiative).where(Initiative.id == uuid.UUID(made[2]["id"])).values(
            submitted_at=ten_days_ago))
        s.commit()
    queue = registry.get("/api/v1/review/queue", desk["reviewer"])
    assert queue.status_code == 200, queue.json
    body = queue.json
    assert body["target_working_days"] == 5 and body["total"] == 3
    assert [i["title"] for i in body["items"]] == ["Queue 2", "Queue 0", "Queue 1"]
    oldest = body["items"][0]
    assert oldest["overdue"] is True and 9 <= oldest["age_working_days"] <= 11
    assert body["items"][1]["overdue"] is False and body["items"][1]["age_working_days"] < 1
    assert oldest["owner_organization"]["id"] == str(desk.owner_org)
    assert oldest["kind"] == "submission" and oldest["may_decide"] is True
    # the reviewer who belongs to the owner organisation sees it, but may not decide
    mine = registry.get("/api/v1/review/queue", desk["member_reviewer"]).json["items"]
    assert {i["may_decide"] for i in mine} == {False}
    # assignment, and the assigned filters
    resp = registry.post(f"/api/v1/initiatives/{made[0]['id']}/assign",
                         {"reviewer_id": str(desk.ids["reviewer2"])}, desk["reviewer"])
    assert resp.status_code == 200 and resp.json["assigned_reviewer_id"] == str(
        desk.ids["reviewer2"])
    assigned = registry.get("/api/v1/review/queue?assigned=me", desk["reviewer2"]).json
    assert [i["title"] for i in assigned["items"]] == ["Queue 0"]
    assert assigned["items"][0]["assigned_reviewer"]["name"] == "Raj Reviewer"
    assert registry.get("/api/v1/review/queue?assigned=none",
                        desk["reviewer"]).json["total"] == 2
    paged = registry.get("/api/v1/review/queue?per_page=2&page=2", desk["reviewer"]).json
    assert [i["title"] for i in paged["items"]] == ["Queue 1"] and paged["total"] == 3
    assert registry.get("/api/v1/review/queue?kind=completion",
                        desk["reviewer"]).json["total"] == 0
    problem(registry.get("/api/v1/review/queue?kind=other", desk["reviewer"]), 422, "kind")
    problem(registry.get("/api/v1/review/queue", desk["owner"]), 403)
    problem(registry.get("/api/v1/review/queue"), 401)


def test_assignment_rules_and_event(registry, desk, problem):
    made = desk.draft()
    iid = made["id"]
    problem(registry.post(f"/api/v1/initiatives/{iid}/assign",
                          {"reviewer_id": str(desk.ids["reviewer"])}, desk["reviewer"]), 409)
    desk.act("owner", iid, "submit")
    problem(registry.post(f"/api/v1/initiatives/{iid}/assign",
                          {"reviewer_id": str(desk.ids["other"])}, desk["reviewer"]),
            422, "reviewer_id")
    body = problem(registry.post(f"/api/v1/initiatives/{iid}/assign",
                                 {"reviewer_id": str(desk.ids["member_reviewer"])},
                                 desk["reviewer"]), 422, "reviewer_id")
    assert "four eyes" in str(body).lower()
    problem(registry.post(f"/api/v1/initiatives/{iid}/assign",
                          {"reviewer_id": str(desk.ids["reviewer2"])}, desk["owner"]), 403)
    assert registry.post(f"/api/v1/initiatives/{iid}/assign",
                         {"reviewer_id": str(desk.ids["reviewer2"])},
                         desk["reviewer"]).status_code == 200
    kind, data = _events(registry, iid)[-1]
    assert kind == "review-assigned"
    assert [(r["role"], r["user_id"]) for r in data["recipients"]] == [
        ("reviewer", str(desk.ids["reviewer2"]))]
    # from now on the assigned reviewer hears of the owner's steps too
    registry.post(f"/api/v1/initiatives/{iid}/comments", {"body": "Any news?"}, desk["owner"])
    _kind, commented = _events(registry, iid)[-1]
    assert [r["role"] for r in commented["recipients"]] == ["reviewer"]


def test_four_eyes(registry, desk, problem):
    made = desk.draft()
    desk.act("owner", made["id"], "submit")
    body = problem(desk.act("member_reviewer", made["id"], "approve"), 403)
    assert "Four eyes" in body["detail"] and body["reason"] == "four_eyes"
    problem(desk.act("member_reviewer", made["id"], "reject", "no"), 403)
    detail = registry.get(f"/api/v1/initiatives/{made['id']}", desk["member_reviewer"]).json
    assert "approve" not in detail["allowed_actions"]
    assert desk.act("reviewer", made["id"], "approve").status_code == 200


def test_deliverables_keep_their_ids_and_have_a_status(registry, desk, problem):
    made = desk.draft()
    iid = made["id"]
    first = made["deliverables"][0]
    assert first["status"] == "planned"
    resp = registry.patch(f"/api/v1/initiatives/{iid}", {"deliverables": [
        {"id": first["id"], "description": "40 ha restored", "due_date": "2028-06-30",
         "status": "in_progress"},
        {"description": "Training", "due_date": "2027-01-31"}]}, desk["owner"])
    assert resp.status_code == 200, resp.json
    after = resp.json["deliverables"]
    assert after[0]["id"] == first["id"] and after[0]["status"] == "in_progress"
    assert after[1]["id"] != first["id"] and after[1]["status"] == "planned"
    problem(registry.patch(f"/api/v1/initiatives/{iid}", {"deliverables": [
        {"id": str(uuid.uuid4()), "description": "x"}]}, desk["owner"]),
        422, "deliverables.0.id")
    problem(registry.patch(f"/api/v1/initiatives/{iid}", {"deliverables": [
        {"description": "x", "status": "finished"}]}, desk["owner"]),
        422, "deliverables.0.status")


def test_the_public_list_shows_active_initiatives_by_default(registry, desk):
    active = desk.published()["id"]
    closing = desk.published()["id"]
    desk.act("owner", closing, "declare-completion", "Done.")
    gone = desk.published()["id"]
    desk.act("owner", gone, "withdraw", "Stopped.")
    listed = {i["id"] for i in registry.get("/api/v1/initiatives").json["items"]}
    assert {active, closing} <= listed and gone not in listed
    withdrawn = {i["id"] for i in registry.get(
        "/api/v1/initiatives?status=withdrawn").json["items"]}
    assert withdrawn == {gone}


def test_cli_queue_assign_act_and_archive_completed(registry, desk):
    from registry.cli import cli

    runner = registry.app.test_cli_runner()
    made = desk.draft(title="CLI reef")
    iid = made["id"]
    desk.act("owner", iid, "submit")
    with registry.session() as s:
        from registry.accounts.models import User

        reviewer2 = s.get(User, desk.ids["reviewer2"]).email
        reviewer = s.get(User, desk.ids["reviewer"]).email
        member_reviewer = s.get(User, desk.ids["member_reviewer"]).email
    out = runner.invoke(cli, ["review", "queue"])
    assert out.exit_code == 0, out.output
    assert "CLI reef" in out.output and "1 pending; target 5 working days" in out.output
    out = runner.invoke(cli, ["review", "assign", iid, "--reviewer", reviewer2])
    assert out.exit_code == 0, out.output
    out = runner.invoke(cli, ["review", "queue", "--assigned", "me", "--as", reviewer2,
                              "--json"])
    assert out.exit_code == 0, out.output
    assert '"Raj Reviewer"' in out.output and '"total": 1' in out.output
    # deciding needs a person: the system may not, nor a reviewer of the owner organisation
    out = runner.invoke(cli, ["initiatives", "act", iid, "approve"])
    assert out.exit_code != 0 and "may not approve" in out.output
    out = runner.invoke(cli, ["initiatives", "act", iid, "approve", "--as", member_reviewer])
    assert out.exit_code != 0 and "Four eyes" in out.output
    out = runner.invoke(cli, ["initiatives", "act", iid, "request-changes", "--as", reviewer])
    assert out.exit_code != 0 and "comment" in out.output
    out = runner.invoke(cli, ["initiatives", "act", iid, "approve", "--as", reviewer])
    assert out.exit_code == 0, out.output
    assert "published (version" in out.output
    # actor name and e-mail of a secretariat action taken from the shell
    approve = [a for a in registry.activities(iid) if a.action == "approve"][0]
    assert (approve.actor_name, approve.actor_email) == ("Rita Reviewer", reviewer)

    # archive-completed: two completed long ago, one recently, one still published
    olds = [desk.published()["id"] for _ in range(2)]
    recent = desk.published()["id"]
    for one in [*olds, recent]:
        desk.act("owner", one, "declare-completion", "Done.")
        desk.act("reviewer", one, "confirm-completion")
    with registry.session() as s:
        s.execute(update(Initiative).where(Initiative.id.in_([uuid.UUID(o) for o in olds]))
                  .values(completed_at=datetime(2025, 3, 1, tzinfo=UTC)))
        s.commit()
    out = runner.invoke(cli, ["initiatives", "archive-completed", "--before", "2026-01-01"])
    assert out.exit_code == 0, out.output
    assert "2 archived, 0 refused" in out.output
    statuses = {o: registry.get(f"/api/v1/initiatives/{o}").json["status"]
                for o in [*olds, recent, iid]}
    assert statuses == {olds[0]: "archived", olds[1]: "archived", recent: "completed",
                        iid: "published"}
    archived = [a for a in registry.activities(olds[0]) if a.action == "archive"][0]
    assert archived.actor_role == "system" and archived.visibility == "public"


def test_a_submitted_revision_is_queued_and_assigned(registry, desk, problem):
    iid = desk.published()["id"]
    made = registry.post(f"/api/v1/initiatives/{iid}/revisions",
                         {"title": "Reefs, second phase"}, desk["owner"])
    assert made.status_code == 201, made.json
    number = made.json["number"]
    url = f"/api/v1/initiatives/{iid}/revisions/{number}"
    # a draft revision is not the secretariat's yet
    problem(registry.post(f"{url}/assign", {"reviewer_id": str(desk.ids["reviewer2"])},
                          desk["reviewer"]), 409)
    assert registry.post(f"{url}/submit", {}, desk["owner"]).status_code == 200
    queue = registry.get("/api/v1/review/queue?kind=revision", desk["reviewer"]).json
    assert [(i["kind"], i["initiative_id"], i["revision_number"]) for i in queue["items"]] == [
        ("revision", iid, number)]
    problem(registry.post(f"{url}/assign", {"reviewer_id": str(desk.ids["member_reviewer"])},
                          desk["reviewer"]), 422, "reviewer_id")
    problem(registry.post(f"{url}/assign", {"reviewer_id": str(desk.ids["reviewer2"])},
                          desk["owner"]), 403)
    resp = registry.post(f"{url}/assign", {"reviewer_id": str(desk.ids["reviewer2"])},
                         desk["reviewer"])
    assert resp.status_code == 200, resp.json
    assert resp.json["assigned_reviewer_id"] == str(desk.ids["reviewer2"])
    assert resp.headers["ETag"] == f'"{resp.json["version"]}"'
    kind, data = _events(registry, iid)[-1]
    assert kind == "review-assigned" and data["revision"]["number"] == number
    assert data["revision"]["changed_fields"] == ["title"]
    assert data["review_url"].endswith(f"/secretariat/review/{iid}/revisions/{number}")
    assert [r["user_id"] for r in data["recipients"]] == [str(desk.ids["reviewer2"])]
    mine = registry.get("/api/v1/review/queue?assigned=me", desk["reviewer2"]).json
    assert [i["revision_number"] for i in mine["items"]] == [number]
