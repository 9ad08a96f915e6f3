"""CloudEvents 1.0 envelope (https://github.com/cloudevents/spec, v1.0.2) and its Kafka binding.

Structured form (what the outbox stores)::

    {"id": "<uuid4>", "source": "/registry", "specversion": "1.0",
     "type": "org.partnership-registry.initiative.approved.v1", "subject": "<aggregate uuid>",
     "time": "2026-11-23T19:40:00.123456+00:00", "datacontenttype": "application/json",
     "data": {...}}

Kafka binary content mode (CloudEvents Kafka protocol binding 1.0): key = ``subject`` (the
aggregate id, so one aggregate's events stay ordered in one partition), attributes as ``ce_*``
headers, ``content-type`` header, value = the JSON of ``data``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate


class InvalidEvent(ValueError):
    """A message that is not a valid CloudEvent of ours; ``errors`` maps attribute -> reasons."""

    def __init__(self, message: str, errors: dict[str, Any] | None = None):
        super().__init__(message)
        self.errors = errors or {}


@dataclass(frozen=True)
class CloudEvent:
    """A CloudEvents 1.0 event: required attributes plus ``subject``, ``time`` and JSON ``data``."""

    type: str
    source: str
    subject: str
    data: dict[str, Any]
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    specversion: str = "1.0"
    datacontenttype: str = "application/json"

    def to_dict(self) -> dict[str, Any]:
        """The structured-mode JSON object (``time`` as RFC 3339 UTC)."""
        return {
            "id": self.id,
            "source": self.source,
            "specversion": self.specversion,
            "type": self.type,
            "subject": self.subject,
            "time": self.time.astimezone(UTC).isoformat(),
            "datacontenttype": self.datacontenttype,
            "data": self.data,
        }

    @classmethod
    def from_dict(cls, raw: Any) -> CloudEvent:
        """Validate a structured-mode object; raises :class:`InvalidEvent` naming the attributes."""
        if not isinstance(raw, dict):
            raise InvalidEvent("event is not a JSON object")
        fast = _well_formed(raw)
        if fast is not None:
            return fast
        try:
            loaded = _ENVELOPE_SCHEMA.load(raw)
        except ValidationError as exc:
            raise InvalidEvent("invalid CloudEvents envelope", exc.normalized_messages()) from exc
        return cls(**loaded)


class _EnvelopeSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # extension attributes are allowed by the spec and ignored here

    id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    source = fields.String(required=True, validate=validate.Length(min=1, max=200))
    specversion = fields.String(required=True, validate=validate.Equal("1.0"))
    type = fields.String(required=True, validate=validate.Length(min=1, max=200))
    subject = fields.String(required=True, validate=validate.Length(min=1, max=200))
    time = fields.AwareDateTime(required=True, default_timezone=UTC)
    datacontenttype = fields.String(load_default="application/json",
                                    validate=validate.Equal("application/json"))
    data = fields.Dict(required=True)


_ENVELOPE_SCHEMA = _EnvelopeSchema()  # built once, reused (schemas keep no per-load state)
_TEXT_ATTRS = ("id", "source", "type", "subject")


def _well_formed(raw: dict[str, Any]) -> CloudEvent | None:
    """The event when ``raw`` plainly satisfies :class:`_EnvelopeSchema` (the common case,
    checked in a few microseconds), else None: the schema then decides and names the errors."""
    for name in _TEXT_ATTRS:
        value = raw.get(name)
        if not isinstance(value, str) or not 1 <= len(value) <= 200:
            return None
    if raw.get("specversion") != "1.0" or not isinstance(raw.get("data"), dict):
        return None
    if raw.get("datacontenttype", "application/json") != "application/json":
        return None
    stamp = raw.get("time")
    if not isinstance(stamp, str):
        return None
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return CloudEvent(type=raw["type"], source=raw["source"], subject=raw["subject"],
                      data=raw["data"], id=raw["id"], time=when)


def new_event(type_: str, *, source: str, subject: str, data: dict[str, Any]) -> CloudEvent:
    """A new event with a fresh UUID id and the current UTC time."""
    return CloudEvent(type=type_, source=source, subject=str(subject), data=data)


_ATTRS = ("id", "source", "specversion", "type", "subject", "time")


#: the context attributes carried as ``ce_*`` headers, in header order
MESSAGE_ATTRIBUTES = _ATTRS
_HEADER_NAMES = tuple((a, f"ce_{a}") for a in _ATTRS)  # built once, not per record
_CONTENT_TYPE = ("content-type", b"application/json")
_SUBJECT = _ATTRS.index("subject")


def binary_message(attributes: dict[str, Any], data_json: str
                   ) -> tuple[bytes, list[tuple[str, bytes]], bytes]:
    """Kafka ``(key, headers, value)`` in binary content mode from the context attributes
    (``MESSAGE_ATTRIBUTES``) and the JSON text of ``data`` (used as the value as it is)."""
    headers = [(name, (v if type(v := attributes[a]) is str else str(v)).encode())
               for a, name in _HEADER_NAMES]
    headers.append(_CONTENT_TYPE)
    subject = headers[_SUBJECT][1]  # ce_subject's bytes are the key
    return subject, headers, data_json.encode()


def event_to_message(event: dict[str, Any]) -> tuple[bytes, list[tuple[str, bytes]], bytes]:
    """Structured event -> Kafka ``(key, headers, value)`` in binary content mode."""
    return binary_message(event, json.dumps(event["data"], ensure_ascii=False,
                                            separators=(",", ":")))


def event_from_message(headers: list[tuple[str, bytes]] | None, value: bytes | None) -> CloudEvent:
    """Kafka binary-mode record -> validated :class:`CloudEvent`.

    Raises :class:`InvalidEvent` for missing ``ce_*`` headers, undecodable bytes or a value that
    is not a JSON object. Data arriving from Kafka is never trusted.
    """
    attrs: dict[str, Any] = {}
    for name, raw in headers or []:
        if not isinstance(name, str) or not name.startswith("ce_"):
            continue
        try:
            attrs[name[3:]] = raw.decode("utf-8") if raw is not None else None
        except (UnicodeDecodeError, AttributeError) as exc:
            raise InvalidEvent(f"header {name} is not UTF-8") from exc
    try:
        attrs["data"] = json.loads(value) if value is not None else None
    except (ValueError, TypeError) as exc:
        raise InvalidEvent("value is not JSON", {"data": [str(exc)]}) from exc
    return CloudEvent.from_dict(attrs)
