"""``notifier`` console script: serve, consume, dlt replay, deliveries list/retry, db, settings."""

from __future__ import annotations

import click
from flask import current_app

from notifier.app import build_consumer, create_app, start_workers
from notifier.deliveries.models import DELIVERY_STATUSES
from shared.cli import add_consumer_commands, ensure_schema, service_cli
from shared.events.types import TOPIC_INITIATIVES
from shared.problems import DomainError

cli = service_cli("notifier", create_app, start_workers, default_port=5002)
add_consumer_commands(cli, build_consumer, start_workers, TOPIC_INITIATIVES)


def _when(value) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else "-"


@cli.group("deliveries")
def deliveries() -> None:
    """E-mail deliveries: what was sent, what waits for a retry, what is dead."""


@deliveries.command("list")
@click.option("--status", type=click.Choice(DELIVERY_STATUSES),
              help="Only deliveries in this status.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
def deliveries_list(status: str | None, limit: int) -> None:
    """List deliveries, newest first: id, status, attempts, created, next attempt (pending) or
    sent time, recipient, subject, last error. Counts per status go to standard error."""
    from notifier.deliveries.service import delivery_counts, list_deliveries

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    ensure_schema(app)
    with app.extensions["db_session_factory"]() as session:
        rows = list_deliveries(db_session=session, status=status, limit=limit)
        counts = delivery_counts(db_session=session)
    for d in rows:
        when = d.sent_at if d.status == "sent" else d.next_attempt_at
        error = (d.error or "").replace("\n", " ").replace("\t", " ")[:120]
        click.echo("\t".join([str(d.id), d.status, str(d.attempts), _when(d.created_at),
                              _when(when), d.recipient.replace("\n", " ")[:80],
                              d.subject[:80], error]))
    click.echo(", ".join(f"{k} {v}" for k, v in counts.items()), err=True)


@deliveries.command("retry")
@click.argument("delivery_ids", nargs=-1, required=True, metavar="ID...")
def deliveries_retry(delivery_ids: tuple[str, ...]) -> None:
    """Make dead, failed or pending deliveries due now with a fresh attempt budget; the running
    notifier sends them within DELIVERY_POLL_SECONDS. A sent one is refused (exit 1)."""
    from notifier.deliveries.service import retry_delivery

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    ensure_schema(app)
    failed = False
    for delivery_id in delivery_ids:
        with app.extensions["db_session_factory"]() as session:
            try:
                delivery = retry_delivery(delivery_id, db_session=session)
            except DomainError as exc:
                click.echo(f"{delivery_id}: {exc.detail}", err=True)
                failed = True
                continue
            click.echo(f"{delivery.id}: pending, due now ({delivery.recipient})")
    if failed:
        raise SystemExit(1)


def main() -> None:
    """Entry point of the ``notifier`` console script."""
    cli.main(prog_name="notifier")
