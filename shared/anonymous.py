"""Authenticate first, then parse: anonymous writes to an API answer 401 before any body is
read, unless the endpoint is declared open to anonymous callers.

An anonymous ``POST /api/v1/initiatives`` with an invalid body used to answer 422 with field
errors, telling an unauthenticated caller the shape of the input (and spending the validation
on it). :func:`require_authentication_for_writes` installs a ``before_request`` that answers
``401`` + ``WWW-Authenticate: Bearer`` (``shared.problems.Unauthenticated``) to any anonymous
``POST``/``PUT``/``PATCH``/``DELETE`` under the app's API prefixes, before the view and its
schema run.

The allow-list is declared, in two ways (both checked):

* ``@anonymous_write`` on the view function or ``MethodView`` method, e.g. sign-up::

      @blp.post("/sign-up")
      @anonymous_write
      @blp.arguments(SignUpSchema)
      def sign_up(data): ...

* :data:`ANONYMOUS_WRITE_ENDPOINTS`, Flask endpoint names, for views one cannot decorate
  (e.g. an Authlib endpoint: ``ANONYMOUS_WRITE_ENDPOINTS.add("oauth.issue_token")``).

Routes that do not exist (404) or do not take the method (405) keep those answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import Flask, current_app, request

from shared.identity.web import EXEMPT_KEY
from shared.problems import Unauthenticated

#: the methods that change state (RFC 9110 §9.2.1: not safe)
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

#: Flask endpoint names open to anonymous writes besides the ``@anonymous_write`` views
ANONYMOUS_WRITE_ENDPOINTS: set[str] = set()

F = TypeVar("F", bound=Callable[..., Any])


def anonymous_write(view: F) -> F:
    """Declare ``view`` (a view function or a ``MethodView`` method) open to anonymous writes
    (sign-up, sign-in, password reset, OAuth token requests...)."""
    view.anonymous_write = True  # type: ignore[attr-defined]
    return view


def is_anonymous_write_allowed(app: Flask, endpoint: str | None, method: str) -> bool:
    """True when ``endpoint`` is declared open to anonymous ``method`` requests."""
    if endpoint is None:
        return True  # no route matched: 404/405 answer as usual
    if endpoint in ANONYMOUS_WRITE_ENDPOINTS:
        return True
    blueprint = endpoint.rpartition(".")[0]
    if blueprint and blueprint in app.extensions.get(EXEMPT_KEY, ()):
        return True  # it authenticates its callers itself (OAuth: HTTP Basic client credentials)
    view = app.view_functions.get(endpoint)
    if view is None:
        return False
    if getattr(view, "anonymous_write", False):
        return True
    view_class = getattr(view, "view_class", None)
    handler = getattr(view_class, method.lower(), None) if view_class is not None else None
    return bool(getattr(handler, "anonymous_write", False))


def require_authentication_for_writes(app: Flask, *, is_authenticated: Callable[[], bool],
                                      prefixes: Iterable[str] = ("/api/",)) -> None:
    """Install the check on ``app``: register it AFTER the hook that authenticates the caller
    (``is_authenticated()`` reads its result). ``prefixes``: the paths of the API."""
    prefixes = tuple(prefixes)

    @app.before_request
    def _authenticate_before_parsing() -> None:
        if request.method not in WRITE_METHODS or not request.path.startswith(prefixes):
            return
        if is_authenticated():
            return
        if is_anonymous_write_allowed(current_app, request.endpoint, request.method):
            return
        raise Unauthenticated("Sign in first: send 'Authorization: Bearer <token>'.")
