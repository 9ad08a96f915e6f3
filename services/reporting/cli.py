"""``reporting`` console script: serve, consume, summary, db, settings."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from sqlalchemy import inspect

from reporting.app import build_consumer, create_app, start_workers
from shared.cli import add_consumer_commands, service_cli
from shared.events.types import TOPIC_INITIATIVES

cli = service_cli("reporting", create_app, start_workers, default_port=5003)
add_consumer_commands(cli, build_consumer, start_workers, TOPIC_INITIATIVES)


@cli.command("summary")
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "html"]), default="json",
              show_default=True, help="Rendering (the same as the API's).")
@click.option("--output", "output", default="-", show_default=True,
              type=click.Path(dir_okay=False, writable=True, allow_dash=True),
              help="File to write (UTF-8); '-' for standard output.")
def summary(fmt: str, output: str) -> None:
    """Write the summary report (what GET /api/v1/reports/summary[.csv|.html] serves)."""
    from reporting.readmodel.models import ReportInitiative
    from reporting.summaries.rendering import render
    from reporting.summaries.service import compute_summary

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    engine = app.extensions["db_engine"]
    if not inspect(engine).has_table(ReportInitiative.__tablename__):
        raise click.ClickException("the reporting database has no read model yet: run "
                                   "`reporting db upgrade` (or `reporting serve`) first")
    with app.extensions["db_session_factory"]() as session:
        body = render(compute_summary(db_session=session), fmt)
    if output == "-":
        sys.stdout.write(body)
        return
    path = Path(output)
    # newline="" keeps the CSV's CRLF row ends as written
    path.write_text(body, encoding="utf-8", newline="")
    click.echo(f"reporting: summary ({fmt}) written to {path}", err=True)


def main() -> None:
    """Entry point of the ``reporting`` console script."""
    cli.main(prog_name="reporting")
