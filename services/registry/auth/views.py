"""Resolves the bearer token of every request into ``g.principal``."""

from __future__ import annotations

from flask import Flask, g, request

from registry import db
from registry.auth.service import ANONYMOUS, Principal, TokenCache, authenticate
from shared.config import number


def register_auth(app: Flask) -> None:
    """Authenticate each request (401 problem for a bad token; anonymous without one).

    Valid tokens are remembered ``TOKEN_CACHE_SECONDS`` (app config, else the setting; 2 s)
    in ``app.extensions["token_cache"]`` (:class:`TokenCache`).
    """
    ttl = app.config.get("TOKEN_CACHE_SECONDS")
    cache = TokenCache(float(ttl if ttl is not None else number("TOKEN_CACHE_SECONDS")))
    app.extensions["token_cache"] = cache

    @app.before_request
    def _authenticate():
        authorization = request.headers.get("Authorization")
        g.principal = (authenticate(db_session=db.session(), authorization=authorization,
                                    cache=cache) if authorization else ANONYMOUS)


def current_principal() -> Principal:
    """The principal of the current request (anonymous outside one)."""
    return g.get("principal", ANONYMOUS)
