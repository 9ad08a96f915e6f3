"""Browser sessions: the session cookie carries the server-side session's random id; a
``before_request`` hook turns a live one into ``g.principal``.

The id travels in Flask's session cookie (key :data:`SESSION_KEY`), the one cookie of the
site, whose flags the web foundation sets (``shared.security``): ``HttpOnly``,
``SameSite=Lax``, ``Secure`` and named ``__Host-session`` in production, plain ``session``
in local development; its CSRF token lives in the same cookie, so the CSRF rule for
cookie-authenticated API calls covers these sessions. The cookie is signed (``SECRET_KEY``)
and holds only the random id; the session's state (user, timeouts, revocation) is the
``web_sessions`` row, looked up by the id's SHA-256 digest. At sign-in the whole cookie
session is cleared and a new id issued (no fixation; the CSRF token changes too); at
sign-out it is cleared.
"""

from __future__ import annotations

from flask import Flask, g, request
from flask import session as cookie_session

from registry import db
from registry.accounts import service
from registry.accounts.models import User, WebSession
from shared.identity import PrincipalKind

#: key of the session id inside the cookie session
SESSION_KEY = "sid"


def register_session_auth(app: Flask) -> None:
    """Install the hook that authenticates a request by its session cookie.

    Runs after the bearer hook (``registry.auth.views.register_auth``): a request that
    authenticated with a bearer token keeps that principal. A live session gives
    ``g.principal`` (``shared.identity.Principal`` of kind ``user``), ``g.user`` and
    ``g.web_session``; a dead one (expired, idle, revoked, account disabled) is dropped from
    the cookie and the request goes on anonymous.
    """

    @app.before_request
    def _authenticate_session():
        principal = g.get("principal")
        if principal is not None and principal.is_authenticated:
            return
        if app.config.get("SESSION_COOKIE_NAME", "session") not in request.cookies:
            return  # no cookie: leave the cookie session untouched (no Vary: Cookie)
        token = cookie_session.get(SESSION_KEY)
        if not token:
            return
        db_session = db.session()
        found = service.resolve_session(db_session=db_session, token=token)
        if found is None:
            cookie_session.pop(SESSION_KEY, None)
            return
        web_session, user = found
        if db_session.dirty:  # last_seen_at moved: keep it whatever the request does
            db_session.commit()
        g.web_session = web_session
        g.user = user
        g.principal = service.principal_for(db_session=db_session, user=user)


def begin_session(signed_in: service.SignedIn) -> None:
    """Put a new session's id into the cookie (clearing whatever the cookie held before)."""
    cookie_session.clear()
    cookie_session[SESSION_KEY] = signed_in.token
    g.web_session = signed_in.session
    g.user = signed_in.user


def clear_session() -> str | None:
    """Empty the cookie session; returns the session id it held, if any."""
    token = cookie_session.get(SESSION_KEY)
    cookie_session.clear()
    g.pop("web_session", None)
    g.pop("user", None)
    return token


def current_user() -> User | None:
    """The signed-in person of this request (session cookie, or a bearer token acting for a
    person), or None."""
    user = g.get("user")
    if user is not None:
        return user
    principal = g.get("principal")
    if principal is None or getattr(principal, "kind", None) is not PrincipalKind.USER:
        return None
    import uuid

    try:
        user_id = uuid.UUID(str(principal.subject))
    except ValueError:
        return None
    user = db.session().get(User, user_id)
    if user is not None and user.disabled_at is None:
        g.user = user
        return user
    return None


def current_web_session() -> WebSession | None:
    """The session row of this request, when it came with a session cookie."""
    return g.get("web_session")
