"""A person's first journey in a real browser, once in English and once in Chinese: sign up,
confirm the address from the e-mail the notifier wrote (embedded mode: ``.eml`` files), sign
in, register an organisation, invite a member. axe-core runs on every page of the journey (no
serious or critical WCAG 2.1 A/AA violation) and every page is kept as a screenshot under
``var/test-artifacts/<test>/``.

Each step needs the pages of another branch (accounts: sign-up/verify/sign-in; authz:
organisations, invitations). A step whose route the registry does not have yet is skipped
with a reason naming the route, so the journey turns itself on when those pages are merged.
"""

from __future__ import annotations

import re
import time
import uuid
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PASSWORD = "correct horse battery staple 7"
#: (journey language, browser Accept-Language, the language chosen for e-mails at sign-up)
JOURNEYS = [("en", "en-GB"), ("zh", "zh-CN")]
CJK = re.compile(r"[\u4e00-\u9fff]")

#: The routes of the journey, as the accounts and authz branches name them.
ROUTES = {
    "sign_up": "/account/sign-up",
    "verify": "/account/verify/<token>",
    "sign_in": "/account/sign-in",
    "account": "/account",
    "register_organization": "/organizations/register",
    "my_organizations": "/my/organizations",
    "invite_member": "/my/organizations/<organization_id>/invitations",
}


def _has_route(server, rule: str) -> bool:
    app = server.stack.apps["registry"]
    return any(re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"<\1>", r.rule) == rule
               for r in app.url_map.iter_rules())


def _require(server, *names: str) -> None:
    missing = [ROUTES[n] for n in names if not _has_route(server, ROUTES[n])]
    if missing:
        pytest.skip(f"route(s) {', '.join(missing)} not in the registry yet: enabled when the "
                    "pages of the accounts/authz branches are merged")


def _wait_for_mail(mail_dir: Path, recipient: str, timeout: float = 20.0) -> EmailMessage:
    """The newest ``.eml`` addressed to ``recipient`` (polls until ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while True:
        found = []
        for path in sorted(mail_dir.glob("*.eml"), key=lambda p: p.stat().st_mtime) \
                if mail_dir.is_dir() else []:
            msg = message_from_bytes(path.read_bytes(), policy=policy.default)
            if recipient.lower() in str(msg["To"]).lower():
                found.append(msg)
        if found:
            return found[-1]
        assert time.monotonic() < deadline, f"no e-mail to {recipient} in {mail_dir}"
        time.sleep(0.1)


def _link(msg: EmailMessage, path_prefix: str) -> str:
    """The path (and query) of the first link in the mail's text part under ``path_prefix``."""
    text = msg.get_body(preferencelist=("plain",)).get_content()
    match = re.search(r"https?://[^\s<>\"]+" + re.escape(path_prefix) + r"[^\s<>\"]*", text)
    assert match, f"no {path_prefix} link in:\n{text}"
    parts = urlsplit(match.group(0))
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _submit(page) -> None:
    page.click("main form[method=post] button[type=submit] >> nth=-1")


@pytest.mark.parametrize(("lang", "accept"), JOURNEYS)
def test_sign_up_verify_register_organisation_invite_member(
        embedded_server, browser_page, artifacts, check_a11y, lang, accept):
    server = embedded_server
    _require(server, "sign_up", "verify", "sign_in")
    page = browser_page(accept)
    step = 0

    def checkpoint(name: str) -> None:
        nonlocal step
        step += 1
        artifacts.shot(page, f"{step:02d}-{name}-{lang}")
        check_a11y(page, f"{name} ({lang})")
        expected = "zh-Hans" if lang == "zh" else "en"
        assert page.get_attribute("html", "lang") == expected, name

    email = f"journey-{lang}-{uuid.uuid4().hex[:8]}@example.org"

    # 1. sign up (from the header's link)
    page.goto(f"{server.base}/")
    checkpoint("home")
    page.click(f"header a[href='{ROUTES['sign_up']}']")
    checkpoint("sign-up")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    if page.locator("input[name=display_name]").count():
        page.fill("input[name=display_name]", "Ana Lima" if lang == "en" else "李娜")
    if page.locator("select[name=locale]").count():
        page.select_option("select[name=locale]", lang)
    _submit(page)
    checkpoint("check-inbox")

    # 2. confirm the address from the e-mail, in the person's language
    mail = _wait_for_mail(server.mail_dir, email)
    if lang == "zh":
        assert CJK.search(str(mail["Subject"])), mail["Subject"]
    page.goto(server.base + _link(mail, "/account/verify/"))
    checkpoint("verify")
    _submit(page)
    checkpoint("verified")

    # 3. sign in
    if "/account/sign-in" not in page.url:
        page.goto(f"{server.base}{ROUTES['sign_in']}")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    _submit(page)
    checkpoint("signed-in")
    assert page.locator("header form[action='/account/sign-out']").count() == 1

    # 4. register an organisation (the person becomes its admin; it starts unverified)
    _require(server, "register_organization")
    page.goto(f"{server.base}{ROUTES['register_organization']}")
    checkpoint("register-organisation")
    org_name = f"Reef Alliance {uuid.uuid4().hex[:6]}" if lang == "en" else \
        f"珊瑚礁联盟 {uuid.uuid4().hex[:6]}"
    page.fill("input[name=name]", org_name)
    page.select_option("select[name=stakeholder_group]", "ngo")
    if page.locator("select[name=country] option[value=FJI]").count():
        page.select_option("select[name=country]", "FJI")
    _submit(page)
    checkpoint("organisation")
    assert org_name in page.text_content("main")

    # 5. invite a member from "my organisations"
    _require(server, "my_organizations", "invite_member")
    page.goto(f"{server.base}{ROUTES['my_organizations']}")
    checkpoint("my-organisations")
    invitee = f"member-{lang}-{uuid.uuid4().hex[:8]}@example.org"
    invite_form = page.locator("main form[action$='/invitations']").first
    invite_form.locator("input[name=email]").fill(invitee)
    invite_form.locator("button[type=submit]").click()
    checkpoint("invited")
    assert invitee in page.text_content("main")
    invitation = _wait_for_mail(server.mail_dir, invitee)
    if lang == "zh":
        assert CJK.search(str(invitation["Subject"])), invitation["Subject"]
    assert _link(invitation, "/organizations/invitations/")
