"""End to end on the real stack: three service processes, PostgreSQL, Kafka, an SMTP server.

Imports a slice of the real UN Ocean Conference commitments with ``registry import``, then a
partner creates and submits an initiative and the secretariat approves it through the HTTP API.
Asserts that the e-mails arrived at the SMTP server and that the reporting summary, built only
from Kafka events, counts exactly what the imported file and the new initiative contain.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from shared import reference

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.kafka]

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample" / "ocean_commitments_sample.jsonl"
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(method: str, url: str, body: dict | None = None, token: str | None = None,
          expect: int = 200) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback only
            status, payload = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, payload = exc.code, exc.read()
    assert status == expect, f"{method} {url} -> {status}: {payload[:500]!r}"
    return json.loads(payload) if payload else {}


def _wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} never became ready")


def _expected_summary(path: Path) -> tuple[int, Counter]:
    """Count importable records and their SDG goals straight from the file."""
    total, goals = 0, Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        if not (rec.get("lead_entity") or "").strip() or not (rec.get("title") or "").strip():
            continue
        total += 1
        tagged = {g for g in rec.get("sdgs") or [] if isinstance(g, int) and 1 <= g <= 17}
        tagged |= {reference.goal_of_target(t) for t in rec.get("sdg14_targets") or []
                   if t in reference.targets()}
        goals.update(tagged)
    return total, goals


@pytest.fixture
def stack(create_pg_database, kafka_env, smtp_server, tmp_path):
    """registry, notifier and reporting as three processes on PostgreSQL and Kafka."""
    env = dict(os.environ)
    env.update({
        "REGISTRY_DATABASE_URL": create_pg_database("e2e_registry"),
        "NOTIFIER_DATABASE_URL": create_pg_database("e2e_notifier"),
        "REPORTING_DATABASE_URL": create_pg_database("e2e_reporting"),
        "SMTP_URL": smtp_server.url,
        "SECRETARIAT_EMAIL": "secretariat@registry.test",
        "OUTBOX_POLL_SECONDS": "0.2",
        "LOG_LEVEL": "WARNING",
    })
    ports = {name: _free_port() for name in ("registry", "notifier", "reporting")}
    procs = []
    logs = {}
    try:
        for name, port in ports.items():
            logs[name] = (tmp_path / f"{name}.log").open("w")
            procs.append(subprocess.Popen(  # noqa: S603 - our own console scripts
                [str(BIN / name), "serve", "--port", str(port)], env=env, cwd=ROOT,
                stdout=logs[name], stderr=subprocess.STDOUT))
        for port in ports.values():
            _wait_http(f"http://127.0.0.1:{port}/readyz", timeout=90)
        yield {"env": env, "ports": ports, "smtp": smtp_server, "logs": tmp_path}
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        for fh in logs.values():
            fh.close()


def _cli(env: dict, *args: str) -> str:
    out = subprocess.run([str(BIN / "registry"), *args], env=env, cwd=ROOT,  # noqa: S603
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_import_register_review_notify_and_report(stack):
    env, ports, smtp = stack["env"], stack["ports"], stack["smtp"]
    registry = f"http://127.0.0.1:{ports['registry']}"
    reporting = f"http://127.0.0.1:{ports['reporting']}"

    # 1. a slice of the real commitments, through the CLI
    printed = _cli(env, "import", str(SAMPLE), "--quiet")
    expected_total, expected_goals = _expected_summary(SAMPLE)
    assert f"{expected_total} imported" in printed

    # 2. a partner registers, the secretariat reviews
    partner = _cli(env, "create-token", "--role", "partner",
                   "--email", "partner@ngo.test").strip()
    secretariat = _cli(env, "create-token", "--role", "secretariat").strip()
    org = _http("POST", f"{registry}/api/v1/organizations", {
        "name": "Pacific Reef Alliance", "stakeholder_group": "ngo", "country": "FJI"},
        token=partner, expect=201)
    # organisations start unverified; the secretariat verifies this one (issue 7)
    _http("POST", f"{registry}/api/v1/organizations/{org['id']}/verify", {}, token=secretariat)
    initiative = _http("POST", f"{registry}/api/v1/initiatives", {
        "title": "Reef restoration in the Lau islands",
        "description": "Restore 40 hectares of coral reef with coastal communities.",
        "lead_organization_id": org["id"],
        "sdg_targets": ["14.2", "13.1"],
        "countries": ["FJI"],
        "start_date": "2026-01-01", "end_date": "2028-12-31",
        "deliverables": [{"description": "40 ha restored", "due_date": "2028-06-30"}],
        "resources": [{"type": "financing", "details": "Grant", "amount_usd": "250000"}],
        "contact_email": "reefs@ngo.test"}, token=partner, expect=201)
    iid = initiative["id"]
    # the contact is unverified: only a verification link goes out (through Kafka and the
    # notifier), and review mails follow once its holder confirmed (issue 7)
    verification = smtp.wait_for(1, timeout=60)[0]
    assert verification["To"] == "reefs@ngo.test"
    token = re.search(r"/contact/verify/([A-Za-z0-9_-]+)",
                      verification.get_body(("plain",)).get_content()).group(1)
    _http("POST", f"{registry}/api/v1/contact-emails/verify", {"token": token})
    _http("POST", f"{registry}/api/v1/initiatives/{iid}/submit", {}, token=partner)
    approved = _http("POST", f"{registry}/api/v1/initiatives/{iid}/approve",
                     {"comment": "Welcome aboard"}, token=secretariat)
    assert approved["status"] == "published" and approved["public_id"].startswith("PR-")

    # 3. e-mails: submission to the contact and to the secretariat, approval to the contact
    messages = smtp.wait_for(4, timeout=60)[1:]
    by_recipient = Counter(rcpt for _from, rcpts in smtp.envelopes for rcpt in rcpts)
    assert by_recipient == Counter({"reefs@ngo.test": 3, "secretariat@registry.test": 1})
    subjects = sorted(m["Subject"] for m in messages)
    assert any(approved["public_id"] in s for s in subjects), subjects
    for m in messages:
        kinds = {part.get_content_type() for part in m.walk()}
        assert {"text/plain", "text/html"} <= kinds
    time.sleep(2)  # nothing else (the 151 imports notify nobody)
    assert len(smtp.messages) == 4

    # 4. the summary, built from Kafka events only, matches the file plus the new initiative
    expected_goals = expected_goals + Counter({13: 1, 14: 1})
    deadline = time.monotonic() + 120
    summary = {}
    while time.monotonic() < deadline:
        summary = _http("GET", f"{reporting}/api/v1/reports/summary")
        if summary["total"] == expected_total + 1:
            break
        time.sleep(1)
    assert summary["total"] == expected_total + 1
    assert summary["by_sdg_goal"] == {str(g): expected_goals.get(g, 0) for g in range(1, 18)}
    assert summary["by_status"]["published"] == expected_total + 1
    assert summary["by_stakeholder_group"]["ngo"] >= 1
    assert summary["by_region"]["Oceania"] >= 1
