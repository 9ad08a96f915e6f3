"""Input checks every service shares: request bodies, query strings and paths that cannot be
parsed or stored, and the text clean-up every input schema applies before validating.

Three layers, each naming what it refuses:

* :func:`refuse_unparseable_input` (a ``before_request`` of every app, see ``shared.web``) runs
  before authentication and before any view: a JSON body that is not JSON, nests deeper than
  :data:`MAX_JSON_DEPTH` (``[[[[…``: Python's parser raises ``RecursionError`` at ~1000 levels)
  or holds an integer of more than 4300 digits (Python's ``int_max_str_digits``, ``ValueError``)
  answers 400 problem+json with one log line and no traceback; a NUL character in the path or
  in a query parameter answers 400 naming it (``location`` ``path`` / ``query``), a NUL in a
  form field 422 naming it (PostgreSQL's ``text`` cannot hold NUL: it used to answer 500).
* :class:`InputSchema` (base of every API input schema) refuses, keyed by the field's path, text
  a database cannot store: NUL and lone surrogates (``"\\ud800"``, which JSON allows as an
  escape) anywhere in the document (422 naming ``deliverables.0.description``).
* Then it cleans every string field before the field validates it, so a title of spaces is
  "too short", not an empty title: surrounding whitespace is stripped; C0/C1 control characters
  are removed (single-line fields turn tab/newline into a space; long text keeps newline and
  tab, CR LF becomes LF); bidirectional embedding/override/isolate controls (U+202A–U+202E,
  U+2066–U+2069, the "Trojan Source" characters, CVE-2021-42574) are removed from single-line
  fields, where they could reverse an e-mail subject or a page title. A field is long text when
  its metadata says ``multiline: True`` or a ``Length`` validator allows 1000 characters or more.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

log = logging.getLogger(__name__)

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
NUL_MESSAGE = "Contains a NUL character or an unpaired surrogate, which cannot be stored."

#: deepest nesting of arrays/objects accepted in a JSON body (the services' documents nest 3)
MAX_JSON_DEPTH = 32

_LINE_BREAKS = re.compile("[\t\n\v\f\r\x85\u2028\u2029]+")
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROLS_IN_LONG_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # keeps \t and \n
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
#: a Length validator allowing this many characters or more marks a long-text field
LONG_TEXT_MIN_LENGTH = 1000


def unstorable_text_errors(value: Any) -> dict[Any, Any] | list[str] | None:
    """Errors for the strings in ``value`` that cannot be stored, shaped like marshmallow's
    (``{key: errors}`` for objects, ``{index: errors}`` for lists, ``[message]`` for a string);
    ``None`` when every string is storable."""
    if isinstance(value, str):
        return [NUL_MESSAGE] if _UNSTORABLE.search(value) else None
    if isinstance(value, Mapping):
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


def clean_single_line(text: str) -> str:
    """``text`` as one line: line breaks and tabs become one space, other C0/C1 controls and
    bidi embedding/override/isolate controls are removed, surrounding whitespace stripped."""
    text = _LINE_BREAKS.sub(" ", text)
    text = _CONTROLS.sub("", text)
    return _BIDI_CONTROLS.sub("", text).strip()


def clean_long_text(text: str) -> str:
    """``text`` as long text: CR LF / CR become LF, C0/C1 controls other than newline and tab
    are removed, surrounding whitespace stripped (bidi controls are kept: a paragraph ends
    them)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS_IN_LONG_TEXT.sub("", text).strip()


def is_long_text(field: fields.Field) -> bool:
    """True for a field holding long text (see the module docstring)."""
    if "multiline" in field.metadata:
        return bool(field.metadata["multiline"])
    return any(isinstance(v, validate.Length) and v.max is not None
               and v.max >= LONG_TEXT_MIN_LENGTH for v in field.validators)


def _cleaner(field: fields.Field):
    if isinstance(field, fields.String):
        return clean_long_text if is_long_text(field) else clean_single_line
    if isinstance(field, fields.List) and isinstance(field.inner, fields.String):
        clean = clean_long_text if is_long_text(field.inner) else clean_single_line
        return lambda items: [clean(i) if isinstance(i, str) else i for i in items] \
            if isinstance(items, list) else items
    return None


class InputSchema(Schema):
    """Base of every API input schema: unknown fields raise, unstorable text is a field error,
    text fields are cleaned before they validate (see the module docstring)."""

    class Meta:
        unknown = RAISE

    @pre_load
    def _refuse_unstorable_text_then_clean(self, data: Any, **_kw: Any) -> Any:
        errors = unstorable_text_errors(data)
        if errors:
            raise ValidationError(errors)
        if not isinstance(data, Mapping):
            return data
        repeated = self._repeated_scalars(data)
        if repeated:  # ?event=a&event=b for a single-valued parameter: never pick one silently
            raise ValidationError(repeated)
        cleaned = dict(data)  # also turns webargs' MultiDictProxy (query) into a dict
        too_long = {key: [f"Longer than maximum length {limit}."]
                    for key, limit in self._max_lengths().items()
                    if isinstance(cleaned.get(key), str) and len(cleaned[key]) > limit}
        if too_long:  # the documented maxLength holds for what was sent, not only once cleaned
            raise ValidationError(too_long)
        for name, field in self.load_fields.items():
            key = field.data_key or name
            value = cleaned.get(key)
            if value is None:
                continue
            clean = _cleaner(field)
            if clean is not None and isinstance(value, str | list):
                if isinstance(field, fields.String) and not isinstance(value, str):
                    continue  # the field reports the wrong type
                cleaned[key] = clean(value)
        return cleaned


    def _repeated_scalars(self, data: Any) -> dict[str, list[str]]:
        """``{parameter: [message]}`` for each single-valued field given more than once in a
        query string (webargs' MultiDictProxy over the request's MultiDict); {} otherwise."""
        getlist = getattr(getattr(data, "data", None), "getlist", None)
        if getlist is None:
            return {}
        out: dict[str, list[str]] = {}
        for name, field in self.load_fields.items():
            if isinstance(field, fields.List | fields.Tuple):
                continue
            key = field.data_key or name
            if len(getlist(key)) > 1:
                out[key] = ["Given more than once: give this parameter once."]
        return out

    def _max_lengths(self) -> dict[str, int]:
        """``{data key: Length max}`` of the string fields that declare one."""
        limits = {}
        for name, field in self.load_fields.items():
            if isinstance(field, fields.String):
                maxima = [v.max for v in field.validators
                          if isinstance(v, validate.Length) and v.max is not None]
                if maxima:
                    limits[field.data_key or name] = min(maxima)
        return limits


class HttpUrl(fields.Url):
    """An absolute ``http``/``https`` URL (at most 2000 characters): ``javascript:``, ``data:``
    and other schemes are refused, so a stored link is safe to render as ``href``."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("validate", validate.Length(max=2000))
        super().__init__(schemes={"http", "https"}, require_tld=False, **kwargs)


def is_http_url(value: Any) -> bool:
    """True for a string that is an absolute http(s) URL (for links in pages and e-mails)."""
    if not isinstance(value, str):
        return False
    return re.match(r"^https?://[^\s/?#]+", value.strip(), re.I) is not None


# -- before any view: bodies, paths and query strings ----------------------------------------

def _depth_exceeds(value: Any, limit: int) -> bool:
    """True when ``value`` nests arrays/objects deeper than ``limit`` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, dict | list))
    return False


def json_body_problem(body: bytes) -> str | None:
    """Why a JSON request body cannot be accepted, or None when it parses within the limits.

    Refused: not UTF-8 or not JSON; nesting beyond :data:`MAX_JSON_DEPTH`; an integer beyond
    Python's 4300 digits (``sys.get_int_max_str_digits``)."""
    try:
        value = json.loads(body)
    except RecursionError:
        return f"The JSON document nests deeper than {MAX_JSON_DEPTH} levels."
    except UnicodeDecodeError:
        return "The body is not UTF-8."
    except json.JSONDecodeError as exc:
        return f"The body is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})."
    except ValueError:  # int_max_str_digits
        return "The JSON document holds a number with too many digits."
    if _depth_exceeds(value, MAX_JSON_DEPTH):
        return f"The JSON document nests deeper than {MAX_JSON_DEPTH} levels."
    return None


def refuse_unparseable_input():
    """``before_request`` of every app (first, before authentication): a problem response for
    a request that cannot be parsed or stored (see the module docstring), else None."""
    from flask import request

    if "\x00" in request.path:
        return _refused(400, "The path contains a NUL character.",
                        [{"field": "path", "location": "path", "message": NUL_MESSAGE}])
    bad_query = sorted({key for key, value in request.args.items(multi=True)
                        if "\x00" in key or "\x00" in value})
    if bad_query:
        return _refused(400, f"Query parameter {bad_query[0]!r} contains a NUL character.",
                        [{"field": k, "location": "query", "message": NUL_MESSAGE}
                         for k in bad_query])
    if request.is_json:
        body = request.get_data(cache=True)  # bounded by MAX_CONTENT_LENGTH (413 above)
        reason = json_body_problem(body) if body.strip() else None  # empty: webargs' rules
        if reason:
            return _refused(400, reason, None)
    elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        bad_form = sorted({key for key, value in request.form.items(multi=True)
                           if _UNSTORABLE.search(key) or _UNSTORABLE.search(value)})
        if bad_form:
            return _refused(422, f"Form field {bad_form[0]!r} contains a NUL character.",
                            [{"field": k, "location": "form", "message": NUL_MESSAGE}
                             for k in bad_form])
    return None


def _refused(status: int, detail: str, errors: list[dict[str, str]] | None):
    from shared.problems import problem

    # one line, no traceback: the input is the client's mistake (or an attack), not ours
    log.warning("request refused before parsing", extra={"status": status, "reason": detail})
    title = "Bad request" if status == 400 else "Invalid input"
    return problem(status, title, detail, slug="bad-request" if status == 400
                   else "validation-error", errors=errors)
