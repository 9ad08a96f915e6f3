"""Resolves the bearer token (the registry's JWT) of every request into ``g.principal``."""

from __future__ import annotations

from flask import Flask

from registry.auth.service import Principal, from_identity
from shared.identity.web import current_principal as current_identity
from shared.identity.web import register_bearer_authentication


def register_auth(app: Flask) -> None:
    """Authenticate each request with the registry's token verifier (401 problem with
    ``WWW-Authenticate`` for a bad token; anonymous without one). Keys and revocations are
    read at most every ``TOKEN_CACHE_SECONDS`` (``registry.oauth.service``)."""
    from registry.oauth.service import registry_token_verifier

    register_bearer_authentication(app, registry_token_verifier(app))


def current_principal() -> Principal:
    """The principal of the current request, as the service functions take it for now."""
    return from_identity(current_identity())
