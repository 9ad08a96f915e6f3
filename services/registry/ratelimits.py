"""Rate limits of the registry (Flask-Limiter): one :data:`limiter` for the whole service.

Set-up: :func:`init_ratelimits` (called by ``create_app``) configures it from the settings
``RATELIMIT_STORAGE_URI`` (``memory://`` by default: counts per process; a shared store such
as ``redis://`` counts across processes) and ``RATELIMIT_ENABLED``, and answers a breach with
``429`` problem+json carrying ``Retry-After`` (seconds until the window resets).

Decorating a view (API method or page)::

    from registry.ratelimits import limiter, per_ip, per_email, setting_limit

    # per client address, and again per account e-mail; the scope names the counter, so
    # the API route and the page that share a scope share the count
    @limiter.shared_limit(setting_limit("RATELIMIT_SIGNIN"), "sign-in-ip", key_func=per_ip)
    @limiter.shared_limit(setting_limit("RATELIMIT_SIGNIN"), "sign-in-email",
                          key_func=per_email)
    def post(self, data): ...

``setting_limit(NAME)`` reads the limit string (Flask-Limiter notation, e.g.
``"10/minute;50/hour"``) from the setting ``NAME`` when a request comes, so tests and
operators can change it without code. Limits decorate the view (a page function or a
flask-smorest ``MethodView`` method, outermost, so a refused request is counted before its
body is parsed).

Organisation registration and initiative submission (the ``authz`` branch) follow the same
pattern, e.g. ``@limiter.shared_limit(setting_limit("RATELIMIT_ORG_REGISTER"), "org-register",
key_func=per_principal)`` with a setting of their own in ``shared/config.SETTINGS``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from flask import Flask, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from shared.config import flag, setting
from shared.problems import problem

limiter = Limiter(key_func=get_remote_address, headers_enabled=True)


def per_ip() -> str:
    """Key of limits per client address (``remote_addr``; behind a proxy, the WSGI server's
    trusted forwarded address)."""
    return f"ip:{get_remote_address()}"


def per_email() -> str:
    """Key of limits per account e-mail: the ``email`` of the JSON body or the form,
    normalised (trimmed, lower-case); requests without one share the key ``email:-``."""
    email = ""
    body = request.get_json(silent=True) if request.is_json else None
    if isinstance(body, dict) and isinstance(body.get("email"), str):
        email = body["email"]
    elif request.form.get("email"):
        email = request.form.get("email", "")
    return f"email:{email.strip().lower()[:320] or '-'}"


def per_principal() -> str:
    """Key of limits per authenticated caller (``g.principal``: kind and subject, e.g. a user
    id or an OAuth client id); anonymous callers fall back to their address."""
    from flask import g

    principal = g.get("principal")
    subject = getattr(principal, "subject", None)
    kind = getattr(principal, "kind", None)
    if subject and kind is not None:
        return f"principal:{kind}:{subject}"
    return per_ip()


def setting_limit(name: str) -> Callable[[], str]:
    """The limit string of setting ``name`` (app config first, then environment), read at
    request time."""

    def _limit() -> str:
        from flask import current_app

        return str(current_app.config.get(name) or setting(name) or "")

    return _limit


def init_ratelimits(app: Flask) -> Limiter:
    """Attach :data:`limiter` to ``app`` and install the 429 problem handler.

    With ``TRUSTED_PROXIES`` = n > 0 the app believes the last n hops of
    ``X-Forwarded-For`` / ``X-Forwarded-Proto`` (werkzeug ``ProxyFix``), so that the
    client address (rate limit keys, audit rows) is the caller's and not the proxy's.
    """
    hops = int(app.config.get("TRUSTED_PROXIES") or setting("TRUSTED_PROXIES") or 0)
    if hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    app.config.setdefault("RATELIMIT_STORAGE_URI", setting("RATELIMIT_STORAGE_URI"))
    if "RATELIMIT_ENABLED" not in app.config:
        app.config["RATELIMIT_ENABLED"] = flag("RATELIMIT_ENABLED")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.enabled = bool(app.config["RATELIMIT_ENABLED"])
    limiter.init_app(app)

    @app.errorhandler(RateLimitExceeded)
    def _too_many(exc: RateLimitExceeded):
        retry_after = _retry_after_seconds()
        if not request.path.startswith("/api/") and request.accept_mimetypes.accept_html:
            from flask import render_template

            page = render_template("accounts/too_many.html", retry_after=retry_after)
            return page, 429, {"Retry-After": str(retry_after)}
        response = problem(429, "Too many requests",
                           f"Too many attempts ({exc.limit.limit}); try again after "
                           "the number of seconds in Retry-After.", slug="rate-limited")
        response.headers["Retry-After"] = str(retry_after)
        return response

    return limiter


def _retry_after_seconds() -> int:
    """Seconds until the breached window resets (at least 1)."""
    current = limiter.current_limit
    if current is None:
        return 60
    return max(1, math.ceil(current.reset_at - time.time()))
