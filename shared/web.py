"""The Flask application base every service builds on.

:func:`create_base_app` gives a service: configuration from the environment, JSON logs with a
request id (``X-Request-ID`` in and out), problem+json errors, a flask-smorest ``Api`` whose
OpenAPI document and pages live under the service's own path prefix, and ``/healthz``
(process up) and ``/readyz`` (each dependency reachable; 503 naming the ones that are not).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable

from flask import Flask, current_app, g, jsonify, request
from flask_smorest import Api
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from shared.config import setting
from shared.logs import configure_logging, request_id_var
from shared.problems import register_error_handlers

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], None]  # raises when the dependency is not reachable

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def create_base_app(service: str, *, title: str, docs_prefix: str, version: str = "1.0",
                    description: str = "", test_config: dict | None = None) -> tuple[Flask, Api]:
    """A configured Flask app and its flask-smorest ``Api``.

    ``docs_prefix`` is where the OpenAPI document (``<prefix>/openapi.json``) and the Swagger UI
    page (``<prefix>/docs``, its files served locally) are.
    """
    configure_logging(service)
    app = Flask(service)
    app.config.update(
        SERVICE_NAME=service,
        MAX_CONTENT_LENGTH=int(setting("MAX_CONTENT_LENGTH") or 1_048_576),
        API_TITLE=title,
        API_VERSION=version,
        # 3.0.3: the Swagger UI we serve ourselves (swagger-ui-bundle, 4.15) renders 3.0
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=docs_prefix,
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=f"{docs_prefix}/swagger-ui-assets/",
        API_SPEC_OPTIONS={
            "info": {"description": description},
            "components": {"securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"}}},
        },
        JSON_SORT_KEYS=False,
    )
    app.config.from_prefixed_env("PR")
    if test_config:
        app.config.update(test_config)
    api = Api(app)
    _serve_swagger_ui_assets(app, docs_prefix)
    register_error_handlers(app)
    app.extensions["readiness_checks"] = {}

    @app.before_request
    def _request_id():
        rid = request.headers.get("X-Request-ID", "")
        g.request_id = rid if _REQUEST_ID.match(rid) else uuid.uuid4().hex
        g.request_id_token = request_id_var.set(g.request_id)

    @app.after_request
    def _echo_request_id(response):
        rid = getattr(g, "request_id", None)
        if rid:
            response.headers["X-Request-ID"] = rid
        return response

    @app.teardown_request
    def _reset_request_id(_exc):
        token = g.pop("request_id_token", None)
        if token is not None:
            request_id_var.reset(token)

    @app.get("/healthz")
    def healthz():
        """Liveness: the process answers."""
        return jsonify(status="ok", service=service)

    @app.get("/readyz")
    def readyz():
        """Readiness: every registered dependency reachable (200), else 503 naming the failures."""
        results = run_readiness_checks(app)
        ok = all(v == "ok" for v in results.values())
        return jsonify(status="ok" if ok else "unavailable", service=service,
                       checks=results), (200 if ok else 503)

    return app, api


def _serve_swagger_ui_assets(app: Flask, docs_prefix: str) -> None:
    """Serve Swagger UI's files from the swagger-ui-bundle package under
    ``<docs_prefix>/swagger-ui-assets/``, so the API pages work without internet access."""
    from flask import Blueprint
    from swagger_ui_bundle import swagger_ui_path

    app.register_blueprint(Blueprint(
        "swagger_ui_assets", __name__, static_folder=swagger_ui_path,
        static_url_path=f"{docs_prefix}/swagger-ui-assets"))


def attach_database(app: Flask) -> sessionmaker[Session]:
    """Give ``app`` its database: engine and session factory in ``app.extensions``
    (``db_engine``, ``db_session_factory``), request sessions closed at teardown, and the
    readiness checks (the database; Kafka too in Kafka mode).

    The URL is ``app.config["DATABASE_URL"]`` or the service's from the environment.
    """
    from shared.config import database_url, kafka_bootstrap_servers
    from shared.db import make_engine, make_session_factory

    service = app.config["SERVICE_NAME"]
    engine = make_engine(app.config.get("DATABASE_URL") or database_url(service))
    factory = make_session_factory(engine)
    app.extensions["db_engine"] = engine
    app.extensions["db_session_factory"] = factory
    app.teardown_appcontext(close_request_session)
    app.extensions["readiness_checks"]["database"] = database_check(factory)
    servers = kafka_bootstrap_servers()
    if servers and not app.config.get("IN_PROCESS_BUS"):
        app.extensions["readiness_checks"]["kafka"] = kafka_check(servers)
    return factory


def request_session() -> Session:
    """The current request's (or app context's) session, created on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["db_session_factory"]()
    return g.db_session


def close_request_session(_exc: BaseException | None = None) -> None:
    """Teardown: roll back anything uncommitted and close the context's session."""
    session = g.pop("db_session", None)
    if session is not None:
        session.rollback()
        session.close()


def run_readiness_checks(app: Flask) -> dict[str, str]:
    """Run ``app``'s readiness checks: ``{name: "ok" | "error: ..."}``."""
    results: dict[str, str] = {}
    for name, check in app.extensions["readiness_checks"].items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # a readiness probe reports, it does not raise
            results[name] = f"error: {exc.__class__.__name__}: {str(exc)[:200]}"
    return results


def database_check(factory: sessionmaker[Session]) -> ReadinessCheck:
    """A readiness check that runs ``SELECT 1`` on the service's database."""

    def check() -> None:
        with factory() as session:
            session.execute(text("SELECT 1"))

    return check


def kafka_check(bootstrap_servers: list[str]) -> ReadinessCheck:
    """A readiness check that asks the Kafka cluster for its topics."""
    from shared.bus import kafka_ready

    def check() -> None:
        if not kafka_ready(bootstrap_servers, timeout=3.0):
            raise ConnectionError(f"no Kafka broker answers at {','.join(bootstrap_servers)}")

    return check
