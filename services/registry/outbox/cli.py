"""``registry relay``: run the outbox relay alone (when ``serve`` runs with RUN_WORKERS=0)."""

from __future__ import annotations

import signal
import threading

import click
from flask import current_app
from flask.cli import FlaskGroup

from shared.config import kafka_bootstrap_servers, setting


def register_commands(cli: FlaskGroup) -> None:
    """Add ``relay`` to the registry CLI."""

    @cli.command("relay")
    @click.option("--once", is_flag=True, help="Publish what is waiting, then exit.")
    def relay(once: bool) -> None:
        """Publish the outbox to Kafka (KAFKA_BOOTSTRAP_SERVERS) until SIGTERM, or --once."""
        from registry.app import build_relay

        if not kafka_bootstrap_servers():
            raise click.UsageError("KAFKA_BOOTSTRAP_SERVERS is unset: in the embedded mode the "
                                   "relay runs inside `partnership-registry`.")
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        outbox_relay = build_relay(app)
        try:
            if once:
                click.echo(f"published {outbox_relay.drain()} event(s)")
                return
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            try:
                outbox_relay.run(stop, float(setting("OUTBOX_POLL_SECONDS") or 0.5))
            except KeyboardInterrupt:
                pass
        finally:
            outbox_relay.publisher.close()
