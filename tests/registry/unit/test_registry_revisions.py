"""Versions and revisions through the real HTTP API (SQLite): editing a published initiative
makes a revision the secretariat reviews while the public keeps the approved version;
approving it makes version 2; the diff names exactly the changed fields; stale ``If-Match``
is 412 and writes nothing; one open revision per initiative; four eyes."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from registry.initiatives.models import InitiativeRevision, InitiativeVersion
from shared.events import types as ev
from shared.events.types import load_data


@pytest.fixture
def actors(registry):
    return {"partner": registry.token("partner", email="lead@ngo.test"),
            "sec": registry.token("secretariat", email="review@un.test")}


def _url(iid: str, rest: str = "") -> str:
    return f"/api/v1/initiatives/{iid}{rest}"


def _events(registry, iid: str) -> list[tuple[str, dict]]:
    return [(r.event_type, load_data(r.event_type, r.envelope["data"]))
            for r in registry.outbox(iid)]


def _rows(registry, model, iid: str) -> int:
    with registry.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(
            model.initiative_id == uuid.UUID(iid))) or 0


def test_first_approval_writes_version_1_visible_to_the_public(registry, actors, problem):
    published = registry.publish(actors["partner"], actors["sec"], title="Mangrove belt")
    iid = published["id"]
    listing = registry.get(_url(iid, "/versions"))
    assert listing.status_code == 200, listing.json
    assert listing.json["approved_version"] == 1
    [v1] = listing.json["items"]
    assert (v1["number"], v1["current"], v1["revision_number"], v1["changed_fields"]) == (
        1, True, None, [])
    assert v1["approved_by_email"] is None  # the public does not see who by e-mail
    one = registry.get(_url(iid, "/versions/1")).json
    assert one["content"]["title"] == "Mangrove belt"
    assert "contact_email" not in one["content"]
    owner_view = registry.get(_url(iid, "/versions/1"), actors["partner"]).json
    assert owner_view["content"]["contact_email"] == "reefs@ngo.test"
    assert owner_view["approved_by_email"] == "review@un.test"
    # the approval event carries the approved version
    approved = [d for t, d in _events(registry, iid) if t == ev.INITIATIVE_APPROVED][0]
    assert approved["initiative"]["approved_version"] == 1

    problem(registry.get(_url(iid, "/versions/2")), 404)
    problem(registry.get(_url(iid, "/diff?from=1&to=3")), 422, "to")
    problem(registry.get(_url(iid, "/diff?from=x")), 422, "from")
    problem(registry.get(_url(iid, "/diff?from=0")), 422, "from")


def test_versions_of_an_unpublished_initiative_are_hidden_from_the_public(
        registry, actors, complete, problem):
    draft = registry.create(actors["partner"], **complete(registry, actors["partner"]))
    problem(registry.get(_url(draft["id"], "/versions")), 404)
    mine = registry.get(_url(draft["id"], "/versions"), actors["partner"])
    assert mine.status_code == 200 and mine.json["items"] == []
    assert mine.json["approved_version"] is None
    empty = registry.get(_url(draft["id"], "/diff"), actors["partner"]).json
    assert (empty["from"], empty["to"], empty["changed_fields"]) == (None, None, [])
    problem(registry.get(_url(draft["id"], "/diff?from=1"), actors["partner"]), 422, "from")
    problem(registry.get(_url(str(uuid.uuid4()), "/versions")), 404)


def test_edit_published_makes_a_revision_approved_as_version_2(registry, actors, problem):
    partner, sec = actors["partner"], actors["sec"]
    published = registry.publish(partner, sec, title="Mangrove belt",
                                 countries=["FJI"], sdg_targets=["14.2"])
    iid = published["id"]
    deliverable_id = registry.get(_url(iid, "/versions/1")).json["content"][
        "deliverables"][0]["id"]
    assert deliverable_id

    # PATCH of a published initiative: a draft revision, the initiative unchanged
    edit = registry.patch(_url(iid), {"title": "Mangrove belt of Viti Levu",
                                      "countries": ["FJI", "TON"]}, partner)
    assert edit.status_code == 200, edit.json
    assert edit.json["title"] == "Mangrove belt"  # the initiative still shows v1
    revision = registry.get(_url(iid, "/revisions/1"), partner)
    assert revision.status_code == 200, revision.json
    assert revision.headers["ETag"] == f'"{revision.json["version"]}"'
    assert revision.json["status"] == "draft" and revision.json["base_version"] == 1
    assert revision.json["content"]["title"] == "Mangrove belt of Viti Levu"
    assert revision.json["changed_fields"] == ["title", "countries"]

    # a second edit updates the same open revision (its deliverable keeps its id)
    more = registry.patch(_url(iid, "/revisions/1"), {"deliverables": [
        {"id": deliverable_id, "description": "40 ha restored", "due_date": "2028-09-30"},
        {"description": "Nursery of 10,000 seedlings", "due_date": "2027-03-31"}]},
        partner)
    assert more.status_code == 200, more.json
    proposed_ids = [d["id"] for d in more.json["content"]["deliverables"]]
    assert proposed_ids[0] == deliverable_id and proposed_ids[1]
    assert more.json["changed_fields"] == ["title", "countries", "deliverables"]

    # the public keeps seeing version 1, and never sees the revision
    public = registry.get(_url(iid)).json
    assert (public["title"], public["countries"]) == ("Mangrove belt", ["FJI"])
    problem(registry.get(_url(iid, "/revisions/1")), 401)
    problem(registry.get(_url(iid, "/revisions")), 401)

    submitted = registry.post(_url(iid, "/revisions/1/submit"), {}, partner)
    assert submitted.status_code == 200, submitted.json
    assert submitted.json["status"] == "submitted"
    assert registry.get(_url(iid)).json["title"] == "Mangrove belt"

    diff = registry.get(_url(iid, "/revisions/1/diff"), sec).json
    assert diff["changed_fields"] == ["title", "countries", "deliverables"]

    approved = registry.post(_url(iid, "/revisions/1/approve"), {"comment": "Thanks"}, sec)
    assert approved.status_code == 200, approved.json
    assert approved.json["status"] == "approved"

    public = registry.get(_url(iid)).json
    assert public["title"] == "Mangrove belt of Viti Levu"
    assert public["countries"] == ["FJI", "TON"]
    assert public["deliverables"][0]["due_date"] == "2028-09-30"
    listing = registry.get(_url(iid, "/versions")).json
    assert listing["approved_version"] == 2
    assert [(v["number"], v["revision_number"], v["changed_fields"])
            for v in listing["items"]] == [
        (1, None, []), (2, 1, ["title", "countries", "deliverables"])]

    # the diff v1..v2 shows exactly the changed fields
    diff = registry.get(_url(iid, "/diff?from=1&to=2")).json
    assert diff["from"] == 1 and diff["to"] == 2
    assert diff["changed_fields"] == ["title", "countries", "deliverables"]
    assert diff["fields"] == [{"field": "title", "change": "changed",
                               "before": "Mangrove belt",
                               "after": "Mangrove belt of Viti Levu"}]
    assert diff["lists"]["countries"] == {"added": ["TON"], "removed": [], "changed": [],
                                          "unchanged": 1}
    [changed] = diff["lists"]["deliverables"]["changed"]
    assert (changed["key"], changed["fields"]) == (deliverable_id, ["due_date"])
    assert [d["id"] for d in diff["lists"]["deliverables"]["added"]] == proposed_ids[1:]
    # the new deliverable keeps the id the revision showed it with
    v2 = registry.get(_url(iid, "/versions/2")).json["content"]
    assert [d["id"] for d in v2["deliverables"]] == proposed_ids
    assert registry.get(_url(iid, "/diff")).json == diff  # default: current vs previous

    # the event: the new approved state plus the revision's changed fields
    event_type, data = _events(registry, iid)[-1]
    assert event_type == ev.INITIATIVE_REVISION_APPROVED
    assert data["initiative"]["title"] == "Mangrove belt of Viti Levu"
    assert data["initiative"]["approved_version"] == 2
    assert data["revision"] == {"number": 1, "status": "approved", "base_version": 1,
                                "changed_fields": ["title", "countries", "deliverables"]}
    # a new edit opens revision 2, based on version 2
    again = registry.post(_url(iid, "/revisions"), {"description": "Phase 2."}, partner)
    assert again.status_code == 201, again.json
    assert (again.json["number"], again.json["base_version"]) == (2, 2)


def test_stale_if_match_is_412_and_writes_nothing(registry, actors, problem):
    partner, sec = actors["partner"], actors["sec"]
    iid = registry.publish(partner, sec)["id"]
    created = registry.post(_url(iid, "/revisions"), {"title": "Reefs, phase 2"}, partner)
    assert created.status_code == 201, created.json
    etag = created.headers["ETag"]
    ok = registry.client.patch(_url(iid, "/revisions/1"), json={"description": "New text."},
                               headers={"Authorization": f"Bearer {partner}",
                                        "If-Match": etag})
    assert ok.status_code == 200, ok.json
    assert ok.headers["ETag"] != etag
    events_before = len(registry.outbox(iid))
    stale = registry.client.patch(_url(iid, "/revisions/1"), json={"title": "Overwrite"},
                                  headers={"Authorization": f"Bearer {partner}",
                                           "If-Match": etag})
    problem(stale, 412)
    stale_submit = registry.client.post(_url(iid, "/revisions/1/submit"), json={},
                                        headers={"Authorization": f"Bearer {partner}",
                                                 "If-Match": etag})
    problem(stale_submit, 412)
    after = registry.get(_url(iid, "/revisions/1"), partner).json
    assert after["content"]["title"] == "Reefs, phase 2" and after["status"] == "draft"
    assert f'"{after["version"]}"' == ok.headers["ETag"]
    assert len(registry.outbox(iid)) == events_before


def test_a_second_open_revision_is_refused(registry, actors, problem):
    partner, sec = actors["partner"], actors["sec"]
    iid = registry.publish(partner, sec)["id"]
    assert registry.post(_url(iid, "/revisions"), {"title": "Reefs v2"},
                         partner).status_code == 201
    body = problem(registry.post(_url(iid, "/revisions"), {"title": "Reefs v3"}, partner), 409)
    assert "1" in body["detail"]
    assert _rows(registry, InitiativeRevision, iid) == 1
    # PATCH of the initiative goes to the open revision instead
    assert registry.patch(_url(iid), {"title": "Reefs v2b"}, partner).status_code == 200
    assert registry.get(_url(iid, "/revisions/1"), partner).json["content"]["title"] == \
        "Reefs v2b"
    # once discarded, a new one may be opened
    assert registry.post(_url(iid, "/revisions/1/discard"), {},
                         partner).status_code == 200
    assert registry.post(_url(iid, "/revisions"), {"title": "Reefs v3"},
                         partner).status_code == 201


def test_a_reviewer_member_of_the_owner_organisation_cannot_approve(registry, actors, problem):
    partner, sec = actors["partner"], actors["sec"]
    published = registry.publish(partner, sec)
    iid, owner = published["id"], published["owner_organization_id"]
    assert registry.post(_url(iid, "/revisions"), {"title": "Reefs v2"},
                         partner).status_code == 201
    assert registry.post(_url(iid, "/revisions/1/submit"), {}, partner).status_code == 200
    insider = registry.user_token(orgs={owner: "member"}, staff=("reviewer",),
                                  email="insider@ngo.test")
    body = problem(registry.post(_url(iid, "/revisions/1/approve"), {}, insider), 403)
    assert "member" in body["detail"].lower()
    assert _rows(registry, InitiativeVersion, iid) == 1
    # the owner cannot approve either, and nobody may see revisions but owner/secretariat
    problem(registry.post(_url(iid, "/revisions/1/approve"), {}, partner), 403)
    stranger = registry.token("partner")
    problem(registry.get(_url(iid, "/revisions/1"), stranger), 404)


def test_request_changes_and_reject_need_a_comment_and_carry_the_revision(
        registry, actors, problem):
    partner, sec = actors["partner"], actors["sec"]
    iid = registry.publish(partner, sec)["id"]
    registry.post(_url(iid, "/revisions"), {"title": "Reefs v2"}, partner)
    registry.post(_url(iid, "/revisions/1/submit"), {}, partner)
    event_type, data = _events(registry, iid)[-1]
    assert event_type == ev.INITIATIVE_REVISION_SUBMITTED
    assert data["revision"]["number"] == 1 and data["revision"]["status"] == "submitted"
    assert data["revision"]["changed_fields"] == ["title"]

    problem(registry.post(_url(iid, "/revisions/1/request-changes"), {}, sec), 422, "comment")
    back = registry.post(_url(iid, "/revisions/1/request-changes"),
                         {"comment": "Say which reefs."}, sec)
    assert back.status_code == 200 and back.json["status"] == "changes_requested"
    event_type, data = _events(registry, iid)[-1]
    assert event_type == ev.INITIATIVE_REVISION_CHANGES_REQUESTED
    assert data["comment"] == "Say which reefs."
    assert data["revision"]["status"] == "changes_requested"

    assert registry.patch(_url(iid, "/revisions/1"), {"title": "Reefs of Beqa"},
                          partner).status_code == 200
    assert registry.post(_url(iid, "/revisions/1/submit"), {}, partner).status_code == 200
    problem(registry.post(_url(iid, "/revisions/1/reject"), {"comment": " "}, sec), 422,
            "comment")
    rejected = registry.post(_url(iid, "/revisions/1/reject"), {"comment": "Out of scope."},
                             sec)
    assert rejected.status_code == 200 and rejected.json["status"] == "rejected"
    event_type, data = _events(registry, iid)[-1]
    assert event_type == ev.INITIATIVE_REVISION_REJECTED
    assert data["initiative"]["title"] == "Coral reef restoration"  # unchanged
    # a decided revision takes no more actions
    problem(registry.post(_url(iid, "/revisions/1/submit"), {}, partner), 409)
    assert registry.get(_url(iid, "/versions")).json["approved_version"] == 1
    listing = registry.get(_url(iid, "/revisions"), partner).json
    assert [(r["number"], r["status"]) for r in listing["items"]] == [(1, "rejected")]


def test_revision_input_errors_name_the_field(registry, actors, problem):
    partner, sec = actors["partner"], actors["sec"]
    iid = registry.publish(partner, sec)["id"]
    problem(registry.post(_url(iid, "/revisions"), {"countries": ["XXX"]}, partner), 422,
            "countries.0")
    problem(registry.post(_url(iid, "/revisions"), {"deliverables": [
        {"id": str(uuid.uuid4()), "description": "x"}]}, partner), 422, "deliverables.0.id")
    problem(registry.post(_url(iid, "/revisions"), {"end_date": "2020-01-01"}, partner), 422,
            "end_date")
    kept = registry.get(_url(iid, "/versions/1"), partner).json["content"]["deliverables"][0]
    twice = {"id": kept["id"], "description": "Twice", "due_date": None}
    problem(registry.post(_url(iid, "/revisions"), {"deliverables": [twice, twice]}, partner),
            422, "deliverables.1.id")
    problem(registry.post(_url(iid, "/revisions"), {"partners": [
        {"organization_id": kept["id"]}]}, partner), 422, "partners.0.organization_id")
    problem(registry.post(_url(iid, "/revisions"), {"lead_organization_id": str(uuid.uuid4())},
                          partner), 422, "lead_organization_id")
    assert _rows(registry, InitiativeRevision, iid) == 0
    problem(registry.get(_url(iid, "/revisions/7"), partner), 404)
    # a draft initiative has no revisions: edit it directly
    draft = registry.create(partner)
    problem(registry.post(_url(draft["id"], "/revisions"), {"title": "Other"}, partner), 409)


def test_cli_lists_versions_revisions_and_prints_the_diff_as_a_table(registry, actors):
    from registry.cli import cli

    partner, sec = actors["partner"], actors["sec"]
    published = registry.publish(partner, sec, title="Mangrove belt", countries=["FJI"])
    iid = published["id"]
    registry.post(_url(iid, "/revisions"), {"title": "Mangrove belt II",
                                            "countries": ["FJI", "WSM"]}, partner)
    registry.post(_url(iid, "/revisions/1/submit"), {}, partner)
    assert registry.post(_url(iid, "/revisions/1/approve"), {}, sec).status_code == 200
    runner = registry.app.test_cli_runner()

    out = runner.invoke(cli, ["initiatives", "versions", published["public_id"]])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].split()[:2] == ["version", "approved"]
    assert lines[2].startswith("1 ") and lines[3].startswith("2 *")
    assert "title, countries" in lines[3]

    out = runner.invoke(cli, ["initiatives", "diff", iid, "--from", "1", "--to", "2"])
    assert out.exit_code == 0, out.output
    rows = out.output.splitlines()
    assert rows[0] == "version 1 -> version 2"
    assert rows[1].split() == ["field", "change", "before", "after"]
    assert rows[3].split() == ["title", "changed", "Mangrove", "belt", "Mangrove", "belt", "II"]
    assert rows[4].split() == ["countries", "added", "-", "WSM"]
    assert len(rows) == 5

    out = runner.invoke(cli, ["initiatives", "diff", iid, "--from", "1", "--to", "9"])
    assert out.exit_code != 0 and "to: No version 9" in out.output

    registry.post(_url(iid, "/revisions"), {"regions": ["009"]}, partner)
    out = runner.invoke(cli, ["initiatives", "diff", iid, "--revision", "2"])
    assert out.exit_code == 0, out.output
    assert out.output.splitlines()[0] == "version 2 -> revision 2"
    assert out.output.splitlines()[3].split()[:3] == ["regions", "added", "-"]

    out = runner.invoke(cli, ["initiatives", "revisions", iid])
    assert out.exit_code == 0, out.output
    assert [line.split()[:3] for line in out.output.splitlines()[2:]] == [
        ["2", "draft", "2"], ["1", "approved", "1"]]

    out = runner.invoke(cli, ["initiatives", "versions", "PR-1999-99999"])
    assert out.exit_code != 0 and "No initiative" in out.output


def test_imported_records_are_version_1_and_may_be_diffed(registry, sample_path):
    from registry.imports.service import import_commitments

    factory = registry.app.extensions["db_session_factory"]
    report = import_commitments(sample_path, session_factory=factory, batch_size=40)
    assert report.imported == 151
    assert registry.count(InitiativeVersion) == 151
    with registry.session() as s:
        from registry.initiatives.models import Initiative

        iid = str(s.scalars(select(Initiative.id).where(Initiative.deliverables.any())
                            .limit(1)).one())
    v1 = registry.get(_url(iid, "/versions/1")).json
    detail = registry.get(_url(iid)).json
    assert v1["content"]["title"] == detail["title"]
    # the version names the deliverables by the ids they are stored with
    assert [d["id"] for d in v1["content"]["deliverables"]] == [
        d["id"] for d in detail["deliverables"]]
    assert all(d["id"] for d in detail["deliverables"])
    diff = registry.get(_url(iid, "/diff")).json
    assert (diff["from"], diff["to"], diff["changed_fields"]) == (1, 1, [])


def test_revision_events_name_recipients_and_the_timeline_keeps_every_step(registry):
    """With real accounts: the owner organisation's other members hear of each step (never
    the actor), the actor is named, and the initiative's timeline holds each revision step
    with its number (the approval public, the rest for participants)."""
    from registry.workflow.models import Activity
    from tests.registry.review_desk import make_desk

    desk = make_desk(registry)
    iid = desk.published()["id"]
    assert registry.post(_url(iid, "/revisions"), {"title": "Reefs, phase 2"},
                         desk["owner"]).status_code == 201
    assert registry.post(_url(iid, "/revisions/1/submit"), {},
                         desk["owner"]).status_code == 200
    _, submitted = _events(registry, iid)[-1]
    assert {r["role"] for r in submitted["recipients"]} == {"owner"}
    assert sorted(r["locale"] for r in submitted["recipients"]) == ["en", "zh"]
    assert all(not r["email"].startswith("owner-") for r in submitted["recipients"])
    assert submitted["actor"]["name"] == "Olivia Owner"
    assert submitted["review_url"].endswith(f"/secretariat/review/{iid}/revisions/1")
    assert registry.post(_url(iid, "/revisions/1/approve"), {},
                         desk["reviewer"]).status_code == 200
    _, approved = _events(registry, iid)[-1]
    assert approved["actor"]["name"] == "Rita Reviewer"
    assert {r["email"].split("-")[0] for r in approved["recipients"]} == {
        "owner", "owner2", "member_reviewer"}
    with registry.session() as s:
        steps = list(s.scalars(select(Activity).where(
            Activity.record_id == uuid.UUID(iid), Activity.revision_number == 1)
            .order_by(Activity.created_at)))
    assert [(a.action, a.visibility) for a in steps] == [
        ("revision_create", "participants"), ("revision_submit", "participants"),
        ("revision_approve", "public")]
    assert steps[0].changes["title"]["after"] == "Reefs, phase 2"
    # the public part of the thread shows the approval, not the participants' steps
    thread = registry.get(_url(iid, "/thread"))
    assert thread.status_code == 200, thread.json
    public = [(e["action"], e["revision_number"]) for e in thread.json]
    assert ("revision_approve", 1) in public and ("revision_submit", 1) not in public


def test_patch_of_a_published_initiative_checks_its_etag_and_a_suspended_one_waits(
        registry, actors, problem):
    partner, sec = actors["partner"], actors["sec"]
    published = registry.publish(partner, sec)
    iid = published["id"]
    etag = registry.get(_url(iid), partner).headers["ETag"]
    stale = registry.client.patch(_url(iid), json={"title": "Reefs II"},
                                  headers={**registry.headers(partner), "If-Match": '"1"'})
    problem(stale, 412)
    assert registry.count(InitiativeRevision) == 0
    ok = registry.client.patch(_url(iid), json={"title": "Reefs II"},
                               headers={**registry.headers(partner), "If-Match": etag})
    assert ok.status_code == 200, ok.json
    assert registry.post(_url(iid, "/revisions/1/submit"), {}, partner).status_code == 200
    # the secretariat suspends the initiative: the revision cannot be approved meanwhile
    assert registry.action(sec, iid, "suspend", "Under investigation.").status_code == 200
    body = problem(registry.post(_url(iid, "/revisions/1/approve"), {}, sec), 409)
    assert "suspended" in body["detail"]
    assert registry.count(InitiativeVersion) == 1
    assert registry.action(sec, iid, "reinstate").status_code == 200
    assert registry.post(_url(iid, "/revisions/1/approve"), {}, sec).status_code == 200
    assert registry.get(_url(iid)).json["title"] == "Reefs II"


def test_a_revision_that_fails_the_smart_check_cannot_be_submitted(registry, actors, problem):
    partner, sec = actors["partner"], actors["sec"]
    iid = registry.publish(partner, sec)["id"]
    assert registry.post(_url(iid, "/revisions"), {"deliverables": [], "contact_email": None},
                         partner).status_code == 201
    body = problem(registry.post(_url(iid, "/revisions/1/submit"), {}, partner), 422)
    assert {e["field"] for e in body["errors"]} == {"deliverables", "contact_email"}
    assert registry.get(_url(iid, "/revisions/1"), partner).json["status"] == "draft"
    # once the content is complete again, it goes to the secretariat
    assert registry.patch(_url(iid, "/revisions/1"), {
        "deliverables": [{"description": "Survey", "due_date": "2027-01-31"}],
        "contact_email": "reefs@ngo.test"}, partner).status_code == 200
    submitted = registry.post(_url(iid, "/revisions/1/submit"), {}, partner)
    assert submitted.status_code == 200, submitted.json
    assert submitted.json["status"] == "submitted"


def test_backfill_writes_the_version_rows_records_published_before_0008_lack(registry,
                                                                            actors):
    from sqlalchemy import delete

    from registry.cli import cli

    partner, sec = actors["partner"], actors["sec"]
    iid = registry.publish(partner, sec, title="Old reef")["id"]
    with registry.session() as s:  # as migration 0008 left it: approved_version 1, no row
        s.execute(delete(InitiativeVersion).where(
            InitiativeVersion.initiative_id == uuid.UUID(iid)))
        s.commit()
    assert registry.get(_url(iid, "/versions")).json["items"] == []
    runner = registry.app.test_cli_runner()

    out = runner.invoke(cli, ["initiatives", "backfill-versions"])
    assert out.exit_code == 0, out.output
    assert "1 version rows written" in out.output
    [v1] = registry.get(_url(iid, "/versions")).json["items"]
    assert (v1["number"], v1["current"]) == (1, True)
    assert registry.get(_url(iid, "/versions/1")).json["content"]["title"] == "Old reef"
    # a second run writes nothing
    again = runner.invoke(cli, ["initiatives", "backfill-versions"])
    assert again.exit_code == 0 and "0 version rows written" in again.output
    assert _rows(registry, InitiativeVersion, iid) == 1
