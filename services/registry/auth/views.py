"""Resolves the bearer token of every request into ``g.principal``."""

from __future__ import annotations

from flask import Flask, g, request

from registry import db
from registry.auth.service import ANONYMOUS, Principal, authenticate


def register_auth(app: Flask) -> None:
    """Authenticate each request (401 problem for a bad token; anonymous without one)."""

    @app.before_request
    def _authenticate():
        g.principal = authenticate(db_session=db.session(),
                                   authorization=request.headers.get("Authorization"))


def current_principal() -> Principal:
    """The principal of the current request (anonymous outside one)."""
    return g.get("principal", ANONYMOUS)
