"""Resolves the bearer token of every request into ``g.principal`` (a
:class:`shared.identity.Principal`)."""

from __future__ import annotations

from flask import Flask, current_app, g, request

from registry import db
from registry.auth.service import TokenCache, authenticate, hash_token
from shared.config import number
from shared.identity import ANONYMOUS, Principal

#: ``WWW-Authenticate`` of every 401 (RFC 6750 §3).
WWW_AUTHENTICATE = 'Bearer realm="registry"'


def register_auth(app: Flask) -> None:
    """Authenticate each request (401 problem for a bad token; anonymous without one).

    Valid tokens are remembered ``TOKEN_CACHE_SECONDS`` (app config, else the setting; 2 s)
    in ``app.extensions["token_cache"]`` (:class:`TokenCache`). Every 401 carries
    ``WWW-Authenticate`` (RFC 9110 §11.6.1).
    """
    ttl = app.config.get("TOKEN_CACHE_SECONDS")
    cache = TokenCache(float(ttl if ttl is not None else number("TOKEN_CACHE_SECONDS")))
    app.extensions["token_cache"] = cache

    @app.before_request
    def _authenticate():
        authorization = request.headers.get("Authorization")
        g.principal = (authenticate(db_session=db.session(), authorization=authorization,
                                    cache=cache) if authorization else ANONYMOUS)

    @app.after_request
    def _challenge(response):
        if response.status_code == 401 and "WWW-Authenticate" not in response.headers:
            response.headers["WWW-Authenticate"] = WWW_AUTHENTICATE
        return response


def current_principal() -> Principal:
    """The principal of the current request (anonymous outside one)."""
    return g.get("principal", ANONYMOUS)


def forget_current_token() -> None:
    """Drop the request's bearer token from the cache (its principal just changed)."""
    authorization = request.headers.get("Authorization") or ""
    _, _, token = authorization.partition(" ")
    cache = current_app.extensions.get("token_cache")
    if cache is not None and token.strip():
        cache.forget(hash_token(token.strip()))
