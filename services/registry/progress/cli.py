"""Operators' commands for progress reports, through the same service functions as the API:

- ``registry progress list INITIATIVE [--as EMAIL] [--json]``: an initiative's reports,
  newest first (id or public id);
- ``registry progress show REPORT [--as EMAIL]``: one report as the API's JSON;
- ``registry progress act REPORT ACTION [--comment TEXT] [--as EMAIL]``: ``submit``,
  ``approve``, ``request-changes`` as the person with that e-mail (their roles and
  memberships apply, four eyes included);
- ``registry progress rollup [--batch-size N]``: recompute every initiative's progress
  fields (``progress_percent``, ``progress_reports_count``, ``last_progress_report_on``)
  from its approved reports, in batches, with a progress bar (after a bulk import that wrote
  approved reports directly).

Without ``--as`` a command acts as the system principal, which may read every report but
never decide a review.
"""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

import click
from flask.cli import AppGroup, FlaskGroup
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from registry.workflow.cli import _as_option, _run, _session, acting_as

#: initiatives recomputed per transaction by ``rollup``
ROLLUP_BATCH = 1000


def recompute_rollups(db_session: Session, initiative_ids: list[uuid.UUID]) -> int:
    """Set the progress fields of ``initiative_ids`` from their approved reports (three
    statements per call whatever its size: the counts and last dates, the latest reports'
    figures, one UPDATE per changed row). Returns how many rows changed."""
    from registry.initiatives.models import Initiative
    from registry.progress.models import ProgressReport

    if not initiative_ids:
        return 0
    approved = (ProgressReport.status == "approved",
                ProgressReport.initiative_id.in_(initiative_ids))
    counts = {r.initiative_id: (r.n, r.last) for r in db_session.execute(
        select(ProgressReport.initiative_id, func.count().label("n"),
               func.max(ProgressReport.reported_on).label("last"))
        .where(*approved).group_by(ProgressReport.initiative_id))}
    ranked = select(ProgressReport.initiative_id, ProgressReport.progress_percent,
                    func.row_number().over(
                        partition_by=ProgressReport.initiative_id,
                        order_by=(ProgressReport.reported_on.desc(),
                                  ProgressReport.number.desc())).label("rank")).where(
        *approved, ProgressReport.progress_percent.is_not(None)).subquery()
    percents = dict(db_session.execute(select(ranked.c.initiative_id,
                                              ranked.c.progress_percent)
                                       .where(ranked.c.rank == 1)).all())
    current = db_session.execute(select(
        Initiative.id, Initiative.progress_reports_count, Initiative.last_progress_report_on,
        Initiative.progress_percent).where(Initiative.id.in_(initiative_ids))).all()
    changed = 0
    for row in current:
        n, last = counts.get(row.id, (0, None))
        wanted = (n, last, percents.get(row.id, row.progress_percent if n else None))
        if (row.progress_reports_count, row.last_progress_report_on,
                row.progress_percent) != wanted:
            db_session.execute(update(Initiative).where(Initiative.id == row.id).values(
                progress_reports_count=wanted[0], last_progress_report_on=wanted[1],
                progress_percent=wanted[2]))
            changed += 1
    return changed


def register_commands(cli: FlaskGroup) -> None:
    """Add the ``progress`` group."""
    from registry.progress import service
    from registry.progress.policy import PROGRESS_REPORT_WORKFLOW
    from registry.progress.schemas import ProgressReportSchema

    group = AppGroup("progress", help="Progress reports: list, show, review actions, "
                                      "roll-up.")
    cli.add_command(group)
    dump = ProgressReportSchema().dump

    @group.command("list")
    @click.argument("initiative")
    @click.option("--json", "as_json", is_flag=True, help="The API's JSON instead of a table.")
    @_as_option
    def list_command(initiative: str, as_json: bool, as_email: str | None) -> None:
        """The progress reports of INITIATIVE (id or public id), newest first."""
        items = _run(lambda s: service.list_reports(
            db_session=s, principal=acting_as(s, as_email), initiative_id=initiative))
        if as_json:
            click.echo(json.dumps([dump(r) for r in items], ensure_ascii=False))
            return
        if not items:
            click.echo("No progress report.")
            return
        from registry.initiatives.versions_cli import table

        click.echo(table(("number", "id", "status", "period", "reported on", "overall",
                          "progress"),
                         [(str(r.number), str(r.id), r.status,
                           f"{r.period_start or '?'}..{r.period_end or '?'}",
                           str(r.reported_on or "-"), r.overall_status or "-",
                           "-" if r.progress_percent is None else f"{r.progress_percent}%")
                          for r in items]))

    @group.command("show")
    @click.argument("report")
    @_as_option
    def show_command(report: str, as_email: str | None) -> None:
        """One progress report (its id) as the API's JSON."""
        view = _run(lambda s: service.get_report(
            db_session=s, principal=acting_as(s, as_email), report_id=report))
        click.echo(json.dumps(dump(view), ensure_ascii=False, indent=2))

    @group.command("act")
    @click.argument("report")
    @click.argument("action", type=click.Choice([t.path for t in
                                                 PROGRESS_REPORT_WORKFLOW.transitions]))
    @click.option("--comment", default=None, help="The comment (required to request "
                                                  "changes).")
    @_as_option
    def act_command(report: str, action: str, comment: str | None,
                    as_email: str | None) -> None:
        """Take ACTION on a progress REPORT (its id)."""
        view = _run(lambda s: service.report_action(
            db_session=s, principal=acting_as(s, as_email), report_id=report,
            action=action.replace("-", "_"), comment=comment))
        click.echo(f"progress report {view.number} of {view.initiative_id}: {view.status} "
                   f"(version {view.version}).")

    @group.command("rollup")
    @click.option("--batch-size", type=click.IntRange(min=1), default=ROLLUP_BATCH,
                  show_default=True, help="Initiatives per transaction.")
    def rollup_command(batch_size: int) -> None:
        """Recompute every initiative's progress fields from its approved reports."""
        from registry.initiatives.models import Initiative

        session = _session()
        ids: list[Any] = list(session.scalars(select(Initiative.id).order_by(Initiative.id)))
        session.rollback()
        changed = 0
        with click.progressbar(length=len(ids), label="Rolling up", show_pos=True,
                               file=sys.stderr) as bar:
            for start in range(0, len(ids), batch_size):
                batch = ids[start:start + batch_size]
                changed += recompute_rollups(session, batch)
                session.commit()
                bar.update(len(batch))
        click.echo(f"{len(ids)} initiatives, {changed} changed.")
