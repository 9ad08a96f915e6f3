"""Resolves the bearer token (the registry's JWT) of every request into ``g.principal`` (a
:class:`shared.identity.Principal`)."""

from __future__ import annotations

from flask import Flask, g
from sqlalchemy import event as sa_event

from registry import db
from registry.auth.service import (
    ADOPTED_KEY,
    INTERIM_SUBJECT_PREFIX,
    remember_adoptions,
    with_adopted_organization,
)
from shared.identity import Principal
from shared.identity.web import current_principal as _current_principal
from shared.identity.web import register_bearer_authentication


def register_auth(app: Flask) -> None:
    """Authenticate each request with the registry's token verifier (401 problem with
    ``WWW-Authenticate: Bearer`` for a bad token, RFC 6750 §3; anonymous without one). Keys
    and revocations are read at most every ``TOKEN_CACHE_SECONDS``
    (:func:`registry.oauth.service.registry_token_verifier`)."""
    from registry.oauth.service import registry_token_verifier

    register_bearer_authentication(app, registry_token_verifier(app))
    sa_event.listen(app.extensions["db_session_factory"], "after_commit", remember_adoptions)
    sa_event.listen(app.extensions["db_session_factory"], "after_rollback",
                    lambda session: session.info.pop(ADOPTED_KEY, None))

    @app.before_request
    def _adopted_organization():
        principal = g.get("principal")
        if principal is not None and (principal.subject or "").startswith(
                INTERIM_SUBJECT_PREFIX):
            g.principal = with_adopted_organization(db_session=db.session(),
                                                    principal=principal)


def current_principal() -> Principal:
    """The principal of the current request (anonymous outside one)."""
    return _current_principal()


def forget_current_token() -> None:
    """Nothing to forget: a JWT's principal never changes (kept for callers of the interim
    token cache)."""
