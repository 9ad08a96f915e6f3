"""Import of the FULL real file of UN Ocean Conference commitments (2,120 records in
``../shared/data``) on SQLite: every record is accounted for and the per-goal counts equal those
computed independently from the file; every one of its 720 progress reports arrives, attached
to the right record, with its date and status (issue 9)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date

import pytest
from sqlalchemy import select

from registry.db import import_models
from registry.imports.service import import_commitments
from registry.initiatives.models import Initiative
from registry.outbox.models import OutboxEvent
from registry.progress.models import ProgressReport
from shared import migrate, reference
from shared.db import make_engine, make_session_factory
from shared.events.types import INITIATIVE_IMPORTED

pytestmark = pytest.mark.shared_data

#: The platform's status labels as the contract's ``PROGRESS_STATUSES`` (empty: null).
STATUS = {"On track": "on_track", "Off track": "off_track", "Completed": "completed",
          "Financial issues": "financial_issues", "Cancelled": "cancelled",
          "Inactive": "inactive", None: None, "": None}


def _file_records(shared_data) -> tuple:
    path = shared_data / "ocean-commitments" / "ocean_commitments.jsonl"
    with path.open(encoding="utf-8") as fh:  # lines end at "\n" only (texts hold U+2028)
        records = [(n, json.loads(line)) for n, line in enumerate(fh, start=1)
                   if line.strip()]
    return path, records


@pytest.fixture(scope="module")
def full_import(shared_data, tmp_path_factory):
    """The full file imported once into a SQLite file: (engine, report, records)."""
    path, records = _file_records(shared_data)
    url = f"sqlite:///{tmp_path_factory.mktemp('full') / 'registry.db'}"
    import_models()
    migrate.upgrade("registry", url)
    engine = make_engine(url)
    report = import_commitments(path, session_factory=make_session_factory(engine))
    yield engine, report, records
    engine.dispose()


def test_full_file_imports_every_record_or_says_why(full_import):
    engine, report, records = full_import
    assert len(records) == 2120
    without_lead = {n for n, r in records if not (r.get("lead_entity") or "").strip()}
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


def test_every_progress_report_arrives_attached_to_its_record_with_its_date(full_import):
    """The file's 720 reports (``ocean_commitments_progress_reports.csv`` counts them too),
    record by record: the same dates and statuses, oldest first, all approved imports."""
    engine, report, records = full_import
    imported_refs = {r["ocean_action_id"] for _, r in records
                     if (r.get("lead_entity") or "").strip()}
    expected = {r["ocean_action_id"]: [(date.fromisoformat(p["submitted"]), STATUS[p["status"]])
                                       for p in reversed(r["progress_reports"])]
                for _, r in records if r["progress_reports"]}
    assert sum(len(v) for v in expected.values()) == 720
    in_skipped = sum(len(v) for ref, v in expected.items() if ref not in imported_refs)
    assert report.progress_reports == 720 - in_skipped
    with make_session_factory(engine)() as s:
        rows = s.execute(select(Initiative.source_ref, ProgressReport.number,
                                ProgressReport.reported_on, ProgressReport.overall_status,
                                ProgressReport.status, ProgressReport.source,
                                ProgressReport.approved_at).join(
            ProgressReport, ProgressReport.initiative_id == Initiative.id).order_by(
            Initiative.source_ref, ProgressReport.number)).all()
        fields = {ref: (count, last) for ref, count, last in s.execute(select(
            Initiative.source_ref, Initiative.progress_reports_count,
            Initiative.last_progress_report_on))}
    got: dict[str, list] = {}
    for ref, number, day, overall, status, source, approved_at in rows:
        assert (status, source) == ("approved", "import")
        assert approved_at.date() == day
        got.setdefault(ref, []).append((day, overall))
        assert number == len(got[ref])
    assert got == {ref: v for ref, v in expected.items() if ref in imported_refs}
    assert len(rows) == 720 - in_skipped
    for ref, (count, last) in fields.items():
        assert count == len(expected.get(ref, [])), ref
        assert last == max((d for d, _ in expected.get(ref, [])), default=None), ref
