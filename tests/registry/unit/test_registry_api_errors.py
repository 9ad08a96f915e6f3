"""Bad input never gives a 500: every error is an RFC 9457 problem naming the fields; plus the
OpenAPI document, the reference endpoints and the health probes (SQLite)."""

from __future__ import annotations

import uuid

import pytest

from registry.initiatives.models import Initiative
from shared import reference


@pytest.fixture
def partner(registry):
    return registry.token("partner")


def test_malformed_json_is_400(registry, partner, problem):
    resp = registry.client.post("/api/v1/initiatives", data='{"title": "x",',
                                content_type="application/json",
                                headers=registry.headers(partner))
    problem(resp, 400)
    assert registry.count(Initiative) == 0


@pytest.mark.parametrize("body, fields", [
    ({"title": "Reefs", "colour": "blue"}, ["colour"]),
    ({"title": "Reefs", "sdg_targets": ["14.1", "12.99"]}, ["sdg_targets.1"]),
    ({"title": "Reefs", "sdg_targets": [14]}, ["sdg_targets.0"]),
    ({"title": "Reefs", "sdg_goals": [0, 18]}, ["sdg_goals.0", "sdg_goals.1"]),
    ({"title": "Reefs", "countries": ["XXX"]}, ["countries.0"]),
    ({"title": "Reefs", "countries": ["KEN", "KEN"]}, ["countries"]),
    ({"title": "Reefs", "countries": "KEN"}, ["countries"]),
    ({"title": "Reefs", "regions": ["999"]}, ["regions.0"]),
    ({"title": "Reefs", "start_date": "2026-05-01", "end_date": "2026-04-30"}, ["end_date"]),
    ({"title": "Reefs", "start_date": "tomorrow"}, ["start_date"]),
    ({"title": 42}, ["title"]),
    ({"title": "ab"}, ["title"]),
    ({}, ["title"]),
    ({"title": "Reefs", "contact_email": "not-an-email"}, ["contact_email"]),
    ({"title": "Reefs", "deliverables": [{"description": ""}]}, ["deliverables.0.description"]),
    ({"title": "Reefs", "deliverables": [{"description": "x", "when": "soon"}]},
     ["deliverables.0.when"]),
    ({"title": "Reefs", "resources": [{"type": "gold"}]}, ["resources.0.type"]),
    ({"title": "Reefs", "resources": [{"type": "financing", "amount_usd": "-5"}]},
     ["resources.0.amount_usd"]),
    ({"title": "Reefs", "partners": [{"organization_id": "not-a-uuid"}]},
     ["partners.0.organization_id"]),
    ({"title": "Reefs", "lead_organization_id": str(uuid.UUID(int=1))},
     ["lead_organization_id"]),
    ({"title": "Reefs", "partners": [{"organization_id": str(uuid.UUID(int=2)),
                                      "role": "boss"}]}, ["partners.0.role"]),
])
def test_invalid_initiative_input_is_422_naming_the_field(registry, partner, problem, body,
                                                          fields):
    body = problem(registry.post("/api/v1/initiatives", body, partner), 422, *fields)
    for error in body["errors"]:
        assert error["message"]
    assert registry.count(Initiative) == 0
    assert registry.outbox() == []


def test_a_json_array_or_other_content_is_not_a_500(registry, partner, problem):
    problem(registry.post("/api/v1/initiatives", [1, 2], partner), 422)
    resp = registry.client.post("/api/v1/initiatives", data="title=x",
                                content_type="application/x-www-form-urlencoded",
                                headers=registry.headers(partner))
    assert resp.status_code in (400, 415, 422) and resp.mimetype == "application/problem+json"


def test_oversize_body_is_413(registry, partner, problem):
    body = problem(registry.post("/api/v1/initiatives",
                                 {"title": "Big", "description": "x" * 1_100_000}, partner), 413)
    assert "1048576" in body["detail"]
    assert registry.count(Initiative) == 0


def test_unknown_ids_and_paths_are_404_problems(registry, partner, problem):
    problem(registry.get("/api/v1/initiatives/not-a-uuid"), 404)
    problem(registry.get("/api/v1/nothing-here"), 404)
    problem(registry.patch(f"/api/v1/initiatives/{uuid.uuid4()}", {"title": "Gone"}, partner),
            404)
    problem(registry.action(partner, str(uuid.uuid4()), "submit"), 404)


def test_wrong_method_is_405_problem(registry, problem):
    problem(registry.client.delete("/api/v1/initiatives"), 405)


@pytest.mark.parametrize("query, fields", [
    ("per_page=0", ["per_page"]),
    ("per_page=101", ["per_page"]),
    ("page=0", ["page"]),
    ("page=abc", ["page"]),
    ("sdg=18", ["sdg"]),
    ("sdg=fourteen", ["sdg"]),
    ("target=12.99", ["target"]),
    ("country=XX", ["country"]),
    ("region=777", ["region"]),
    ("status=deleted", ["status"]),
    ("q=" + "x" * 201, ["q"]),
])
def test_query_parameters_out_of_range_are_422(registry, problem, query, fields):
    body = problem(registry.get(f"/api/v1/initiatives?{query}"), 422, *fields)
    assert all(e["location"] == "query" for e in body["errors"])


def test_organisation_query_out_of_range_is_422(registry, problem):
    problem(registry.get("/api/v1/organizations?per_page=1000"), 422, "per_page")
    problem(registry.get("/api/v1/organizations?stakeholder_group=pirates"), 422,
            "stakeholder_group")


def test_review_body_rejects_unknown_fields(registry, partner, complete, problem):
    draft = registry.create(partner, **complete(registry, partner))
    problem(registry.post(f"/api/v1/initiatives/{draft['id']}/submit", {"note": "hi"}, partner),
            422, "note")
    assert registry.get(f"/api/v1/initiatives/{draft['id']}", partner).json["status"] == "draft"


def test_openapi_document_lists_the_endpoints(registry):
    resp = registry.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    doc = resp.json
    assert doc["openapi"].startswith("3.0")  # what the self-served Swagger UI renders
    paths = doc["paths"]
    expected = {
        "/api/v1/initiatives": {"get", "post"},
        "/api/v1/initiatives/{initiative_id}": {"get", "patch"},
        "/api/v1/initiatives/{initiative_id}/submit": {"post"},
        "/api/v1/initiatives/{initiative_id}/approve": {"post"},
        "/api/v1/initiatives/{initiative_id}/request-changes": {"post"},
        "/api/v1/initiatives/{initiative_id}/reject": {"post"},
        "/api/v1/organizations": {"get", "post"},
        "/api/v1/organizations/{organization_id}": {"get"},
        "/api/v1/reference/sdg-goals": {"get"},
        "/api/v1/reference/sdg-targets": {"get"},
        "/api/v1/reference/countries": {"get"},
        "/api/v1/reference/regions": {"get"},
        "/api/v1/reference/stakeholder-groups": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    # the PATCH body documents no required field (it is partial)
    schemas = doc["components"]["schemas"]
    patch = next(v for k, v in schemas.items() if k.startswith("InitiativePatch"))
    assert not patch.get("required")


def test_reference_endpoints(registry):
    goals = registry.get("/api/v1/reference/sdg-goals").json
    assert len(goals) == 17 and goals[13]["code"] == 14
    assert goals[13]["title_en"] == reference.goals()[14].title_en
    targets = registry.get("/api/v1/reference/sdg-targets").json
    assert len(targets) == 169
    t141 = next(t for t in targets if t["code"] == "14.1")
    assert t141["goal"] == 14 and t141["title_en"] == reference.targets()["14.1"].title_en
    assert {t["code"] for t in targets} == set(reference.targets())
    countries = registry.get("/api/v1/reference/countries").json
    assert len(countries) == 248
    names = [c["name_en"] for c in countries]
    assert names == sorted(names)
    fiji = next(c for c in countries if c["iso_alpha3"] == "FJI")
    assert fiji["region_en"] == "Oceania" and fiji["sids"] is True
    regions = {r["code"]: r for r in registry.get("/api/v1/reference/regions").json}
    assert regions["001"]["level"] == "world" and regions["009"]["name_en"] == "Oceania"
    assert regions["009"]["parent"] == "001"
    groups = registry.get("/api/v1/reference/stakeholder-groups").json
    assert [g["code"] for g in groups] == list(reference.STAKEHOLDER_GROUPS)


def test_health_and_readiness(registry, tmp_path):
    assert registry.get("/healthz").json == {"status": "ok", "service": "registry"}
    ready = registry.get("/readyz")
    assert ready.status_code == 200 and ready.json["checks"] == {"database": "ok"}
    assert ready.headers["X-Request-ID"]
    echoed = registry.client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["X-Request-ID"] == "abc-123"


def test_readiness_is_503_naming_an_unreachable_database(tmp_path):
    from registry.app import create_app

    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/missing/dir/r.db",
                      "TESTING": True})
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.json["status"] == "unavailable"
    assert resp.json["checks"]["database"].startswith("error:")
    assert app.test_client().get("/healthz").status_code == 200
    app.extensions["db_engine"].dispose()


@pytest.mark.parametrize("path, name", [("/api/v1/initiatives?sdgs=14", "sdgs"),
                                        ("/api/v1/organizations?groups=ngo", "groups")])
def test_unknown_query_parameter_is_a_422_naming_it(registry, path, name):
    """A misspelt filter must not silently return everything."""
    resp = registry.get(path)
    assert resp.status_code == 422
    assert [e["field"] for e in resp.json["errors"]] == [name]


@pytest.mark.parametrize("body, fields", [
    ({"title": "Reefs\x00 of Lau"}, ["title"]),
    ({"title": "Reefs", "description": "bad \ud800 half"}, ["description"]),
    ({"title": "Reefs", "deliverables": [{"description": "ok", "due_date": None},
                                         {"description": "40 ha\x00"}]},
     ["deliverables.1.description"]),
])
def test_text_a_database_cannot_store_is_422_naming_the_field(registry, partner, problem, body,
                                                                fields):
    # PostgreSQL's text cannot hold NUL and no encoder writes a lone surrogate: both used to
    # reach the database and answer 500
    problem(registry.post("/api/v1/initiatives", body, partner), 422, *fields)
    assert registry.count(Initiative) == 0
