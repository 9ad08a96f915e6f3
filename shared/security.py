"""Browser-facing protections of the three services, set up once by :func:`init_security`.

* **Production mode** (``ENVIRONMENT=production``): the app refuses to start without a
  ``SECRET_KEY`` of at least 32 characters that is not the development default; session
  cookies are ``Secure`` and ``__Host-`` prefixed; HSTS is sent. ``development`` (the default,
  as in ``make run``) uses a fixed development key and plain-HTTP cookies.
* **Cookies** (ASVS 5.0 V3.3): the session cookie is ``HttpOnly`` and ``SameSite=Lax``.
* **CSRF** (Flask-WTF): every POST/PUT/PATCH/DELETE to a page carries the session's CSRF
  token (form field ``csrf_token``, or the ``X-CSRFToken`` header). The JSON API under
  ``/api/`` is exempt only when the request has no ambient credential: it carries an
  ``Authorization`` header (bearer tokens cannot be sent cross-site without CORS) or no
  session cookie at all (then it acts as anonymous, and the API answers 401 where it must).
  A state change through the API that rides on the session cookie must send the
  ``X-CSRFToken`` header, or is refused with 400. Views that are not pages but take
  credentials in the body (OAuth's token, revocation and introspection endpoints) are
  exempted by :func:`csrf_exempt`.
* **Headers** on every response: a Content-Security-Policy without inline script
  (:data:`CSP`; the Swagger UI page gets :data:`DOCS_CSP`, as its bundle starts with an
  inline script), ``X-Content-Type-Options: nosniff``, ``Referrer-Policy``,
  ``X-Frame-Options: DENY``, ``Cross-Origin-Opener-Policy``, HSTS outside development.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect

from shared.config import setting

log = logging.getLogger(__name__)

#: The development secret key: fine for ``make run``, refused in production.
DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"  # noqa: S105 (refused in production)
MIN_SECRET_KEY_LENGTH = 32

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
#: Swagger UI (flask-smorest's page) starts its bundle with an inline script and styles.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
HSTS = "max-age=31536000; includeSubDomains"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

csrf = CSRFProtect()


def is_production(app: Flask | None = None) -> bool:
    """True when ``ENVIRONMENT`` (or the app's config key of that name) is ``production``."""
    value = (app.config.get("ENVIRONMENT") if app is not None else None) \
        or setting("ENVIRONMENT") or "development"
    return str(value).strip().lower() == "production"


class InsecureConfiguration(RuntimeError):
    """The app may not start in production with this configuration."""


def configure_secret_and_cookies(app: Flask) -> None:
    """``SECRET_KEY`` and the session cookie flags; raises :class:`InsecureConfiguration` in
    production with a missing, default or short (< 32 characters) secret key."""
    production = is_production(app)
    key = app.config.get("SECRET_KEY") or setting("SECRET_KEY")
    if production:
        if not key or key == DEV_SECRET_KEY or len(key) < MIN_SECRET_KEY_LENGTH:
            raise InsecureConfiguration(
                "ENVIRONMENT=production needs SECRET_KEY: a random value of at least "
                f"{MIN_SECRET_KEY_LENGTH} characters (e.g. python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'), not the development default")
    app.config["SECRET_KEY"] = key or DEV_SECRET_KEY
    app.config["ENVIRONMENT"] = "production" if production else "development"
    # Flask has defaults for these keys: set them (a service may change them afterwards)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=production, SESSION_COOKIE_PATH="/", SESSION_COOKIE_DOMAIN=None,
        # __Host-: the browser keeps it only when Secure, Path=/ and without Domain
        SESSION_COOKIE_NAME="__Host-session" if production else "session")
    if production:
        app.config["PREFERRED_URL_SCHEME"] = "https"


def csrf_exempt(view):
    """Exempt a view function or blueprint from the CSRF check (only for endpoints that are
    never driven by a browser's cookies, e.g. OAuth's token endpoint)."""
    return csrf.exempt(view)


def _is_api_request() -> bool:
    return request.path.startswith("/api/")


def _csrf_guard() -> None:
    """The CSRF rule of the module docstring, before any view runs."""
    from flask import current_app

    if request.method in SAFE_METHODS or not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    if _is_api_request():
        has_session = current_app.config["SESSION_COOKIE_NAME"] in request.cookies
        if request.headers.get("Authorization") or not has_session:
            return
    csrf.protect(apply_exemptions=True)


def _csrf_error(exc: CSRFError):
    from shared.problems import problem

    log.info("csrf check failed", extra={"path": request.path, "reason": exc.description})
    if _is_api_request() or not request.accept_mimetypes.accept_html:
        return problem(400, "CSRF check failed",
                       "Send the session's CSRF token in the X-CSRFToken header.",
                       slug="csrf")
    return render_template("errors/csrf.html"), 400


def _security_headers(response: Response) -> Response:
    from flask import current_app

    docs = current_app.config.get("OPENAPI_URL_PREFIX", "/api/v1").rstrip("/") + "/docs"
    headers = response.headers
    headers.setdefault("Content-Security-Policy", DOCS_CSP if request.path == docs else CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if current_app.config.get("ENVIRONMENT") == "production":
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def init_security(app: Flask) -> None:
    """Secret key and cookies, CSRF and security headers on ``app`` (see the module
    docstring); raises :class:`InsecureConfiguration` as :func:`configure_secret_and_cookies`."""
    configure_secret_and_cookies(app)
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # our guard decides (API rule), then protects
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid for the session's life
    csrf.init_app(app)
    app.before_request(_csrf_guard)
    app.register_error_handler(CSRFError, _csrf_error)
    app.after_request(_security_headers)
