"""The content shape (``versions.content_of``) and the field-by-field diff between two
contents (``versions.diff_content``): scalars added/removed/changed, each kind of list
compared item by item (codes, partners by organisation, deliverables by id, resources by
position), dates and decimals by value."""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from registry.initiatives import versions
from registry.initiatives.versions import CONTENT_FIELDS, diff_content


def _org(name: str, oid: str | None = None) -> dict[str, Any]:
    return {"id": oid or str(uuid.uuid4()), "name": name, "acronym": None,
            "stakeholder_group": "ngo", "country": None}


REEF, KELP, FISH = _org("Reef Trust"), _org("Kelp Union"), _org("Fish Forum")
D1, D2, D3 = (str(uuid.uuid4()) for _ in range(3))


def _content(**overrides: Any) -> dict[str, Any]:
    base = {
        "title": "Coral reef restoration",
        "description": "Restore 40 ha of reef.",
        "lead_organization": REEF,
        "partners": [{"organization": KELP, "role": "partner"},
                     {"organization": FISH, "role": "funding"}],
        "sdg_goals": [14],
        "sdg_targets": ["14.1", "14.2"],
        "countries": ["FJI", "PLW"],
        "regions": ["009"],
        "start_date": "2026-01-01",
        "end_date": "2028-12-31",
        "deliverables": [
            {"id": D1, "description": "Baseline survey", "due_date": "2026-06-30",
             "status": "planned"},
            {"id": D2, "description": "40 ha restored", "due_date": "2028-06-30",
             "status": "planned"}],
        "resources": [{"type": "financing", "details": "Grant", "amount_usd": "1000.00"},
                      {"type": "in_kind_contribution", "details": "Boats",
                       "amount_usd": None}],
        "contact_email": "reef@ngo.test",
    }
    return base | overrides


def test_identical_contents_have_no_difference():
    before = _content()
    diff = diff_content(before, copy.deepcopy(before), from_=1, to=2)
    assert diff == {"from": 1, "to": 2, "fields": [], "lists": {}, "changed_fields": []}


@pytest.mark.parametrize("name, before, after, change", [
    ("title", "Coral reef restoration", "Coral reefs of Fiji", "changed"),
    ("description", None, "Restore reefs.", "added"),
    ("description", "Restore reefs.", None, "removed"),
    ("contact_email", "a@ngo.test", "b@ngo.test", "changed"),
    ("start_date", "2026-01-01", "2026-02-01", "changed"),
    ("end_date", None, "2029-01-01", "added"),
    ("lead_organization", None, KELP, "added"),
    ("lead_organization", REEF, None, "removed"),
    ("lead_organization", REEF, KELP, "changed"),
])
def test_a_scalar_field_change_is_named_with_before_and_after(name, before, after, change):
    diff = diff_content(_content(**{name: before}), _content(**{name: after}))
    assert diff["fields"] == [{"field": name, "change": change, "before": before,
                               "after": after}]
    assert diff["lists"] == {} and diff["changed_fields"] == [name]


def test_the_lead_organisation_compares_by_id_not_by_its_current_name():
    renamed = REEF | {"name": "Reef Trust (renamed)"}
    assert diff_content(_content(), _content(lead_organization=renamed))["fields"] == []


def test_dates_compare_by_value_in_either_form():
    assert diff_content(_content(start_date="2026-01-01"),
                        _content(start_date=date(2026, 1, 1)))["fields"] == []
    diff = diff_content(_content(start_date=date(2026, 1, 1)),
                        _content(start_date=date(2026, 1, 2)))
    assert diff["fields"] == [{"field": "start_date", "change": "changed",
                               "before": "2026-01-01", "after": "2026-01-02"}]


@pytest.mark.parametrize("name, before, after, added, removed, unchanged", [
    ("sdg_targets", ["14.1", "14.2"], ["14.2", "14.5", "12.a"], ["14.5", "12.a"], ["14.1"], 1),
    ("sdg_goals", [14], [12, 14], [12], [], 1),
    ("countries", ["FJI", "PLW"], ["PLW"], [], ["FJI"], 1),
    ("regions", ["009"], ["009", "053"], ["053"], [], 1),
    ("regions", [], ["001"], ["001"], [], 0),
])
def test_code_lists_compare_code_by_code(name, before, after, added, removed, unchanged):
    diff = diff_content(_content(**{name: before}), _content(**{name: after}))
    assert diff["lists"] == {name: {"added": added, "removed": removed, "changed": [],
                                    "unchanged": unchanged}}
    assert diff["fields"] == [] and diff["changed_fields"] == [name]


def test_reordered_codes_are_no_change():
    diff = diff_content(_content(countries=["FJI", "PLW"]), _content(countries=["PLW", "FJI"]))
    assert diff["lists"] == {}


def test_partners_compare_by_organisation_added_removed_and_role_changed():
    shark = _org("Shark Watch")
    after = [{"organization": FISH | {"name": "Fish Forum (new name)"}, "role": "implementing"},
             {"organization": shark, "role": "partner"}]
    diff = diff_content(_content(), _content(partners=after))
    assert diff["lists"]["partners"] == {
        "added": [{"organization": shark, "role": "partner"}],
        "removed": [{"organization": KELP, "role": "partner"}],
        "changed": [{"key": FISH["id"], "fields": ["role"],
                     "before": {"organization": FISH, "role": "funding"},
                     "after": after[0]}],
        "unchanged": 0}
    assert diff["changed_fields"] == ["partners"]


def test_a_partner_moved_in_the_list_is_unchanged():
    before = _content()
    after = _content(partners=list(reversed(before["partners"])))
    assert diff_content(before, after)["lists"] == {}


def test_deliverables_compare_by_id_whatever_their_position():
    d3 = {"id": D3, "description": "Monitoring report", "due_date": "2027-01-31",
          "status": "planned"}
    after = [
        d3,
        {"id": D2, "description": "40 ha restored", "due_date": "2028-09-30",
         "status": "in_progress"},
    ]
    diff = diff_content(_content(), _content(deliverables=after))["lists"]["deliverables"]
    assert diff["added"] == [d3]
    assert [d["id"] for d in diff["removed"]] == [D1]
    assert diff["changed"] == [{
        "key": D2, "fields": ["due_date", "status"],
        "before": _content()["deliverables"][1], "after": after[1]}]
    assert diff["unchanged"] == 0


def test_an_unchanged_deliverable_is_counted_not_listed():
    before = _content()
    after = copy.deepcopy(before)
    after["deliverables"][0]["description"] = "Baseline survey of 12 sites"
    diff = diff_content(before, after)["lists"]["deliverables"]
    assert (diff["added"], diff["removed"], diff["unchanged"]) == ([], [], 1)
    assert [(c["key"], c["fields"]) for c in diff["changed"]] == [(D1, ["description"])]


def test_deliverables_without_ids_compare_by_position():
    before = [{"id": None, "description": "A", "due_date": None, "status": "planned"}]
    after = [{"id": None, "description": "B", "due_date": None, "status": "planned"},
             {"id": None, "description": "C", "due_date": None, "status": "planned"}]
    diff = diff_content(_content(deliverables=before),
                        _content(deliverables=after))["lists"]["deliverables"]
    assert [c["key"] for c in diff["changed"]] == ["#0"]
    assert diff["added"] == [after[1]]


def test_resources_compare_by_position_and_amounts_by_value():
    before = _content()
    same_amount = copy.deepcopy(before)
    same_amount["resources"][0]["amount_usd"] = "1000"  # = "1000.00"
    assert diff_content(before, same_amount)["lists"] == {}

    after = copy.deepcopy(before)
    after["resources"][0]["amount_usd"] = "1500.50"
    del after["resources"][1]
    diff = diff_content(before, after)["lists"]["resources"]
    assert diff["changed"] == [{"key": 0, "fields": ["amount_usd"],
                                "before": before["resources"][0],
                                "after": after["resources"][0]}]
    assert diff["removed"] == [before["resources"][1]] and diff["added"] == []
    assert diff["unchanged"] == 0

    grown = copy.deepcopy(before)
    grown["resources"].append({"type": "other", "details": "Volunteers", "amount_usd": None})
    diff = diff_content(before, grown)["lists"]["resources"]
    assert (diff["added"], diff["removed"], diff["changed"], diff["unchanged"]) == (
        [grown["resources"][2]], [], [], 2)


def test_decimal_amounts_become_text_with_two_decimals():
    before = _content()
    after = copy.deepcopy(before)
    after["resources"][0]["amount_usd"] = Decimal("2500.5")
    change = diff_content(before, after)["lists"]["resources"]["changed"][0]
    assert change["after"]["amount_usd"] == "2500.50"
    json.dumps(diff_content(before, after))  # JSON-ready


def test_several_fields_are_named_in_content_order():
    after = _content(title="New title", countries=["FJI"], contact_email=None,
                     deliverables=[])
    diff = diff_content(_content(), after)
    assert diff["changed_fields"] == ["title", "countries", "deliverables", "contact_email"]
    assert [f["field"] for f in diff["fields"]] == ["title", "contact_email"]
    assert diff["fields"][1]["change"] == "removed"
    assert set(diff["lists"]) == {"countries", "deliverables"}
    assert len(diff["lists"]["deliverables"]["removed"]) == 2


def test_a_field_missing_from_an_older_content_reads_as_empty():
    before = {k: v for k, v in _content().items() if k not in ("regions", "description")}
    diff = diff_content(before, _content())
    assert diff["changed_fields"] == ["description", "regions"]
    assert diff["fields"][0]["change"] == "added"
    assert diff["lists"]["regions"]["added"] == ["009"]


# -- content_of -----------------------------------------------------------------------------
@dataclass
class _Org:
    id: uuid.UUID
    name: str
    acronym: str | None = None
    stakeholder_group: str = "ngo"
    country: str | None = "FJI"


@dataclass
class _Partner:
    organization: _Org
    role: str


@dataclass
class _Deliverable:
    id: uuid.UUID
    description: str
    due_date: date | None
    status: str | None = None


@dataclass
class _Resource:
    type: str
    details: str | None
    amount_usd: Decimal | None


@dataclass
class _Initiative:
    title: str = "Reefs"
    description: str | None = None
    lead_organization: _Org | None = None
    partners: list = field(default_factory=list)
    goal_codes: list = field(default_factory=list)
    target_codes: list = field(default_factory=list)
    country_codes: list = field(default_factory=list)
    region_codes: list = field(default_factory=list)
    start_date: date | None = None
    end_date: date | None = None
    deliverables: list = field(default_factory=list)
    resources: list = field(default_factory=list)
    contact_email: str | None = None


def test_content_of_gives_every_field_json_ready_and_typed_on_request():
    lead = _Org(uuid.uuid4(), "Reef Trust")
    did = uuid.uuid4()
    initiative = _Initiative(
        description="D", lead_organization=lead, partners=[_Partner(lead, "funding")],
        goal_codes=[14], target_codes=["14.1"], country_codes=["FJI"], region_codes=["009"],
        start_date=date(2026, 1, 1), end_date=date(2027, 1, 1),
        deliverables=[_Deliverable(did, "Survey", date(2026, 6, 30))],
        resources=[_Resource("financing", None, Decimal("12.5"))], contact_email="c@x.test")
    content = versions.content_of(initiative)
    assert tuple(content) == CONTENT_FIELDS
    assert json.loads(json.dumps(content)) == content
    assert content["lead_organization"] == {"id": str(lead.id), "name": "Reef Trust",
                                            "acronym": None, "stakeholder_group": "ngo",
                                            "country": "FJI"}
    assert content["deliverables"] == [{"id": str(did), "description": "Survey",
                                        "due_date": "2026-06-30", "status": "planned"}]
    assert content["resources"][0]["amount_usd"] == "12.50"
    assert content["start_date"] == "2026-01-01"

    typed = versions.content_of(initiative, json_ready=False)
    assert typed["start_date"] == date(2026, 1, 1)
    assert typed["resources"][0]["amount_usd"] == Decimal("12.50")
    assert versions.json_content(typed) == content
    assert versions.public_content(content).keys() == set(CONTENT_FIELDS) - {"contact_email"}
