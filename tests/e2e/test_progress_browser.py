"""The progress-report journey of issue 9 in a real browser (Debian's Chromium through
Playwright), once in English and once in Chinese, on the embedded stack (``make run``'s code
path):

1. a published initiative whose last report is 13 months old shows a yellow light, on its
   public progress tab and on the secretariat's compliance dashboard;
2. its partner opens the report form from the owner page, files a progress report with its
   one deliverable achieved and one indicator value, saves the draft and submits it;
3. the secretariat finds it in the review queue (kind filter "progress report"), opens the
   review page and approves it;
4. the public progress tab shows the new progress (60 %, the indicator's 12.5 ha, the
   timeline entry, the SVG chart) and the light turns green.

Every page visited is kept as a screenshot ``progress-<n>-<step>-<lang>.png`` in
``$SCREENSHOT_DIR`` (default ``var/screenshots``) and checked with axe-core (no serious or
critical WCAG 2.1 A/AA violation).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest

from tests.e2e.test_review_desk_browser import (
    CJK,
    JOURNEYS,
    PASSWORD,
    _accounts,
    _main,
    _sign_in,
    screenshot_dir,
)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

WORDS = {
    "en": {"green": "Green: reporting on time", "yellow": "Yellow: progress report overdue",
           "approved": "Approved", "on_track": "On track"},
    "zh": {"green": "绿灯：按时报告", "yellow": "黄灯：进展报告逾期", "approved": "已批准",
           "on_track": "进展顺利"},
}
assert PASSWORD  # the accounts' password (signed in through the sign-in page)


class Journey:
    """Screenshots and accessibility checks of one language's journey."""

    def __init__(self, lang: str, check_a11y):
        self.lang = lang
        self.check_a11y = check_a11y
        self.step = 0
        self.folder = screenshot_dir()

    def checkpoint(self, page, name: str) -> None:
        self.step += 1
        path = self.folder / f"progress-{self.step:02d}-{name}-{self.lang}.png"
        page.screenshot(path=str(path), full_page=True)
        self.check_a11y(page, f"{name} ({self.lang})")
        expected = "zh-Hans" if self.lang == "zh" else "en"
        assert page.get_attribute("html", "lang") == expected, name
        assert page.locator("main").count() == 1, name


def _published(server, people: dict, lang: str) -> dict:
    """A published initiative of the partner's organisation with one deliverable and one
    indicator, published 13 months ago (its light yellow), made through the API by the
    partner and the reviewer (their own tokens)."""
    from sqlalchemy import select

    from registry.accounts.models import User
    from registry.compliance.service import refresh_initiative
    from registry.initiatives.models import Initiative
    from tests.registry.conftest import RegistryClient

    app = server.stack.apps["registry"]
    registry = RegistryClient(app)
    factory = app.extensions["db_session_factory"]
    with factory() as s:
        partner_id = s.scalar(select(User.id).where(User.email == people["partner"]))
        reviewer_id = s.scalar(select(User.id).where(User.email == people["reviewer"]))
    partner = registry.user_token(orgs={people["org_id"]: "admin"}, email=people["partner"],
                                  subject=str(partner_id))
    reviewer = registry.user_token(staff=("reviewer",), email=people["reviewer"],
                                   subject=str(reviewer_id))
    title = "Fiji reef restoration" if lang == "en" else "斐济珊瑚礁恢复"
    body = {"title": f"{title} {uuid.uuid4().hex[:4]}",
            "description": "Restore 40 hectares of coral reef with coastal communities.",
            "owner_organization_id": people["org_id"],
            "lead_organization_id": people["org_id"], "sdg_targets": ["14.2"],
            "countries": ["FJI"], "start_date": "2025-01-01", "end_date": "2028-12-31",
            "deliverables": [{"description": "40 ha of reef restored" if lang == "en"
                              else "恢复 40 公顷珊瑚礁", "due_date": "2028-06-30"}],
            "resources": [{"type": "financing", "details": "Grant",
                           "amount_usd": "250000.00"}],
            "contact_email": "reefs@reef.test"}
    made = registry.post("/api/v1/initiatives", body, partner)
    assert made.status_code == 201, made.get_json()
    iid = made.get_json()["id"]
    assert registry.post(f"/api/v1/initiatives/{iid}/submit", {}, partner).status_code == 200
    approved = registry.post(f"/api/v1/initiatives/{iid}/approve", {}, reviewer)
    assert approved.status_code == 200, approved.get_json()
    indicator = registry.post(f"/api/v1/initiatives/{iid}/indicators", {
        "title": "Hectares of reef restored" if lang == "en" else "已恢复的珊瑚礁面积",
        "unit": "ha", "measure": "unit", "baseline_value": "0", "baseline_year": 2025,
        "target_value": "40", "target_year": 2028, "sdg_indicator_code": "14.2.1"}, partner)
    assert indicator.status_code == 201, indicator.get_json()
    with factory() as s:
        row = s.get(Initiative, uuid.UUID(iid))
        row.published_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
        refresh_initiative(s, row, dt.datetime.now(dt.UTC))
        s.commit()
    return approved.get_json()


@pytest.mark.parametrize(("lang", "accept"), JOURNEYS)
def test_a_partner_files_a_report_the_secretariat_approves_the_light_turns_green(
        embedded_server, browser_page, check_a11y, lang, accept):
    server = embedded_server
    base = server.base
    words = WORDS[lang]
    journey = Journey(lang, check_a11y)
    people = _accounts(server, lang)
    initiative = _published(server, people, lang)
    iid, public_path = initiative["id"], f"/initiatives/{initiative['public_id']}/progress"
    partner, reviewer, public = browser_page(accept), browser_page(accept), browser_page(accept)

    # 1. the light is yellow: on the public tab and on the compliance dashboard
    public.goto(f"{base}{public_path}")
    journey.checkpoint(public, "public-yellow")
    assert public.locator("main #light[data-light=yellow]").count() == 1
    assert words["yellow"] in _main(public)
    _sign_in(reviewer, base, people["reviewer"])
    reviewer.click("header a[href='/secretariat/compliance']")
    # the demo's imported records are red and yellow too (their original dates): filter on
    # yellow with the form, as a secretariat member would, to find this one
    reviewer.select_option("main select[name=status]", "yellow")
    reviewer.click("main form.filters button[type=submit]")
    journey.checkpoint(reviewer, "compliance-dashboard")
    assert reviewer.locator(f"main tr[data-initiative='{iid}']").count() == 1

    # 2. the partner files a report from the owner page and submits it
    _sign_in(partner, base, people["partner"])
    partner.goto(f"{base}/my/initiatives/{iid}")
    partner.click(f"main a[href='/my/initiatives/{iid}/progress/new']")
    journey.checkpoint(partner, "report-form")
    partner.fill("input[name=period_start]", "2025-07-01")
    partner.fill("input[name=period_end]", "2026-06-30")
    partner.select_option("select[name=overall_status]", "on_track")
    partner.fill("input[name=progress_percent]", "60")
    partner.select_option("select[name=deliverable-0-status]", "achieved")
    partner.fill("textarea[name=deliverable-0-note]", "Nursery and first plots done."
                 if lang == "en" else "苗圃和首批地块已完成。")
    partner.fill("input[name=indicator-0-value]", "12.5")
    partner.fill("input[name=resource-0-amount]", "25000")
    partner.select_option("select[name=resource-0-currency]", "FJD")
    partner.fill("textarea[name=narrative_html]",
                 "<p>12.5 ha replanted with the Suva communities.</p>" if lang == "en"
                 else "<p>与苏瓦社区一起重新种植了 12.5 公顷。</p>")
    partner.locator("main #report-form button[name=op][value=save]:not(.visually-hidden)"
                    ).click()
    assert re.search(rf"/my/initiatives/{iid}/progress/1$", partner.url), partner.url
    journey.checkpoint(partner, "report-draft")
    partner.locator("main #submit-form button[type=submit]").click()
    journey.checkpoint(partner, "report-submitted")
    assert partner.locator("main #next-step").count() == 1

    # 3. the secretariat finds it in the queue and approves it
    reviewer.goto(f"{base}/secretariat/review?kind=progress_report")
    journey.checkpoint(reviewer, "queue-progress-reports")
    reviewer.click(f"main tr[data-initiative='{iid}'] a")
    journey.checkpoint(reviewer, "review-report")
    assert reviewer.locator("main tr[data-deliverable]").count() == 1
    assert "12.5" in _main(reviewer)
    form = reviewer.locator("main form.decision-approve")
    form.locator("button[type=submit]").click()
    journey.checkpoint(reviewer, "report-approved")
    assert words["approved"] in _main(reviewer)

    # 4. the public tab shows the new progress and the green light
    public.goto(f"{base}{public_path}")
    journey.checkpoint(public, "public-green")
    assert public.locator("main #light[data-light=green]").count() == 1
    text = _main(public)
    assert words["green"] in text and words["on_track"] in text
    assert "60%" in text and "12.5" in text
    assert public.locator("main svg.chart[role=img]").count() >= 2
    assert public.locator("main li[data-report='1']").count() == 1
    public.goto(f"{base}/initiatives/{initiative['public_id']}")
    journey.checkpoint(public, "public-about-green")
    assert public.locator("main [data-light=green]").count() == 1
    if lang == "zh":
        assert CJK.search(text)
