"""The partner's initiative pages (registry.initiatives.pages): "my initiatives", the
registration wizard step by step (drafts saved at every step, strict submit with the SMART
check field by field), the owner page, CSRF refusal, stale forms (412), hostile input (never a
500), Chinese rendering, and the no-JavaScript flow (every action a plain form POST)."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select

from registry.initiatives.models import Initiative
from tests.registry.unit.test_registry_memberships import People

CSRF = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')
VERSION = re.compile(r'<input[^>]*name="version"[^>]*value="(\d+)"')
CJK = re.compile(r"[\u4e00-\u9fff]")


class Browser:
    """The test client as a signed-in partner (bearer token), remembering the CSRF token and
    the record version of the last page read, posting forms as a browser without JavaScript
    does (``application/x-www-form-urlencoded``, lists as repeated fields)."""

    def __init__(self, registry, token: str | None, lang: str = "en"):
        self.client = registry.app.test_client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.headers["Accept-Language"] = lang
        self.csrf: str | None = None
        self.version: str | None = None

    def get(self, path: str, **kw):
        resp = self.client.get(path, headers=self.headers, **kw)
        text = resp.get_data(as_text=True)
        if found := CSRF.search(text):
            self.csrf = found.group(1)
        if found := VERSION.search(text):
            self.version = found.group(1)
        return resp

    def post(self, path: str, data: dict | list | None = None, csrf: bool = True,
             version: bool = True):
        pairs = list(data.items()) if isinstance(data, dict) else list(data or [])
        if csrf:
            pairs.append(("csrf_token", self.csrf))
        if version and self.version is not None and not any(k == "version" for k, _ in pairs):
            pairs.append(("version", self.version))
        from werkzeug.datastructures import MultiDict

        return self.client.post(path, data=MultiDict(pairs), headers=self.headers)

    def text(self, path: str) -> str:
        resp = self.get(path)
        assert resp.status_code == 200, (path, resp.status_code)
        return resp.get_data(as_text=True)


@pytest.fixture
def people(registry):
    return People(registry)


@pytest.fixture
def partner(registry, people):
    """A person who is admin of a verified organisation, browsing in English."""
    ana = people.user("ana@reef.test")
    org = registry.org(people.token(ana), "Pacific Reef Alliance")
    registry.verify(registry.token("secretariat"), org["id"])
    return Browser(registry, people.token(ana)), org


def _new_draft(browser, title="Coral reef restoration in Fiji") -> str:
    browser.get("/my/initiatives/new")
    resp = browser.post("/my/initiatives/new", {
        "title": title, "description": "Restore 40 hectares of coral reef with coastal "
        "communities.", "start_date": "2026-01-01", "end_date": "2028-12-31"})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:2000]
    found = re.search(r"/my/initiatives/([0-9a-f-]{36})/wizard/goals", resp.headers["Location"])
    assert found, resp.headers["Location"]
    return found.group(1)


def _walk_to_complete(browser, iid: str) -> None:
    base = f"/my/initiatives/{iid}/wizard"
    browser.get(f"{base}/goals?q=14")
    resp = browser.post(f"{base}/goals", [("sdg_targets", "14.2"), ("sdg_targets", "14.5"),
                                          ("nav", "next")])
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/geography"), \
        resp.get_data(as_text=True)[:3000]
    browser.get(f"{base}/geography")
    resp = browser.post(f"{base}/geography", [("countries", "FJI"), ("regions", "054")])
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/partners")
    browser.get(f"{base}/partners")
    resp = browser.post(f"{base}/partners", {"nav": "next"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/deliverables")
    browser.get(f"{base}/deliverables")
    resp = browser.post(f"{base}/deliverables", {
        "deliverable_rows": "1", "deliverable-0-description": "40 ha restored",
        "deliverable-0-due_date": "2028-06-30", "resource_rows": "1",
        "resource-0-type": "financing", "resource-0-details": "Grant",
        "resource-0-amount_usd": "250,000"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/contact"), \
        resp.get_data(as_text=True)[:3000]
    browser.get(f"{base}/contact")
    resp = browser.post(f"{base}/contact", {"contact_email": "reefs@ngo.test"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/review")


def test_a_partner_walks_the_wizard_and_submits(registry, partner):
    browser, org = partner
    iid = _new_draft(browser)
    with registry.session() as s:
        draft = s.get(Initiative, uuid.UUID(iid))
        assert draft.status == "draft" and str(draft.owner_organization_id) == org["id"]
        assert str(draft.lead_organization_id) == org["id"]  # the registering organisation
    _walk_to_complete(browser, iid)
    review = browser.text(f"/my/initiatives/{iid}/wizard/review")
    assert "It can be submitted" in review and "14.2" in review and "Fiji" in review
    assert "250,000" in review and "Melanesia" in review
    resp = browser.post(f"/my/initiatives/{iid}/submit", {"comment": "Ready for review."})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/my/initiatives/{iid}")
    with registry.session() as s:
        sent = s.get(Initiative, uuid.UUID(iid))
        assert sent.status == "submitted"
        assert sorted(t.target_code for t in sent.targets) == ["14.2", "14.5"]
        assert [d.description for d in sent.deliverables] == ["40 ha restored"]
        assert str(sent.resources[0].amount_usd) == "250000.00"
    page = browser.text(f"/my/initiatives/{iid}")
    assert "Submitted" in page and "Waiting for the secretariat" in page
    assert "Ready for review." in page
    listing = browser.text("/my/initiatives")
    assert "Coral reef restoration in Fiji" in listing and "Waiting for the secretariat" in listing
