"""End to end in the embedded mode: one process, SQLite, the in-process bus, .eml files.

The same path as ``make run``: ``embedded.build`` wires the three services on one bus,
the demo records load through the importer, and requests go through the prefix router that
stands in for the reverse proxy.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from werkzeug.test import Client

from embedded import DEMO_FILE, build, load_demo_data
from shared import reference

pytestmark = pytest.mark.e2e


@pytest.fixture
def embedded(tmp_path, monkeypatch):
    monkeypatch.setenv("OUTBOX_POLL_SECONDS", "0.05")
    monkeypatch.setenv("SECRETARIAT_EMAIL", "secretariat@registry.test")
    stack = build()
    yield stack
    stack.stop()


def _token(app, role: str, email: str | None = None, organization_id=None) -> str:
    from registry import db
    from registry.auth.service import create_token

    with app.app_context():
        session = db.session()
        plain, _ = create_token(db_session=session, role=role, email=email,
                                organization_id=organization_id)
        session.commit()
    return plain


def _wait(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_routing_sends_each_prefix_to_its_service(embedded):
    router = embedded.router
    assert router.app_for("/api/v1/reports/summary") is embedded.apps["reporting"]
    assert router.app_for("/api/v1/reports/summary.csv") is embedded.apps["reporting"]
    assert router.app_for("/api/v1/subscriptions/openapi.json") is embedded.apps["notifier"]
    assert router.app_for("/api/v1/initiatives") is embedded.apps["registry"]
    assert router.app_for("/api/v1/reportsX") is embedded.apps["registry"]
    client = Client(router)
    assert client.get("/readyz").json["status"] == "ok"
    assert set(client.get("/readyz").json["checks"]) == {"registry", "notifier", "reporting"}
    assert "/api/v1/reports/summary" in client.get("/api/v1/reports/openapi.json").json["paths"]


def test_demo_import_review_mail_and_summary(embedded, tmp_path):
    client = Client(embedded.router)
    registry_app = embedded.apps["registry"]
    loaded = load_demo_data(registry_app)
    assert loaded == 151  # 152 records, one without a lead entity
    assert load_demo_data(registry_app) == 0  # only into an empty registry

    expected_goals: Counter = Counter()
    for line in Path(DEMO_FILE).read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if rec.get("lead_entity"):
            expected_goals.update(set(rec["sdgs"]) | {reference.goal_of_target(t) for t in
                                                      rec["sdg14_targets"]})

    summary = _wait(lambda: (s := client.get("/api/v1/reports/summary").json)["total"] == 151
                    and s)
    assert summary["by_sdg_goal"] == {str(g): expected_goals.get(g, 0) for g in range(1, 18)}

    secretariat = _token(registry_app, "secretariat")
    org = client.post("/api/v1/organizations", json={
        "name": "Lagoon Keepers", "stakeholder_group": "women", "country": "TON"},
        headers={"Authorization": f"Bearer {secretariat}"}).json
    # a person acting for the organisation (its admin): drafts belong to an organisation
    partner = _token(registry_app, "partner", "partner@ngo.test", uuid.UUID(org["id"]))
    created = client.post("/api/v1/initiatives", json={
        "title": "Women-led lagoon monitoring", "description": "Monthly water quality surveys.",
        "lead_organization_id": org["id"], "sdg_targets": ["14.1", "5.5"], "countries": ["TON"],
        "start_date": "2026-02-01", "end_date": "2027-01-31",
        "deliverables": [{"description": "12 surveys", "due_date": "2027-01-31"}],
        "resources": [{"type": "in_kind_contribution", "details": "Boats"}],
        "contact_email": "lagoon@ngo.test"}, headers={"Authorization": f"Bearer {partner}"})
    assert created.status_code == 201, created.json
    iid = created.json["id"]

    # the contact address is unverified: it gets only a verification link (issue 7), and
    # review mails once its holder followed it
    mail_dir = Path(tmp_path / "var" / "mail")
    first = _wait(lambda: sorted(mail_dir.glob("*.eml")))
    assert len(first) == 1
    verification = message_from_bytes(first[0].read_bytes(), policy=policy.default)
    assert verification["To"] == "lagoon@ngo.test"
    token = re.search(r"/contact/verify/([A-Za-z0-9_-]+)",
                      verification.get_body(("plain",)).get_content()).group(1)
    assert "lagoon monitoring" not in verification.get_body(("plain",)).get_content()
    confirmed = client.post("/api/v1/contact-emails/verify", json={"token": token})
    assert confirmed.status_code == 200 and confirmed.json == {"email": "lagoon@ngo.test"}

    assert client.post(f"/api/v1/initiatives/{iid}/submit", json={},
                       headers={"Authorization": f"Bearer {partner}"}).status_code == 200
    sent_back = client.post(f"/api/v1/initiatives/{iid}/request-changes",
                            json={"comment": "Please add the survey sites."},
                            headers={"Authorization": f"Bearer {secretariat}"})
    assert sent_back.json["status"] == "changes_requested"

    mails = _wait(lambda: len(list(mail_dir.glob("*.eml"))) >= 4 and sorted(
        mail_dir.glob("*.eml")))
    parsed = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in mails]
    recipients = Counter(m["To"] for m in parsed)
    assert recipients == Counter({"lagoon@ngo.test": 3, "secretariat@registry.test": 1})
    changes_mail = next(m for m in parsed if "survey sites" in
                        m.get_body(("plain",)).get_content())
    assert changes_mail["To"] == "lagoon@ngo.test"

    summary = client.get("/api/v1/reports/summary").json
    assert summary["total"] == 151
    assert summary["by_status"]["changes_requested"] == 1

    page = client.get("/?q=ocean")
    assert page.status_code == 200 and b"published initiative" in page.data
