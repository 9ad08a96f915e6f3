"""Operators' commands of the reporting light, through the same service functions as the API
and the scheduler:

- ``registry compliance run [--as-of WHEN] [--batch-size N] [--json] [--quiet]``: compute
  every active initiative's light and decide the reminders now (or as of WHEN), with a
  progress bar; skipped when another run holds the lock;
- ``registry compliance status INITIATIVE [--as-of WHEN] [--json]``: one initiative's light
  (id or public id) as of now or WHEN;
- ``registry compliance remind INITIATIVE [--as EMAIL]``: send a reminder now (kind
  ``manual``);
- ``registry compliance digest [--as-of WHEN]``: emit the secretariat's weekly digest for the
  week ending on WHEN's date (once per week).

WHEN is an ISO date (``2026-03-01``: that day's end, UTC) or date-time
(``2026-03-01T02:00:00Z``).
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup, FlaskGroup
from sqlalchemy import func, select

from shared.cli import ensure_schema
from shared.problems import DomainError


class _When(click.ParamType):
    name = "WHEN"

    def convert(self, value: Any, param: Any, ctx: Any) -> date | datetime:
        from marshmallow import ValidationError

        from registry.compliance.schemas import AsOf

        if isinstance(value, date):
            return value
        try:
            return AsOf().deserialize(value)
        except ValidationError:
            self.fail("an ISO date (2026-03-01) or date-time (2026-03-01T02:00:00Z)",
                      param, ctx)


WHEN = _When()


def _fail(exc: DomainError) -> click.ClickException:
    reasons = "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors)
    return click.ClickException(f"{exc.detail} {reasons}".strip())


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, indent=2)


def register_commands(cli: FlaskGroup) -> None:
    """Add the ``compliance`` group."""
    from registry.compliance import service

    group = AppGroup("compliance", help="The reporting traffic light (UN DESA's rule), "
                                        "its reminders and the weekly digest.")
    cli.add_command(group)

    @group.command("run")
    @click.option("--as-of", "as_of", type=WHEN, default=None,
                  help="The job's clock (default: now).")
    @click.option("--batch-size", type=click.IntRange(min=1), default=None,
                  help="Initiatives per batch (default: COMPLIANCE_BATCH_SIZE).")
    @click.option("--json", "as_json", is_flag=True, help="The result as JSON.")
    @click.option("--quiet", is_flag=True, help="No progress bar.")
    def run_command(as_of: date | datetime | None, batch_size: int | None, as_json: bool,
                    quiet: bool) -> None:
        """Compute every active initiative's light, emit the changes and the reminders due."""
        from registry.initiatives.models import Initiative

        ensure_schema(current_app)
        factory = current_app.extensions["db_session_factory"]
        now = service._aware(as_of) if as_of is not None else None
        bar = None
        if not quiet:
            with factory() as s:
                total = s.scalar(select(func.count()).select_from(Initiative).where(
                    Initiative.status.in_(service.ACTIVE_STATES))) or 0
            bar = click.progressbar(length=max(total, 1), label="Computing lights",
                                    file=sys.stderr, show_pos=True)
            bar.__enter__()
        try:
            result = service.run_compliance_job(
                factory, now=now, batch_size=batch_size,
                on_batch=(lambda info: bar.update(info.size)) if bar is not None else None)
        except DomainError as exc:
            raise _fail(exc) from exc
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
        if as_json:
            click.echo(_json(result.as_dict()))
            return
        if result.skipped:
            click.echo("Skipped: another run holds the lock.")
            return
        counts = result.counts
        click.echo(f"As of {result.as_of:%Y-%m-%d %H:%M} UTC: {result.total} active "
                   f"initiatives — {counts['green']} green, {counts['yellow']} yellow, "
                   f"{counts['red']} red; {result.changed} changed, {result.reminders} "
                   f"reminders sent ({result.covered} covered by them), {result.cleared} "
                   f"cleared; {result.batches} batches, {result.statements} statements, "
                   f"{result.seconds:.2f} s.")

    @group.command("status")
    @click.argument("initiative")
    @click.option("--as-of", "as_of", type=WHEN, default=None, help="Default: now.")
    @click.option("--json", "as_json", is_flag=True, help="The API's JSON.")
    def status_command(initiative: str, as_of: date | datetime | None, as_json: bool) -> None:
        """The light of INITIATIVE (id or public id) as of now or --as-of."""
        from registry import db
        from registry.compliance.schemas import ComplianceSchema
        from shared.identity import SYSTEM

        ensure_schema(current_app)
        try:
            result = service.compliance_of(db.session(), SYSTEM, initiative, as_of=as_of)
        except DomainError as exc:
            raise _fail(exc) from exc
        if as_json:
            click.echo(_json(ComplianceSchema().dump(result)))
            return
        if result["status"] is None:
            click.echo(f"{result['public_id'] or result['initiative_id']}: no light (not "
                       f"active as of {result['as_of']:%Y-%m-%d}).")
            return
        click.echo(f"{result['public_id'] or result['initiative_id']}: {result['status']}"
                   f"{' (inactive)' if result['inactive'] else ''} as of "
                   f"{result['as_of']:%Y-%m-%d %H:%M} UTC")
        click.echo(f"  cycle from {result['anchor_on']} (last approved report: "
                   f"{result['last_report_on'] or 'none'}); first reminder "
                   f"{result['upcoming_on']}, due and yellow {result['yellow_on']}, red "
                   f"{result['red_on']}")
        for r in result["reminders"]:
            click.echo(f"  reminder {r['kind']} ({r['anchor_on']} cycle) "
                       f"{r['decided_at']:%Y-%m-%d %H:%M}"
                       f"{' covered' if r['covered_by'] else ''}")

    @group.command("remind")
    @click.argument("initiative")
    @click.option("--as", "as_email", default=None, metavar="EMAIL",
                  help="Act as this registry account (default: the system).")
    def remind_command(initiative: str, as_email: str | None) -> None:
        """Send INITIATIVE's owner organisation a progress-report reminder now."""
        from registry import db
        from registry.workflow.cli import acting_as

        ensure_schema(current_app)
        session = db.session()
        try:
            reminder = service.send_reminder_now(session, acting_as(session, as_email),
                                                 initiative)
            session.commit()
        except DomainError as exc:
            session.rollback()
            raise _fail(exc) from exc
        click.echo(f"Reminder {reminder['id']} sent to {len(reminder['recipients'])} "
                   f"member(s); light {reminder['reporting_status']}, report due "
                   f"{reminder['due_on']}.")

    @group.command("digest")
    @click.option("--as-of", "as_of", type=WHEN, default=None,
                  help="The week ends on this date (default: today).")
    def digest_command(as_of: date | datetime | None) -> None:
        """Emit the secretariat's weekly digest of what turned yellow or red."""
        ensure_schema(current_app)
        factory = current_app.extensions["db_session_factory"]
        with current_app.app_context():
            now = service._aware(as_of) if as_of is not None else None
            data = service.send_weekly_digest(factory, now=now)
        if data is None:
            click.echo("No digest: already sent for that week, or another run holds the lock.")
            return
        click.echo(f"Digest {data['week_start']}..{data['week_end']}: "
                   f"{len(data['turned_yellow'])} turned yellow, {len(data['turned_red'])} "
                   f"turned red; lights {data['counts']}; {len(data['recipients'])} "
                   "recipient(s).")
