"""The public pages in a real browser: Debian's headless Chromium against the embedded server.

Chromium renders the pages served over HTTP by the same WSGI stack as ``make run``; the test
reads the DOM Chromium built (``--dump-dom``) and takes a screenshot.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from embedded import build, load_demo_data

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def chromium(tmp_path):
    if CHROMIUM is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Chromium is not installed (make test installs Debian's chromium)")
        pytest.skip("Chromium not installed (apt-get install chromium)")

    def run(url: str, *extra: str) -> str:
        out = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                              *extra, url], capture_output=True, text=True, timeout=90)
        assert out.returncode == 0, out.stderr[-1000:]
        return out.stdout

    return run


@pytest.fixture
def server(tmp_path):
    stack = build()
    load_demo_data(stack.apps["registry"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    httpd = make_server("127.0.0.1", port, stack.router, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", stack
    httpd.shutdown()
    stack.stop()


def test_registry_pages_render_in_chromium(server, chromium, tmp_path):
    base, stack = server
    from registry import db
    from registry.initiatives import service
    from shared.identity import ANONYMOUS

    with stack.apps["registry"].app_context():
        items, total = service.list_initiatives(db_session=db.session(), principal=ANONYMOUS,
                                                sdg=13, q="coral", per_page=100)
        first = items[0]
        first_title, first_id = first.title, first.public_id
    assert total >= 1

    dom = chromium(f"{base}/?q=coral&sdg=13", "--dump-dom")
    assert f"{total} published initiative" in dom
    assert first_id in dom
    assert 'name="q"' in dom and 'value="coral"' in dom
    assert '<option value="13" selected="">' in dom

    detail = chromium(f"{base}/initiatives/{first_id}", "--dump-dom")
    assert "Lead entity" in detail and first_id in detail
    assert first_title.split()[0] in detail

    shot = tmp_path / "index.png"
    chromium(f"{base}/", "--window-size=1200,1400", f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000

    missing = chromium(f"{base}/initiatives/PR-1999-99999", "--dump-dom")
    assert "<h1>Not found</h1>" in missing and "PR-1999-99999" in missing


def test_summary_page_renders_in_chromium(server, chromium):
    base, _stack = server
    dom = chromium(f"{base}/api/v1/reports/summary.html", "--dump-dom")
    assert "Life below water" in dom and "published initiatives" in dom


def test_demo_file_exists():
    """make run's demo data ships with the repository (a clone has no ../shared)."""
    from embedded import DEMO_FILE

    assert Path(DEMO_FILE).is_file()


def test_api_docs_render_offline_in_chromium(server, chromium):
    """Swagger UI's files come from our own server (no CDN), so the docs render offline."""
    base, _stack = server
    dom = chromium(f"{base}/api/v1/docs", "--dump-dom", "--virtual-time-budget=8000")
    assert "/api/v1/swagger-ui-assets/swagger-ui-bundle.js" in dom
    assert "Partnership Registry API" in dom  # rendered by Swagger UI from openapi.json
    assert "/api/v1/initiatives/{initiative_id}/request-changes" in dom
