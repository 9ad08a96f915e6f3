"""Domain errors and their rendering as RFC 9457 problem details (``application/problem+json``).

Services raise the domain errors below; :func:`register_error_handlers` turns them, and every
HTTP error (including flask-smorest/webargs validation errors), into::

    {"type": "about:blank" | "https://partnership-registry.org/problems/<slug>",
     "title": "...", "status": 422, "detail": "...", "instance": "/api/v1/...",
     "errors": [{"field": "sdg_targets.0", "location": "json",
                 "message": "Unknown SDG target 12.99."}]}

Never a 500 for input: unexpected exceptions become a 500 problem without internals, logged with
the request id.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://partnership-registry.org/problems/"


class DomainError(Exception):
    """Base of the errors services raise; ``status`` is the HTTP status it maps to."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, *, errors: list[dict[str, str]] | None = None,
                 extra: dict[str, Any] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra or {}


class NotFound(DomainError):
    """The object does not exist, or the caller may not know that it does (404)."""

    status, slug, title = 404, "not-found", "Not found"


class NotAllowed(DomainError):
    """The caller is known but may not do this (403); no credentials at all is 401."""

    status, slug, title = 403, "forbidden", "Forbidden"


class Unauthenticated(DomainError):
    """Missing or invalid bearer token (401)."""

    status, slug, title = 401, "unauthenticated", "Authentication required"


class InvalidTransition(DomainError):
    """The workflow action is not allowed in the object's current state (409)."""

    status, slug, title = 409, "invalid-transition", "Action not allowed in this state"


class Conflict(DomainError):
    """The request conflicts with existing data (409), e.g. a duplicate."""

    status, slug, title = 409, "conflict", "Conflict"


class PreconditionFailed(DomainError):
    """The record changed since the caller read it (412, RFC 9110 §13.1.1): the ``If-Match``
    ETag (or a page's hidden version field) names an older version. ``extra`` carries
    ``current_version``; nothing was written."""

    status, slug, title = 412, "precondition-failed", "The record changed since you read it"


class ValidationError(DomainError):
    """Input is well-formed but invalid (422); ``errors`` names each field and the reason."""

    status, slug, title = 422, "validation-error", "Invalid input"


def field_errors(messages: Any, location: str | None = None,
                 prefix: str = "") -> list[dict[str, str]]:
    """Flatten marshmallow/webargs nested messages to ``[{field, location, message}]``."""
    out: list[dict[str, str]] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "_schema":
                name = prefix or "_schema"
            out.extend(field_errors(value, location, name))
    elif isinstance(messages, list | tuple):
        for item in messages:
            if isinstance(item, dict | list):
                out.extend(field_errors(item, location, prefix))
            else:
                entry = {"field": prefix or "_schema", "message": str(item)}
                if location:
                    entry["location"] = location
                out.append(entry)
    else:
        entry = {"field": prefix or "_schema", "message": str(messages)}
        if location:
            entry["location"] = location
        out.append(entry)
    return out


def problem(status: int, title: str, detail: str | None = None, *, slug: str | None = None,
            errors: list[dict[str, str]] | None = None, **extra: Any) -> Response:
    """Build an ``application/problem+json`` response."""
    body: dict[str, Any] = {
        "type": f"{PROBLEM_BASE}{slug}" if slug else "about:blank",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    try:
        body["instance"] = request.path
    except RuntimeError:
        pass
    if errors:
        body["errors"] = errors
    body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    if status == 401:
        # RFC 9110 §11.6.1: a 401 names the scheme that would be accepted
        response.headers["WWW-Authenticate"] = 'Bearer realm="partnership-registry"'
    return response


def _http_error(exc: HTTPException) -> Response:
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages")
    errors: list[dict[str, str]] = []
    if isinstance(messages, dict):
        for location, msgs in messages.items():
            errors.extend(field_errors(msgs, location))
    status = exc.code or 500
    detail = exc.description if isinstance(exc.description, str) else None
    if status == 422 and errors:
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:10])
    if status == 400 and errors:
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:10])
    if status == 413:
        detail = (f"The request body is larger than the limit of "
                  f"{request.max_content_length} bytes.")
    return problem(status, exc.name, detail, errors=errors or None)


def register_error_handlers(app: Flask) -> None:
    """Install the problem+json handlers on ``app`` (after flask-smorest's ``Api`` init)."""

    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        return problem(exc.status, exc.title, exc.detail, slug=exc.slug,
                       errors=exc.errors or None, **exc.extra)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return _http_error(exc)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return problem(500, "Internal server error",
                       "Something went wrong on our side; the request id is in the logs.")


# -- the problem responses in every service's OpenAPI document ------------------------------

#: statuses every operation may answer with a problem document, and why
PROBLEM_STATUSES: dict[int, str] = {
    400: "Bad request: the body is not JSON (or nests too deep, or holds a number too long), "
         "or the path or a query parameter holds a NUL character.",
    401: "Authentication required: no valid bearer token (`WWW-Authenticate: Bearer`); "
         "anonymous writes are refused before their body is read.",
    403: "Forbidden: the caller is known but may not do this.",
    404: "Not found: no such object, or the caller may not know it exists.",
    405: "Method not allowed on this path.",
    409: "Conflict: the action is not allowed in the object's state, or a duplicate.",
    413: "The request body is larger than MAX_CONTENT_LENGTH.",
    422: "Invalid input: `errors` names each field (`field`, `location`, `message`).",
    429: "Too many requests: try again after `Retry-After` seconds.",
    503: "A dependency (the database) is unreachable: try again after `Retry-After` seconds.",
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details (application/problem+json).",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "description": "about:blank or a problem type URI"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["field", "message"],
            "properties": {"field": {"type": "string"}, "location": {"type": "string"},
                           "message": {"type": "string"}}}},
    },
    "additionalProperties": True,
}


class ProblemResponsesPlugin:
    """An apispec plugin documenting :data:`PROBLEM_STATUSES` as ``application/problem+json``
    responses (schema ``Problem``) on every operation, replacing flask-smorest's default
    ``Error`` (``application/json``) ones: the document then says what the error handler
    answers (checked by schemathesis). 401 declares its ``WWW-Authenticate`` header, 429 and
    503 ``Retry-After``."""

    def init_spec(self, spec: Any) -> None:
        """Register the ``Problem`` schema and one ``PROBLEM_<status>`` response each."""
        self.spec = spec
        spec.components.schema("Problem", PROBLEM_SCHEMA)
        for status, description in PROBLEM_STATUSES.items():
            response: dict[str, Any] = {"description": description, "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            if status == 401:
                response["headers"] = {"WWW-Authenticate": {
                    "description": "The scheme to authenticate with (Bearer)", "required": True,
                    "schema": {"type": "string"}}}
            if status in (429, 503):
                response["headers"] = {"Retry-After": {
                    "description": "Seconds to wait", "schema": {"type": "string"}}}
            spec.components.response(f"PROBLEM_{status}", response)

    def operation_helper(self, path: str | None = None, operations: dict | None = None,
                         **_kwargs: Any) -> None:
        """Add (or replace with) the problem responses on each operation of ``path``."""
        for method, operation in (operations or {}).items():
            if method == "parameters" or not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            for status in PROBLEM_STATUSES:
                responses[str(status)] = f"PROBLEM_{status}"
            responses.pop("default", None)

    # the other apispec plugin hooks: nothing to do
    def schema_helper(self, *_args: Any, **_kwargs: Any) -> None:
        return None

    def parameter_helper(self, *_args: Any, **_kwargs: Any) -> None:
        return None

    def response_helper(self, *_args: Any, **_kwargs: Any) -> None:
        return None

    def header_helper(self, *_args: Any, **_kwargs: Any) -> None:
        return None

    def path_helper(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def document_problem_responses(api: Any) -> None:
    """Install :class:`ProblemResponsesPlugin` on a flask-smorest ``Api`` (before its
    blueprints are registered)."""
    plugin = ProblemResponsesPlugin()
    plugin.init_spec(api.spec)
    api.spec.plugins.append(plugin)
