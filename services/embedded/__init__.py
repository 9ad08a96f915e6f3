"""The embedded mode: the three services in one process, one base URL, no servers to install.

``partnership-registry`` (what ``make run`` starts) migrates the three SQLite databases under
``VAR_DIR``, wires one :class:`~shared.bus.InProcessBus` between the registry's outbox relay and
the notifier's and reporting's consumer groups (the same relay and consumer code as with
Kafka), loads the demo records on first start, and serves ``http://127.0.0.1:$PORT`` where path
prefixes route to the services exactly as the reverse proxy does in docker compose:

* ``/api/v1/reports…`` → reporting
* ``/api/v1/subscriptions…``, ``/api/v1/unsubscribe…`` and ``/unsubscribe…`` (one-click
  unsubscribe, RFC 8058) → notifier
* everything else → registry (API, OpenAPI docs at ``/api/v1/docs``, public pages)

``/healthz`` and ``/readyz`` answer for the three together.

This module is the composition root: the only place that imports all three services.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from flask import Flask

from shared import migrate
from shared.bus import InProcessBus
from shared.config import PROJECT_ROOT, database_url, public_base_url, setting
from shared.runtime import Workers
from shared.web import run_readiness_checks

log = logging.getLogger(__name__)

DEMO_FILE = PROJECT_ROOT / "data" / "sample" / "ocean_commitments_sample.jsonl"

#: (path prefix, service) in matching order; the last is the default.
ROUTES: tuple[tuple[str, str], ...] = (
    ("/api/v1/reports", "reporting"),
    ("/api/v1/subscriptions", "notifier"),
    ("/api/v1/unsubscribe", "notifier"),
    ("/unsubscribe", "notifier"),
    ("", "registry"),
)


class PrefixRouter:
    """WSGI app sending each request to the service owning its path prefix (path unchanged)."""

    def __init__(self, apps: dict[str, Flask], routes: Iterable[tuple[str, str]] = ROUTES):
        self.apps = apps
        self.routes = tuple(routes)

    def app_for(self, path: str) -> Flask:
        """The service app for ``path``."""
        for prefix, name in self.routes:
            if not prefix or path == prefix or path.startswith(prefix + "/") or \
                    path.startswith(prefix + "."):
                return self.apps[name]
        return self.apps["registry"]

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path in ("/healthz", "/readyz"):
            return self._health(path, start_response)
        return self.app_for(path)(environ, start_response)

    def _health(self, path: str, start_response):
        if path == "/healthz":
            body: dict[str, Any] = {"status": "ok", "services": sorted(self.apps)}
            ok = True
        else:
            checks = {name: run_readiness_checks(app) for name, app in self.apps.items()}
            ok = all(v == "ok" for c in checks.values() for v in c.values())
            body = {"status": "ok" if ok else "unavailable", "checks": checks}
        start_response("200 OK" if ok else "503 Service Unavailable",
                       [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]


@dataclass
class Embedded:
    """The running embedded stack: the apps, the router, the bus and the workers."""

    apps: dict[str, Flask]
    router: PrefixRouter
    bus: InProcessBus
    workers: list[Workers]

    def stop(self) -> None:
        """Stop the relay (consumers are driven by it)."""
        for w in self.workers:
            w.stop()


def build(test_config: dict[str, dict] | None = None, *, start: bool = True,
          port: int | None = None) -> Embedded:
    """Migrate, create the three apps on one in-process bus and (``start``) run the relay.

    ``test_config`` maps a service name to extra Flask config (e.g. ``DATABASE_URL``);
    ``port``: the port served, the base of links in e-mails unless ``PUBLIC_BASE_URL`` is set.
    """
    from notifier.app import create_app as notifier_app
    from notifier.app import start_workers as notifier_workers
    from registry.app import create_app as registry_app
    from registry.app import start_workers as registry_workers
    from reporting.app import create_app as reporting_app
    from reporting.app import start_workers as reporting_workers
    from shared.logs import configure_logging, service_context

    configure_logging("embedded")  # lines of no one service (waitress, this module)
    test_config = test_config or {}
    factories: dict[str, tuple[Callable[..., Flask], Callable[..., Workers]]] = {
        "notifier": (notifier_app, notifier_workers),
        "reporting": (reporting_app, reporting_workers),
        "registry": (registry_app, registry_workers),  # last: consumers subscribe first
    }
    bus = InProcessBus()
    apps: dict[str, Flask] = {}
    workers: list[Workers] = []
    for name, (create, start_workers) in factories.items():
        config = {"IN_PROCESS_BUS": True, **test_config.get(name, {})}
        # links in e-mails, and the OAuth issuer the three agree on, follow the port served
        config.setdefault("PUBLIC_BASE_URL", public_base_url(port))
        url = config.get("DATABASE_URL") or database_url(name)
        config["DATABASE_URL"] = url
        with service_context(name):  # its worker threads and bus consumers log as `name`
            migrate.upgrade(name, url)
            apps[name] = create(config)
            if start:
                workers.append(start_workers(apps[name], bus=bus))
    return Embedded(apps=apps, router=PrefixRouter(apps), bus=bus, workers=workers)


def load_demo_data(app: Flask, path: Path = DEMO_FILE) -> int:
    """Import the demo records when the registry has no initiative yet; returns how many."""
    from sqlalchemy import func, select

    from registry.imports.service import import_commitments
    from registry.initiatives.models import Initiative

    factory = app.extensions["db_session_factory"]
    with factory() as session:
        if session.scalar(select(func.count()).select_from(Initiative)):
            return 0
    if not path.is_file():
        log.warning("demo file %s missing", path)
        return 0
    report = import_commitments(path, session_factory=factory)
    return report.imported


@click.command()
@click.option("--host", default=lambda: setting("HOST"), show_default="$HOST or 127.0.0.1")
@click.option("--port", type=int, default=lambda: int(setting("PORT") or 5000),
              show_default="$PORT or 5000")
@click.option("--demo/--no-demo", default=True, show_default=True,
              help="Load the demo records into an empty registry.")
def main(host: str, port: int, demo: bool) -> None:
    """Run the registry, notifier and reporting in one process (embedded mode)."""
    from shared.cli import serve_app
    from shared.config import kafka_bootstrap_servers

    if kafka_bootstrap_servers():
        raise click.ClickException("KAFKA_BOOTSTRAP_SERVERS is set: in Kafka mode run the "
                                   "services apart (registry serve, notifier serve, "
                                   "reporting serve).")
    stack = build(port=port)
    if demo:
        loaded = load_demo_data(stack.apps["registry"])
        if loaded:
            click.echo(f"loaded {loaded} demo initiatives (UN Ocean Conference commitments)",
                       err=True)
    click.echo(f"Partnership Registry (embedded) on http://{host}:{port}/  "
               f"(API docs: http://{host}:{port}/api/v1/docs)", err=True)
    serve_app(stack.router, host, port, on_stop=stack.stop)
