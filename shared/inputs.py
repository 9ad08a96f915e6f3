"""Input schemas that refuse text a database cannot store, naming the field.

PostgreSQL's ``text`` cannot hold the NUL character, and no UTF-8 encoder can write a lone
surrogate (``"\\ud800"``, which JSON allows as an escape); either used to reach the database and
answer 500. :class:`InputSchema` checks every string of the incoming document (nested objects and
lists included) before any field is loaded and raises ``marshmallow.ValidationError`` keyed by the
field's path, which the problem handler turns into a 422 naming it
(``{"field": "deliverables.0.description", ...}``).
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, pre_load

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
NUL_MESSAGE = "Contains a NUL character or an unpaired surrogate, which cannot be stored."


def unstorable_text_errors(value: Any) -> dict[Any, Any] | list[str] | None:
    """Errors for the strings in ``value`` that cannot be stored, shaped like marshmallow's
    (``{key: errors}`` for objects, ``{index: errors}`` for lists, ``[message]`` for a string);
    ``None`` when every string is storable."""
    if isinstance(value, str):
        return [NUL_MESSAGE] if _UNSTORABLE.search(value) else None
    if isinstance(value, dict):
        found: dict[Any, Any] = {}
        for key, item in value.items():
            errors = unstorable_text_errors(item)
            key_errors = unstorable_text_errors(key) if isinstance(key, str) else None
            if errors or key_errors:
                found[key] = errors or key_errors
        return found or None
    if isinstance(value, list):
        found_items = {i: e for i, item in enumerate(value)
                       if (e := unstorable_text_errors(item))}
        return found_items or None
    return None


class InputSchema(Schema):
    """Base of every API input schema: unknown fields raise, unstorable text is a field error."""

    class Meta:
        unknown = RAISE

    @pre_load
    def _refuse_unstorable_text(self, data: Any, **_kw: Any) -> Any:
        errors = unstorable_text_errors(data)
        if errors:
            raise ValidationError(errors)  # type: ignore[arg-type]
        return data
