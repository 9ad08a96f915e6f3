"""Organisations API, bearer tokens and the ``create-token`` command (SQLite)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from registry.auth.models import ApiToken
from registry.auth.service import hash_token
from registry.organizations.models import Organization
from shared.db import utcnow
from shared.events.types import ORGANIZATION_CREATED, load_data


def test_partner_registers_an_organisation_and_its_event_is_in_the_outbox(registry):
    partner = registry.token("partner")
    resp = registry.post("/api/v1/organizations", {
        "name": "  Pacific Reef Alliance ", "acronym": "PRA", "stakeholder_group": "ngo",
        "country": "FJI"}, partner)
    assert resp.status_code == 201
    org = resp.json
    assert org["name"] == "Pacific Reef Alliance"  # trimmed
    assert org["stakeholder_group"] == "ngo" and org["country"] == "FJI"
    uuid.UUID(org["id"])

    rows = registry.outbox()
    assert [r.event_type for r in rows] == [ORGANIZATION_CREATED]
    assert rows[0].subject == org["id"] and rows[0].topic == "registry.organizations"
    data = load_data(ORGANIZATION_CREATED, rows[0].envelope["data"])
    assert data["organization"]["name"] == "Pacific Reef Alliance"
    assert data["organization"]["country"] == "FJI"

    got = registry.get(f"/api/v1/organizations/{org['id']}")
    assert got.status_code == 200 and got.json["acronym"] == "PRA"


def test_duplicate_name_is_409_with_the_existing_id_and_writes_nothing(registry, problem):
    partner = registry.token("partner")
    before = registry.count(Organization)  # the token's own organisation
    first = registry.org(partner, "Fundação Grupo Boticário")
    # differs in case, accents and punctuation only: the same organisation
    resp = registry.post("/api/v1/organizations", {
        "name": "FUNDACAO grupo boticario!", "stakeholder_group": "philanthropic_organization"},
        partner)
    body = problem(resp, 409)
    assert body["existing_id"] == first["id"]
    assert "Fundação Grupo Boticário" in body["detail"]
    assert registry.count(Organization) == before + 1
    assert len(registry.outbox()) == 1


def test_unknown_stakeholder_group_and_country_are_422_naming_each_field(registry, problem):
    partner = registry.token("partner")
    before = registry.count(Organization)  # the token's own organisation
    resp = registry.post("/api/v1/organizations", {
        "name": "Some NGO", "stakeholder_group": "pirates", "country": "XXX"}, partner)
    body = problem(resp, 422, "stakeholder_group", "country")
    assert all(e["location"] == "json" for e in body["errors"])
    assert registry.count(Organization) == before


def test_missing_name_and_unknown_field_are_422(registry, problem):
    partner = registry.token("partner")
    resp = registry.post("/api/v1/organizations", {"stakeholder_group": "ngo", "homepage": "x"},
                         partner)
    problem(resp, 422, "name", "homepage")


def test_anonymous_may_not_register_an_organisation(registry, problem):
    resp = registry.post("/api/v1/organizations", {"name": "Org", "stakeholder_group": "ngo"})
    body = problem(resp, 401)
    assert body["type"].endswith("/unauthenticated")
    assert registry.count(Organization) == 0


def test_organisations_are_public_filterable_and_paginated(registry):
    partner = registry.token("secretariat")
    registry.org(partner, "Blue Ocean Trust", "ngo", "KEN")
    registry.org(partner, "Ocean Ministry of Fiji", "government", "FJI")
    registry.org(partner, "Reef University", "academic_institution", "AUS")

    page = registry.get("/api/v1/organizations?q=ocean").json
    assert page["total"] == 2
    assert [o["name"] for o in page["items"]] == ["Blue Ocean Trust", "Ocean Ministry of Fiji"]
    assert registry.get("/api/v1/organizations?country=AUS").json["total"] == 1
    assert registry.get(
        "/api/v1/organizations?stakeholder_group=government").json["items"][0]["country"] == "FJI"
    first = registry.get("/api/v1/organizations?per_page=2&page=1").json
    second = registry.get("/api/v1/organizations?per_page=2&page=2").json
    assert first["total"] == second["total"] == 3
    assert len(first["items"]) == 2 and len(second["items"]) == 1
    assert {o["id"] for o in first["items"]}.isdisjoint({o["id"] for o in second["items"]})


def test_unknown_organisation_is_404_problem(registry, problem):
    problem(registry.get(f"/api/v1/organizations/{uuid.uuid4()}"), 404)


def test_tokens_are_stored_hashed_and_bad_or_revoked_tokens_are_401(registry, problem,
                                                                    monkeypatch):
    from registry.auth import service as auth_service

    now = [1000.0]  # the token cache's clock, moved by hand
    monkeypatch.setattr(auth_service, "_clock", lambda: now[0])
    plain = registry.token("partner", email="p@ngo.test")
    assert plain.startswith("prt_")
    with registry.session() as s:
        row = s.scalar(select(ApiToken))
        assert row.token_hash == hash_token(plain) and plain not in row.token_hash
    assert registry.get("/api/v1/initiatives", plain).status_code == 200

    for header in ("Bearer nope", "Basic dXNlcjpwdw==", "Bearer ", plain):
        resp = registry.client.get("/api/v1/initiatives", headers={"Authorization": header})
        problem(resp, 401)
    with registry.session() as s:
        s.scalar(select(ApiToken)).revoked_at = utcnow()
        s.commit()
    # the identity seen valid is reused TOKEN_CACHE_SECONDS (2 s), then the row is read again
    assert registry.app.extensions["token_cache"].ttl == 2
    now[0] += 1.9
    assert registry.get("/api/v1/initiatives", plain).status_code == 200
    now[0] += 0.1
    problem(registry.get("/api/v1/initiatives", plain), 401)
    problem(registry.get("/api/v1/initiatives", plain), 401)  # refusals are never cached


def test_create_token_for_unknown_organisation_is_refused(registry):
    from registry import db
    from registry.auth.service import create_token
    from shared.problems import ValidationError

    with registry.app.app_context(), pytest.raises(ValidationError) as exc:
        create_token(db_session=db.session(), role="partner", organization_id=uuid.uuid4())
    assert exc.value.errors[0]["field"] == "organization"
    with registry.app.app_context(), pytest.raises(ValidationError) as exc:
        create_token(db_session=db.session(), role="admin")
    assert exc.value.errors[0]["field"] == "role"


def _cli_group():
    """A fresh ``registry`` command group with the commands ``registry.cli.main`` adds."""
    from registry.app import create_app
    from registry.auth.cli import register_commands as auth_commands
    from registry.imports.cli import register_commands as import_commands
    from shared.cli import service_cli

    group = service_cli("registry", create_app, None, default_port=5001)
    auth_commands(group)
    import_commands(group)
    return group


def test_create_token_command_prints_a_working_token(registry):
    runner = registry.app.test_cli_runner()
    partner_org = registry.org(registry.token("secretariat"), "Reef Watch")
    result = runner.invoke(_cli_group(), ["create-token", "--role", "partner",
                                          "--organization", partner_org["id"],
                                          "--email", "p@reef.test"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert token.startswith("prt_")
    created = registry.create(token, title="Reef monitoring")
    assert created["owner_organization_id"] == partner_org["id"]

    bad = runner.invoke(_cli_group(), ["create-token", "--role", "partner",
                                       "--organization", str(uuid.uuid4())])
    assert bad.exit_code != 0
    assert "No organisation with id" in bad.output
    wrong_role = runner.invoke(_cli_group(), ["create-token", "--role", "admin"])
    assert wrong_role.exit_code == 2
