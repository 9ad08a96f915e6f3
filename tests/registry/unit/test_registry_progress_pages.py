"""The pages of issue 9 (``registry.progress.pages``, ``registry.compliance.pages``, the
public progress tab of ``registry.pages.views``): the partner's progress report form
(deliverable rows, indicator actuals, milestones, resources with ISO 4217 currencies, links,
narrative), its draft / submit / thread page, the indicators page, the secretariat's review
page of a report (approve, request changes) and the queue's kind filter, the public progress
tab (traffic light, timeline, SVG charts) and the compliance dashboard ("send reminder now").
Server-rendered, CSRF on every form, English and Chinese, never a 500 for bad input."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from sqlalchemy import select, update

from tests.registry.unit.test_registry_review_pages import Desk, text

CJK = re.compile(r"[\u4e00-\u9fff]")


class Reporting(Desk):
    """The review desk's cast plus a published initiative with one deliverable and one
    indicator, published ``months_ago`` months ago (its reporting light computed)."""

    def initiative(self, months_ago: int = 13, title: str = "Fiji reef restoration") -> dict:
        from registry.compliance.service import refresh_initiative
        from registry.initiatives.models import Initiative

        made = self.published(title=title)
        when = dt.datetime.now(dt.UTC) - dt.timedelta(days=31 * months_ago)
        with self.registry.session() as s:
            s.execute(update(Initiative).where(Initiative.id == uuid.UUID(made["id"]))
                      .values(published_at=when))
            refresh_initiative(s, s.get(Initiative, uuid.UUID(made["id"])),
                               dt.datetime.now(dt.UTC))
            s.commit()
        resp = self.registry.post(f"/api/v1/initiatives/{made['id']}/indicators", {
            "title": "Hectares of reef restored", "unit": "ha", "measure": "unit",
            "baseline_value": "0", "baseline_year": 2025, "target_value": "40",
            "target_year": 2028, "sdg_indicator_code": "14.2.1"}, self.partner)
        assert resp.status_code == 201, resp.get_json()
        return self.registry.get(f"/api/v1/initiatives/{made['id']}", self.partner).get_json()

    def report_status(self, report_id: str) -> str:
        from registry.progress.models import ProgressReport

        with self.registry.session() as s:
            return s.get(ProgressReport, uuid.UUID(report_id)).status

    def report_id(self, initiative_id: str, number: int = 1) -> str:
        from registry.progress.models import ProgressReport

        with self.registry.session() as s:
            return str(s.scalar(select(ProgressReport.id).where(
                ProgressReport.initiative_id == uuid.UUID(initiative_id),
                ProgressReport.number == number)))


@pytest.fixture
def rep(registry) -> Reporting:
    return Reporting(registry)


def _form(initiative: dict, **overrides) -> dict:
    """A complete report form: the deliverable achieved, the indicator at 12.5 ha, one
    milestone, one resource in Fiji dollars, one link, a narrative."""
    data = {
        "period_start": "2026-01-01", "period_end": "2026-12-31",
        "overall_status": "on_track", "progress_percent": "60",
        "narrative_html": "<p>Planted <strong>12.5 ha</strong>.</p><script>alert(1)</script>",
        "deliverable-0-id": initiative["deliverables"][0]["id"],
        "deliverable-0-status": "achieved", "deliverable-0-note": "Done in Suva",
        "indicator-0-value": "12.5", "indicator-0-comment": "Drone survey",
        "milestone_rows": "1", "milestone-0-date": "2026-06-30",
        "milestone-0-title": "Nursery built", "milestone-0-achieved": "y",
        "resource_rows": "1", "resource-0-amount": "25,000", "resource-0-currency": "FJD",
        "resource-0-description": "Ministry grant",
        "link_rows": "1", "link-0-url": "https://reef.test/report-2026",
        "op": "save",
    }
    return data | overrides


def _file(rep: Reporting, initiative: dict, **overrides):
    browser = rep.browser(rep.partner)
    page = browser.get(f"/my/initiatives/{initiative['id']}/progress/new")
    assert page.status_code == 200, text(page)[:300]
    return browser, browser.post(f"/my/initiatives/{initiative['id']}/progress/new",
                                 _form(initiative, **overrides))


# -- the partner's form ----------------------------------------------------------------------
def test_the_form_has_a_row_per_deliverable_and_indicator_and_saves_a_draft(rep):
    initiative = rep.initiative()
    browser = rep.browser(rep.partner)
    page = browser.get(f"/my/initiatives/{initiative['id']}/progress/new")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'name="deliverable-0-status"' in html and 'name="indicator-0-value"' in html
    assert "40 ha restored" in html and "Hectares of reef restored" in html
    assert '<option value="CNY">' in html and '<option value="inactive"' not in html
    saved = browser.post(f"/my/initiatives/{initiative['id']}/progress/new", _form(initiative))
    assert saved.status_code == 303, text(saved)[:500]
    assert saved.headers["Location"].endswith(f"/my/initiatives/{initiative['id']}/progress/1")
    report = rep.registry.get(f"/api/v1/progress-reports/{rep.report_id(initiative['id'])}",
                              rep.partner).get_json()
    assert report["status"] == "draft" and report["overall_status"] == "on_track"
    assert report["progress_percent"] == 60
    assert [(u["status"], u["note"]) for u in report["deliverable_updates"]] == [
        ("achieved", "Done in Suva")]
    assert [v["value"] for v in report["indicator_values"]] in (["12.5"], ["12.5000"])
    assert report["resources_mobilised"][0]["currency"] == "FJD"
    assert report["resources_mobilised"][0]["amount"] in ("25000.00", "25000")
    assert report["milestones"][0]["title"] == "Nursery built"
    assert report["links"] == ["https://reef.test/report-2026"]
    assert "<script" not in report["narrative_html"] and "<strong>" in report["narrative_html"]
    # the draft's page is the form again, with what was saved
    again = browser.get(f"/my/initiatives/{initiative['id']}/progress/1")
    html = again.get_data(as_text=True)
    assert again.status_code == 200 and 'value="Nursery built"' in html
    assert re.search(r'<option value="achieved" selected>', html)
    assert 'value="12.5' in html and "Submit for review" in html


def test_bad_rows_are_named_under_their_field_and_nothing_is_saved(rep):
    from registry.progress.models import ProgressReport

    initiative = rep.initiative()
    _browser, resp = _file(rep, initiative, **{
        "milestone-0-date": "30/06/2026", "resource-0-currency": "XYZ",
        "indicator-0-value": "twelve", "link-0-url": "javascript:alert(1)"})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    for field_id in ("milestones-0-errors", "resources_mobilised-0-errors",
                     "indicator_values-0-value-errors", "links-0-errors"):
        assert f'id="{field_id}"' in html, field_id
    assert 'aria-invalid="true"' in html and "Nothing was saved" in html
    assert 'value="twelve"' in html  # what was typed is shown again
    assert rep.registry.count(ProgressReport) == 0


def test_period_end_before_start_is_refused_by_the_service_rule(rep):
    initiative = rep.initiative()
    _browser, resp = _file(rep, initiative, period_start="2026-12-31", period_end="2026-01-01")
    assert resp.status_code == 422
    assert "not before the start of the period" in text(resp)


@pytest.mark.parametrize("junk", [
    {"milestone_rows": "999999999"}, {"op": "remove_link:abc"}, {"progress_percent": "120"},
    {"deliverable-0-id": str(uuid.uuid4())}, {"overall_status": "inactive"},
    {"resource-0-amount": "-5"}, {"narrative_html": "x" * 60_000},
    {"period_start": "2026-02-30"}])
def test_hostile_input_never_answers_500(rep, junk):
    initiative = rep.initiative()
    _browser, resp = _file(rep, initiative, **junk)
    assert resp.status_code in (303, 422), (junk, resp.status_code, text(resp)[:300])


def test_adding_and_removing_rows_without_javascript(rep):
    initiative = rep.initiative()
    browser, resp = _file(rep, initiative, op="add_milestone")
    assert resp.status_code == 303 and "add_m=1" in resp.headers["Location"]
    page = browser.get(resp.headers["Location"].split("http://localhost")[-1])
    assert page.get_data(as_text=True).count('name="milestone-') >= 2 * 3  # two rows
    removed = browser.post(f"/my/initiatives/{initiative['id']}/progress/1",
                           _form(initiative, op="remove_milestone:0",
                                 version="1") | {"version": str(_version(rep, initiative))})
    assert removed.status_code == 303
    report = rep.registry.get(f"/api/v1/progress-reports/{rep.report_id(initiative['id'])}",
                              rep.partner).get_json()
    assert report["milestones"] == []


def _version(rep: Reporting, initiative: dict, number: int = 1) -> int:
    report = rep.registry.get(
        f"/api/v1/progress-reports/{rep.report_id(initiative['id'], number)}",
        rep.partner).get_json()
    return report["version"]


def test_a_stale_form_answers_412_and_changes_nothing(rep):
    initiative = rep.initiative()
    browser, _resp = _file(rep, initiative)
    browser.get(f"/my/initiatives/{initiative['id']}/progress/1")
    resp = browser.post(f"/my/initiatives/{initiative['id']}/progress/1",
                        _form(initiative, overall_status="off_track") | {"version": "0"})
    assert resp.status_code == 412 and "Someone changed this record" in text(resp)
    report = rep.registry.get(f"/api/v1/progress-reports/{rep.report_id(initiative['id'])}",
                              rep.partner).get_json()
    assert report["overall_status"] == "on_track"


def test_submit_then_the_page_shows_the_report_and_the_thread(rep):
    initiative = rep.initiative()
    browser, _resp = _file(rep, initiative)
    browser.get(f"/my/initiatives/{initiative['id']}/progress/1")
    resp = browser.post(f"/my/initiatives/{initiative['id']}/progress/1/submit",
                        {"version": str(_version(rep, initiative)),
                         "comment": "Please review"})
    assert resp.status_code == 303, text(resp)[:500]
    assert rep.report_status(rep.report_id(initiative["id"])) == "submitted"
    page = browser.get(f"/my/initiatives/{initiative['id']}/progress/1")
    body = text(page)
    assert page.status_code == 200 and "Waiting for the secretariat's review." in body
    assert "Achieved" in body and "Nursery built" in body and "Please review" in body
    assert 'name="deliverable-0-status"' not in page.get_data(as_text=True)  # not editable


def test_submitting_an_incomplete_report_lists_what_is_missing(rep):
    initiative = rep.initiative()
    browser, _resp = _file(rep, initiative, overall_status="", narrative_html="")
    browser.get(f"/my/initiatives/{initiative['id']}/progress/1")
    resp = browser.post(f"/my/initiatives/{initiative['id']}/progress/1/submit",
                        {"version": str(_version(rep, initiative))})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert 'id="overall_status-errors"' in html and 'id="narrative_html-errors"' in html
    assert rep.report_status(rep.report_id(initiative["id"])) == "draft"


def test_someone_else_cannot_see_or_file_reports(rep):
    initiative = rep.initiative()
    other = rep.registry.token("partner")
    assert rep.browser(other).get(
        f"/my/initiatives/{initiative['id']}/progress/new").status_code in (403, 404)
    assert rep.browser(None).get(
        f"/my/initiatives/{initiative['id']}/progress/new").status_code in (302, 401)


def test_a_draft_is_deleted(rep):
    from registry.progress.models import ProgressReport

    initiative = rep.initiative()
    browser, _resp = _file(rep, initiative)
    browser.get(f"/my/initiatives/{initiative['id']}/progress/1")
    resp = browser.post(f"/my/initiatives/{initiative['id']}/progress/1/delete",
                        {"version": str(_version(rep, initiative))})
    assert resp.status_code == 303 and rep.registry.count(ProgressReport) == 0


# -- indicators ------------------------------------------------------------------------------
def test_indicators_are_added_checked_edited_and_deleted(rep):
    initiative = rep.initiative()
    browser = rep.browser(rep.partner)
    path = f"/my/initiatives/{initiative['id']}/indicators"
    page = browser.get(path)
    assert page.status_code == 200 and "Hectares of reef restored" in text(page)
    assert '<option value="14.2.1">' in page.get_data(as_text=True)
    bad = browser.post(path, {"new-title": "People trained", "new-measure": "unit",
                              "new-sdg_indicator_code": "99.9.9", "new-baseline_value": "x",
                              "new-csrf_token": browser.csrf}, csrf=False)
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.get_data(as_text=True)
    good = browser.post(path, {"new-title": "People trained", "new-unit": "people",
                               "new-measure": "unit", "new-ascending": "y",
                               "new-target_value": "300", "new-target_year": "2028",
                               "new-sdg_indicator_code": "4.7.1",
                               "new-csrf_token": browser.csrf}, csrf=False)
    assert good.status_code == 303, text(good)[:400]
    listed = rep.registry.get(f"/api/v1/initiatives/{initiative['id']}/indicators",
                              rep.partner).get_json()
    items = listed["items"] if isinstance(listed, dict) else listed
    trained = next(i for i in items if i["title"] == "People trained")
    assert trained["sdg_indicator_code"] == "4.7.1"
    browser.get(path)
    prefix = f"i{trained['id']}-"
    edited = browser.post(f"{path}/{trained['id']}", {
        f"{prefix}title": "People trained in reef care", f"{prefix}measure": "unit",
        f"{prefix}ascending": "y", f"{prefix}sdg_indicator_code": "4.7.1",
        f"{prefix}csrf_token": browser.csrf}, csrf=False)
    assert edited.status_code == 303, text(edited)[:400]
    assert "People trained in reef care" in text(browser.get(path))
    browser.get(path)
    deleted = browser.post(f"{path}/{trained['id']}/delete", {})
    assert deleted.status_code == 303
    assert "People trained in reef care" not in text(browser.get(path))


# -- the secretariat -------------------------------------------------------------------------
def _submitted(rep: Reporting) -> tuple[dict, str]:
    initiative = rep.initiative()
    browser, _resp = _file(rep, initiative)
    browser.get(f"/my/initiatives/{initiative['id']}/progress/1")
    resp = browser.post(f"/my/initiatives/{initiative['id']}/progress/1/submit",
                        {"version": str(_version(rep, initiative))})
    assert resp.status_code == 303
    return initiative, rep.report_id(initiative["id"])


def test_the_queue_lists_progress_reports_with_the_kind_filter(rep):
    initiative, report_id = _submitted(rep)
    page = rep.browser(rep.reviewer).get("/secretariat/review?kind=progress_report")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'href="/secretariat/review/progress/{report_id}"' in html
    assert "Progress report" in text(page)
    others = rep.browser(rep.reviewer).get("/secretariat/review?kind=submission")
    assert f"/secretariat/review/progress/{report_id}" not in others.get_data(as_text=True)


def test_the_reviewer_requests_changes_with_a_comment_then_approves(rep):
    initiative, report_id = _submitted(rep)
    reviewer = rep.browser(rep.reviewer)
    page = reviewer.get(f"/secretariat/review/progress/{report_id}")
    body = text(page)
    assert page.status_code == 200 and "Nursery built" in body and "Drone survey" in body
    assert "<script" not in page.get_data(as_text=True).split("<main")[1]
    version = str(_version(rep, initiative))
    missing = reviewer.post(f"/secretariat/review/progress/{report_id}/request-changes",
                            {"version": version, "comment": ""})
    assert missing.status_code == 422 and "a comment is required" in text(missing)
    reviewer.get(f"/secretariat/review/progress/{report_id}")
    sent_back = reviewer.post(f"/secretariat/review/progress/{report_id}/request-changes",
                              {"version": version, "comment": "Add the survey photos."})
    assert sent_back.status_code == 303
    assert rep.report_status(report_id) == "changes_requested"
    # the partner sees the comment on the report's page, edits and resubmits
    partner = rep.browser(rep.partner)
    page = partner.get(f"/my/initiatives/{initiative['id']}/progress/1")
    assert "Add the survey photos." in text(page)
    saved = partner.post(f"/my/initiatives/{initiative['id']}/progress/1",
                         _form(initiative, **{"link-0-url": "https://reef.test/photos"})
                         | {"version": str(_version(rep, initiative))})
    assert saved.status_code == 303
    partner.get(f"/my/initiatives/{initiative['id']}/progress/1")
    assert partner.post(f"/my/initiatives/{initiative['id']}/progress/1/submit",
                        {"version": str(_version(rep, initiative))}).status_code == 303
    reviewer.get(f"/secretariat/review/progress/{report_id}")
    stale = reviewer.post(f"/secretariat/review/progress/{report_id}/approve",
                          {"version": version})
    assert stale.status_code == 412 and rep.report_status(report_id) == "submitted"
    approved = reviewer.post(f"/secretariat/review/progress/{report_id}/approve",
                             {"version": str(_version(rep, initiative))})
    assert approved.status_code == 303 and rep.report_status(report_id) == "approved"


def test_the_review_page_is_for_reviewers_and_four_eyes_is_explained(rep):
    _initiative, report_id = _submitted(rep)
    assert rep.browser(rep.partner).get(
        f"/secretariat/review/progress/{report_id}").status_code == 403
    assert rep.browser(None).get(
        f"/secretariat/review/progress/{report_id}").status_code in (302, 401)
    assert rep.browser(rep.reviewer).get(
        f"/secretariat/review/progress/{uuid.uuid4()}").status_code == 404


def test_the_reviewer_writes_an_internal_note_the_partner_never_sees(rep):
    initiative, report_id = _submitted(rep)
    reviewer = rep.browser(rep.reviewer)
    reviewer.get(f"/secretariat/review/progress/{report_id}")
    resp = reviewer.post(f"/secretariat/review/progress/{report_id}/comments",
                         {"body": "Check the drone data", "visibility": "internal"})
    assert resp.status_code == 303
    assert "Check the drone data" in text(reviewer.get(
        f"/secretariat/review/progress/{report_id}"))
    assert "Check the drone data" not in text(rep.browser(rep.partner).get(
        f"/my/initiatives/{initiative['id']}/progress/1"))


# -- the public progress tab -----------------------------------------------------------------
def _approved(rep: Reporting) -> tuple[dict, str]:
    initiative, report_id = _submitted(rep)
    reviewer = rep.browser(rep.reviewer)
    reviewer.get(f"/secretariat/review/progress/{report_id}")
    resp = reviewer.post(f"/secretariat/review/progress/{report_id}/approve",
                         {"version": str(_version(rep, initiative))})
    assert resp.status_code == 303
    return initiative, report_id


def test_the_public_tab_turns_green_with_the_timeline_and_the_charts(rep):
    initiative = rep.initiative()
    public = rep.browser(None)
    before = public.get(f"/initiatives/{initiative['public_id']}/progress")
    assert before.status_code == 200
    assert 'data-light="yellow"' in before.get_data(as_text=True)
    assert "No progress report was approved yet." in text(before)
    assert 'data-light="yellow"' in public.get(
        f"/initiatives/{initiative['public_id']}").get_data(as_text=True)

    initiative, _report_id = _approved(rep)
    page = public.get(f"/initiatives/{initiative['public_id']}/progress")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="light"' in html and 'data-light="green"' in html
    assert 'data-light="yellow"' not in html
    assert '<svg class="chart"' in html and 'role="img"' in html
    assert "<polyline" not in html or html.count("<circle") >= 2
    body = text(page)
    assert "On track" in body and "Nursery built" in body and "12.5" in body
    assert "Hectares of reef restored" in body and "60%" in body
    assert "<script>alert" not in html
    # the about tab links to it and shows the green badge
    about = public.get(f"/initiatives/{initiative['public_id']}").get_data(as_text=True)
    assert f'href="/initiatives/{initiative["public_id"]}/progress"' in about
    assert 'data-light="green"' in about


def test_the_public_tab_in_chinese(rep):
    initiative, _report_id = _approved(rep)
    page = rep.browser(None).get(f"/initiatives/{initiative['public_id']}/progress?lang=zh")
    body = text(page)
    assert page.status_code == 200 and "绿灯" in body and "已批准的进展报告" in body
    assert "进展顺利" in body
    for english in ("Approved progress reports", "Reporting status", "On track"):
        assert english not in body


def test_a_draft_initiative_has_no_public_progress_tab(rep):
    draft = rep.draft()
    assert rep.browser(None).get(f"/initiatives/{draft.get('public_id') or 'PR-0'}/progress"
                                 ).status_code == 404


# -- the compliance dashboard ----------------------------------------------------------------
def test_the_dashboard_counts_lists_filters_and_sends_a_reminder(rep):
    from shared.events.types import INITIATIVE_PROGRESS_REMINDER_DUE

    yellow = rep.initiative(months_ago=13, title="Yellow lagoon")
    red = rep.initiative(months_ago=25, title="Red mangroves")
    green = rep.initiative(months_ago=2, title="Green seagrass")
    reviewer = rep.browser(rep.reviewer)
    page = reviewer.get("/secretariat/compliance")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'data-initiative="{yellow["id"]}"' in html and f'data-initiative="{red["id"]}"' in html
    assert f'data-initiative="{green["id"]}"' not in html
    counts = {k: int(v) for k, v in re.findall(
        r'data-count="(\w+)"><span class="count">(\d+)</span>', html)}
    assert counts["yellow"] >= 1 and counts["red"] >= 1 and counts["green"] >= 1
    only_red = reviewer.get("/secretariat/compliance?status=red").get_data(as_text=True)
    assert f'data-initiative="{red["id"]}"' in only_red
    assert f'data-initiative="{yellow["id"]}"' not in only_red
    assert f'data-initiative="{red["id"]}"' not in reviewer.get(
        "/secretariat/compliance?sdg=3").get_data(as_text=True)  # the records are SDG 14
    assert f'data-initiative="{red["id"]}"' in reviewer.get(
        "/secretariat/compliance?sdg=14&stakeholder_group=ngo").get_data(as_text=True)
    for junk in ("status=blue", "sdg=99", "region=xyz", "as_of=yesterday", "page=-1"):
        assert reviewer.get(f"/secretariat/compliance?{junk}").status_code == 200, junk
    before = len([e for e in rep.registry.outbox(yellow["id"], compliance=True)
                  if e.event_type == INITIATIVE_PROGRESS_REMINDER_DUE])
    resp = reviewer.post(f"/secretariat/compliance/{yellow['id']}/remind",
                         {"back": "/secretariat/compliance?status=yellow"})
    assert resp.status_code == 303
    assert resp.headers["Location"].endswith("/secretariat/compliance?status=yellow")
    after = [e for e in rep.registry.outbox(yellow["id"], compliance=True)
             if e.event_type == INITIATIVE_PROGRESS_REMINDER_DUE]
    assert len(after) == before + 1 and after[-1].envelope["data"]["kind"] == "manual"
    zh = text(reviewer.get("/secretariat/compliance?lang=zh"))
    assert "报告合规情况" in zh and "立即发送提醒" in zh


def test_the_dashboard_is_for_the_secretariat_only(rep):
    assert rep.browser(rep.partner).get("/secretariat/compliance").status_code == 403
    assert rep.browser(None).get("/secretariat/compliance").status_code in (302, 401)
    initiative = rep.initiative()
    no_csrf = rep.browser(rep.reviewer).client.post(
        f"/secretariat/compliance/{initiative['id']}/remind",
        headers=rep.browser(rep.reviewer).headers)
    assert no_csrf.status_code == 400


def test_the_form_and_the_review_page_in_chinese(rep):
    initiative, report_id = _submitted(rep)
    form = rep.browser(rep.partner).get(
        f"/my/initiatives/{initiative['id']}/progress/new?lang=zh")
    assert form.status_code == 200 and "新进展报告" in text(form) and "已筹集的资源" in text(form)
    review = rep.browser(rep.reviewer).get(f"/secretariat/review/progress/{report_id}?lang=zh")
    assert review.status_code == 200 and "进展报告 1" in text(review)
    assert CJK.search(text(review))
