"""``registry initiatives versions|diff|revisions``: read an initiative's approved versions,
the difference between two of them, and its revisions from the shell. They act as the
system principal, through the same service functions as the API."""

from __future__ import annotations

import json
import uuid
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup, FlaskGroup
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry import db
from shared.cli import ensure_schema
from shared.identity import SYSTEM
from shared.problems import DomainError

#: widest value shown in a table cell (longer ones end with "…")
CELL = 48


def _fail(exc: DomainError) -> click.ClickException:
    reasons = "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors)
    return click.ClickException(f"{exc.detail} {reasons}".strip())


def _run(work: Any) -> Any:
    ensure_schema(current_app._get_current_object())  # type: ignore[attr-defined]
    session = db.session()
    try:
        result = work(session)
        session.commit()
        return result
    except DomainError as exc:
        session.rollback()
        raise _fail(exc) from exc


def resolve_initiative(db_session: Session, ref: str) -> uuid.UUID:
    """The id of the initiative ``ref`` names: its UUID or its public id (``PR-2026-00042``).
    ``click.BadParameter`` when there is none."""
    from registry.initiatives.models import Initiative

    try:
        return uuid.UUID(ref)
    except ValueError:
        pass
    found = db_session.scalar(select(Initiative.id).where(Initiative.public_id == ref.upper()))
    if found is None:
        raise click.BadParameter(f"No initiative {ref!r} (give its id or public id).",
                                 param_hint="INITIATIVE")
    return found


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        if "organization" in value:  # a partner
            value = f"{value['organization'].get('name')} ({value.get('role')})"
        elif "name" in value and "id" in value:  # an organisation
            value = value["name"]
        elif "description" in value:  # a deliverable
            value = f"{value['description']} [{value.get('due_date') or '-'}, " \
                    f"{value.get('status')}]"
        elif "type" in value:  # a resource
            amount = f", USD {value['amount_usd']}" if value.get("amount_usd") else ""
            value = f"{value['type']}: {value.get('details') or ''}{amount}"
        else:
            value = json.dumps(value, ensure_ascii=False)
    text = " ".join(str(value).split())
    return text if len(text) <= CELL else text[:CELL - 1] + "…"


def diff_rows(diff: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The rows of the diff table: (field, change, before, after); list items one row each
    (``field[key]`` for a changed item)."""
    rows: list[tuple[str, str, str, str]] = []
    scalars = {f["field"]: f for f in diff["fields"]}
    for name in diff["changed_fields"]:
        if name in scalars:
            f = scalars[name]
            rows.append((name, f["change"], _cell(f["before"]), _cell(f["after"])))
            continue
        change = diff["lists"][name]
        for item in change["removed"]:
            rows.append((name, "removed", _cell(item), "-"))
        for item in change["added"]:
            rows.append((name, "added", "-", _cell(item)))
        for item in change["changed"]:
            rows.append((f"{name}[{', '.join(item['fields'])}]", "changed",
                         _cell(item["before"]), _cell(item["after"])))
    return rows


def table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    """A plain text table, columns padded to their widest cell."""
    cells = [tuple(str(c) for c in header), *[tuple(str(c) for c in r) for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def register_commands(cli: FlaskGroup) -> None:
    """Add ``versions``, ``diff`` and ``revisions`` to the ``initiatives`` command group
    (created here unless another module made it first)."""
    from registry.initiatives import versions

    group = cli.commands.get("initiatives")
    if group is None:
        group = AppGroup("initiatives", help="Initiatives: review actions, versions, "
                                             "revisions.")
        cli.add_command(group)
    assert isinstance(group, click.Group)

    @group.command("versions")
    @click.argument("initiative")
    @click.option("--json", "as_json", is_flag=True, help="The API's JSON instead of a table.")
    def versions_command(initiative: str, as_json: bool) -> None:
        """The approved versions of INITIATIVE (id or public id), oldest first."""
        def work(s: Session) -> Any:
            return versions.list_versions(db_session=s, principal=SYSTEM,
                                          initiative_id=resolve_initiative(s, initiative))
        items = _run(work)
        if as_json:
            from registry.initiatives.revision_schemas import VersionSummarySchema

            click.echo(json.dumps(VersionSummarySchema(many=True).dump(items),
                                  ensure_ascii=False))
            return
        if not items:
            click.echo("No approved version yet.")
            return
        click.echo(table(("version", "approved at (UTC)", "by", "revision", "changed fields"),
                         [(f"{v.number}{' *' if v.current else ''}",
                           v.approved_at.strftime("%Y-%m-%d %H:%M"),
                           v.approved_by_name or "-", v.revision_number or "-",
                           ", ".join(v.changed_fields) or "-") for v in items]))
        click.echo("(* the version the public sees)")

    @group.command("diff")
    @click.argument("initiative")
    @click.option("--from", "from_", type=click.IntRange(min=1), default=None,
                  help="Version number (default: the one before --to).")
    @click.option("--to", type=click.IntRange(min=1), default=None,
                  help="Version number (default: the current one).")
    @click.option("--revision", type=click.IntRange(min=1), default=None,
                  help="Instead: what revision N changes against the current version.")
    @click.option("--json", "as_json", is_flag=True, help="The API's JSON instead of a table.")
    def diff_command(initiative: str, from_: int | None, to: int | None,
                     revision: int | None, as_json: bool) -> None:
        """Field-by-field difference between two approved versions of INITIATIVE (or, with
        --revision, between the current version and a revision's proposed content)."""
        from registry.initiatives import revisions

        def work(s: Session) -> Any:
            iid = resolve_initiative(s, initiative)
            if revision is not None:
                return revisions.diff_revision(db_session=s, principal=SYSTEM,
                                               initiative_id=iid, number=revision)
            return versions.diff_versions(db_session=s, principal=SYSTEM, initiative_id=iid,
                                          from_=from_, to=to)
        diff = _run(work)
        if as_json:
            click.echo(json.dumps(diff, ensure_ascii=False))
            return
        click.echo(f"version {diff['from']} -> revision {revision}" if revision is not None
                   else f"version {diff['from']} -> version {diff['to']}")
        rows = diff_rows(diff)
        click.echo(table(("field", "change", "before", "after"), rows) if rows
                   else "No difference.")

    @group.command("backfill-versions")
    @click.option("--batch", type=click.IntRange(min=1, max=10_000), default=500,
                  show_default=True, help="Initiatives per transaction.")
    def backfill_versions_command(batch: int) -> None:
        """Write the missing approved-version row of initiatives published before the review
        desk (migration 0008 gave them approved_version 1 without content), in batches, with a
        progress bar. Safe to run again: it only writes what is missing."""
        import sys

        ensure_schema(current_app._get_current_object())  # type: ignore[attr-defined]
        session = db.session()
        ids = versions.initiatives_missing_their_version(session)
        session.rollback()
        written = 0
        with click.progressbar(length=len(ids), label="Versions", show_pos=True,
                               file=sys.stderr) as bar:
            for start in range(0, len(ids), batch):
                chunk = ids[start:start + batch]
                written += versions.backfill_versions(db_session=session,
                                                      initiative_ids=chunk)
                session.commit()
                bar.update(len(chunk))
        click.echo(f"{written} version rows written ({len(ids)} initiatives lacked one).")

    @group.command("revisions")
    @click.argument("initiative")
    def revisions_command(initiative: str) -> None:
        """The revisions of INITIATIVE, newest first: number, status, base version, changed
        fields."""
        from registry.initiatives import revisions

        def work(s: Session) -> Any:
            return revisions.list_revisions(db_session=s, principal=SYSTEM,
                                            initiative_id=resolve_initiative(s, initiative))
        items = _run(work)
        if not items:
            click.echo("No revision.")
            return
        click.echo(table(("revision", "status", "base version", "updated (UTC)",
                          "changed fields"),
                         [(r.number, r.status, r.base_version or "-",
                           r.updated_at.strftime("%Y-%m-%d %H:%M"),
                           ", ".join(r.changed_fields) or "-") for r in items]))
