"""Browser test infrastructure: Playwright (Python) driving Debian's headless Chromium.

* ``chromium_browser`` (session): Playwright's Chromium launched from Debian's binary
  (``executable_path=shutil.which("chromium")``, never ``playwright install``), headless, no
  network beyond loopback. Missing Chromium: skip on a developer machine, fail under CI=true.
* ``embedded_server`` (session): the embedded stack (``make run``'s code path) with the demo
  records, in a fresh ``VAR_DIR``, served by werkzeug on a free loopback port; e-mails land as
  ``.eml`` files in ``<VAR_DIR>/mail``; rate limits off during each browser test.
* ``browser_page``: factory of pages in a new context per language
  (``browser_page("zh-CN")`` sends ``Accept-Language: zh-CN``), closed after the test.
* ``artifacts``: screenshots under ``var/test-artifacts/<test name>/`` (git-ignored), kept
  after the run; ``artifacts.shot(page, "index-en")``.
* ``check_a11y(page, label)``: axe-core (bundled by the ``axe-playwright-python`` package) run
  inside the page; fails on any serious or critical violation of WCAG 2.1 A/AA
  (tags wcag2a, wcag2aa, wcag21a, wcag21aa), naming the rule, the nodes and the page.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "var" / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
IN_CI = os.environ.get("CI", "").lower() == "true"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING_IMPACTS = ("serious", "critical")


@pytest.fixture(scope="session")
def chromium_browser():
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("Chromium is not installed (make test installs Debian's chromium)")
        pytest.skip("Chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


@dataclass
class Server:
    """The embedded stack served over HTTP: ``base`` URL, the stack, and its mail folder."""

    base: str
    stack: object
    var_dir: Path

    @property
    def mail_dir(self) -> Path:
        return self.var_dir / "mail"


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory) -> Iterator[Server]:
    from werkzeug.serving import make_server

    var = tmp_path_factory.mktemp("embedded-var")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VAR_DIR", str(var))
        for name in ("DATABASE_URL", "REGISTRY_DATABASE_URL", "NOTIFIER_DATABASE_URL",
                     "REPORTING_DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "SMTP_URL"):
            mp.delenv(name, raising=False)
        from embedded import build, load_demo_data

        stack = build()
        load_demo_data(stack.apps["registry"])
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        httpd = make_server("127.0.0.1", port, stack.router, threaded=True)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield Server(f"http://127.0.0.1:{port}", stack, var)
        finally:
            httpd.shutdown()
            httpd.server_close()
            stack.stop()
            for app in stack.apps.values():
                app.extensions["db_engine"].dispose()


@pytest.fixture(autouse=True)
def _no_rate_limits() -> Iterator[None]:
    """The browser tests test pages, not rate limits, which other tests of the same process
    may have used up for 127.0.0.1 in the registry's one in-memory limiter: it is off for
    the duration of each test here only (never through the environment, which would leak
    into every later test of the session)."""
    from registry.ratelimits import limiter

    enabled = limiter.enabled
    limiter.enabled = False
    try:
        yield
    finally:
        limiter.enabled = enabled


@pytest.fixture
def browser_page(chromium_browser) -> Iterator[Callable]:
    contexts = []

    def make(locale: str = "en-GB"):
        context = chromium_browser.new_context(locale=locale, viewport={"width": 1200,
                                                                       "height": 900})
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.csp_violations = []  # type: ignore[attr-defined]
        page.on("console", lambda msg: page.csp_violations.append(msg.text)
                if "Content Security Policy" in msg.text else None)
        return page

    yield make
    for context in contexts:
        context.close()


class Artifacts:
    """Where a test's screenshots go: ``var/test-artifacts/<test name>/``."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)

    def shot(self, page, name: str) -> Path:
        """A full-page PNG screenshot named ``<name>.png``; returns its path."""
        path = self.folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def artifacts(request) -> Artifacts:
    return Artifacts(ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name))


def _describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        targets = [" ".join(map(str, n.get("target", []))) for n in v.get("nodes", [])][:5]
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']} -> {targets}")
    return "\n".join(lines)


@pytest.fixture(scope="session")
def axe():
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


@pytest.fixture
def check_a11y(axe) -> Callable:
    """``check_a11y(page, label)``: axe-core WCAG 2.1 A/AA on the current page; fails on a
    serious or critical violation and on a Content-Security-Policy violation logged by the
    page. Returns the axe results (dict)."""

    def check(page, label: str) -> dict:
        results = axe.run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS},
                                         "resultTypes": ["violations"]}).response
        blocking = [v for v in results["violations"] if v.get("impact") in BLOCKING_IMPACTS]
        assert not blocking, f"axe on {label} ({page.url}):\n{_describe(blocking)}"
        violations = getattr(page, "csp_violations", [])
        assert not violations, f"CSP violations on {label}: {violations}"
        return results

    return check
