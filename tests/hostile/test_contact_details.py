"""Organisation names never hold an e-mail address or a telephone number (personal data the
demo import published as organisation names, e.g. on #OceanAction41057): the API refuses
them, the import drops them and says so on the line, migration 0007 cleans existing ones."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select


def _record(ref: int, **fields) -> dict:
    return {"ocean_action_id": f"#OceanAction{ref}", "title": f"Commitment {ref}",
            "entity_types": ["Government"], "lead_entity": "Ministry of Oceans",
            "partners": "", "description": "Protect the reef.", "sdgs": [14],
            "sdg14_targets": ["14.2"], "start_date": "2022-01-01",
            "completion_date": "2025-12-31", "deliverables": [], "resources": [],
            "countries": ["Fiji"], "url": f"https://sdgs.un.org/partnerships/x{ref}"} | fields


def _import(app, tmp_path, records):
    from registry.imports.service import import_commitments

    path = tmp_path / "commitments.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return import_commitments(path, session_factory=app.extensions["db_session_factory"])


def _org_names(app) -> set[str]:
    from registry.organizations.models import Organization

    with app.extensions["db_session_factory"]() as s:
        return set(s.scalars(select(Organization.name)))


@pytest.mark.parametrize("name", [
    "Reef Trust (reefs@ngo.org)", "Reef Trust, Phone: +62 361 774488", "contact@reef.org",
    "Reef Trust tel. 0361 774 488 12", "+46706090011"])
def test_the_api_refuses_contact_details_in_an_organisation_name(service_app, registry_token,
                                                                  name):
    app = service_app("registry")
    resp = app.test_client().post("/api/v1/organizations", json={
        "name": name, "stakeholder_group": "ngo"}, headers={
        "Authorization": f"Bearer {registry_token(app)}"})
    assert resp.status_code == 422, resp.json
    assert [e["field"] for e in resp.json["errors"]] == ["name"]


@pytest.mark.parametrize("name", ["UN Decade of Ocean Science 2021-2030", "ISO 14001 Group",
                                  "Maritime Fishermen's Union Locals 1, 2, 3, 4, 5, 6, 9, 10",
                                  "Agenda 2030 @ Sea Alliance", "Mare Mundi, A-5020 Salzburg"])
def test_names_with_numbers_that_are_not_telephone_numbers_pass(name):
    from registry.organizations.names import contact_details_in

    assert contact_details_in(name) == []


def test_the_import_drops_contact_details_and_reports_them_on_the_line(service_app, tmp_path):
    app = service_app("registry")
    partners = ("1. Inaya Putri Bali, Phone:\n+62 361 774488. Contact person: I Wayan, E-mail:\n"
                "damil.iwayan@inayahotels.com\n2. Blue Harbour Society\nsatrya@gmail.com")
    report = _import(app, tmp_path, [
        _record(1), _record(2, partners=partners),
        _record(3, lead_entity="Lagoon Council (office@lagoon.org)")])
    assert report.imported == 3, report.skipped
    names = _org_names(app)
    assert "2. Blue Harbour Society" in names and "Lagoon Council" in names
    assert not any("@" in n or "774488" in n for n in names), names
    by_line = {}
    for w in report.warnings:
        by_line.setdefault(w.line, []).append(w.reason)
    assert by_line[2].count("a partner name was dropped: it holds an e-mail address") == 2
    assert "a partner name was dropped: it holds a telephone number" in by_line[2]
    assert "lead_entity: an e-mail address removed from the name" in by_line[3]
    assert not any("@" in reason for reasons in by_line.values() for reason in reasons)


def test_the_import_drops_links_that_are_not_http(service_app, tmp_path):
    from registry.initiatives.models import Initiative

    app = service_app("registry")
    report = _import(app, tmp_path, [_record(1, url="javascript:alert(1)"), _record(2)])
    assert report.imported == 2
    assert "url is not an http(s) link; dropped" in [w.reason for w in report.warnings]
    with app.extensions["db_session_factory"]() as s:
        urls = dict(s.execute(select(Initiative.source_ref, Initiative.source_url)).all())
    assert urls == {"#OceanAction1": None,
                    "#OceanAction2": "https://sdgs.un.org/partnerships/x2"}


@pytest.mark.shared_data
def test_the_real_record_41057_publishes_no_contact_details(service_app, tmp_path,
                                                            shared_data):
    path = shared_data / "ocean-commitments" / "ocean_commitments.jsonl"
    with path.open(encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines
                   if '"#OceanAction41057"' in line or '"#OceanAction41499"' in line]
    assert len(records) == 2
    app = service_app("registry")
    report = _import(app, tmp_path, records)
    assert report.imported == 2
    names = _org_names(app)
    for detail in ("damil.iwayan@inayahotels.com", "satryanarendra@gmail.com", "774488",
                   "82144082225", "karin.svensson@sida.se", "46706090011"):
        assert not any(detail in n for n in names), (detail, names)
    assert sum("dropped" in w.reason for w in report.warnings) >= 6


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_migration_0007_cleans_existing_names(request, service_app, registry_token, db):
    from alembic import command

    from registry.auth.service import SYSTEM
    from registry.organizations.service import create_organization
    from shared import migrate

    url = request.getfixturevalue("pg_url") if db == "postgresql" else None
    app = service_app("registry", url)
    token = registry_token(app)
    url = app.config["DATABASE_URL"]

    ids = {}
    factory = app.extensions["db_session_factory"]
    with factory() as s:  # as the old import stored them (the service checks no name)
        for key, name in (("good", "Good Ocean Org"), ("bare", "damil.iwayan@inayahotels.com"),
                          ("renamed", "Reef Trust, Phone: +62 361 774488"),
                          ("dupe", "Good Ocean Org E-mail: info@good.org"),
                          ("lead", "+46706090011")):
            ids[key] = str(create_organization(db_session=s, principal=SYSTEM, data={
                "name": name, "stakeholder_group": "ngo"}).id)
        s.commit()
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    both = client.post("/api/v1/initiatives", headers=auth, json={
        "title": "Reefs", "lead_organization_id": ids["lead"], "partners": [
            {"organization_id": ids[k]} for k in ("good", "bare", "renamed", "dupe")]})
    assert both.status_code == 201, both.json
    only_dupe = client.post("/api/v1/initiatives", headers=auth, json={
        "title": "Kelp", "lead_organization_id": ids["dupe"], "partners": [
            {"organization_id": ids["bare"]}]})
    assert only_dupe.status_code == 201, only_dupe.json

    cfg = migrate.alembic_config("registry", url)
    command.downgrade(cfg, "0006")  # 0007 changes nothing on the way down
    migrate.upgrade("registry", url)  # ... and cleans on the way up

    names = {n for n in _org_names(app) if not n.startswith("Partner ")}  # the token's own
    assert names == {"Good Ocean Org", "Reef Trust", f"Unnamed organisation {ids['lead'][:8]}"}
    reefs = client.get(f"/api/v1/initiatives/{both.json['id']}", headers=auth).json
    assert reefs["lead_organization"]["id"] == ids["lead"]
    assert sorted(p["organization"]["name"] for p in reefs["partners"]) == [
        "Good Ocean Org", "Reef Trust"]
    kelp = client.get(f"/api/v1/initiatives/{only_dupe.json['id']}", headers=auth).json
    assert kelp["lead_organization"]["id"] == ids["good"]  # moved to the one with that name
    assert kelp["partners"] == []
    assert uuid.UUID(ids["bare"])  # deleted: no longer listed
    assert client.get(f"/api/v1/organizations/{ids['bare']}").status_code == 404
