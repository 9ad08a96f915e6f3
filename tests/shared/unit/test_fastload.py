"""The payload fast path (``shared.events.fastload``) never accepts what marshmallow refuses,
returns exactly what marshmallow returns, and a malformed payload still reaches the DLT with
``dlt_reason=invalid-data`` and the field named — on the batch path too."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validates
from sqlalchemy.orm import DeclarativeBase

from shared.bus import Message
from shared.consumer import EventConsumer, ProcessedEventMixin
from shared.db import make_engine, make_session_factory, new_metadata
from shared.events import event_to_message, new_event
from shared.events import types as event_types
from shared.events.fastload import Unsupported, fast_loader
from shared.events.types import (
    EVENT_TYPES,
    INITIATIVE_APPROVED,
    INITIATIVE_CREATED,
    INITIATIVE_PROGRESS_REMINDER_DUE,
    INITIATIVE_REPORTING_STATUS_CHANGED,
    ORGANIZATION_CREATED,
    PROGRESS_REPORT_APPROVED,
    TOPIC_INITIATIVES,
    dump_data,
    load_data,
)


def _org() -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "name": "Pacific Reef Alliance", "acronym": "PRA",
            "stakeholder_group": "ngo", "country": "FJI"}


def _initiative_data() -> dict[str, Any]:
    """A full ``InitiativeEventData`` payload as producers send it (every field present)."""
    now = datetime(2026, 12, 2, 5, 57, 30, 482279, tzinfo=UTC)
    return dump_data(INITIATIVE_APPROVED, {
        "action": "approve", "from_status": "submitted", "to_status": "published",
        "comment": "Fine", "actor": {"role": "secretariat", "organization_id": None,
                                     "email": "sec@un.test"},
        "initiative": {
            "id": str(uuid.uuid4()), "public_id": "SDGP-1", "status": "published",
            "version": 3, "title": "Coral reefs 珊瑚", "description": "Restore reefs.",
            "lead_organization": _org(),
            "partners": [{"organization": _org(), "role": "funder"}],
            "sdg_goals": [13, 14], "sdg_targets": ["14.2", "13.1"], "countries": ["FJI"],
            "regions": ["009"], "start_date": date(2026, 1, 1), "end_date": date(2028, 12, 31),
            "deliverables": [{"description": "40 ha", "due_date": date(2028, 6, 30)},
                             {"description": "report", "due_date": None}],
            "resources": [{"type": "financing", "details": "Grant", "amount_usd": "250000.50"}],
            "contact_email": "reefs@ngo.test", "source": "import", "source_ref": "row 7",
            "created_at": now, "updated_at": now, "published_at": now,
        },
    })


_BAD_VALUES: tuple[Any, ...] = (
    None, 0, 18, -1, 5, 1.5, True, "5", "", "x" * 600, "abc", [], ["x"], {}, {"x": 1},
    "2026-13-45", "2026-01-01", "2026-01-01T00:00:00", "2026-01-01T00:00:00+00:00",
    "NaN", "Infinity", "1e3", "12.5", "published", "1.0",
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key / index path inside a JSON value."""
    out = []
    if isinstance(value, dict):
        for k, v in value.items():
            out.append((*prefix, k))
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.append((*prefix, i))
            out += _paths(v, (*prefix, i))
    return out


def _mutations(data: dict[str, Any]):
    """(label, payload): each path deleted, and set to each of ``_BAD_VALUES``."""
    yield "unchanged", data
    for path in _paths(data):
        parent_path, last = path[:-1], path[-1]
        for value in ("<delete>", *_BAD_VALUES):
            mutated = copy.deepcopy(data)
            parent = mutated
            for step in parent_path:
                parent = parent[step]
            if value == "<delete>":
                del parent[last]
            else:
                parent[last] = value
            yield f"{'.'.join(map(str, path))}={value!r}", mutated
    for bad_top in (None, [], "x", 5):
        yield f"top={bad_top!r}", bad_top


def _marshmallow(type_: str, data: Any) -> Any:
    try:
        return event_types._schema(type_).load(data)
    except ValidationError:
        return ValidationError


def _compliance_ref() -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "public_id": "SDGP-1", "title": "Coral reefs 珊瑚",
            "owner_organization_id": str(uuid.uuid4()), "owner_organization_name": "PRA",
            "stakeholder_group": "ngo", "countries": ["FJI"], "regions": ["009", "054"],
            "sdg_goals": [14], "url": "https://registry.test/initiatives/SDGP-1"}


def _progress_data() -> dict[str, Any]:
    """A full ``ProgressReportEventData`` payload (issue 9), as producers send it."""
    base = event_types._schema(INITIATIVE_APPROVED).load(_initiative_data())
    now = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    return dump_data(PROGRESS_REPORT_APPROVED, {
        "action": "approve", "from_status": "submitted", "to_status": "approved",
        "comment": None, "actor": base["actor"], "initiative": base["initiative"],
        "recipients": [{"email": "a@ngo.test", "locale": "zh", "role": "owner"}],
        "report": {
            "id": str(uuid.uuid4()), "number": 2, "status": "approved",
            "period_start": date(2025, 12, 1), "period_end": date(2026, 11, 30),
            "reported_on": date(2026, 12, 1), "overall_status": "on_track",
            "progress_percent": 40, "narrative_html": "<p>Forty <b>hectares</b></p>",
            "deliverable_updates": [{"deliverable_id": str(uuid.uuid4()),
                                     "status": "achieved", "note": "done"}],
            "indicator_values": [{"indicator_id": str(uuid.uuid4()), "value": "12.5",
                                  "period_start": date(2025, 12, 1),
                                  "period_end": date(2026, 11, 30), "comment": None}],
            "resources_mobilised": [{"amount": "1000000", "currency": "CNY",
                                     "description": "grant"}],
            "milestones": [{"date": date(2026, 6, 1), "title": "Nursery", "achieved": True}],
            "links": ["https://ngo.test/report.pdf"], "source": "form",
            "submitted_at": now, "approved_at": now},
        "review_url": "https://registry.test/secretariat/review/progress/x",
        "owner_url": "https://registry.test/my/initiatives/x/progress/2",
    })


def _status_changed_data() -> dict[str, Any]:
    return dump_data(INITIATIVE_REPORTING_STATUS_CHANGED, {
        "initiative": _compliance_ref(), "from_status": "green", "to_status": "yellow",
        "as_of": datetime(2026, 12, 2, 2, 0, tzinfo=UTC), "anchor_on": date(2025, 12, 1),
        "last_report_on": date(2025, 12, 1), "yellow_on": date(2026, 12, 1),
        "red_on": date(2027, 12, 1), "inactive": False})


def _reminder_data() -> dict[str, Any]:
    return dump_data(INITIATIVE_PROGRESS_REMINDER_DUE, {
        "reminder_id": str(uuid.uuid4()), "kind": "upcoming", "initiative": _compliance_ref(),
        "reporting_status": "green", "anchor_on": date(2025, 12, 1),
        "due_on": date(2026, 12, 1),
        "recipients": [{"email": "a@ngo.test", "locale": "en", "role": "owner"}],
        "report_url": "https://registry.test/my/initiatives/x/progress/new"})


@pytest.mark.parametrize("type_, data", [
    (INITIATIVE_APPROVED, _initiative_data()),
    (ORGANIZATION_CREATED, {"organization": _org()}),
    (PROGRESS_REPORT_APPROVED, _progress_data()),
    (INITIATIVE_REPORTING_STATUS_CHANGED, _status_changed_data()),
    (INITIATIVE_PROGRESS_REMINDER_DUE, _reminder_data()),
])
def test_the_fast_path_is_never_more_lenient_than_marshmallow_and_loads_the_same(type_, data):
    fast = event_types._fast(type_)
    assert fast is not None
    assert fast(data) is not None  # the common case takes the fast path
    checked = 0
    for label, payload in _mutations(data):
        expected = _marshmallow(type_, payload)
        got = fast(payload)
        if got is None:
            continue  # marshmallow decides
        assert expected is not ValidationError, f"accepted what marshmallow refuses: {label}"
        assert got == expected, label
        assert type(got) is type(expected)
        checked += 1
    assert checked > 10  # harmless mutations (a None where allowed, a shorter text) took it


def test_fast_path_output_equals_marshmallow_for_every_declared_field():
    """A field added to a schema is loaded by the fast path too (same keys, same values,
    same types: dates, aware datetimes, Decimals)."""
    data = _initiative_data()
    for type_ in EVENT_TYPES:
        if EVENT_TYPES[type_][1] is not event_types.InitiativeEventData:
            continue  # the progress and compliance events have their own schemas
        loaded = load_data(type_, data)
        assert loaded == event_types._schema(type_).load(data)
        snapshot = loaded["initiative"]
        assert isinstance(snapshot["start_date"], date)
        assert snapshot["updated_at"].utcoffset() is not None
        assert snapshot["resources"][0]["amount_usd"] == Decimal("250000.50")
    sparse = {"action": "create", "to_status": "draft", "actor": {"role": "partner"},
              "initiative": {"id": "i", "status": "draft", "version": 1, "title": "T",
                             "created_at": "2026-01-01T00:00:00+00:00",
                             "updated_at": "2026-01-01T00:00:00Z"}}
    assert event_types._fast(INITIATIVE_CREATED)(sparse) == \
        event_types._schema(INITIATIVE_CREATED).load(sparse)  # load_defaults filled alike


def test_schemas_with_features_the_fast_path_cannot_reproduce_get_none():
    class Hooked(Schema):
        class Meta:
            unknown = EXCLUDE

        name = fields.String()

        @validates("name")
        def no_x(self, value, **_kw):
            if "x" in value:
                raise ValidationError("no x")

    class Other(Schema):
        class Meta:
            unknown = EXCLUDE

        mail = fields.Email()

    for schema in (Hooked(), Other()):
        with pytest.raises(Unsupported):
            fast_loader(schema)


class _Base(DeclarativeBase):
    metadata = new_metadata()


class _Processed(ProcessedEventMixin, _Base):
    __tablename__ = "f_processed_events"


@pytest.mark.parametrize("atomic", [True, False])
def test_a_malformed_payload_goes_to_the_dlt_as_invalid_data_naming_the_field(tmp_path,
                                                                              atomic):
    engine = make_engine(f"sqlite:///{tmp_path / 'f.db'}")
    _Base.metadata.create_all(engine)
    applied: set[str] = set()  # event ids (a failed batch applies the good ones again)
    dead: list[Message] = []
    consumer = EventConsumer(
        "f", make_session_factory(engine), _Processed,
        {INITIATIVE_APPROVED: lambda _s, e, _d: applied.add(e.id)},
        [TOPIC_INITIATIVES], dead_letter=dead.extend, atomic_batches=atomic, backoff=0)

    def message(data: dict[str, Any], offset: int) -> Message:
        ev = new_event(INITIATIVE_APPROVED, source="/t", subject=data["initiative"]["id"],
                       data=data).to_dict()
        key, headers, value = event_to_message(ev)
        return Message(TOPIC_INITIATIVES, key, value, headers, partition=0, offset=offset)

    good = _initiative_data()
    bad_version = _initiative_data()
    bad_version["initiative"]["version"] = "three"
    bad_goal = _initiative_data()
    bad_goal["initiative"]["sdg_goals"] = [14, 99]
    unread_but_bad = _initiative_data()  # a field no handler reads is still checked
    unread_but_bad["initiative"]["deliverables"][0]["due_date"] = "soon"
    consumer.handle_batch([message(good, 1), message(bad_version, 2), message(bad_goal, 3),
                           message(unread_but_bad, 4), message(_initiative_data(), 5)])
    engine.dispose()

    assert len(applied) == 2
    headers = [dict(m.headers) for m in dead]
    assert [h["dlt_reason"] for h in headers] == [b"invalid-data"] * 3
    assert [h["dlt_original_offset"] for h in headers] == [b"2", b"3", b"4"]
    assert b"version" in headers[0]["dlt_error"]
    assert b"sdg_goals" in headers[1]["dlt_error"]
    assert b"due_date" in headers[2]["dlt_error"]
