"""``registry import PATH``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup

from registry.imports.service import MalformedFile, import_commitments
from shared.cli import ensure_schema


def register_commands(cli: FlaskGroup) -> None:
    """Add ``import`` to the registry CLI."""

    @cli.command("import")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--limit", type=click.IntRange(min=1), default=None,
                  help="Import only the first N records.")
    @click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
                  default=None, help="Write every skipped row and warning to this file (TSV).")
    @click.option("--quiet", is_flag=True, help="No progress bar.")
    def import_cmd(path: Path, limit: int | None, report_path: Path | None, quiet: bool) -> None:
        """Import UN Ocean Conference voluntary commitments (JSON Lines) as published
        initiatives with their progress reports (approved) and events; re-running adds
        only what is missing."""
        ensure_schema(current_app)
        factory = current_app.extensions["db_session_factory"]
        bar = None
        if not quiet:
            bar = click.progressbar(length=1, label="Importing", file=sys.stderr,
                                    show_pos=True)
            bar.__enter__()

        def progress(done: int, total: int) -> None:
            if bar is not None:
                bar.length = total
                bar.update(done - bar.pos)

        try:
            report = import_commitments(path, session_factory=factory, limit=limit,
                                        progress=progress)
        except MalformedFile as exc:
            raise click.ClickException(f"{path}: {exc}. Nothing was imported.") from exc
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
        click.echo(f"{report.total} records: {report.imported} imported, "
                   f"{report.already_present} already present, {len(report.skipped)} skipped, "
                   f"{len(report.warnings)} warnings; {report.progress_reports} progress "
                   "reports added.")
        for row in report.skipped[:20]:
            click.echo(f"  skipped line {row.line} ({row.ref or 'no id'}): {row.reason}",
                       err=True)
        if len(report.skipped) > 20:
            click.echo(f"  … and {len(report.skipped) - 20} more (use --report)", err=True)
        if report_path:
            with report_path.open("w", encoding="utf-8") as fh:
                fh.write("kind\tline\tref\treason\n")
                for kind, rows in (("skipped", report.skipped), ("warning", report.warnings)):
                    for row in rows:
                        fh.write(f"{kind}\t{row.line}\t{row.ref or ''}\t"
                                 f"{row.reason.replace(chr(9), ' ')}\n")
            click.echo(f"report written to {report_path}")
