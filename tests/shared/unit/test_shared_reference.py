"""Reference data (SDG framework, UN M49) and the problem-details helpers."""

from __future__ import annotations

import csv

import pytest
from flask import Flask

from shared import reference
from shared.problems import (
    Conflict,
    InvalidTransition,
    NotAllowed,
    NotFound,
    Unauthenticated,
    ValidationError,
    field_errors,
    register_error_handlers,
)


def test_framework_and_m49_counts():
    assert len(reference.goals()) == 17 and set(reference.goals()) == set(range(1, 18))
    assert len(reference.targets()) == 169
    assert len(reference.indicators()) == 251
    assert len(reference.countries()) == 248
    for code, target in reference.targets().items():
        assert code.split(".")[0] == str(target.goal)
        assert target.title_en
    for indicator in reference.indicators().values():
        assert indicator.target in reference.targets()


def test_reference_files_match_the_shared_data_set(shared_data):
    """The packaged copies equal ``../shared/data`` (row counts and codes)."""
    with (shared_data / "sdg-framework" / "targets.csv").open(encoding="utf-8-sig") as fh:
        assert {r["target_code"] for r in csv.DictReader(fh)} == set(reference.targets())
    with (shared_data / "m49" / "m49_countries.csv").open(encoding="utf-8-sig") as fh:
        assert {r["iso_alpha3"] for r in csv.DictReader(fh)} == set(reference.countries())


def test_goal_of_target():
    assert reference.goal_of_target("14.1") == 14
    assert reference.goal_of_target("12.a") == 12
    with pytest.raises(KeyError):
        reference.goal_of_target("12.99")


def test_region_names_for():
    assert reference.region_names_for(["FJI", "KEN", "FJI"], []) == ["Africa", "Oceania"]
    assert reference.region_names_for([], ["001"]) == ["World"]
    assert reference.region_names_for([], ["009"]) == ["Oceania"]
    assert reference.region_names_for([], ["419"]) == ["Americas"]  # a sub-region
    assert reference.region_names_for(["XXX"], ["999"]) == []
    assert reference.region_names_for(["DEU"], ["009", "001"]) == ["Europe", "Oceania", "World"]


def test_regions_form_a_tree_under_world():
    regions = reference.regions()
    assert regions["001"].parent is None
    assert {r.name_en for r in regions.values() if r.level == "region"} == {
        "Africa", "Americas", "Asia", "Europe", "Oceania"}
    for region in regions.values():
        if region.code != "001":
            assert region.parent in regions, region


def test_field_errors_flattens_nested_messages():
    messages = {
        "sdg_targets": {1: ["Unknown SDG target '12.99'."]},
        "deliverables": {0: {"due_date": ["Not a valid date."], "_schema": ["Bad item."]}},
        "_schema": ["end_date is before start_date."],
        "title": "Missing.",
    }
    flat = field_errors(messages, "json")
    assert {(e["field"], e["message"]) for e in flat} == {
        ("sdg_targets.1", "Unknown SDG target '12.99'."),
        ("deliverables.0.due_date", "Not a valid date."),
        ("deliverables.0", "Bad item."),
        ("_schema", "end_date is before start_date."),
        ("title", "Missing."),
    }
    assert all(e["location"] == "json" for e in flat)
    assert "location" not in field_errors(["x"])[0]
    assert field_errors(["top"]) == [{"field": "_schema", "message": "top"}]


@pytest.mark.parametrize("error, status", [
    (NotFound("gone"), 404), (NotAllowed("no"), 403), (Unauthenticated("who?"), 401),
    (InvalidTransition("later", extra={"current_status": "draft"}), 409),
    (Conflict("twice", extra={"existing_id": "1"}), 409),
    (ValidationError("bad", errors=[{"field": "x", "message": "y"}]), 422),
    (RuntimeError("internal secret"), 500),
])
def test_domain_errors_become_problem_documents(error, status):
    app = Flask("t")
    register_error_handlers(app)

    @app.get("/boom")
    def boom():
        raise error

    resp = app.test_client().get("/boom")
    assert resp.status_code == status and resp.mimetype == "application/problem+json"
    body = resp.json
    assert body["status"] == status and body["instance"] == "/boom"
    if status == 500:
        assert "internal secret" not in resp.get_data(as_text=True)
    else:
        assert body["detail"] == str(error)
        assert body["type"].startswith("https://partnership-registry.org/problems/")
        for key, value in error.extra.items():
            assert body[key] == value
        assert body.get("errors", []) == error.errors
