"""Import of the FULL real file of UN Ocean Conference commitments (2,120 records in
``../shared/data``) on SQLite: every record is accounted for and the per-goal counts equal those
computed independently from the file."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from sqlalchemy import select

from registry.db import import_models
from registry.imports.service import import_commitments
from registry.initiatives.models import Initiative
from registry.outbox.models import OutboxEvent
from shared import migrate, reference
from shared.db import make_engine, make_session_factory
from shared.events.types import INITIATIVE_IMPORTED

pytestmark = pytest.mark.shared_data


def test_full_file_imports_every_record_or_says_why(shared_data, sqlite_url):
    path = shared_data / "ocean-commitments" / "ocean_commitments.jsonl"
    with path.open(encoding="utf-8") as fh:  # lines end at "\n" only (texts hold U+2028)
        records = [(n, json.loads(line)) for n, line in enumerate(fh, start=1)
                   if line.strip()]
    assert len(records) == 2120
    without_lead = {n for n, r in records if not (r.get("lead_entity") or "").strip()}

    import_models()
    migrate.upgrade("registry", sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        report = import_commitments(path, session_factory=make_session_factory(engine))
        assert report.total == 2120
        assert report.imported + len(report.skipped) == 2120
        assert report.already_present == 0
        # the documented reason for skipping in this file: no lead entity
        assert {s.line for s in report.skipped} == without_lead
        assert 1 <= len(without_lead) <= 6
        assert all(s.reason == "lead_entity is missing" for s in report.skipped)

        expected: Counter = Counter()
        for n, r in records:
            if n in without_lead:
                continue
            goals = {g for g in r.get("sdgs") or [] if isinstance(g, int) and 1 <= g <= 17}
            goals |= {reference.goal_of_target(t) for t in r.get("sdg14_targets") or []
                      if t in reference.targets()}
            expected.update(goals)

        with make_session_factory(engine)() as s:
            got: Counter = Counter()
            for item in s.scalars(select(Initiative)):
                got.update(item.goal_codes)
            events = s.scalars(select(OutboxEvent.event_type).where(
                OutboxEvent.event_type == INITIATIVE_IMPORTED)).all()
        assert got == expected
        assert sum(got.values()) > report.imported  # most are tagged with several goals
        assert len(events) == report.imported
    finally:
        engine.dispose()
