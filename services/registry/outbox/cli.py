"""``registry relay``: run the outbox relay alone (when ``serve`` runs with RUN_WORKERS=0)."""

from __future__ import annotations

import signal
import threading

import click
from flask import current_app
from flask.cli import FlaskGroup


def register_commands(cli: FlaskGroup) -> None:
    """Add ``relay`` to the registry CLI."""

    @cli.command("relay")
    @click.option("--once", is_flag=True, help="Publish what is waiting, then exit.")
    def relay(once: bool) -> None:
        """Publish the outbox to the bus (Kafka with KAFKA_BOOTSTRAP_SERVERS)."""
        from registry.app import start_workers

        app = current_app._get_current_object()  # type: ignore[attr-defined]
        workers = start_workers(app)
        if once:
            workers.stop()
            sent = app.extensions["outbox_relay"].drain()
            click.echo(f"published {sent} event(s)")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        workers.stop()
