"""The Flask application base every service builds on.

:func:`create_base_app` gives a service: configuration from the environment, JSON logs with a
request id (``X-Request-ID`` in and out), problem+json errors, a flask-smorest ``Api`` whose
OpenAPI document and pages live under the service's own path prefix, and ``/healthz``
(process up) and ``/readyz`` (each dependency reachable; 503 naming the ones that are not).
"""

from __future__ import annotations

import atexit
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable

from flask import Flask, current_app, g, jsonify, request
from flask_smorest import Api
from sqlalchemy import event as sa_event
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
    init_web(app)
    _serve_swagger_ui_assets(app, docs_prefix)
    register_error_handlers(app)
    register_database_error_handlers(app)
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
        """Readiness: every registered dependency reachable (200), else 503 naming the failures.

        Answered from the last background check (never waits for a dependency, see
        :class:`ReadinessMonitor`); ``counters`` adds the consumer counters when the app runs one.
        """
        results = run_readiness_checks(app)
        ok = all(v == "ok" for v in results.values())
        body = {"status": "ok" if ok else "unavailable", "service": service, "checks": results}
        from shared.consumer import EventConsumer

        counters = {c.name: dict(c.counters) for c in list(app.extensions.values())
                    if isinstance(c, EventConsumer)}
        if counters:
            body["counters"] = counters
        return jsonify(body), (200 if ok else 503)

    return app, api


def init_web(app: Flask) -> None:
    """The web foundation of every service: secret key, cookies, CSRF and security headers
    (:mod:`shared.security`), languages (:mod:`shared.i18n`), and the shared layout — the
    ``base.html`` template, ``macros/forms.html``, error pages, and the stylesheet served at
    ``/static/shared/`` (``shared/templates``, ``shared/static``)."""
    from flask import Blueprint

    from shared.i18n import init_babel
    from shared.security import init_security

    init_security(app)
    init_babel(app)
    app.register_blueprint(Blueprint(
        "layout", __name__, template_folder="templates", static_folder="static",
        static_url_path="/static/shared"))


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

    @sa_event.listens_for(engine, "engine_disposed")
    def _stop_readiness_checks(_engine) -> None:  # no checks on a disposed engine's new pool
        monitor = app.extensions.get("readiness_monitor")
        if monitor is not None:
            monitor.stop()

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
    """Teardown: roll back anything uncommitted and close the context's session.

    A failure here (the database restarted and the connection is dead) is logged and
    swallowed: the response, e.g. of a request that committed, is already decided.
    """
    session = g.pop("db_session", None)
    if session is None:
        return
    try:
        session.rollback()
    except Exception as exc:
        log.warning("request session rollback failed at teardown",
                    extra={"error": exc.__class__.__name__})
    try:
        session.close()
    except Exception as exc:
        log.warning("request session close failed at teardown",
                    extra={"error": exc.__class__.__name__})


#: seconds a client is asked to wait (``Retry-After``) while the database is unreachable
DATABASE_RETRY_AFTER_SECONDS = 5


def is_database_unavailable(exc: BaseException) -> bool:
    """True for SQLAlchemy errors meaning the database cannot be reached right now (server
    down or restarting, connection lost, pool exhausted), as opposed to a bad statement."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.TimeoutError | sa_exc.PendingRollbackError):
        return True  # pool checkout timed out / the session's connection failed earlier
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return True
    return isinstance(exc, sa_exc.DBAPIError) and bool(exc.connection_invalidated)


def register_database_error_handlers(app: Flask) -> None:
    """Answer 503 problem+json with ``Retry-After`` when the database is unreachable (not 500);
    the driver's message (host, role) is logged, never answered."""
    from sqlalchemy import exc as sa_exc

    from shared.problems import problem

    def _database_error(exc: Exception):
        if not is_database_unavailable(exc):
            log.exception("unhandled database error")
            return problem(500, "Internal server error",
                           "Something went wrong on our side; the request id is in the logs.")
        log.warning("database unavailable", extra={"error": str(exc).splitlines()[0][:300]
                                                   if str(exc) else exc.__class__.__name__})
        response = problem(503, "Service unavailable",
                           "The database is not reachable; try again shortly.",
                           slug="database-unavailable")
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response

    app.register_error_handler(sa_exc.DBAPIError, _database_error)
    app.register_error_handler(sa_exc.TimeoutError, _database_error)
    app.register_error_handler(sa_exc.PendingRollbackError, _database_error)


_EXITING = threading.Event()
atexit.register(_EXITING.set)  # monitors stop checking (and logging) when the process ends


class ReadinessMonitor:
    """Runs an app's readiness checks in the background and keeps the last result, so that
    ``/readyz`` answers quickly and never holds request threads on a dependency.

    Started by a probe; while probes keep coming (within ``idle_seconds``) it re-runs the
    checks every ``interval`` seconds, each check in a thread of its own bounded by ``timeout``
    seconds (``READYZ_TIMEOUT_SECONDS``, 2.5): a check still running then answers
    ``error: timeout`` and is not started again until it ends (no piling up). When the last
    result is fresh, a probe answers it at once. When it is missing or stale (the monitor was
    idle), ONE probe waits for the next result, at most ``timeout`` + 0.5 s (≤ 3 s), and
    concurrent probes answer the stale result (or ``error: checking``) at once, so ten probes
    during a Kafka outage hold at most one request thread, for at most 3 s. Failure details
    are logged when a check's state changes; answers only say ``ok``, ``error: unavailable``
    or ``error: timeout``.
    """

    def __init__(self, checks: dict[str, ReadinessCheck], *, timeout: float = 2.5,
                 interval: float = 1.0, idle_seconds: float = 20.0):
        self.checks = checks
        self.timeout = timeout
        self.interval = interval
        self.idle_seconds = idle_seconds
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._running: dict[str, threading.Thread] = {}
        self._result: dict[str, str] | None = None
        self._result_at = 0.0
        self._generation = 0
        self._last_probe = 0.0
        self._waiting = False
        self._stop = threading.Event()

    def stop(self, wait: float = 0.0) -> None:
        """End the background checks (a later probe starts them again); ``wait`` seconds at
        most for the checks in flight to end."""
        self._stop.set()
        deadline = time.monotonic() + wait
        for thread in [self._thread, *self._running.values()]:
            if thread is not None and wait > 0:
                thread.join(max(0.0, deadline - time.monotonic()))

    def results(self) -> dict[str, str]:
        """The newest results ``{check: "ok" | "error: ..."}``; see the class docstring."""
        now = self._last_probe = time.monotonic()
        with self._cond:
            if self._thread is None:
                self._stop = threading.Event()
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name="readiness-monitor")
                self._thread.start()
            fresh = (self._result is not None
                     and now - self._result_at <= self.interval + self.timeout + 0.5)
            if not fresh and not self._waiting:
                self._waiting = True
                generation = self._generation
                try:
                    self._cond.wait_for(lambda: self._generation != generation,
                                        self.timeout + 0.5)
                finally:
                    self._waiting = False
            result = self._result
        if result is None:
            return dict.fromkeys(self.checks, "error: checking")
        return dict(result)

    def _loop(self) -> None:
        stop = self._stop
        while True:
            result = self._run_once()
            with self._cond:
                self._result, self._result_at = result, time.monotonic()
                self._generation += 1
                self._cond.notify_all()
                if stop.is_set() or time.monotonic() - self._last_probe > self.idle_seconds:
                    self._thread = None
                    return
            if stop.wait(self.interval) or _EXITING.is_set():
                with self._cond:
                    self._thread = None
                return

    def _run_once(self) -> dict[str, str]:
        outcomes: dict[str, str] = {}
        for name, check in self.checks.items():
            if name in self._running and self._running[name].is_alive():
                continue  # the previous run is still stuck: do not pile up threads
            box: dict[str, BaseException | None] = {}
            thread = threading.Thread(target=self._run_check, args=(check, box), daemon=True,
                                      name=f"readiness-{name}")
            thread.box = box  # type: ignore[attr-defined]
            thread.start()
            self._running[name] = thread
        deadline = time.monotonic() + self.timeout
        for name in self.checks:
            thread = self._running[name]
            thread.join(max(0.0, deadline - time.monotonic()))
            box = thread.box  # type: ignore[attr-defined]
            if thread.is_alive():
                outcomes[name] = "error: timeout"
                detail = f"no answer within {self.timeout} s"
            elif box.get("error") is not None:
                outcomes[name] = "error: unavailable"
                detail = repr(box["error"])[:500]
            else:
                outcomes[name] = "ok"
                detail = ""
            previous = (self._result or {}).get(name)
            if outcomes[name] != previous and outcomes[name] != "ok":
                log.warning("readiness check failed",
                            extra={"check": name, "outcome": outcomes[name], "error": detail})
            elif outcomes[name] != previous and previous is not None:
                log.info("readiness check recovered", extra={"check": name})
        return outcomes

    @staticmethod
    def _run_check(check: ReadinessCheck, box: dict[str, BaseException | None]) -> None:
        try:
            check()
            box["error"] = None
        except BaseException as exc:  # a readiness probe reports, it does not raise
            box["error"] = exc


def readiness_monitor(app: Flask) -> ReadinessMonitor:
    """``app``'s :class:`ReadinessMonitor` (created on first use over its registered checks)."""
    from shared.config import number

    monitor = app.extensions.get("readiness_monitor")
    if monitor is None:
        monitor = ReadinessMonitor(app.extensions["readiness_checks"],
                                   timeout=number("READYZ_TIMEOUT_SECONDS") or 2.5)
        app.extensions["readiness_monitor"] = monitor
    return monitor


def run_readiness_checks(app: Flask) -> dict[str, str]:
    """``app``'s readiness: ``{name: "ok" | "error: unavailable" | "error: timeout" | ...}``
    from its :class:`ReadinessMonitor` (answers within 3 s, at once after the first time)."""
    return readiness_monitor(app).results()


def database_check(factory: sessionmaker[Session], timeout: float = 2.0) -> ReadinessCheck:
    """A readiness check that runs ``SELECT 1`` on the service's database (on PostgreSQL with
    a ``timeout`` s statement timeout; the monitor bounds the connection attempt)."""

    def check() -> None:
        with factory() as session:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text(f"SET LOCAL statement_timeout = {int(timeout * 1000)}"))
            session.execute(text("SELECT 1"))

    return check


def kafka_check(bootstrap_servers: list[str], timeout: float = 2.0) -> ReadinessCheck:
    """A readiness check that asks the Kafka cluster for its topics within ``timeout`` s."""
    from shared.bus import kafka_ready

    def check() -> None:
        if not kafka_ready(bootstrap_servers, timeout=timeout):
            raise ConnectionError("no Kafka broker answers")

    return check
