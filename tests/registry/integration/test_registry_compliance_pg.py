"""The reporting light on PostgreSQL: the SQLite tests again (the batch's UPDATE ... FROM
unnest(...) RETURNING, INSERT ... ON CONFLICT DO NOTHING RETURNING, COPY of the changes), and
two processes running the job at once — with the advisory lock (one runs, one skips or finds
nothing left) and without it (the guarded UPDATE and the reminders' unique index alone keep
every change and reminder once)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from registry.compliance.models import ProgressReminder
from tests.registry.unit.test_registry_compliance import *  # noqa: F403
from tests.registry.unit.test_registry_compliance import CHANGED, REMINDER, at

pytestmark = pytest.mark.postgres


@pytest.fixture
def registry(registry_on, pg_url):
    """The registry on a fresh, migrated PostgreSQL database."""
    return registry_on(pg_url)


_RUNNER = """
import json, sys
from datetime import datetime
from registry.db import import_models
from shared.db import make_engine, make_session_factory
import_models()
from registry.compliance.service import run_compliance_job
url, now, lock = sys.argv[1], datetime.fromisoformat(sys.argv[2]), sys.argv[3] == "1"
factory = make_session_factory(make_engine(url))
print("ready", flush=True)
sys.stdin.readline()
result = run_compliance_job(factory, now=now, batch_size=40, lock=lock)
print(json.dumps(result.as_dict()), flush=True)
"""


def _many(registry, count: int, published_at: datetime) -> list[uuid.UUID]:
    """``count`` published initiatives of one owner organisation (rows written directly:
    the job's input, not what is tested)."""
    from registry.initiatives.models import Initiative, InitiativeGoal
    from registry.organizations.models import Organization

    with registry.session() as s:
        org = Organization(name=f"Owner {uuid.uuid4().hex[:6]}",
                           normalized_name=f"owner {uuid.uuid4().hex}",
                           stakeholder_group="ngo", verification_status="verified")
        s.add(org)
        s.flush()
        ids = []
        for n in range(count):
            initiative = Initiative(id=uuid.uuid4(), title=f"Initiative {n}", status="published",
                                    public_id=f"PR-2024-{n + 1:05d}",
                                    published_at=published_at, owner_organization_id=org.id,
                                    lead_organization_id=org.id, approved_version=1)
            initiative.goals = [InitiativeGoal(goal=14)]
            s.add(initiative)
            ids.append(initiative.id)
        s.commit()
        return ids


def _run_at_once(url: str, now: datetime, lock: bool) -> list[dict]:
    """Two processes start the job with the same clock at the same moment (each waits for
    the other to be ready, then both are released together)."""
    procs = [subprocess.Popen([sys.executable, "-c", _RUNNER, url, now.isoformat(),
                               "1" if lock else "0"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    results = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0, out
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


@pytest.mark.parametrize("lock", [True, False], ids=["advisory-lock", "no-lock"])
def test_two_processes_at_once_emit_each_change_and_reminder_once(registry, pg_url, lock):
    ids = _many(registry, 200, at("2024-01-10", 10))
    results = _run_at_once(pg_url, at("2026-03-01"), lock)
    if lock:
        # one held the lock; the other skipped, or ran after it and found nothing to do
        assert sorted(r["changed"] for r in results) == [0, 200]
    assert sum(r["changed"] for r in results) == 200
    assert sum(r["reminders"] for r in results) == 200
    rows = [r for r in registry.outbox(compliance=True)
            if r.event_type in (CHANGED, REMINDER)]
    per = Counter((r.subject, r.event_type,
                   r.envelope["data"].get("kind") or r.envelope["data"]["to_status"])
                  for r in rows)
    assert set(per.values()) == {1}
    assert set(per) == ({(str(i), CHANGED, "red") for i in ids}
                        | {(str(i), REMINDER, "red") for i in ids})
    with registry.session() as s:
        kinds = Counter(k for k, in s.execute(select(ProgressReminder.kind)))
    assert kinds == {"red": 200, "upcoming": 200, "due": 200, "yellow": 200}
    # and again, both at once: nothing more
    again = _run_at_once(pg_url, at("2026-03-02"), lock)
    assert sum(r["changed"] + r["reminders"] for r in again) == 0


def test_the_lock_is_held_across_processes(registry, pg_url):
    """While a run holds the advisory lock, another process's run is skipped at once."""
    from sqlalchemy import create_engine, text

    from registry.compliance.service import LOCK_KEY

    engine = create_engine(pg_url)
    try:
        with engine.connect() as holder:
            assert holder.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                  {"k": LOCK_KEY}).scalar()
            results = _run_at_once(pg_url, datetime(2026, 3, 1, 2, tzinfo=UTC), True)
            assert [r["skipped"] for r in results] == [True, True]
    finally:
        engine.dispose()
