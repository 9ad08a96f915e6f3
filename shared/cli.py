"""What every service's command line has: ``serve``, ``db upgrade``, ``db check``, ``settings``.

A service builds its console script with :func:`service_cli` and adds its own commands to the
returned ``FlaskGroup`` (commands run inside an application context).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup

from shared import migrate

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

    from shared.consumer import EventConsumer
    from shared.runtime import Workers

from shared.config import SETTINGS, database_url, flag, masked_value, setting


def serve_app(app: WSGIApplication, host: str, port: int, on_stop: Callable[[], None] | None = None,
              threads: int = 8) -> None:
    """Serve ``app`` with waitress until SIGTERM/SIGINT, then run ``on_stop``."""
    from waitress.server import create_server

    server = create_server(app, host=host, port=port, threads=threads, ident="partnership-registry")

    def _shutdown(*_args):
        server.close()

    signal.signal(signal.SIGTERM, _shutdown)
    try:
        server.run()
    except (KeyboardInterrupt, OSError):
        pass
    finally:
        if on_stop:
            on_stop()


def ensure_schema(app: Flask) -> None:
    """Upgrade the app's database to the newest migration (commands that write call this, so
    they work on a fresh clone before the first ``serve``)."""
    service = app.config["SERVICE_NAME"]
    migrate.upgrade(service, app.config.get("DATABASE_URL") or database_url(service))


def service_cli(service: str, create_app: Callable[..., Flask],
                start_workers: Callable[[Flask], Workers] | None, default_port: int) -> FlaskGroup:
    """The ``FlaskGroup`` of ``service`` with the common commands."""

    group = FlaskGroup(name=service, create_app=lambda: create_app(),
                       add_default_commands=True, add_version_option=False,
                       help=f"Partnership Registry — {service} service.")

    @group.command("serve")
    @click.option("--host", default=lambda: setting("HOST"), show_default="$HOST or 127.0.0.1")
    @click.option("--port", type=int, default=default_port, show_default=True)
    @click.option("--migrate/--no-migrate", "run_migrations", default=True, show_default=True,
                  help="Upgrade the database before serving.")
    def serve(host: str, port: int, run_migrations: bool) -> None:
        """Serve the HTTP API (waitress) and, unless RUN_WORKERS=0, the background worker."""
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        if run_migrations:
            migrate.upgrade(service, app.config.get("DATABASE_URL") or database_url(service))
        workers = start_workers(app) if (start_workers and flag("RUN_WORKERS")) else None
        click.echo(f"{service} listening on http://{host}:{port}", err=True)
        serve_app(app, host, port, on_stop=(workers.stop if workers else None))

    @group.group("db")
    def db() -> None:
        """Database migrations (Alembic)."""

    @db.command("upgrade")
    @click.option("--revision", default="head", show_default=True)
    def db_upgrade(revision: str) -> None:
        """Migrate this service's database to REVISION."""
        migrate.upgrade(service, current_app.config.get("DATABASE_URL") or database_url(service),
                        revision)
        click.echo(f"{service}: database at {revision}")

    @db.command("check")
    def db_check() -> None:
        """Fail when the models and the migrations disagree (drift)."""
        migrate.check(service, current_app.config.get("DATABASE_URL") or database_url(service))
        click.echo(f"{service}: models and migrations agree")

    @group.command("settings")
    def settings() -> None:
        """List every environment setting with its current value (secrets masked: passwords
        in URLs, and settings named like SECRET/PASSWORD/TOKEN/KEY)."""
        for s in SETTINGS:
            click.echo(f"{s.name}={masked_value(s.name, setting(s.name))}\t# {s.meaning}")

    return group


def add_consumer_commands(group: FlaskGroup, build_consumer: Callable[[Flask], EventConsumer],
                          start_workers: Callable[[Flask], Workers], base_topic: str) -> None:
    """Add ``consume`` and ``dlt replay`` to the CLI of a service with a consumer group."""
    import sys
    import threading

    from shared.config import kafka_bootstrap_servers

    service = group.name

    def require_kafka() -> list[str]:
        servers = kafka_bootstrap_servers()
        if not servers:
            raise click.UsageError(
                f"KAFKA_BOOTSTRAP_SERVERS is unset: in the embedded mode the {service} "
                "consumes the in-process bus of `partnership-registry`.")
        return servers

    @group.command("consume")
    def consume() -> None:
        """Run only this service's consumer group (Kafka) until SIGTERM or Ctrl-C."""
        require_kafka()
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        workers = start_workers(app)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        click.echo(f"{service}: consuming {base_topic}", err=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        workers.stop()

    @group.group("dlt")
    def dlt() -> None:
        """Dead letters of this consumer group (``<prefix><topic>.dlt``)."""

    @dlt.command("replay")
    @click.option("--from-beginning", is_flag=True,
                  help="Start at the topic's first record, not where the last replay stopped.")
    @click.option("--all-consumers", is_flag=True,
                  help="Also replay letters other consumer groups dead-lettered.")
    @click.option("--timeout", type=float, default=60.0, show_default=True,
                  help="Seconds to wait for the records present when the replay started.")
    def dlt_replay(from_beginning: bool, all_consumers: bool, timeout: float) -> None:
        """Hand each dead letter back to the consumer once; report replayed / failed again."""
        from shared.dlt import replay_dead_letters

        servers = require_kafka()
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        result = replay_dead_letters(build_consumer(app), servers, base_topic,
                                     from_beginning=from_beginning,
                                     all_consumers=all_consumers, timeout=timeout)
        click.echo(f"replayed {result.replayed}, failed again {result.failed}, "
                   f"skipped {result.skipped} (other consumers)")
        if result.stopped:
            click.echo(f"stopped early by a transient error: {result.stopped}", err=True)
            sys.exit(1)
