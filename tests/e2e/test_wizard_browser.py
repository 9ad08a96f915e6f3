"""A partner registers an initiative through the wizard in a real browser and submits it,
once in English and once in Chinese (Debian's Chromium driven by Playwright, no JavaScript of
ours: every step is a plain form). axe-core runs on every step (no serious or critical WCAG
2.1 A/AA violation) and every step is kept as a screenshot named ``wizard-<step>-<lang>.png``
under ``$SCREENSHOT_DIR`` (default ``var/screenshots``) for the README.

The account and its organisation are made with the service functions (signing up and
registering an organisation through the pages is the journey of ``test_journeys_browser``);
the partner signs in through the sign-in page.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple 7"
CJK = re.compile(r"[\u4e00-\u9fff]")
#: (language, browser Accept-Language, the words the pages say)
LANGUAGES = {
    "en": {"accept": "en-GB", "continue": "Save and continue", "add": "Add a deliverable",
           "filter": "Filter", "submit": "Submit for review", "register": "Register an "
           "initiative", "submitted": "Submitted", "fiji": "Fiji", "ok": "Nothing is missing",
           "title": "Coral reef restoration in Fiji", "post": "Post comment"},
    "zh": {"accept": "zh-CN", "continue": "保存并继续", "add": "添加一项成果",
           "filter": "筛选", "submit": "提交审核", "register": "登记倡议",
           "submitted": "已提交", "fiji": "斐济", "ok": "没有缺漏", "title": "斐济珊瑚礁恢复",
           "post": "发表评论"},
}


def _screenshot_dir() -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR") or REPO / "var" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _partner_account(server, lang: str) -> str:
    """A verified account, admin of a new organisation; returns its e-mail address."""
    from registry.accounts import service as accounts
    from registry.organizations import service as organizations
    from shared.db import utcnow

    app = server.stack.apps["registry"]
    email = f"wizard-{lang}-{uuid.uuid4().hex[:8]}@example.org"
    with app.app_context():
        session = app.extensions["db_session_factory"]()
        try:
            user = accounts.sign_up(db_session=session, email=email, password=PASSWORD,
                                    display_name="Ana Lima" if lang == "en" else "李娜",
                                    locale=lang)
            user.email_verified_at = utcnow()
            session.flush()
            principal = accounts.principal_for(db_session=session, user=user)
            organizations.create_organization(db_session=session, principal=principal, data={
                "name": (f"Reef Alliance {uuid.uuid4().hex[:6]}" if lang == "en"
                         else f"珊瑚礁联盟 {uuid.uuid4().hex[:6]}"),
                "acronym": None, "stakeholder_group": "ngo", "country": "FJI",
                "website": None})
            session.commit()
        finally:
            session.close()
    return email


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_partner_walks_the_wizard_and_submits(embedded_server, browser_page, check_a11y,
                                                lang):
    server = embedded_server
    words = LANGUAGES[lang]
    email = _partner_account(server, lang)
    page = browser_page(words["accept"])
    shots = _screenshot_dir()

    def checkpoint(name: str) -> None:
        page.screenshot(path=str(shots / f"wizard-{name}-{lang}.png"), full_page=True)
        check_a11y(page, f"wizard {name} ({lang})")
        expected = "zh-Hans" if lang == "zh" else "en"
        assert page.get_attribute("html", "lang") == expected, name
        if lang == "zh":
            assert CJK.search(page.text_content("main") or ""), name

    def next_step() -> None:
        page.locator("main form[method=post] .wizard-buttons button[value=next]").click()

    # sign in, then "my initiatives"
    page.goto(f"{server.base}/account/sign-in?next=/my/initiatives")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form[method=post] button[type=submit] >> nth=-1")
    page.wait_for_url(re.compile(r"/my/initiatives$"))
    checkpoint("my-initiatives")
    page.click(f"main a:has-text('{words['register']}')")

    # 1. basics: saving creates the draft
    page.fill("input[name=title]", words["title"])
    page.fill("textarea[name=description]", "Restore 40 hectares of coral reef with coastal "
              "communities." if lang == "en" else "与沿海社区一起恢复 40 公顷珊瑚礁。")
    page.fill("input[name=start_date]", "2026-01-01")
    page.fill("input[name=end_date]", "2028-12-31")
    checkpoint("basics")
    next_step()
    page.wait_for_url(re.compile(r"/wizard/goals"))

    # 2. goals: the filter (a GET form) narrows the tree; the titles are in the page's language
    page.fill("input[name=q]", "14.2")
    page.click(f"main form[role=search] button:has-text('{words['filter']}')")
    page.wait_for_url(re.compile(r"q=14.2"))
    page.check("input#target-14\\.2")
    checkpoint("goals")
    next_step()
    page.wait_for_url(re.compile(r"/wizard/geography"))

    # 3. geography
    page.fill("input[name=q]", words["fiji"])
    page.click(f"main form[role=search] button:has-text('{words['filter']}')")
    page.check("input#country-FJI")
    checkpoint("geography")
    next_step()
    page.wait_for_url(re.compile(r"/wizard/partners"))

    # 4. partners: the registering organisation leads it already
    checkpoint("partners")
    next_step()
    page.wait_for_url(re.compile(r"/wizard/deliverables"))

    # 5. deliverables and resources: "add a row" is a submit button
    page.fill("textarea[name=deliverable-0-description]", "Coral nursery" if lang == "en"
              else "珊瑚苗圃")
    page.fill("input[name=deliverable-0-due_date]", "2027-01-31")
    page.click(f"main button:has-text('{words['add']}')")
    page.wait_for_url(re.compile(r"add_d=1"))
    page.fill("textarea[name=deliverable-1-description]", "40 ha restored" if lang == "en"
              else "恢复 40 公顷")
    page.fill("input[name=deliverable-1-due_date]", "2028-06-30")
    page.select_option("select[name=resource-0-type]", "financing")
    page.fill("textarea[name=resource-0-details]", "Grant")
    page.fill("input[name=resource-0-amount_usd]", "250000")
    checkpoint("deliverables")
    next_step()
    page.wait_for_url(re.compile(r"/wizard/contact"))

    # 6. contact
    page.fill("input[name=contact_email]", "reefs@example.org")
    checkpoint("contact")
    next_step()
    page.wait_for_url(re.compile(r"/wizard/review"))

    # 7. review: the SMART check passes; submit
    assert words["ok"] in page.text_content("#smart-check")
    main = page.text_content("main")
    assert "14.2" in main and words["fiji"] in main and "2028" in main
    checkpoint("review")
    page.click(f"main button:has-text('{words['submit']}')")
    page.wait_for_url(re.compile(r"/my/initiatives/[0-9a-f-]{36}$"))
    assert words["submitted"] in page.text_content("#state")
    checkpoint("submitted")

    # the owner page's thread: a comment to the secretariat (a plain form)
    note = "Site maps follow by e-mail." if lang == "en" else "站点地图将通过电子邮件发送。"
    page.fill("#reply-form textarea[name=body]", note)
    page.click(f"#reply-form button:has-text('{words['post']}')")
    page.wait_for_url(re.compile(r"/my/initiatives/[0-9a-f-]{36}"))
    assert note in page.text_content(".thread")
    checkpoint("thread")

    # the list shows it, with what is expected next
    page.goto(f"{server.base}/my/initiatives")
    assert words["title"] in page.text_content("main")
    assert words["submitted"] in page.text_content("main")
