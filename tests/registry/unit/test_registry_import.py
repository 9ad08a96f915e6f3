"""Import of UN Ocean Conference commitments, on the repo's 152-record sample of real records
and on small hand-made files (SQLite)."""

from __future__ import annotations

import json
import shutil
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from registry import reference as registry_reference
from registry.imports.service import (
    MalformedFile,
    import_commitments,
    map_record,
    split_partners,
)
from registry.initiatives.models import Initiative
from registry.organizations.models import Organization
from registry.outbox.models import OutboxEvent
from shared import reference
from shared.events.types import INITIATIVE_IMPORTED, ORGANIZATION_CREATED, load_data
from shared.identity import OrgRole, Principal, PrincipalKind, StaffRole
from shared.problems import NotAllowed


def _records(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:  # "\n" ends a line; U+2028 inside texts does not
        return [json.loads(line) for line in fh if line.strip()]


def _run(registry, path: Path, **kw):
    return import_commitments(path, session_factory=registry.app.extensions[
        "db_session_factory"], **kw)


def _record(ref: int, **fields) -> dict:
    """A minimal, mappable commitment (fields as in the real file)."""
    return {"ocean_action_id": f"#OceanAction{ref}", "title": f"Commitment {ref}",
            "entity_types": ["Government"], "lead_entity": "Ministry of Oceans",
            "partners": "", "description": "Protect the reef.", "sdgs": [14],
            "sdg14_targets": ["14.2"], "start_date": "2022-01-01",
            "completion_date": "2025-12-31", "deliverables": [], "resources": [],
            "countries": ["Fiji"], "url": f"https://sdgs.un.org/partnerships/x{ref}"} | fields


def _write(tmp_path: Path, lines: list) -> Path:
    path = tmp_path / "commitments.jsonl"
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n",
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def _imported_file(tmp_path_factory, sample_path_module):
    """A SQLite file holding the sample imported once (per module), and the report."""
    from registry.db import import_models
    from shared import migrate
    from shared.db import make_engine, make_session_factory

    import_models()
    path = tmp_path_factory.mktemp("imported") / "registry.db"
    url = f"sqlite:///{path}"
    migrate.upgrade("registry", url)
    engine = make_engine(url)
    report = import_commitments(sample_path_module, session_factory=make_session_factory(engine),
                                batch_size=40)
    engine.dispose()
    return path, report


@pytest.fixture(scope="module")
def sample_path_module() -> Path:
    """The demo file (module scope: the sample is imported once per module)."""
    return Path(__file__).resolve().parents[3] / "data" / "sample" / \
        "ocean_commitments_sample.jsonl"


@pytest.fixture
def imported(_imported_file, tmp_path, registry_on):
    """A registry (own copy of the database) after importing the sample, with the report."""
    source, report = _imported_file
    target = tmp_path / "imported.db"
    shutil.copyfile(source, target)
    return registry_on(f"sqlite:///{target}"), report


def test_sample_imports_all_but_the_record_without_lead_entity(imported, sample_path):
    registry, report = imported
    records = _records(sample_path)
    assert report.total == len(records) == 152
    assert report.imported == 151 and report.already_present == 0
    assert len(report.skipped) == 1
    skipped = report.skipped[0]
    assert skipped.line == 91
    assert skipped.ref == records[90]["ocean_action_id"]
    assert "lead_entity" in skipped.reason
    assert registry.count(Initiative) == 151

    with registry.session() as s:
        rows = list(s.scalars(select(Initiative)))
        assert {r.status for r in rows} == {"published"}
        assert {r.source for r in rows} == {"un-ocean-conference"}
        assert {r.source_ref for r in rows} == {
            r["ocean_action_id"] for r in records if r.get("lead_entity")}
        numbers = sorted(int(r.public_id.rsplit("-", 1)[1]) for r in rows)
        assert numbers == list(range(1, 152))


def test_rerunning_imports_nothing_and_reports_what_is_present(imported, sample_path):
    registry, _ = imported
    outbox_before = len(registry.outbox())
    orgs_before = registry.count(Organization)
    again = _run(registry, sample_path)
    assert again.imported == 0 and again.already_present == 151
    assert [s.line for s in again.skipped] == [91]
    assert registry.count(Initiative) == 151
    assert registry.count(Organization) == orgs_before
    assert len(registry.outbox()) == outbox_before


def test_lead_entities_reuse_one_organisation_per_normalised_name(imported, sample_path):
    registry, _ = imported
    led: Counter = Counter(registry_reference.normalize_name(r["lead_entity"])
                           for r in _records(sample_path) if r.get("lead_entity"))
    repeated = {name: n for name, n in led.items() if n > 1}
    assert repeated, "the sample has lead entities leading several commitments"
    with registry.session() as s:
        for name, n in repeated.items():
            orgs = list(s.scalars(select(Organization).where(
                Organization.normalized_name == name)))
            assert len(orgs) == 1, name
            count = len(list(s.scalars(select(Initiative.id).where(
                Initiative.lead_organization_id == orgs[0].id))))
            assert count == n, name
        names = list(s.scalars(select(Organization.normalized_name)))
        assert len(names) == len(set(names))


def test_entity_type_becomes_the_stakeholder_group(imported, sample_path):
    registry, _ = imported
    first_type: dict[str, str] = {}
    for r in _records(sample_path):
        if r.get("lead_entity"):
            group = registry_reference.ENTITY_TYPE_TO_STAKEHOLDER_GROUP.get(
                (r.get("entity_types") or ["?"])[0], "other")
            first_type.setdefault(registry_reference.normalize_name(r["lead_entity"]), group)
    with registry.session() as s:
        leads = {o.normalized_name: o.stakeholder_group for o in s.scalars(
            select(Organization).join(Initiative, Initiative.lead_organization_id ==
                                      Organization.id))}
    assert set(leads) == set(first_type)
    partner_text = registry_reference.normalize_name(" ".join(
        r.get("partners") or "" for r in _records(sample_path)))
    for name, group in leads.items():
        if group != first_type[name]:
            # an organisation first met as a free-text partner keeps the partners' "other"
            assert group == "other" and name in partner_text, (name, group, first_type[name])
    mismatched = sum(leads[n] != first_type[n] for n in leads)
    assert mismatched <= 3, mismatched
    assert {"government", "ngo", "academic_institution"} <= set(leads.values())


def test_country_names_are_matched_to_alpha3(imported, sample_path):
    registry, report = imported
    records = {r["ocean_action_id"]: r for r in _records(sample_path)}
    with registry.session() as s:
        by_ref = {i.source_ref: i for i in s.scalars(select(Initiative))}
        vietnam = [ref for ref, r in records.items() if "Vietnam" in (r.get("countries") or [])
                   and ref in by_ref]
        assert vietnam
        for ref in vietnam:
            assert "VNM" in by_ref[ref].country_codes
        for ref, item in by_ref.items():
            expected = {registry_reference.country_by_name(n).iso_alpha3
                        for n in records[ref].get("countries") or []
                        if registry_reference.country_by_name(n)}
            assert set(item.country_codes) == expected, ref
    # names that are not countries become warnings naming the record's line
    ec = [w for w in report.warnings if "European Commission" in w.reason]
    assert ec and all(w.line >= 1 and w.ref for w in ec)


def test_each_imported_record_yields_one_imported_event(imported):
    registry, report = imported
    rows = registry.outbox()
    by_type = Counter(r.event_type for r in rows)
    assert by_type[INITIATIVE_IMPORTED] == report.imported == 151
    assert by_type[ORGANIZATION_CREATED] == registry.count(Organization)
    assert set(by_type) == {INITIATIVE_IMPORTED, ORGANIZATION_CREATED}
    with registry.session() as s:
        ids = {str(i) for i in s.scalars(select(Initiative.id))}
    imported_rows = [r for r in rows if r.event_type == INITIATIVE_IMPORTED]
    assert {r.subject for r in imported_rows} == ids
    data = load_data(INITIATIVE_IMPORTED, imported_rows[0].envelope["data"])
    assert data["action"] == "import" and data["to_status"] == "published"
    assert data["actor"]["role"] == "system"
    assert data["initiative"]["source"] == "un-ocean-conference"
    # an organisation's event comes before the first initiative that names it
    seq_of_org = {r.subject: r.seq for r in rows if r.event_type == ORGANIZATION_CREATED}
    for r in imported_rows:
        lead = r.envelope["data"]["initiative"]["lead_organization"]["id"]
        assert seq_of_org[lead] < r.seq


def test_imported_records_keep_their_content(imported, sample_path):
    registry, _ = imported
    record = _records(sample_path)[0]
    with registry.session() as s:
        item = s.scalar(select(Initiative).where(
            Initiative.source_ref == record["ocean_action_id"]))
        assert item.title == record["title"].strip()
        assert item.source_url == record["url"]
        assert item.start_date.isoformat() == record["start_date"]
        assert item.end_date.isoformat() == record["completion_date"]
        assert set(item.goal_codes) == set(record["sdgs"]) | {
            reference.goal_of_target(t) for t in record["sdg14_targets"]}
        assert item.target_codes == record["sdg14_targets"]
        assert [d.description for d in item.deliverables] == [
            d["description"].strip() for d in record["deliverables"]]
        assert [r.type for r in item.resources] == [
            "financing", "staff_technical_expertise", "in_kind_contribution"]
        partner_names = {p.organization.name for p in item.partners}
        assert "Eco-Ethics Kenya" in partner_names
        assert item.lead_organization.name not in partner_names


def test_a_broken_line_in_the_middle_loads_nothing(registry, tmp_path):
    path = _write(tmp_path, [_record(1), _record(2), '{"ocean_action_id": "#OceanAction3", ',
                             _record(4)])
    with pytest.raises(MalformedFile) as exc:
        _run(registry, path)
    assert exc.value.line == 3
    assert "line 3" in str(exc.value)
    assert registry.count(Initiative) == 0
    assert registry.count(Organization) == 0
    assert registry.count(OutboxEvent) == 0


def test_a_line_that_is_not_an_object_or_not_utf8_loads_nothing(registry, tmp_path):
    path = _write(tmp_path, [_record(1), "[1, 2]"])
    with pytest.raises(MalformedFile) as exc:
        _run(registry, path)
    assert exc.value.line == 2 and "not a JSON object" in exc.value.reason
    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes(json.dumps(_record(1), ensure_ascii=False).encode()
                       + b'\n{"title": "Caf\xe9"}\n')
    with pytest.raises(MalformedFile):
        _run(registry, latin1)
    assert registry.count(Initiative) == 0


def test_unknown_target_is_dropped_and_end_before_start_left_empty(registry, tmp_path):
    path = _write(tmp_path, [
        _record(1, sdg14_targets=["14.99", "14.4"], sdgs=[14, 99]),
        _record(2, start_date="2024-06-01", completion_date="2020-01-01"),
        _record(3, start_date="someday"),
    ])
    report = _run(registry, path)
    assert report.imported == 3 and report.skipped == []
    reasons = {(w.line, w.reason) for w in report.warnings}
    assert any(line == 1 and "14.99" in r for line, r in reasons)
    assert any(line == 1 and "99" in r and "goal" in r for line, r in reasons)
    assert any(line == 2 and "completion_date" in r for line, r in reasons)
    assert any(line == 3 and "start_date" in r for line, r in reasons)
    with registry.session() as s:  # collections load only when asked for (no eager default)
        by_ref = {i.source_ref: i for i in s.scalars(select(Initiative).options(
            selectinload(Initiative.targets), selectinload(Initiative.goals)))}
    assert by_ref["#OceanAction1"].target_codes == ["14.4"]
    assert by_ref["#OceanAction1"].goal_codes == [14]
    assert by_ref["#OceanAction2"].start_date.isoformat() == "2024-06-01"
    assert by_ref["#OceanAction2"].end_date is None
    assert by_ref["#OceanAction3"].start_date is None


def test_unmappable_records_are_skipped_with_line_and_reason(registry, tmp_path):
    path = _write(tmp_path, [
        _record(1),
        _record(1, title="Same id again"),
        _record(2, lead_entity="   "),
        _record(3, title=""),
        {"title": "No id at all", "lead_entity": "Someone"},
        _record(4, entity_types="Government"),
        _record(5, title="T" * 600),
        "",
        _record(6, countries=["Viet Nam", "Narnia"]),
    ])
    report = _run(registry, path)
    skipped = {s.line: s.reason for s in report.skipped}
    assert set(skipped) == {2, 3, 4, 5, 6}
    assert "twice" in skipped[2]
    assert "lead_entity" in skipped[3]
    assert "title" in skipped[4]
    assert "ocean_action_id" in skipped[5]
    assert "entity_types" in skipped[6]
    assert report.imported == 3 and report.total == 8  # the blank line is not a record
    with registry.session() as s:
        long_title = s.scalar(select(Initiative).where(Initiative.source_ref ==
                                                        "#OceanAction5"))
        assert len(long_title.title) == 500
        six = s.scalar(select(Initiative).where(Initiative.source_ref == "#OceanAction6"))
        assert six.country_codes == ["VNM"]
    assert any(w.line == 9 and "Narnia" in w.reason for w in report.warnings)


def test_record_failing_the_api_schema_is_skipped_and_others_still_load(registry, tmp_path):
    path = _write(tmp_path, [
        _record(1, deliverables=[{"date": "2023-01-01", "description": "ok"}]),
        _record(2, description="y" * 20_001),  # truncated to the API limit, still valid
        _record(3, resources=[{"type": "Financing (in USD)", "details": "USD 1,500,000"}]),
    ])
    report = _run(registry, path)
    assert report.imported == 3
    with registry.session() as s:
        three = s.scalar(select(Initiative).where(Initiative.source_ref == "#OceanAction3"))
        assert str(three.resources[0].amount_usd) == "1500000.00"
        two = s.scalar(select(Initiative).where(Initiative.source_ref == "#OceanAction2"))
        assert len(two.description) == 20_000


def test_limit_and_progress(registry, sample_path):
    calls: list[tuple[int, int]] = []
    report = _run(registry, sample_path, limit=25, batch_size=10,
                  progress=lambda done, total: calls.append((done, total)))
    assert report.total == 25 and report.imported == 25
    assert calls == [(10, 25), (20, 25), (25, 25)]


def test_only_the_system_or_secretariat_may_import(registry, sample_path):
    with pytest.raises(NotAllowed):
        _run(registry, sample_path, principal=Principal(
            PrincipalKind.USER, memberships={uuid.uuid4(): OrgRole.ADMIN}))
    assert registry.count(Initiative) == 0 and registry.count(Organization) == 0
    report = _run(registry, sample_path, principal=Principal(
        PrincipalKind.USER, staff_roles=frozenset({StaffRole.SECRETARIAT_ADMIN})), limit=3)
    assert report.imported == 3


def test_map_record_maps_entity_types_resources_and_partners():
    mapped = map_record(_record(
        7, entity_types=["Private sector", "Government"],
        partners="Blue Ventures (implementing partner), Madagascar; WWF; https://x.org",
        resources=[{"type": "Staff / Technical expertise", "details": "2 FTE"},
                   {"type": "Unknown label", "details": None}]))
    assert mapped.lead_group == "private_sector"
    assert mapped.partner_names == ["Blue Ventures", "WWF"]
    assert [r["type"] for r in mapped.data["resources"]] == ["staff_technical_expertise",
                                                              "other"]
    unknown = map_record(_record(8, entity_types=["Pirate crew"]))
    assert unknown.lead_group == "other"
    assert any("Pirate crew" in w for w in unknown.warnings)


@pytest.mark.parametrize("text, lead, expected", [
    ("Mundus maris asbl (lead CSO), Belgium; Bénévoles de l'Océan (CSO), Cameroon; "
     "Eco-Ethics Kenya (NGO), Kenya; https://www.mundusmaris.org/index.php/en/projects "
     "in addition", "Mundus maris asbl",
     ["Bénévoles de l'Océan", "Eco-Ethics Kenya"]),
    ("WWF, Greenpeace International, Kenya, IUCN (implementing partner), www.example.org",
     "Greenpeace International", ["WWF", "IUCN"]),
    ("Ministry of Fisheries\nUniversity of the South Pacific, Fiji\n\nFAO\nFAO", "",
     ["Ministry of Fisheries", "University of the South Pacific", "FAO"]),
    ("SPREP; sprep; Sprep.", "Someone", ["SPREP"]),
    ("", "Lead", []),
    (None, "Lead", []),
    ("UN; Lead Org", "LEAD ORG", []),  # too short, and the lead itself
])
def test_split_partners(text, lead, expected):
    assert split_partners(text, lead) == expected


def test_split_partners_caps_the_list():
    text = "; ".join(f"Organisation number {i}" for i in range(100))
    names = split_partners(text, "Lead")
    assert len(names) == 60 and names[0] == "Organisation number 0"


def test_import_command(registry, sample_path, tmp_path):
    from registry.app import create_app
    from registry.imports.cli import register_commands
    from shared.cli import service_cli

    group = service_cli("registry", create_app, None, default_port=5001)
    register_commands(group)
    runner = registry.app.test_cli_runner()
    report_file = tmp_path / "report.tsv"
    result = runner.invoke(group, ["import", str(sample_path), "--quiet", "--limit", "95",
                                   "--report", str(report_file)])
    assert result.exit_code == 0, result.output
    assert "95 records: 94 imported, 0 already present, 1 skipped" in result.output
    reports = sum(len(r["progress_reports"]) for r in _records(sample_path)[:95]
                  if (r.get("lead_entity") or "").strip())
    assert reports and f"{reports} progress reports added" in result.output
    lines = report_file.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "kind\tline\tref\treason"
    assert any(line.startswith("skipped\t91\t") for line in lines)

    broken = _write(tmp_path, [_record(1), "{oops"])
    result = runner.invoke(group, ["import", str(broken), "--quiet"])
    assert result.exit_code == 1
    assert "line 2" in result.output and "Nothing was imported" in result.output
    assert registry.count(Initiative) == 94


def test_partner_seen_first_gets_its_stakeholder_group_when_it_leads(registry, tmp_path):
    """An organisation first named in free text (group unknown: other) takes the group of the
    entity type when it later appears as a lead entity."""
    path = _write(tmp_path, [
        _record(1, partners="Reef Science Institute; Island Council"),
        _record(2, lead_entity="Reef Science Institute",
                entity_types=["Academic institution"]),
    ])
    report = _run(registry, path)
    assert report.imported == 2
    with registry.session() as s:
        org = s.scalar(select(Organization).where(Organization.name == "Reef Science Institute"))
        council = s.scalar(select(Organization).where(Organization.name == "Island Council"))
    assert org.stakeholder_group == "academic_institution"
    assert council.stakeholder_group == "other"


def test_region_filter_counts_initiatives_by_their_countries(imported):
    """``?region=009`` (Oceania) returned 0 after an import while reporting counted the
    Oceanian records: imports tag countries, not regions. The filter now uses the regions
    derived from countries and tags (``shared.reference.region_codes_for``), as reporting
    does."""
    from registry.initiatives.models import InitiativeCountry, InitiativeRegion
    from shared import reference

    registry, _report = imported
    with registry.session() as s:
        countries: dict = {}
        for iid, code in s.execute(select(InitiativeCountry.initiative_id,
                                          InitiativeCountry.country)):
            countries.setdefault(iid, []).append(code)
        tags: dict = {}
        for iid, code in s.execute(select(InitiativeRegion.initiative_id,
                                          InitiativeRegion.region)):
            tags.setdefault(iid, []).append(code)
    ids = set(countries) | set(tags)
    oceania = {iid for iid in ids
               if any(reference.countries()[c].region_code == "009"
                      for c in countries.get(iid, []) if c in reference.countries())
               or "009" in tags.get(iid, [])}
    assert len(oceania) >= 5  # the sample has Pacific commitments
    resp = registry.get("/api/v1/initiatives?region=009&per_page=100")
    assert resp.status_code == 200
    assert resp.json["total"] == len(oceania)
    assert {uuid.UUID(i["id"]) for i in resp.json["items"]} == oceania
    # a sub-region works the same way (Melanesia: Fiji, Papua New Guinea, ...)
    melanesia = {iid for iid in ids if any(
        reference.countries()[c].subregion_code == "054"
        for c in countries.get(iid, []) if c in reference.countries())}
    assert registry.get("/api/v1/initiatives?region=054&per_page=100").json["total"] == \
        len(melanesia)
    # and reporting's regions come from the same derivation
    for iid in oceania:
        assert "Oceania" in reference.region_names_for(countries.get(iid, []),
                                                       tags.get(iid, []))
