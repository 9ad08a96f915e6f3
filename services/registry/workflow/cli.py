"""Operators' commands of the review desk, through the same service functions as the API:

- ``registry review queue [--kind K] [--assigned me|none|any] [--as EMAIL] [--json]``: the
  pending decisions, oldest first, overdue ones marked;
- ``registry review assign INITIATIVE --reviewer EMAIL [--as EMAIL]`` (``--reviewer none``
  unassigns);
- ``registry initiatives act INITIATIVE ACTION [--comment TEXT] [--as EMAIL]``: a lifecycle
  action (``submit``, ``approve``, ``request-changes``…) as the person with that e-mail (a
  registry account; their roles and memberships apply, four eyes included);
- ``registry initiatives archive-completed --before DATE [--as EMAIL]``: archive every
  initiative completed before DATE (UTC), in batches, with a progress bar.

Without ``--as`` a command acts as the system principal, which the permission table lets
see the queue, assign and archive, but never decide a review.
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, date, datetime
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup, FlaskGroup
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry import db
from shared.cli import ensure_schema
from shared.identity import SYSTEM, Principal
from shared.problems import DomainError

#: initiatives archived per transaction by ``archive-completed``
ARCHIVE_BATCH = 200


def _fail(exc: DomainError) -> click.ClickException:
    reasons = "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors)
    return click.ClickException(f"{exc.detail} {reasons}".strip())


def _session() -> Session:
    ensure_schema(current_app._get_current_object())  # type: ignore[attr-defined]
    return db.session()


def _run(work: Any) -> Any:
    session = _session()
    try:
        result = work(session)
        session.commit()
        return result
    except DomainError as exc:
        session.rollback()
        raise _fail(exc) from exc


def acting_as(db_session: Session, email: str | None) -> Principal:
    """The principal of the account with ``email`` (its memberships and staff roles), or the
    system principal when None; ``click.BadParameter`` for an unknown address."""
    if not email:
        return SYSTEM
    from registry.accounts.service import find_user_by_email, principal_for

    user = find_user_by_email(db_session=db_session, email=email)
    if user is None:
        raise click.BadParameter(f"No account with e-mail {email!r}.", param_hint="--as")
    return principal_for(db_session=db_session, user=user)


def _resolve(db_session: Session, ref: str) -> uuid.UUID:
    from registry.initiatives.versions_cli import resolve_initiative

    return resolve_initiative(db_session, ref)


def _as_option(func: Any) -> Any:
    return click.option("--as", "as_email", default=None, metavar="EMAIL",
                        help="Act as this registry account (default: the system).")(func)


def register_commands(cli: FlaskGroup) -> None:
    """Add the ``review`` group and ``initiatives act|archive-completed``."""
    from registry.initiatives import policy, service
    from registry.initiatives.versions_cli import table
    from registry.workflow import queue as review_queue
    from registry.workflow import thread

    review = AppGroup("review", help="The secretariat's review queue and assignments.")
    cli.add_command(review)

    @review.command("queue")
    @click.option("--kind", type=click.Choice(review_queue.KINDS), default=None)
    @click.option("--assigned", type=click.Choice(review_queue.ASSIGNED), default=None)
    @click.option("--page", type=click.IntRange(min=1), default=1)
    @click.option("--per-page", type=click.IntRange(1, 200), default=50)
    @click.option("--json", "as_json", is_flag=True, help="The API's JSON instead of a table.")
    @_as_option
    def queue_command(kind: str | None, assigned: str | None, page: int, per_page: int,
                      as_json: bool, as_email: str | None) -> None:
        """Pending decisions, oldest first ("!" past the working-day target)."""
        def work(s: Session) -> Any:
            return review_queue.review_queue(db_session=s, principal=acting_as(s, as_email),
                                             kind=kind, assigned=assigned, page=page,
                                             per_page=per_page)
        result = _run(work)
        if as_json:
            from registry.workflow.schemas import QueuePageSchema

            click.echo(json.dumps(QueuePageSchema().dump(result), ensure_ascii=False))
            return
        if not result.items:
            click.echo("Nothing to review.")
            return
        click.echo(table(
            ("", "kind", "initiative", "title", "organisation", "age (working days)",
             "assigned"),
            [("!" if i.overdue else "", i.kind + (f" {i.revision_number}"
                                                  if i.revision_number else ""),
              i.public_id or str(i.initiative_id), i.title[:40],
              (i.owner_organization or {}).get("name") or "-",
              f"{i.age_working_days:.1f}",
              (i.assigned_reviewer or {}).get("name") or "-") for i in result.items]))
        click.echo(f"{result.total} pending; target {result.target_working_days} working "
                   "days (! past it)")

    @review.command("assign")
    @click.argument("initiative")
    @click.option("--reviewer", required=True, metavar="EMAIL",
                  help="The reviewer's account e-mail ('none' unassigns).")
    @_as_option
    def assign_command(initiative: str, reviewer: str, as_email: str | None) -> None:
        """Assign the review of INITIATIVE (id or public id) to a reviewer."""
        from registry.accounts.service import find_user_by_email

        def work(s: Session) -> Any:
            reviewer_id = None
            if reviewer.lower() != "none":
                user = find_user_by_email(db_session=s, email=reviewer)
                if user is None:
                    raise click.BadParameter(f"No account with e-mail {reviewer!r}.",
                                             param_hint="--reviewer")
                reviewer_id = user.id
            return thread.assign_reviewer(db_session=s, principal=acting_as(s, as_email),
                                          initiative_id=_resolve(s, initiative),
                                          reviewer_id=reviewer_id)
        view = _run(work)
        click.echo(f"{view.public_id or view.id}: assigned to {reviewer}.")

    group = cli.commands.get("initiatives")
    if group is None:
        group = AppGroup("initiatives", help="Initiatives: review actions, versions, "
                                             "revisions.")
        cli.add_command(group)
    assert isinstance(group, click.Group)
    actions = [t.path for t in policy.INITIATIVE_WORKFLOW.transitions]

    @group.command("act")
    @click.argument("initiative")
    @click.argument("action", type=click.Choice(actions))
    @click.option("--comment", default=None, help="The comment (required by some actions).")
    @_as_option
    def act_command(initiative: str, action: str, comment: str | None,
                    as_email: str | None) -> None:
        """Take a lifecycle ACTION on INITIATIVE (id or public id)."""
        def work(s: Session) -> Any:
            return service.transition(db_session=s, principal=acting_as(s, as_email),
                                      initiative_id=_resolve(s, initiative),
                                      action=action.replace("-", "_"), comment=comment)
        view = _run(work)
        click.echo(f"{view.public_id or view.id}: {view.status} (version {view.version}).")

    @group.command("archive-completed")
    @click.option("--before", "before", required=True,
                  type=click.DateTime(formats=["%Y-%m-%d"]),
                  help="Archive those completed before this date (UTC, YYYY-MM-DD).")
    @click.option("--comment", default=None, help="A comment for every archived one.")
    @_as_option
    def archive_completed(before: datetime, comment: str | None,
                          as_email: str | None) -> None:
        """Archive every initiative completed before a date, in batches (progress bar)."""
        from registry.initiatives.models import Initiative

        cutoff = datetime.combine(date(before.year, before.month, before.day),
                                  datetime.min.time(), tzinfo=UTC)
        session = _session()
        principal = acting_as(session, as_email)
        ids = list(session.scalars(select(Initiative.id).where(
            Initiative.status == "completed", Initiative.completed_at < cutoff).order_by(
            Initiative.completed_at)))
        session.rollback()
        archived, refused = 0, []
        with click.progressbar(length=len(ids), label="Archiving",
                               show_pos=True, file=sys.stderr) as bar:
            for start in range(0, len(ids), ARCHIVE_BATCH):
                batch = ids[start:start + ARCHIVE_BATCH]
                for iid in batch:
                    try:
                        with session.begin_nested():
                            service.transition(db_session=session, principal=principal,
                                               initiative_id=iid, action="archive",
                                               comment=comment)
                        archived += 1
                    except DomainError as exc:
                        refused.append(f"{iid}: {exc.detail}")
                session.commit()
                bar.update(len(batch))
        for line in refused:
            click.echo(f"not archived: {line}", err=True)
        click.echo(f"{archived} archived, {len(refused)} refused "
                   f"(completed before {cutoff.date()}).")
