"""``registry audit list``: read the audit log from the shell."""

from __future__ import annotations

import json
from datetime import datetime

import click
from flask import current_app
from flask.cli import FlaskGroup

from registry import db
from registry.audit import service
from shared.cli import ensure_schema
from shared.identity import SYSTEM


def register_commands(cli: FlaskGroup) -> None:
    """Add the ``audit`` group to the registry CLI."""

    @cli.group("audit")
    def audit() -> None:
        """The audit log of authentication and authorization events."""

    @audit.command("list")
    @click.option("--event", default=None, help="Event name, or a prefix ending in '.'.")
    @click.option("--outcome", type=click.Choice([o.value for o in service.Outcome]),
                  default=None)
    @click.option("--actor", default=None, help="Actor's subject (user id) or e-mail.")
    @click.option("--subject", default=None)
    @click.option("--ip", default=None)
    @click.option("--since", type=click.DateTime(), default=None,
                  help="UTC, e.g. 2026-12-02T08:00:00.")
    @click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
    @click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
    def audit_list(event, outcome, actor, subject, ip, since: datetime | None, limit: int,
                   as_json: bool) -> None:
        """Newest audit rows first."""
        from datetime import UTC

        ensure_schema(current_app._get_current_object())  # type: ignore[attr-defined]
        rows, total = service.list_entries(
            db_session=db.session(), principal=SYSTEM, event=event, outcome=outcome,
            actor=actor, subject=subject, ip=ip,
            since=since.replace(tzinfo=UTC) if since else None, limit=limit)
        for row in rows:
            if as_json:
                click.echo(json.dumps({
                    "id": row.id, "occurred_at": row.occurred_at.isoformat(),
                    "event": row.event, "outcome": row.outcome, "actor_kind": row.actor_kind,
                    "actor_subject": row.actor_subject, "actor_email": row.actor_email,
                    "subject": row.subject, "ip": row.ip, "request_id": row.request_id,
                    "detail": row.detail}, ensure_ascii=False))
            else:
                who = row.actor_email or row.actor_subject or row.actor_kind
                click.echo(f"{row.occurred_at.isoformat(timespec='seconds')}\t{row.event}\t"
                           f"{row.outcome}\t{who}\t{row.subject or '-'}\t{row.ip or '-'}\t"
                           f"{json.dumps(row.detail, ensure_ascii=False)}")
        click.echo(f"({len(rows)} of {total})", err=True)
