"""The progress reports API (issue 9): a partner's own system with ``progress:write`` reports
and submits at once, the secretariat approves (four eyes), the report rolls up into the
initiative and its events name who should hear of it; drafts save leniently, submitting is
strict (422 naming each field), stale writes are 412, steps in the wrong state 409; the
narrative is sanitised (nh3); indicators (IATI result model) with SDG indicator codes; the
public sees approved reports only."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from registry.initiatives.models import Initiative
from registry.progress.models import ProgressReport
from shared.events import types as ev
from tests.registry.review_desk import make_desk

COMPLETE = {"period_start": "2026-01-01", "period_end": "2026-06-30",
            "overall_status": "on_track", "narrative_html": "<p>Twelve hectares restored.</p>"}


def _post(registry, iid, body, token, **kw):
    return registry.post(f"/api/v1/initiatives/{iid}/progress-reports", body, token, **kw)


def _act(registry, rid, action, token, comment=None, if_match=None):
    headers = registry.headers(token)
    if if_match is not None:
        headers["If-Match"] = if_match
    return registry.client.post(f"/api/v1/progress-reports/{rid}/{action}",
                                json={} if comment is None else {"comment": comment},
                                headers=headers)


def _events(registry, iid, type_):
    return [o.envelope["data"] for o in registry.outbox(iid, compliance=True)
            if o.event_type == type_]


def test_a_partner_system_with_progress_write_submits_and_the_secretariat_approves(registry):
    desk = make_desk(registry)
    initiative = desk.published()
    system = registry.client_token(desk.owner_org, scopes=("progress:write",))
    deliverable = initiative["deliverables"][0]["id"]
    resp = _post(registry, initiative["public_id"], COMPLETE | {
        "deliverable_updates": [{"deliverable_id": deliverable, "status": "achieved",
                                 "note": "Done"}],
        "resources_mobilised": [{"amount": "5000", "currency": "USD"}],
        "milestones": [{"date": "2026-03-01", "title": "Nursery built"}],
        "links": ["https://reefs.example.org/report-2026"],
        "source_ref": "ERP-2026-1", "submit": True}, system)
    assert resp.status_code == 201, resp.json
    report = resp.json
    assert (report["status"], report["source"], report["number"]) == ("submitted", "api", 1)
    assert report["reported_on"] and resp.headers["ETag"] == f'"{report["version"]}"'
    assert report["resources_mobilised"] == [{"amount": "5000.00", "currency": "USD",
                                              "description": None}]
    # the system reads back what it reported with progress:write alone
    assert registry.get(f"/api/v1/progress-reports/{report['id']}", system).status_code == 200

    [submitted] = _events(registry, initiative["id"], ev.PROGRESS_REPORT_SUBMITTED)
    assert submitted["report"]["id"] == report["id"]
    assert submitted["review_url"].endswith(f"/secretariat/review/progress/{report['id']}")
    assert submitted["owner_url"].endswith(f"/my/initiatives/{initiative['id']}/progress/1")
    told = {r["email"].split("-")[0]: r["role"] for r in submitted["recipients"]}
    # the secretariat hears of it (not the reviewer who belongs to the owner organisation:
    # told as a member), and the owner organisation's members that it was sent
    assert told == {"reviewer": "secretariat", "reviewer2": "secretariat",
                    "admin": "secretariat", "owner": "owner", "owner2": "owner",
                    "member_reviewer": "owner"}

    resp = _act(registry, report["id"], "approve", desk["reviewer"])
    assert resp.status_code == 200, resp.json
    assert resp.json["status"] == "approved" and resp.json["approved_at"]
    detail = registry.get(f"/api/v1/initiatives/{initiative['id']}").json
    assert (detail["progress_percent"], detail["progress_reports_count"],
            detail["last_progress_report_on"]) == (100, 1, report["reported_on"])
    [approved] = _events(registry, initiative["id"], ev.PROGRESS_REPORT_APPROVED)
    assert approved["initiative"]["progress_percent"] == 100
    assert approved["initiative"]["progress_reports_count"] == 1
    assert approved["initiative"]["last_progress_report_on"] == report["reported_on"]
    assert {r["role"] for r in approved["recipients"]} == {"owner"}
    # the owner organisation's verified members (the reviewer among them too: a member)
    assert len(approved["recipients"]) == 3
    # now public, on the initiative's list and chart
    public = registry.get(f"/api/v1/initiatives/{initiative['public_id']}/progress-reports")
    assert [r["id"] for r in public.json["items"]] == [report["id"]]
    assert "allowed_actions" not in public.json["items"][0]
    series = registry.get(f"/api/v1/initiatives/{initiative['public_id']}/progress").json
    assert series["progress"] == [{"reported_on": report["reported_on"], "percent": 100}]


def test_a_token_without_progress_write_may_not_report(registry, problem):
    desk = make_desk(registry)
    initiative = desk.published()
    writer = registry.client_token(desk.owner_org, scopes=("initiatives:write",
                                                           "initiatives:read"))
    body = problem(_post(registry, initiative["id"], COMPLETE, writer), 403)
    assert body["required_scope"] == "progress:write"
    assert registry.count(ProgressReport) == 0
    # nor may another organisation's system, with the scope
    other = registry.client_token(desk.other_org, scopes=("progress:write",))
    problem(_post(registry, initiative["id"], COMPLETE, other), 403)
    problem(_post(registry, initiative["id"], COMPLETE, None), 401)


def test_bad_input_is_422_naming_the_field_and_writes_nothing(registry, problem):
    desk = make_desk(registry)
    initiative = desk.published()
    iid, owner = initiative["id"], desk["owner"]
    cases = [
        ({"overall_status": "fine"}, "overall_status"),
        ({"progress_percent": 101}, "progress_percent"),
        ({"progress_percent": "50"}, "progress_percent"),
        ({"period_start": "2026-06-01", "period_end": "2026-01-01"}, "period_end"),
        ({"deliverable_updates": [{"deliverable_id": str(uuid.uuid4()),
                                   "status": "achieved"}]},
         "deliverable_updates.0.deliverable_id"),
        ({"deliverable_updates": [{"deliverable_id": initiative["deliverables"][0]["id"],
                                   "status": "finished"}]}, "deliverable_updates.0.status"),
        ({"indicator_values": [{"indicator_id": str(uuid.uuid4()), "value": "3"}]},
         "indicator_values.0.indicator_id"),
        ({"resources_mobilised": [{"amount": "10", "currency": "DOLLARS"}]},
         "resources_mobilised.0.currency"),
        ({"resources_mobilised": [{"amount": "-1", "currency": "USD"}]},
         "resources_mobilised.0.amount"),
        ({"links": ["javascript:alert(1)"]}, "links.0"),
        ({"milestones": [{"title": "No date"}]}, "milestones.0.date"),
        ({"colour": "green"}, "colour"),
        ({"narrative_html": "x\u0000y"}, "narrative_html"),
    ]
    for body, field in cases:
        problem(_post(registry, iid, body, owner), 422, field)
    assert registry.count(ProgressReport) == 0
    # submitting at once checks strictly: every missing field named, nothing kept
    body = problem(_post(registry, iid, {"narrative_html": "<script>x</script>",
                                         "submit": True}, owner), 422,
                   "period_start", "period_end", "overall_status", "narrative_html")
    assert body["status"] == 422
    assert registry.count(ProgressReport) == 0


def test_a_draft_saves_leniently_with_warnings_then_submits(registry, problem):
    desk = make_desk(registry)
    initiative = desk.published()
    draft = _post(registry, initiative["id"], {"overall_status": "off_track"}, desk["owner"])
    assert draft.status_code == 201, draft.json
    assert draft.json["status"] == "draft"
    assert {w["field"] for w in draft.json["warnings"]} == {
        "period_start", "period_end", "narrative_html"}
    assert "submit" in draft.json["allowed_actions"]
    rid = draft.json["id"]
    problem(_act(registry, rid, "submit", desk["owner"]), 422, "period_start")
    resp = registry.patch(f"/api/v1/progress-reports/{rid}", COMPLETE, desk["owner"])
    assert resp.status_code == 200 and resp.json["warnings"] == []
    assert _act(registry, rid, "submit", desk["owner"]).status_code == 200


def test_the_narrative_is_sanitised(registry):
    desk = make_desk(registry)
    initiative = desk.published()
    resp = _post(registry, initiative["id"], {"narrative_html": (
        '<p onclick="steal()">Reef <script>alert(1)</script><strong>restored</strong> '
        '<a href="javascript:alert(1)">x</a> <a href="https://reefs.example.org">site</a>'
        '<img src=x onerror=alert(1)><iframe src="https://evil.test"></iframe></p>')},
        desk["owner"])
    html = resp.json["narrative_html"]
    for gone in ("onclick", "script", "javascript:", "<img", "iframe", "onerror"):
        assert gone not in html, (gone, html)
    assert "<strong>restored</strong>" in html
    assert 'href="https://reefs.example.org"' in html and 'rel="noopener noreferrer"' in html


def test_stale_writes_are_412_and_wrong_states_409(registry, problem):
    desk = make_desk(registry)
    initiative = desk.published()
    made = _post(registry, initiative["id"], COMPLETE, desk["owner"])
    rid, version = made.json["id"], made.json["version"]
    headers = registry.headers(desk["owner"]) | {"If-Match": f'"{version + 5}"'}
    resp = registry.client.patch(f"/api/v1/progress-reports/{rid}",
                                 json={"progress_percent": 30}, headers=headers)
    body = problem(resp, 412)
    assert body["current_version"] == version
    assert registry.get(f"/api/v1/progress-reports/{rid}",
                        desk["owner"]).json["progress_percent"] is None
    problem(_act(registry, rid, "submit", desk["owner"], if_match='"99"'), 412)
    # approving a draft: 409 naming the state; deleting a submitted report: 409
    body = problem(_act(registry, rid, "approve", desk["reviewer"]), 409)
    assert body["current_status"] == "draft"
    assert _act(registry, rid, "submit", desk["owner"],
                if_match=f'"{version}"').status_code == 200
    problem(registry.client.delete(f"/api/v1/progress-reports/{rid}",
                                   headers=registry.headers(desk["owner"])), 409)
    # the same source_ref twice: 409
    system = registry.client_token(desk.owner_org, scopes=("progress:write",))
    assert _post(registry, initiative["id"], {"source_ref": "R1"}, system).status_code == 201
    problem(_post(registry, initiative["id"], {"source_ref": "R1"}, system), 409)
    # an initiative that is not published takes no report
    draft = desk.draft()
    body = problem(_post(registry, draft["id"], COMPLETE, desk["owner"]), 409)
    assert body["initiative_status"] == "draft"


def test_four_eyes_and_the_comment_of_request_changes(registry, problem):
    desk = make_desk(registry)
    initiative = desk.published()
    rid = _post(registry, initiative["id"], COMPLETE | {"submit": True},
                desk["owner"]).json["id"]
    body = problem(_act(registry, rid, "approve", desk["member_reviewer"]), 403)
    assert body["reason"] == "four_eyes"
    problem(_act(registry, rid, "request-changes", desk["reviewer"]), 422, "comment")
    resp = _act(registry, rid, "request-changes", desk["reviewer"], "Add the indicators.")
    assert resp.status_code == 200 and resp.json["status"] == "changes_requested"
    [sent_back] = _events(registry, initiative["id"], ev.PROGRESS_REPORT_CHANGES_REQUESTED)
    assert sent_back["comment"] == "Add the indicators."
    assert {r["role"] for r in sent_back["recipients"]} == {"owner"}
    thread = registry.get(f"/api/v1/progress-reports/{rid}/thread", desk["owner"]).json
    assert [e["action"] for e in thread] == ["create", "submit", "request_changes"]
    assert registry.get(f"/api/v1/initiatives/{initiative['id']}").json[
        "progress_reports_count"] == 0


def test_the_public_sees_approved_reports_only(registry):
    desk = make_desk(registry)
    initiative = desk.published()
    draft = _post(registry, initiative["id"], COMPLETE, desk["owner"]).json
    assert registry.get(f"/api/v1/progress-reports/{draft['id']}").status_code == 404
    assert registry.get(f"/api/v1/progress-reports/{draft['id']}",
                        desk["other"]).status_code == 404
    assert registry.get(f"/api/v1/initiatives/{initiative['id']}/progress-reports"
                        ).json["items"] == []
    mine = registry.get(f"/api/v1/initiatives/{initiative['id']}/progress-reports",
                        desk["owner"]).json["items"]
    assert [r["id"] for r in mine] == [draft["id"]]
    assert registry.get("/api/v1/initiatives/PR-1999-99999/progress-reports"
                        ).status_code == 404


def test_deliverable_weights_roll_up_into_the_initiative(registry):
    desk = make_desk(registry)
    made = desk.draft(deliverables=[
        {"description": "Nursery", "due_date": "2027-01-01", "weight": "3"},
        {"description": "Training", "due_date": "2027-06-01", "weight": "1"},
        {"description": "Dropped", "due_date": "2027-06-01", "weight": "5",
         "status": "cancelled"}])
    assert [d["weight"] for d in made["deliverables"]] == ["3.000", "1.000", "5.000"]
    assert desk.act("owner", made["id"], "submit").status_code == 200
    initiative = desk.act("reviewer", made["id"], "approve").json
    nursery = initiative["deliverables"][0]["id"]
    rid = _post(registry, initiative["id"], COMPLETE | {
        "deliverable_updates": [{"deliverable_id": nursery, "status": "achieved"}],
        "submit": True}, desk["owner"]).json["id"]
    assert _act(registry, rid, "approve", desk["reviewer"]).status_code == 200
    # 3 of the 4 weights still planned (the cancelled 5 leave the denominator)
    with registry.session() as s:
        row = s.get(Initiative, uuid.UUID(initiative["id"]))
        assert row.progress_percent == 75
        assert s.get(ProgressReport, uuid.UUID(rid)).progress_percent == 75
    # a report's own figure wins over the roll-up
    rid2 = _post(registry, initiative["id"], COMPLETE | {"progress_percent": 60,
                                                         "submit": True},
                 desk["owner"]).json["id"]
    assert _act(registry, rid2, "approve", desk["reviewer"]).status_code == 200
    detail = registry.get(f"/api/v1/initiatives/{initiative['id']}").json
    assert (detail["progress_percent"], detail["progress_reports_count"]) == (60, 2)


def test_indicators_and_their_actuals(registry, problem):
    desk = make_desk(registry)
    initiative = desk.published()
    url = f"/api/v1/initiatives/{initiative['id']}/indicators"
    problem(registry.post(url, {"title": "Coral cover", "sdg_indicator_code": "14.9.9"},
                          desk["owner"]), 422, "sdg_indicator_code")
    problem(registry.post(url, {"title": "Coral cover", "measure": "weight"}, desk["owner"]),
            422, "measure")
    problem(registry.post(url, {"title": "Coral cover", "baseline_year": 2025,
                                "target_year": 2020}, desk["owner"]), 422, "target_year")
    problem(registry.post(url, {"title": "Coral cover"}, desk["other"]), 403)
    resp = registry.post(url, {"title": "Coral cover", "unit": "hectares",
                               "measure": "unit", "baseline_value": "2", "baseline_year": 2025,
                               "target_value": "40", "target_year": 2028,
                               "sdg_indicator_code": "14.5.1"}, desk["owner"])
    assert resp.status_code == 201, resp.json
    indicator = resp.json
    assert indicator["target_value"] == "40.0000"
    rid = _post(registry, initiative["id"], COMPLETE | {
        "indicator_values": [{"indicator_id": indicator["id"], "value": "12.5"}],
        "submit": True}, desk["owner"]).json["id"]
    assert _act(registry, rid, "approve", desk["reviewer"]).status_code == 200
    series = registry.get(f"/api/v1/initiatives/{initiative['id']}/progress").json
    [line] = series["indicators"]
    assert line["actuals"] == [["2026-06-30", "12.5000"]]
    # an indicator with reported values stays
    problem(registry.client.delete(f"{url}/{indicator['id']}",
                                   headers=registry.headers(desk["owner"])), 409)
    resp = registry.patch(f"{url}/{indicator['id']}", {"unit": "ha"}, desk["owner"])
    assert resp.status_code == 200 and resp.json["unit"] == "ha"
    assert registry.get(url).json["items"][0]["unit"] == "ha"


def test_the_queue_lists_submitted_reports_and_openapi_documents_the_api(registry):
    desk = make_desk(registry)
    initiative = desk.published()
    rid = _post(registry, initiative["id"], COMPLETE | {"submit": True},
                desk["owner"]).json["id"]
    queue = registry.get("/api/v1/review/queue?kind=progress_report", desk["reviewer"]).json
    assert [(i["kind"], i["report_id"], i["report_number"]) for i in queue["items"]] == [
        ("progress_report", rid, 1)]
    assert registry.get("/api/v1/review/queue?kind=submission",
                        desk["reviewer"]).json["total"] == 0
    paths = registry.get("/api/v1/openapi.json").json["paths"]
    for path in ("/api/v1/initiatives/{initiative_ref}/progress-reports",
                 "/api/v1/progress-reports/{report_id}",
                 "/api/v1/progress-reports/{report_id}/approve",
                 "/api/v1/progress-reports/{report_id}/request-changes",
                 "/api/v1/initiatives/{initiative_ref}/indicators",
                 "/api/v1/initiatives/{initiative_ref}/progress"):
        assert path in paths, path
    with registry.session() as s:
        assert s.scalar(select(func.count()).select_from(ProgressReport)) == 1


def test_cli_lists_acts_and_rolls_up(registry):
    from sqlalchemy import update

    from registry.accounts.models import User
    from registry.cli import cli

    desk = make_desk(registry)
    initiative = desk.published()
    rid = _post(registry, initiative["id"], COMPLETE | {"progress_percent": 35,
                                                        "submit": True},
                desk["owner"]).json["id"]
    runner = registry.app.test_cli_runner()
    with registry.session() as s:
        reviewer = s.get(User, desk.ids["reviewer"]).email
        member_reviewer = s.get(User, desk.ids["member_reviewer"]).email
    out = runner.invoke(cli, ["progress", "list", initiative["public_id"]])
    assert out.exit_code == 0 and "submitted" in out.output and "35%" in out.output, out.output
    out = runner.invoke(cli, ["progress", "act", rid, "approve"])  # the system decides nothing
    assert out.exit_code != 0 and "may not approve" in out.output, out.output
    out = runner.invoke(cli, ["progress", "act", rid, "approve", "--as", member_reviewer])
    assert out.exit_code != 0 and "Four eyes" in out.output, out.output
    out = runner.invoke(cli, ["progress", "act", rid, "approve", "--as", reviewer])
    assert out.exit_code == 0 and "approved" in out.output, out.output
    out = runner.invoke(cli, ["progress", "show", rid])
    assert out.exit_code == 0 and '"status": "approved"' in out.output
    # a bulk writer left the initiative's figures behind: rollup puts them right
    with registry.session() as s:
        s.execute(update(Initiative).values(progress_percent=None, progress_reports_count=0,
                                            last_progress_report_on=None))
        s.commit()
    out = runner.invoke(cli, ["progress", "rollup", "--batch-size", "1"])
    assert out.exit_code == 0 and "1 changed" in out.output, out.output
    detail = registry.get(f"/api/v1/initiatives/{initiative['id']}").json
    assert (detail["progress_percent"], detail["progress_reports_count"]) == (35, 1)
    assert detail["last_progress_report_on"] is not None
    out = runner.invoke(cli, ["progress", "rollup"])
    assert "0 changed" in out.output, out.output


def test_weights_of_a_published_initiative_change_without_a_revision(registry, problem):
    desk = make_desk(registry)
    initiative = desk.published()
    url = f"/api/v1/initiatives/{initiative['public_id']}/deliverable-weights"
    deliverable = initiative["deliverables"][0]["id"]
    problem(registry.client.put(url, json={"weights": [{"deliverable_id": str(uuid.uuid4()),
                                                        "weight": "2"}]},
                                headers=registry.headers(desk["owner"])), 422,
            "weights.0.deliverable_id")
    problem(registry.client.put(url, json={"weights": [{"deliverable_id": deliverable,
                                                        "weight": "-2"}]},
                                headers=registry.headers(desk["owner"])), 422,
            "weights.0.weight")
    problem(registry.client.put(url, json={"weights": [{"deliverable_id": deliverable,
                                                        "weight": "2"}]},
                                headers=registry.headers(desk["other"])), 403)
    resp = registry.client.put(url, json={"weights": [{"deliverable_id": deliverable,
                                                       "weight": "2.5"}]},
                               headers=registry.headers(desk["owner"]))
    assert resp.status_code == 200, resp.json
    assert resp.json["items"][0]["weight"] == "2.500" and resp.json["rolled_up"] == 0
    detail = registry.get(f"/api/v1/initiatives/{initiative['id']}").json
    assert detail["deliverables"][0]["weight"] == "2.500"
    assert detail["version"] == initiative["version"]  # the reviewed content is unchanged


def test_approval_restarts_the_reporting_cycle_at_once(registry):
    """An approved report turns a yellow initiative green in the approval's transaction: the
    light, its change row and its event, and the approval event's snapshot already green
    (``registry.compliance.service.refresh_initiative``)."""
    from datetime import timedelta

    from registry.compliance.service import refresh_initiative
    from shared.db import utcnow

    desk = make_desk(registry)
    initiative = desk.published()
    with registry.session() as s:
        row = s.get(Initiative, uuid.UUID(initiative["id"]))
        row.published_at = utcnow() - timedelta(days=400)  # 13 months: past the 12
        assert refresh_initiative(s, row, utcnow()) == "yellow"
        s.commit()
    rid = _post(registry, initiative["id"], COMPLETE | {"submit": True},
                desk["owner"]).json["id"]
    before = len(_events(registry, initiative["id"], ev.INITIATIVE_REPORTING_STATUS_CHANGED))
    assert _act(registry, rid, "approve", desk["reviewer"]).status_code == 200
    with registry.session() as s:
        assert s.get(Initiative, uuid.UUID(initiative["id"])).reporting_status == "green"
    changes = _events(registry, initiative["id"], ev.INITIATIVE_REPORTING_STATUS_CHANGED)
    assert len(changes) == before + 1
    assert (changes[-1]["from_status"], changes[-1]["to_status"]) == ("yellow", "green")
    [approved] = _events(registry, initiative["id"], ev.PROGRESS_REPORT_APPROVED)
    assert approved["initiative"]["reporting_status"] == "green"
