"""Import of the Ocean file's progress reports and publication dates (issue 9): each report
becomes an approved progress report of its record with its date, mapped status, title and
link; the record keeps its original publication (estimated from the conference it was
registered for); re-importing adds only what is missing. On the repo's sample and on small
hand-made files (SQLite), no ``../shared`` needed."""

from __future__ import annotations

import html
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from registry.imports.service import (
    CONFERENCES,
    import_commitments,
    map_progress_reports,
    map_record,
    publication_date,
)
from registry.initiatives.models import Initiative
from registry.progress.models import ProgressReport
from registry.workflow.models import Activity
from shared.events.types import PROGRESS_STATUSES

STATUS = {"On track": "on_track", "Off track": "off_track", "Completed": "completed",
          "Financial issues": "financial_issues", "Cancelled": "cancelled",
          "Inactive": "inactive", None: None, "": None}


def _records(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _run(registry, path: Path, **kw):
    return import_commitments(path, session_factory=registry.app.extensions[
        "db_session_factory"], **kw)


def _record(ref: int, reports: list[dict] | None = None, **fields) -> dict:
    return {"ocean_action_id": f"#OceanAction{ref}", "node_id": str(ref),
            "title": f"Commitment {ref}", "entity_types": ["Government"],
            "lead_entity": "Ministry of Oceans", "partners": "", "description": "Reefs.",
            "sdgs": [14], "sdg14_targets": ["14.2"], "start_date": "2022-01-01",
            "completion_date": "2025-12-31", "deliverables": [], "resources": [],
            "countries": ["Fiji"], "url": f"https://sdgs.un.org/partnerships/x{ref}",
            "progress_reports": reports or []} | fields


def _report(day: str, status: str | None = "On track", title: str | None = None) -> dict:
    return {"title": title or f"Partnership Progress {day}", "status": status,
            "submitted": day}


def _write(tmp_path: Path, records: list[dict], name: str = "c.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _reports_by_ref(registry) -> dict[str, list[ProgressReport]]:
    with registry.session() as s:
        rows = s.execute(select(Initiative.source_ref, ProgressReport).join(
            ProgressReport, ProgressReport.initiative_id == Initiative.id).order_by(
            Initiative.source_ref, ProgressReport.number)).all()
    out: dict[str, list[ProgressReport]] = {}
    for ref, report in rows:
        out.setdefault(ref, []).append(report)
    return out


# -- mapping (no database) ---------------------------------------------------------------------
def test_reports_are_mapped_oldest_first_with_status_and_refs_per_day():
    warnings: list[str] = []
    items = [_report("2020-06-26", "Completed"), _report("2018-05-01", None),
             _report("2018-05-01", "Inactive"), _report("2017-12-21", "")]
    mapped = map_progress_reports(items, "https://sdgs.un.org/partnerships/x", warnings)
    assert [(m.reported_on, m.overall_status, m.source_ref) for m in mapped] == [
        (date(2017, 12, 21), None, "2017-12-21#1"),
        (date(2018, 5, 1), "inactive", "2018-05-01#1"),
        (date(2018, 5, 1), None, "2018-05-01#2"),
        (date(2020, 6, 26), "completed", "2020-06-26#1")]
    assert mapped[-1].title == "Partnership Progress 2020-06-26"
    assert all(m.links == ("https://sdgs.un.org/partnerships/x",) for m in mapped)
    assert warnings == []


@pytest.mark.parametrize("label", [k for k in STATUS if k])
def test_every_platform_label_maps_to_the_contract_vocabulary(label):
    mapped = map_progress_reports([_report("2019-01-01", label)], None, [])
    assert mapped[0].overall_status == STATUS[label]
    assert mapped[0].overall_status in PROGRESS_STATUSES
    assert mapped[0].links == ()


def test_a_report_without_a_date_is_dropped_and_an_unknown_status_is_left_empty():
    warnings: list[str] = []
    mapped = map_progress_reports([_report("2019-01-01", "Stalled"), _report("someday"),
                                   {"title": "x", "status": "On track", "submitted": None},
                                   "not an object"], None, warnings)
    assert [(m.reported_on, m.overall_status) for m in mapped] == [(date(2019, 1, 1), None)]
    assert any("Stalled" in w for w in warnings)
    assert sum("no date" in w for w in warnings) == 2
    assert any("not an object" in w for w in warnings)
    assert map_progress_reports("oops", None, warnings) == []


@pytest.mark.parametrize("node, reports, expected", [
    (40557, [], date(2017, 6, 5)),
    (43999, [], date(2017, 6, 5)),
    (44000, [], date(2022, 6, 27)),
    (46066, [_report("2022-06-07")], date(2022, 6, 7)),  # reported before Lisbon opened
    (47505, [_report("2025-06-02")], date(2022, 6, 27)),
    (54000, [], date(2025, 6, 9)),
    (58123, [], date(2025, 6, 9)),
    (12345, [], date(2017, 6, 5)),  # older than any bound: the first conference
])
def test_publication_is_the_conference_of_the_node_or_the_first_report(node, reports,
                                                                        expected):
    record = _record(node, reports)
    assert publication_date(record, map_progress_reports(reports, None, [])) == expected
    assert map_record(record).published_on == expected


def test_publication_falls_back_to_the_number_of_the_ocean_action_id():
    record = _record(55001) | {"node_id": None}
    assert publication_date(record, []) == date(2025, 6, 9)
    assert [c[1].year for c in CONFERENCES] == [2017, 2022, 2025]


# -- the sample (152 real records, 48 reports on 29 of them) -----------------------------------
def test_every_report_of_the_sample_arrives_approved_with_its_date(registry, sample_path):
    report = _run(registry, sample_path)
    records = {r["ocean_action_id"]: r for r in _records(sample_path)
               if (r.get("lead_entity") or "").strip()}
    expected_total = sum(len(r["progress_reports"]) for r in records.values())
    assert expected_total == 48
    assert report.progress_reports == expected_total
    got = _reports_by_ref(registry)
    assert sum(len(v) for v in got.values()) == expected_total
    for ref, record in records.items():
        file_reports = list(reversed(record["progress_reports"]))  # the file: newest first
        stored = got.get(ref, [])
        assert [(r.reported_on.isoformat(), r.overall_status) for r in stored] == [
            (p["submitted"], STATUS[p["status"]]) for p in file_reports], ref
        for n, (r, p) in enumerate(zip(stored, file_reports, strict=True), start=1):
            assert r.number == n
            assert r.status == "approved" and r.source == "import"
            day = datetime.fromisoformat(p["submitted"]).replace(tzinfo=UTC)
            assert r.submitted_at == day and r.approved_at == day
            assert r.narrative_html == f"<p>{html.escape(p['title'])}</p>"
            assert r.links == [record["url"]]
            assert r.period_start is None and r.progress_percent is None


def test_the_initiative_gets_its_progress_fields_and_original_publication(registry,
                                                                          sample_path):
    _run(registry, sample_path)
    records = {r["ocean_action_id"]: r for r in _records(sample_path)}
    with registry.session() as s:
        rows = s.execute(select(Initiative.source_ref, Initiative.progress_reports_count,
                                Initiative.last_progress_report_on,
                                Initiative.published_at, Initiative.created_at)).all()
    years = set()
    for ref, count, last_on, published_at, created_at in rows:
        file_reports = records[ref]["progress_reports"]
        assert count == len(file_reports), ref
        assert last_on == (max(date.fromisoformat(p["submitted"]) for p in file_reports)
                           if file_reports else None), ref
        expected = publication_date(records[ref], map_progress_reports(file_reports, None,
                                                                       []))
        assert published_at == datetime(expected.year, expected.month, expected.day,
                                        tzinfo=UTC), ref
        assert published_at < created_at  # not "published today"
        if file_reports:
            assert published_at.date() <= min(date.fromisoformat(p["submitted"])
                                               for p in file_reports)
        years.add(published_at.year)
    assert years == {2017, 2022, 2025}


def test_each_imported_report_has_an_import_entry_on_its_timeline(registry, sample_path):
    _run(registry, sample_path)
    with registry.session() as s:
        ids = set(s.scalars(select(ProgressReport.id)))
        entries = s.execute(select(Activity.record_id, Activity.action, Activity.to_status,
                                   Activity.visibility, Activity.actor_role).where(
            Activity.record_type == "progress_report")).all()
    assert {e.record_id for e in entries} == ids and len(entries) == len(ids) == 48
    assert {(e.action, e.to_status, e.visibility, e.actor_role) for e in entries} == {
        ("import", "approved", "public", "system")}


def test_reimport_adds_nothing_then_only_the_missing_reports(registry, tmp_path):
    first = _write(tmp_path, [
        _record(40001, [_report("2019-03-01"), _report("2018-01-01", "Off track")]),
        _record(40002, []),
        _record(46001, [_report("2023-02-02", "Completed")])])
    report = _run(registry, first)
    assert (report.imported, report.progress_reports) == (3, 3)
    again = _run(registry, first)
    assert (again.imported, again.already_present, again.progress_reports) == (0, 3, 0)
    assert sum(len(v) for v in _reports_by_ref(registry).values()) == 3

    # a newer file: one more report for 40001 (two on one day), a first one for 40002
    newer = _write(tmp_path, [
        _record(40001, [_report("2021-07-07", "Completed"), _report("2021-07-07"),
                        _report("2019-03-01"), _report("2018-01-01", "Off track")]),
        _record(40002, [_report("2020-01-01", "Financial issues")]),
        _record(46001, [_report("2023-02-02", "Completed")])], name="newer.jsonl")
    later = _run(registry, newer)
    assert (later.imported, later.already_present, later.progress_reports) == (0, 3, 3)
    got = _reports_by_ref(registry)
    assert [(r.number, r.reported_on.isoformat(), r.source_ref, r.overall_status)
            for r in got["#OceanAction40001"]] == [
        (1, "2018-01-01", "2018-01-01#1", "off_track"),
        (2, "2019-03-01", "2019-03-01#1", "on_track"),
        (3, "2021-07-07", "2021-07-07#1", "on_track"),
        (4, "2021-07-07", "2021-07-07#2", "completed")]
    assert [(r.number, r.overall_status) for r in got["#OceanAction40002"]] == [
        (1, "financial_issues")]
    with registry.session() as s:
        fields = {ref: (count, last) for ref, count, last in s.execute(select(
            Initiative.source_ref, Initiative.progress_reports_count,
            Initiative.last_progress_report_on))}
    assert fields == {"#OceanAction40001": (4, date(2021, 7, 7)),
                      "#OceanAction40002": (1, date(2020, 1, 1)),
                      "#OceanAction46001": (1, date(2023, 2, 2))}
    assert _run(registry, newer).progress_reports == 0


def test_a_registry_that_lost_reports_gets_them_back_on_reimport(registry, sample_path):
    _run(registry, sample_path)
    with registry.session() as s:
        victim = s.scalar(select(Initiative).where(Initiative.progress_reports_count >= 2))
        refs = sorted(s.scalars(select(ProgressReport.source_ref).where(
            ProgressReport.initiative_id == victim.id)))
        s.execute(delete(ProgressReport).where(ProgressReport.initiative_id == victim.id,
                                               ProgressReport.number == 1))
        s.commit()
    again = _run(registry, sample_path)
    assert again.progress_reports == 1 and again.imported == 0
    with registry.session() as s:
        back = s.execute(select(ProgressReport.source_ref, ProgressReport.number).where(
            ProgressReport.initiative_id == victim.id)).all()
    assert sorted(r for r, _ in back) == refs
    assert len({n for _, n in back}) == len(refs)  # numbers stay unique


# -- the reporting light ----------------------------------------------------------------------
def test_records_arrive_with_their_light_and_the_job_then_changes_nothing(registry,
                                                                          sample_path):
    from registry.compliance import rule
    from registry.compliance.models import ReportingStatusChange
    from registry.compliance.service import run_compliance_job, thresholds

    _run(registry, sample_path)
    today = datetime.now(UTC).date()
    th = thresholds()
    with registry.session() as s:
        rows = s.execute(select(Initiative.id, Initiative.published_at,
                                Initiative.last_progress_report_on,
                                Initiative.reporting_status,
                                Initiative.reporting_anchor_on)).all()
        changes = {c.initiative_id: c for c in s.scalars(select(ReportingStatusChange))}
    assert len(rows) == 151 and set(changes) == {r.id for r in rows}
    for r in rows:
        anchor = max(r.published_at.date(), r.last_progress_report_on or date.min)
        assert r.reporting_anchor_on == anchor
        assert r.reporting_status == rule.light(th.cycle(anchor), today)
        assert (changes[r.id].from_status, changes[r.id].to_status) == (None,
                                                                        r.reporting_status)
    lights = {r.reporting_status for r in rows}
    assert "red" in lights  # 2017 records that never reported (or not since 2019)
    result = run_compliance_job(registry.app.extensions["db_session_factory"])
    assert result.changed == 0 and result.total == 151


def test_reports_added_on_reimport_restart_the_cycle(registry, tmp_path):
    from registry.compliance.models import ReportingStatusChange

    today = datetime.now(UTC).date()
    recent = date(today.year - 1, today.month, 1).isoformat()
    _run(registry, _write(tmp_path, [_record(40001, [_report("2018-01-01")])]))
    with registry.session() as s:
        item = s.scalar(select(Initiative))
        assert (item.reporting_status, item.reporting_anchor_on) == ("red", date(2018, 1, 1))
    later = _run(registry, _write(tmp_path, [_record(40001, [
        _report(today.replace(day=1).isoformat()), _report(recent),
        _report("2018-01-01")])], name="newer.jsonl"))
    assert later.progress_reports == 2
    with registry.session() as s:
        item = s.scalar(select(Initiative))
        assert item.reporting_status == "green"
        assert item.reporting_anchor_on == today.replace(day=1)
        changes = s.execute(select(ReportingStatusChange.from_status,
                                   ReportingStatusChange.to_status)).all()
    assert sorted(changes, key=str) == sorted([(None, "red"), ("red", "green")], key=str)


def test_the_public_api_shows_the_imported_reports_light_and_history(registry, sample_path):
    """Through the doors others use: the public list of an imported record's reports (newest
    first), its light now and as of a past day (the history answered from the original
    dates), and its imported event's snapshot carrying the progress fields and the light."""
    from shared.events.types import INITIATIVE_IMPORTED

    _run(registry, sample_path)
    with registry.session() as s:
        item = s.scalar(select(Initiative).where(Initiative.progress_reports_count >= 3)
                        .order_by(Initiative.public_id))
        dates = sorted(s.scalars(select(ProgressReport.reported_on).where(
            ProgressReport.initiative_id == item.id)))
    resp = registry.get(f"/api/v1/initiatives/{item.public_id}/progress-reports")
    assert resp.status_code == 200, resp.json
    got = resp.json["items"]
    assert [r["reported_on"] for r in got] == [d.isoformat() for d in reversed(dates)]
    assert {(r["status"], r["source"]) for r in got} == {("approved", "import")}

    now = registry.get(f"/api/v1/initiatives/{item.public_id}/compliance").json
    assert now["status"] == item.reporting_status
    assert now["last_report_on"] == dates[-1].isoformat()
    assert now["published_on"] == item.published_at.date().isoformat()
    # a month after its last report the record was green; before its publication: no light
    month_after = date.fromordinal(dates[-1].toordinal() + 30).isoformat()
    then = registry.get(f"/api/v1/initiatives/{item.public_id}/compliance?as_of={month_after}")
    assert then.status_code == 200 and then.json["status"] == "green", then.json
    before = registry.get(f"/api/v1/initiatives/{item.public_id}/compliance?as_of=2016-01-01")
    assert before.json["status"] is None

    (event,) = registry.outbox(str(item.id))
    assert event.event_type == INITIATIVE_IMPORTED
    snap = event.envelope["data"]["initiative"]
    assert snap["progress_reports_count"] == len(dates)
    assert snap["last_progress_report_on"] == dates[-1].isoformat()
    assert snap["reporting_status"] == item.reporting_status
    assert snap["published_at"].startswith(item.published_at.date().isoformat())
