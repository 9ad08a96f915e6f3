"""``notifier`` console script: serve, consume, dlt replay, db, settings."""

from __future__ import annotations

import signal
import sys
import threading

import click
from flask import current_app

from notifier.app import build_consumer, create_app, start_workers
from shared.cli import service_cli
from shared.config import kafka_bootstrap_servers

cli = service_cli("notifier", create_app, start_workers, default_port=5002)


def _require_kafka() -> list[str]:
    servers = kafka_bootstrap_servers()
    if not servers:
        raise click.UsageError("KAFKA_BOOTSTRAP_SERVERS is unset: in the embedded mode the "
                               "notifier consumes the in-process bus of `partnership-registry`.")
    return servers


@cli.command("consume")
def consume() -> None:
    """Run only the notifier consumer group (Kafka) until SIGTERM or Ctrl-C."""
    _require_kafka()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    workers = start_workers(app)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    click.echo("notifier: consuming registry.initiatives", err=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    workers.stop()


@cli.group("dlt")
def dlt() -> None:
    """Dead letters of the notifier (``<prefix>registry.initiatives.dlt``)."""


@dlt.command("replay")
@click.option("--from-beginning", is_flag=True,
              help="Start at the topic's first record, not where the last replay stopped.")
@click.option("--all-consumers", is_flag=True,
              help="Also replay letters other consumer groups dead-lettered.")
@click.option("--timeout", type=float, default=60.0, show_default=True,
              help="Seconds to wait for the records present when the replay started.")
def dlt_replay(from_beginning: bool, all_consumers: bool, timeout: float) -> None:
    """Hand each dead letter back to the consumer once; report replayed / failed again."""
    from notifier.dlt import replay_dead_letters
    from shared.events.types import TOPIC_INITIATIVES

    servers = _require_kafka()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    result = replay_dead_letters(build_consumer(app), servers, TOPIC_INITIATIVES,
                                 from_beginning=from_beginning, all_consumers=all_consumers,
                                 timeout=timeout)
    click.echo(f"replayed {result.replayed}, failed again {result.failed}, "
               f"skipped {result.skipped} (other consumers)")
    if result.stopped:
        click.echo(f"stopped early by a transient error: {result.stopped}", err=True)
        sys.exit(1)


def main() -> None:
    """Entry point of the ``notifier`` console script."""
    cli.main(prog_name="notifier")
