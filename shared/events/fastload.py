"""A fast path for loading event payloads, derived from their marshmallow schemas.

Consumers load every payload they handle (data from the bus is never trusted), and a
marshmallow ``load`` of a full initiative snapshot cost ~200 µs of Python per event — half of a
consumer's time per event (issue 6, ``bench/bench_bus.py`` profile). :func:`fast_loader` reads a
schema's declared fields once and returns a plain-Python function that accepts a payload only
when it *plainly* satisfies the schema — every field of the right JSON type, every validator
satisfied, nothing to coerce — and then returns exactly what ``schema.load`` would return. For
anything else it returns ``None`` and the caller loads with marshmallow, which decides and names
the fields in its errors. So the schema stays the one source of truth; the fast path can only
be *stricter* than marshmallow (it leaves edge cases such as ``"5"`` for an integer to it),
never more lenient, and ``tests/shared/unit/test_fastload.py`` checks that field by field.

Supported: ``String``, ``Integer``, ``Boolean``, ``Decimal``, ``Date``, ``DateTime`` /
``AwareDateTime``
(ISO format: the same ``fromisoformat`` marshmallow uses), ``Dict`` (no key/value fields),
``List``, ``Nested`` (not ``many``); validators ``Length``, ``Range``, ``OneOf``, ``Equal``;
``required``, ``allow_none``, ``load_default``; ``unknown = EXCLUDE``. A schema using anything
else (hooks, ``data_key``, other fields or validators) gets no fast path
(:class:`Unsupported` at build time: ``load_data`` then always uses marshmallow).
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Callable
from typing import Any

from marshmallow import EXCLUDE, Schema, fields, missing, validate

#: a loader: the loaded payload, or None when marshmallow must decide
FastLoader = Callable[[Any], dict[str, Any] | None]

_BAD = object()  # "not plainly valid": the caller falls back to marshmallow
_PLAIN_DECIMAL = re.compile(r"-?\d{1,40}(\.\d{1,40})?")


class Unsupported(TypeError):
    """The schema uses a field, validator or option the fast path does not reproduce."""


def _validator(v: Callable[[Any], Any]) -> Callable[[Any], bool]:
    """A predicate equivalent to marshmallow validator ``v`` (True: passes); ``Unsupported``
    for any other validator (a plain function included)."""
    if type(v) is validate.Length:
        lo, hi, eq = v.min, v.max, v.equal
        if eq is not None:
            return lambda x: len(x) == eq
        return lambda x: (lo is None or len(x) >= lo) and (hi is None or len(x) <= hi)
    if type(v) is validate.Range:
        lo, hi, lo_in, hi_in = v.min, v.max, v.min_inclusive, v.max_inclusive

        def in_range(x: Any) -> bool:
            if lo is not None and (x < lo if lo_in else x <= lo):
                return False
            return not (hi is not None and (x > hi if hi_in else x >= hi))
        return in_range
    if type(v) is validate.OneOf:
        choices = tuple(v.choices)
        return lambda x: x in choices
    if type(v) is validate.Equal:
        wanted = v.comparable
        return lambda x: x == wanted
    raise Unsupported(f"validator {type(v).__name__}")


def _converter(field: fields.Field) -> Callable[[Any], Any]:
    """value -> loaded value or ``_BAD``, for a non-None value of ``field`` (validators
    included)."""
    base = _base_converter(field)
    checks = [_validator(v) for v in field.validators]
    if not checks:
        return base

    def checked(value: Any) -> Any:
        out = base(value)
        if out is _BAD:
            return _BAD
        for check in checks:
            if not check(out):
                return _BAD
        return out
    return checked


def _base_converter(field: fields.Field) -> Callable[[Any], Any]:  # noqa: C901 - one per type
    kind = type(field)
    if kind is fields.String:
        return lambda v: v if type(v) is str else _BAD
    if kind is fields.Integer:
        return lambda v: v if type(v) is int else _BAD  # bool, float, "5": marshmallow decides
    if kind is fields.Boolean:
        return lambda v: v if type(v) is bool else _BAD  # "true", 1: marshmallow decides
    if (kind is fields.Decimal and isinstance(field, fields.Decimal) and field.places is None
            and not field.allow_nan):
        def to_decimal(v: Any) -> Any:
            if type(v) is str and _PLAIN_DECIMAL.fullmatch(v):
                return decimal.Decimal(v)
            return _BAD
        return to_decimal
    if kind in (fields.Date, fields.DateTime, fields.AwareDateTime):
        assert isinstance(field, fields.DateTime | fields.Date)
        parse: Callable[[str], Any] | None = field.DESERIALIZATION_FUNCS.get(
            field.format or field.DEFAULT_FORMAT)
        if parse is None or field.format not in (None, "iso", "iso8601"):
            raise Unsupported(f"{kind.__name__} format {field.format!r}")
        aware = kind is fields.AwareDateTime
        default_tz = getattr(field, "default_timezone", None)

        def temporal(v: Any) -> Any:
            if type(v) is not str:
                return _BAD
            try:
                out = parse(v)
            except ValueError:
                return _BAD
            if aware and out.utcoffset() is None:
                return _BAD if default_tz is None else out.replace(tzinfo=default_tz)
            return out
        return temporal
    if (kind is fields.Dict and isinstance(field, fields.Dict) and field.key_field is None
            and field.value_field is None):
        return lambda v: dict(v) if type(v) is dict else _BAD
    if kind is fields.List and isinstance(field, fields.List):
        inner = _value_converter(field.inner)

        def each(v: Any) -> Any:
            if type(v) is not list:
                return _BAD
            out = [inner(x) for x in v]
            return _BAD if _BAD in out else out
        return each
    if kind is fields.Nested and isinstance(field, fields.Nested) and not field.many:
        nested = fast_loader(field.schema)

        def one(v: Any) -> Any:
            out = nested(v) if type(v) is dict else None
            return _BAD if out is None else out
        return one
    raise Unsupported(f"field type {kind.__name__}")


def _value_converter(field: fields.Field) -> Callable[[Any], Any]:
    """Like :func:`_converter` but also for None (``allow_none``: None, validators skipped)."""
    convert = _converter(field)
    allow_none = field.allow_none
    return lambda v: (None if allow_none else _BAD) if v is None else convert(v)


def fast_loader(schema: Schema) -> FastLoader:
    """The fast path of ``schema`` (see the module docstring): ``loader(data)`` returns what
    ``schema.load(data)`` returns when ``data`` plainly satisfies the schema, else None.
    Raises :class:`Unsupported` when the schema uses a feature it does not reproduce."""
    if schema.unknown != EXCLUDE or schema.many:
        raise Unsupported("only unknown=EXCLUDE, many=False schemas")
    if any(schema._hooks.values()):  # pre/post_load, validates, validates_schema
        raise Unsupported("schema hooks")
    plan = []
    for name, field in schema.load_fields.items():
        if field.data_key not in (None, name) or field.attribute not in (None, name):
            raise Unsupported(f"{name}: data_key/attribute")
        default = field.load_default
        plan.append((name, _value_converter(field), field.required, default,
                     callable(default)))

    def load(data: Any) -> dict[str, Any] | None:
        if type(data) is not dict:
            return None
        out: dict[str, Any] = {}
        for name, convert, required, default, call_default in plan:
            if name in data:
                value = convert(data[name])
                if value is _BAD:
                    return None
                out[name] = value
            elif required:
                return None
            elif default is not missing:
                out[name] = default() if call_default else default
        return out

    return load
