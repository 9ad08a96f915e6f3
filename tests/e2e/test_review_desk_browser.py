"""The whole review journey of issue 8 in a real browser (Debian's Chromium through
Playwright), once in English and once in Chinese, on the embedded stack (``make run``'s code
path):

1. a partner registers an initiative through the wizard and submits it;
2. the secretariat finds it in the review queue and requests changes;
3. the partner revises it and submits it again;
4. the secretariat approves it (version 1, public);
5. the partner edits the published initiative (a revision);
6. the public still sees version 1;
7. the secretariat approves the revision (version 2);
8. the public diff between versions 1 and 2 shows exactly the changed field (the title);
9. the partner declares completion; the public page shows the banner.

Every page visited is kept as a screenshot ``journey-<n>-<step>-<lang>.png`` in
``$SCREENSHOT_DIR`` (default ``var/screenshots``) and checked with axe-core (no serious or
critical WCAG 2.1 A/AA violation). Three browser contexts: the partner, the reviewer and the
anonymous public, each signed in through the sign-in page.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PASSWORD = "correct horse battery staple 7"
JOURNEYS = [("en", "en-GB"), ("zh", "zh-CN")]
CJK = re.compile(r"[\u4e00-\u9fff]")

#: Words the journey looks for, per language (the catalogues' translations).
WORDS = {
    "en": {"published": "Published", "declared": "Completion declared",
           "queue": "Review queue", "changes_requested": "Changes requested"},
    "zh": {"published": "已发布", "declared": "已声明完成", "queue": "审核队列",
           "changes_requested": "需要修改"},
}


def screenshot_dir() -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR") or REPO / "var" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _accounts(server, lang: str) -> dict:
    """A partner (admin of a verified organisation) and a reviewer, with passwords, made by
    the service functions (the sign-up journey has its own test)."""
    from registry.accounts.models import User
    from registry.accounts.passwords import hash_password
    from registry.accounts.service import grant_staff_role
    from registry.organizations.models import Organization, OrganizationMembership
    from shared.db import utcnow
    from shared.identity import SYSTEM

    factory = server.stack.apps["registry"].extensions["db_session_factory"]
    tag = uuid.uuid4().hex[:6]
    made = {"partner": f"partner-{lang}-{tag}@reef.test",
            "reviewer": f"reviewer-{lang}-{tag}@secretariat.test",
            "org": f"Reef Alliance {tag}" if lang == "en" else f"珊瑚礁联盟 {tag}"}
    with factory() as s:
        ids = {}
        for role, name in (("partner", "Ana Lima" if lang == "en" else "李娜"),
                           ("reviewer", "Wei Zhang" if lang == "en" else "张伟")):
            user = User(id=uuid.uuid4(), email=made[role], display_name=name, locale=lang,
                        password_hash=hash_password(PASSWORD), email_verified_at=utcnow(),
                        failed_sign_ins=0, password_changed_at=utcnow())
            s.add(user)
            ids[role] = user.id
        s.flush()
        org = Organization(id=uuid.uuid4(), name=made["org"],
                           normalized_name=made["org"].lower(), stakeholder_group="ngo",
                           verification_status="verified")
        s.add(org)
        s.flush()
        s.add(OrganizationMembership(id=uuid.uuid4(), organization_id=org.id,
                                     user_id=ids["partner"], role="admin"))
        grant_staff_role(db_session=s, principal=SYSTEM, user_id=ids["reviewer"],
                         role="reviewer")
        s.commit()
    made["org_id"] = str(org.id)
    return made


class Journey:
    """Screenshots and accessibility checks of one language's journey."""

    def __init__(self, lang: str, check_a11y):
        self.lang = lang
        self.check_a11y = check_a11y
        self.step = 0
        self.folder = screenshot_dir()

    def checkpoint(self, page, name: str) -> None:
        self.step += 1
        path = self.folder / f"journey-{self.step:02d}-{name}-{self.lang}.png"
        page.screenshot(path=str(path), full_page=True)
        self.check_a11y(page, f"{name} ({self.lang})")
        expected = "zh-Hans" if self.lang == "zh" else "en"
        assert page.get_attribute("html", "lang") == expected, name
        assert page.locator("main").count() == 1, name


def _sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/account/sign-in")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form[method=post] button[type=submit] >> nth=-1")
    assert page.locator("header form[action='/account/sign-out']").count() == 1


def _next(page) -> None:
    """The wizard's visible "save and continue" button."""
    page.locator("button[name=nav][value=next]:not(.visually-hidden)").click()


def _main(page) -> str:
    return page.text_content("main") or ""


def _wizard(page, journey: Journey, base: str, title: str, org_id: str) -> str:
    """Register an initiative through the wizard (every step), submit it; its id."""
    page.goto(f"{base}/my/initiatives/new")
    journey.checkpoint(page, "wizard-basics")
    page.fill("input[name=title]", title)
    page.fill("textarea[name=description]", "Restore 40 hectares of coral reef with the "
              "coastal communities of Fiji." if journey.lang == "en" else
              "与斐济沿海社区一起恢复 40 公顷珊瑚礁。")
    if page.locator("select[name=owner_organization_id]").count():
        page.select_option("select[name=owner_organization_id]", org_id)
    page.fill("input[name=start_date]", "2026-01-01")
    page.fill("input[name=end_date]", "2028-12-31")
    _next(page)
    match = re.search(r"/my/initiatives/([0-9a-f-]{36})/wizard/goals", page.url)
    assert match, page.url
    initiative_id = match.group(1)
    journey.checkpoint(page, "wizard-goals")
    # the search box of the SDG tree (a GET form: no JavaScript)
    page.fill("main form[role=search] input[name=q]", "14.2")
    page.click("main form[role=search] button[type=submit]")
    journey.checkpoint(page, "wizard-goals-filtered")
    page.check("input[name=sdg_targets][value='14.2']")
    _next(page)
    journey.checkpoint(page, "wizard-geography")
    page.fill("main form[role=search] input[name=q]", "Fiji" if journey.lang == "en" else "斐济")
    page.click("main form[role=search] button[type=submit]")
    page.check("input[name=countries][value=FJI]")
    _next(page)
    journey.checkpoint(page, "wizard-partners")
    lead = page.locator(f"button[form='lead-{org_id}']")
    if lead.count():  # the only organisation of the partner leads by default
        lead.click()
        journey.checkpoint(page, "wizard-partners-lead")
    _next(page)
    journey.checkpoint(page, "wizard-deliverables")
    if not page.locator("textarea[name=deliverable-0-description]").count():
        page.click("button[name=op][value=add_deliverable]")
    page.fill("textarea[name=deliverable-0-description]", "40 ha of reef restored"
              if journey.lang == "en" else "恢复 40 公顷珊瑚礁")
    page.fill("input[name=deliverable-0-due_date]", "2028-06-30")
    if not page.locator("select[name=resource-0-type]").count():
        page.click("button[name=op][value=add_resource]")
    page.select_option("select[name=resource-0-type]", "financing")
    page.fill("textarea[name=resource-0-details]", "Grant")
    page.fill("input[name=resource-0-amount_usd]", "250000")
    _next(page)
    journey.checkpoint(page, "wizard-contact")
    page.fill("input[name=contact_email]", "reefs@reef.test")
    _next(page)
    journey.checkpoint(page, "wizard-review")
    page.locator(f"main form[action$='/my/initiatives/{initiative_id}/submit'] "
                 "button[type=submit]").click()
    journey.checkpoint(page, "submitted")
    return initiative_id


def _decide(page, action: str, comment: str | None = None) -> None:
    """Press a decision button of the review page (with its comment)."""
    form = page.locator(f"main form.decision-{action}")
    assert form.count() == 1, f"no {action} button on {page.url}"
    if comment is not None:
        form.locator("textarea[name=comment]").fill(comment)
    form.locator("button[type=submit]").click()


@pytest.mark.parametrize(("lang", "accept"), JOURNEYS)
def test_register_review_revise_approve_revision_and_complete(
        embedded_server, browser_page, check_a11y, lang, accept):
    server = embedded_server
    base = server.base
    words = WORDS[lang]
    journey = Journey(lang, check_a11y)
    people = _accounts(server, lang)
    partner, reviewer, public = browser_page(accept), browser_page(accept), browser_page(accept)
    title = "Fiji reef restoration" if lang == "en" else "斐济珊瑚礁恢复"
    new_title = f"{title} 2030"

    # 1. the partner registers through the wizard and submits
    _sign_in(partner, base, people["partner"])
    journey.checkpoint(partner, "partner-signed-in")
    assert partner.locator("header a[href='/my/initiatives']").count() == 1
    initiative_id = _wizard(partner, journey, base, title, people["org_id"])

    # 2. the secretariat finds it in the queue and requests changes
    _sign_in(reviewer, base, people["reviewer"])
    reviewer.click("header a[href='/secretariat/review']")
    journey.checkpoint(reviewer, "review-queue")
    assert words["queue"] in _main(reviewer)
    reviewer.click(f"main tr[data-initiative='{initiative_id}'] a")
    journey.checkpoint(reviewer, "review-submission")
    assert title in _main(reviewer)
    change_request = ("Please name the monitoring sites." if lang == "en"
                      else "请注明监测地点。")
    _decide(reviewer, "request_changes", change_request)
    journey.checkpoint(reviewer, "changes-requested")
    assert words["changes_requested"] in _main(reviewer)

    # 3. the partner reads the request, revises and submits again
    partner.goto(f"{base}/my/initiatives/{initiative_id}")
    journey.checkpoint(partner, "owner-page-changes-requested")
    assert change_request in _main(partner)
    partner.goto(f"{base}/my/initiatives/{initiative_id}/wizard/basics")
    description = partner.locator("textarea[name=description]")
    description.fill(description.input_value() + (" Monitoring sites: Suva, Nadi."
                                                  if lang == "en" else " 监测地点：苏瓦、楠迪。"))
    _next(partner)
    partner.goto(f"{base}/my/initiatives/{initiative_id}/wizard/review")
    journey.checkpoint(partner, "resubmit-review")
    partner.locator(f"main form[action$='/my/initiatives/{initiative_id}/submit'] "
                    "button[type=submit]").click()
    journey.checkpoint(partner, "resubmitted")

    # 4. the secretariat approves: version 1 is public
    reviewer.goto(f"{base}/secretariat/review/{initiative_id}")
    journey.checkpoint(reviewer, "review-resubmission")
    _decide(reviewer, "approve")
    journey.checkpoint(reviewer, "approved")
    assert words["published"] in _main(reviewer)
    public_link = reviewer.locator("main a[href^='/initiatives/PR-']").first
    public_path = public_link.get_attribute("href")
    assert public_path

    # 5. the partner edits the published initiative: a revision
    partner.goto(f"{base}/my/initiatives/{initiative_id}")
    journey.checkpoint(partner, "owner-page-published")
    partner.goto(f"{base}/my/initiatives/{initiative_id}/revision/basics")
    journey.checkpoint(partner, "revision-basics")
    partner.fill("input[name=title]", new_title)
    _next(partner)
    partner.goto(f"{base}/my/initiatives/{initiative_id}/revision/review")
    journey.checkpoint(partner, "revision-review")
    partner.locator("main form[action$='/revision/submit'] button[type=submit]").click()
    journey.checkpoint(partner, "revision-submitted")

    # 6. the public still sees version 1
    public.goto(f"{base}{public_path}")
    journey.checkpoint(public, "public-version-1")
    text = _main(public)
    assert title in text and new_title not in text

    # 7. the secretariat approves the revision from the queue
    reviewer.goto(f"{base}/secretariat/review?kind=revision")
    journey.checkpoint(reviewer, "review-queue-revisions")
    reviewer.click(f"main tr[data-initiative='{initiative_id}'] a")
    journey.checkpoint(reviewer, "review-revision")
    assert reviewer.locator("main [data-field=title]").count() >= 1
    _decide(reviewer, "approve")
    journey.checkpoint(reviewer, "revision-approved")

    # 8. the public diff shows exactly the changed field
    public.goto(f"{base}{public_path}")
    journey.checkpoint(public, "public-version-2")
    assert new_title in _main(public)
    public.goto(f"{base}{public_path}/versions")
    journey.checkpoint(public, "public-versions")
    public.goto(f"{base}{public_path}/diff?from=1&to=2")
    journey.checkpoint(public, "public-diff")
    fields = [f.get_attribute("data-field") for f in
              public.locator("main [data-field]").all()]
    assert fields == ["title"], fields

    # 9. the partner declares completion; the public sees the banner
    partner.goto(f"{base}/my/initiatives/{initiative_id}/complete")
    journey.checkpoint(partner, "declare-completion")
    closing = "All 40 ha restored." if lang == "en" else "40 公顷已全部恢复。"
    partner.fill("textarea[name=comment]", closing)
    partner.click("main form[method=post] button[type=submit] >> nth=-1")
    journey.checkpoint(partner, "completion-declared")
    public.goto(f"{base}{public_path}")
    journey.checkpoint(public, "public-completion-declared")
    banner = public.locator("main .banner").text_content() or ""
    assert words["declared"] in banner and closing in banner
    if lang == "zh":
        assert CJK.search(_main(public))
