"""The public pages in a real browser: Playwright driving Debian's headless Chromium against
the embedded server (the same WSGI stack as ``make run``), in English and Chinese, with axe-core
(no serious or critical WCAG 2.1 A/AA violation), no CSP violation, and screenshots kept under
``var/test-artifacts/`` (see ``tests/e2e/conftest.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

LANGS = [("en", "en-GB"), ("zh", "zh-CN")]


def _first_coral(server):
    from registry import db
    from registry.initiatives import service
    from shared.identity import ANONYMOUS

    with server.stack.apps["registry"].app_context():
        items, total = service.list_initiatives(db_session=db.session(), principal=ANONYMOUS,
                                                sdg=13, q="coral", per_page=100)
        return items[0].title, items[0].public_id, total


@pytest.mark.parametrize(("lang", "accept"), LANGS)
def test_registry_pages_render_in_chromium(embedded_server, browser_page, artifacts,
                                           check_a11y, lang, accept):
    title, public_id, total = _first_coral(embedded_server)
    assert total >= 1
    page = browser_page(accept)

    page.goto(f"{embedded_server.base}/?q=coral&sdg=13")
    expected_lang = "zh-Hans" if lang == "zh" else "en"
    assert page.get_attribute("html", "lang") == expected_lang
    count = page.text_content("#count")
    assert str(total) in count
    assert ("已发布的倡议符合条件" in count) if lang == "zh" else ("published initiative" in count)
    assert page.input_value("input[name=q]") == "coral"
    assert page.eval_on_selector("select[name=sdg]", "s => s.value") == "13"
    assert public_id in page.content()
    artifacts.shot(page, f"index-search-{lang}")
    check_a11y(page, f"index ({lang})")

    page.goto(f"{embedded_server.base}/initiatives/{public_id}")
    assert page.text_content("h1") == title
    assert page.is_visible("text=" + ("牵头实体" if lang == "zh" else "Lead entity"))
    artifacts.shot(page, f"initiative-{lang}")
    check_a11y(page, f"initiative ({lang})")

    page.goto(f"{embedded_server.base}/")
    shot = artifacts.shot(page, f"index-{lang}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    check_a11y(page, f"index, no query ({lang})")

    response = page.goto(f"{embedded_server.base}/initiatives/PR-1999-99999")
    assert response.status == 404
    assert page.text_content("h1") == ("未找到" if lang == "zh" else "Not found")
    assert "PR-1999-99999" in page.text_content("main")
    check_a11y(page, f"not found ({lang})")


def test_language_switcher_works_without_javascript(chromium_browser, embedded_server,
                                                    artifacts, check_a11y):
    context = chromium_browser.new_context(locale="en-GB", java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{embedded_server.base}/?q=coral")
        page.click("nav.language-switcher a[hreflang=zh-Hans]")
        assert page.url == f"{embedded_server.base}/?q=coral"
        assert page.get_attribute("html", "lang") == "zh-Hans"
        assert page.text_content("h1") == "已发布的倡议"
        page.click("nav.language-switcher a[hreflang=ar]")
        assert page.get_attribute("html", "dir") == "rtl"
        artifacts.shot(page, "index-ar-rtl")
        page.click("nav.language-switcher a[hreflang=en]")
        assert page.get_attribute("html", "lang") == "en"
    finally:
        context.close()


def test_skip_link_moves_focus_to_main(embedded_server, browser_page):
    page = browser_page()
    page.goto(f"{embedded_server.base}/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert page.is_visible(".skip-link")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


@pytest.mark.parametrize(("lang", "accept"), LANGS)
def test_summary_page_renders_in_chromium(embedded_server, browser_page, artifacts, check_a11y,
                                          lang, accept):
    page = browser_page(accept)
    page.goto(f"{embedded_server.base}/api/v1/reports/summary.html")
    text = page.text_content("main")
    if lang == "zh":
        assert "水下生物" in text and "项倡议" in text
    else:
        assert "Life below water" in text and "published initiatives" in text
    assert page.eval_on_selector_all("td.bar rect[width$='%']", "els => els.length") > 0
    artifacts.shot(page, f"summary-{lang}")
    check_a11y(page, f"summary ({lang})")


def test_demo_file_exists():
    """make run's demo data ships with the repository (a clone has no ../shared)."""
    from embedded import DEMO_FILE

    assert Path(DEMO_FILE).is_file()


def test_api_docs_render_offline_in_chromium(embedded_server, browser_page):
    """Swagger UI's files come from our own server (no CDN), so the docs render offline, under
    the docs page's own CSP."""
    page = browser_page()
    page.goto(f"{embedded_server.base}/api/v1/docs")
    page.get_by_text("/api/v1/initiatives/{initiative_id}/request-changes").first.wait_for()
    assert "Partnership Registry API" in page.content()  # rendered by Swagger UI
    assert "/api/v1/swagger-ui-assets/swagger-ui-bundle.js" in page.content()
    assert not page.csp_violations


def test_arabic_pages_are_right_to_left_and_accessible(embedded_server, browser_page, artifacts,
                                                       check_a11y):
    _title, public_id, _total = _first_coral(embedded_server)
    page = browser_page("ar")
    for path, name in (("/", "index"), (f"/initiatives/{public_id}", "initiative"),
                       ("/api/v1/reports/summary.html", "summary")):
        page.goto(f"{embedded_server.base}{path}")
        assert page.get_attribute("html", "dir") == "rtl"
        assert page.get_attribute("html", "lang") == "ar"
        artifacts.shot(page, f"{name}-ar")
        check_a11y(page, f"{name} (ar)")
