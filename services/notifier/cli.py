"""``notifier`` console script: serve, consume, dlt replay, db, settings."""

from __future__ import annotations

from notifier.app import build_consumer, create_app, start_workers
from shared.cli import add_consumer_commands, service_cli
from shared.events.types import TOPIC_INITIATIVES

cli = service_cli("notifier", create_app, start_workers, default_port=5002)
add_consumer_commands(cli, build_consumer, start_workers, TOPIC_INITIATIVES)


def main() -> None:
    """Entry point of the ``notifier`` console script."""
    cli.main(prog_name="notifier")
