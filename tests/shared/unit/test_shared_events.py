"""The CloudEvents envelope, its Kafka binary binding, and the payload schemas of the shared
event contract."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from marshmallow import ValidationError

from shared.events import (
    EVENT_TYPES,
    INITIATIVE_APPROVED,
    ORGANIZATION_CREATED,
    CloudEvent,
    InvalidEvent,
    event_from_message,
    event_to_message,
    load_data,
    new_event,
    topic_name,
)
from shared.events.types import (
    TOPIC_ACCOUNTS,
    TOPIC_IDENTITY,
    TOPIC_INITIATIVES,
    TOPIC_ORGANIZATIONS,
    dump_data,
)


def initiative_data(**overrides) -> dict:
    """A valid ``InitiativeEventData`` in Python values (as a producer builds it)."""
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    snapshot = {
        "id": str(uuid.uuid4()), "public_id": "PR-2026-00007", "status": "published",
        "version": 4, "title": "Reef restoration", "description": "Restore reefs.",
        "lead_organization": {"id": str(uuid.uuid4()), "name": "Reef NGO", "acronym": None,
                              "stakeholder_group": "ngo", "country": "FJI"},
        "partners": [], "sdg_goals": [14], "sdg_targets": ["14.2"], "countries": ["FJI"],
        "regions": ["009"], "start_date": datetime(2026, 1, 1).date(), "end_date": None,
        "deliverables": [{"description": "40 ha", "due_date": datetime(2027, 1, 1).date()}],
        "resources": [{"type": "financing", "details": "Grant", "amount_usd": None}],
        "contact_email": "x@y.test", "source": None, "source_ref": None,
        "created_at": now, "updated_at": now, "published_at": now,
    } | overrides.pop("initiative", {})
    return {"action": "approve", "from_status": "submitted", "to_status": "published",
            "comment": "Welcome", "actor": {"role": "secretariat", "organization_id": None,
                                            "email": None},
            "initiative": snapshot} | overrides


def _message(**attrs):
    event = new_event(INITIATIVE_APPROVED, source="/registry", subject=str(uuid.uuid4()),
                      data=dump_data(INITIATIVE_APPROVED, initiative_data())).to_dict()
    event.update(attrs)
    return event


def test_envelope_round_trip_through_the_kafka_binding():
    subject = str(uuid.uuid4())
    data = dump_data(INITIATIVE_APPROVED, initiative_data())
    event = new_event(INITIATIVE_APPROVED, source="/registry", subject=subject, data=data)
    structured = event.to_dict()
    assert structured["specversion"] == "1.0"
    assert structured["time"].endswith("+00:00")
    uuid.UUID(structured["id"])

    key, headers, value = event_to_message(structured)
    assert key == subject.encode()
    names = dict(headers)
    assert names["ce_type"] == INITIATIVE_APPROVED.encode()
    assert names["ce_id"] == structured["id"].encode()
    assert names["ce_source"] == b"/registry" and names["ce_specversion"] == b"1.0"
    assert names["content-type"] == b"application/json"
    assert json.loads(value) == data

    back = event_from_message(headers, value)
    assert back == CloudEvent.from_dict(structured)
    assert (back.id, back.type, back.subject, back.data) == (event.id, event.type, subject, data)
    assert back.time == event.time and back.time.tzinfo is not None
    assert load_data(back.type, back.data)["initiative"]["version"] == 4


def test_non_ascii_data_survives_the_binding():
    data = {"organization": {"id": "1", "name": "Fundação Grupo Boticário · 中国",
                             "stakeholder_group": "ngo"}}
    event = new_event(ORGANIZATION_CREATED, source="/registry", subject="1", data=data)
    _key, headers, value = event_to_message(event.to_dict())
    assert event_from_message(headers, value).data == data


def test_time_in_another_offset_is_normalised_to_utc():
    event = CloudEvent(type="t", source="/s", subject="x", data={},
                       time=datetime(2026, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))))
    assert event.to_dict()["time"] == "2026-01-01T12:00:00+00:00"


def _headers_without(event: dict, name: str):
    _key, headers, value = event_to_message(event)
    return [(n, v) for n, v in headers if n != name], value


@pytest.mark.parametrize("missing", ["ce_id", "ce_type", "ce_source", "ce_subject", "ce_time",
                                     "ce_specversion"])
def test_missing_attributes_are_named(missing):
    headers, value = _headers_without(_message(), missing)
    with pytest.raises(InvalidEvent) as exc:
        event_from_message(headers, value)
    assert missing[3:] in exc.value.errors


@pytest.mark.parametrize("value", [b"{not json", b"\xff\xfe", b"[1, 2]", b'"text"', None])
def test_a_value_that_is_not_a_json_object_is_rejected(value):
    _key, headers, _ = event_to_message(_message())
    with pytest.raises(InvalidEvent) as exc:
        event_from_message(headers, value)
    assert "data" in exc.value.errors


def test_wrong_specversion_bad_time_and_empty_id_are_named():
    for attr, bad in (("specversion", "0.3"), ("time", "yesterday"), ("id", "")):
        _key, headers, value = event_to_message(_message(**{attr: bad}))
        with pytest.raises(InvalidEvent) as exc:
            event_from_message(headers, value)
        assert attr in exc.value.errors, attr


def test_headers_that_are_not_utf8_or_not_objects_are_rejected():
    _key, headers, value = event_to_message(_message())
    bad = [(n, b"\xff" if n == "ce_type" else v) for n, v in headers]
    with pytest.raises(InvalidEvent, match="ce_type"):
        event_from_message(bad, value)
    with pytest.raises(InvalidEvent):
        event_from_message(None, value)
    with pytest.raises(InvalidEvent):
        CloudEvent.from_dict(["not", "an", "object"])


def test_extension_headers_are_ignored():
    _key, headers, value = event_to_message(_message())
    headers = headers + [("ce_traceparent", b"00-abc"), ("x-other", b"1")]
    assert event_from_message(headers, value).type == INITIATIVE_APPROVED


def test_every_declared_type_is_versioned_and_on_its_topic():
    for type_, (topic, _schema) in EVENT_TYPES.items():
        assert type_.startswith("org.partnership-registry.") and type_.endswith(".v1")
        by_aggregate = {".organization.": TOPIC_ORGANIZATIONS, ".identity.": TOPIC_IDENTITY,
                        ".account.": TOPIC_ACCOUNTS, ".contact.": TOPIC_ACCOUNTS}
        expected = next((t for part, t in by_aggregate.items() if part in type_),
                        TOPIC_INITIATIVES)
        assert topic == expected


def test_topic_names_take_the_prefix(monkeypatch):
    assert topic_name("registry.initiatives") == "registry.initiatives"
    monkeypatch.setenv("KAFKA_TOPIC_PREFIX", "t123.")
    assert topic_name("registry.initiatives") == "t123.registry.initiatives"


@pytest.mark.parametrize("change, field", [
    ({"to_status": "deleted"}, "to_status"),
    ({"actor": {}}, "actor"),
    ({"initiative": {"version": 0}}, "initiative"),
    ({"initiative": {"status": "gone"}}, "initiative"),
    ({"initiative": {"sdg_goals": [18]}}, "initiative"),
    ({"initiative": {"countries": ["KE"]}}, "initiative"),
    ({"initiative": {"created_at": "2026-01-01T00:00:00"}}, "initiative"),  # naive
    ({"initiative": {"start_date": "first of may"}}, "initiative"),
])
def test_payload_schemas_reject_bad_data(change, field):
    data = dump_data(INITIATIVE_APPROVED, initiative_data())
    if "initiative" in change:
        data["initiative"] |= change["initiative"]
    else:
        data |= change
    with pytest.raises(ValidationError) as exc:
        load_data(INITIATIVE_APPROVED, data)
    assert field in exc.value.messages


def test_payloads_ignore_added_fields_and_fill_defaults():
    data = dump_data(INITIATIVE_APPROVED, initiative_data())
    data["new_optional_field"] = 1
    data["initiative"]["colour"] = "blue"
    del data["initiative"]["partners"]
    loaded = load_data(INITIATIVE_APPROVED, data)
    assert "new_optional_field" not in loaded and "colour" not in loaded["initiative"]
    assert loaded["initiative"]["partners"] == []


def test_unknown_type_is_a_key_error():
    with pytest.raises(KeyError):
        load_data("org.partnership-registry.unknown.v1", {})
    with pytest.raises(ValidationError) as exc:
        load_data(ORGANIZATION_CREATED, {"organization": {"id": "1"}})
    assert set(exc.value.messages["organization"]) == {"name", "stakeholder_group"}
