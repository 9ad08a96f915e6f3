"""``notifier`` console script: serve, consume, dlt replay, deliveries list/retry, unsubscribes
list/remove, db, settings."""

from __future__ import annotations

import click
from flask import current_app

from notifier.app import build_consumer, create_app, start_workers
from notifier.deliveries.models import DELIVERY_STATUSES
from notifier.unsubscribes.models import LISTS
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


@cli.group("unsubscribes")
def unsubscribes() -> None:
    """The suppression list: addresses that left the progress report reminders."""


@unsubscribes.command("list")
@click.option("--address", help="Only this address (any case).")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=1000, show_default=True)
def unsubscribes_list(address: str | None, limit: int) -> None:
    """List unsubscribes, newest first: time (UTC), list, how (web or api), address. The
    count goes to standard error."""
    from notifier.unsubscribes.service import list_unsubscribes

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    ensure_schema(app)
    with app.extensions["db_session_factory"]() as session:
        rows = list_unsubscribes(db_session=session, address=address, limit=limit)
    for row in rows:
        click.echo("\t".join([_when(row.created_at), row.list_id, row.via, row.address]))
    click.echo(f"{len(rows)} unsubscribed", err=True)


@unsubscribes.command("remove")
@click.argument("addresses", nargs=-1, required=True, metavar="ADDRESS...")
@click.option("--list", "list_id", type=click.Choice(LISTS), default=LISTS[0],
              show_default=True)
def unsubscribes_remove(addresses: tuple[str, ...], list_id: str) -> None:
    """Subscribe addresses again (the person asked the secretariat): later reminders reach
    them; those suppressed meanwhile are not sent late. An address that was not unsubscribed
    is reported and the exit status is 1."""
    from notifier.unsubscribes.service import remove_unsubscribe

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    ensure_schema(app)
    missing = False
    for address in addresses:
        with app.extensions["db_session_factory"]() as session:
            removed = remove_unsubscribe(address, db_session=session, list_id=list_id)
        if removed:
            click.echo(f"{address}: subscribed again to {list_id}")
        else:
            click.echo(f"{address}: was not unsubscribed from {list_id}", err=True)
            missing = True
    if missing:
        raise SystemExit(1)


def main() -> None:
    """Entry point of the ``notifier`` console script."""
    cli.main(prog_name="notifier")
