"""Bearer authentication for the three Flask services: one hook, so no service repeats it.

:func:`register_bearer_authentication` verifies the ``Authorization: Bearer <JWT>`` header of
each request with the app's :class:`~shared.identity.tokens.TokenVerifier` and keeps the
:class:`~shared.identity.Principal` in ``g.principal`` (anonymous without a header, unless
another hook, e.g. a web session, set one already). A bad token answers 401 problem+json; every
401 carries ``WWW-Authenticate: Bearer`` (RFC 6750 §3), with ``error="invalid_token"`` when a
token was presented.
"""

from __future__ import annotations

from flask import Flask, g, request

from shared.identity import ANONYMOUS, Principal
from shared.identity.tokens import TokenVerifier, bearer_token

REALM = "partnership-registry"
EXEMPT_KEY = "bearer_exempt_blueprints"


def exempt_blueprint(app: Flask, name: str) -> None:
    """Leave the ``Authorization`` header of blueprint ``name``'s requests to its views."""
    app.extensions.setdefault(EXEMPT_KEY, set()).add(name)


def register_bearer_authentication(app: Flask, verifier: TokenVerifier) -> None:
    """Authenticate every request of ``app`` with ``verifier`` (kept in
    ``app.extensions["token_verifier"]``, replaceable there, e.g. by tests). Blueprints named
    by :func:`exempt_blueprint` read the ``Authorization`` header themselves (an OAuth token
    endpoint takes HTTP Basic client credentials)."""
    app.extensions["token_verifier"] = verifier
    exempt: set[str] = app.extensions.setdefault(EXEMPT_KEY, set())

    @app.before_request
    def _authenticate_bearer():
        header = request.headers.get("Authorization")
        if not header or request.blueprint in exempt:
            g.setdefault("principal", ANONYMOUS)
            return
        g.bearer_presented = True
        token = bearer_token(header)
        g.principal = app.extensions["token_verifier"].verify(token)

    @app.after_request
    def _www_authenticate(response):
        if response.status_code != 401:
            return response
        value = response.headers.get("WWW-Authenticate") or f'Bearer realm="{REALM}"'
        if g.get("bearer_presented") and value.startswith("Bearer") and "error=" not in value:
            value += ', error="invalid_token"'  # RFC 6750 §3.1: a token was presented
        response.headers["WWW-Authenticate"] = value
        return response


def current_principal() -> Principal:
    """The principal of the current request (anonymous outside one or without credentials)."""
    return g.get("principal", ANONYMOUS)
