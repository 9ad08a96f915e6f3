"""``registry organizations ...``: the operator's organisation commands (verify, merge, add a
member, list those awaiting verification). They act as the system principal, through the
same service functions and permission table as the API and pages."""

from __future__ import annotations

import uuid

import click
from flask import current_app
from flask.cli import AppGroup, FlaskGroup

from registry import db
from shared.cli import ensure_schema
from shared.identity import SYSTEM, OrgRole
from shared.problems import DomainError


def _fail(exc: DomainError) -> click.ClickException:
    reasons = "; ".join(e["message"] for e in exc.errors)
    return click.ClickException(f"{exc.detail}: {reasons}" if reasons else exc.detail)


def _run(work):
    ensure_schema(current_app._get_current_object())  # type: ignore[attr-defined]
    session = db.session()
    try:
        result = work(session)
        session.commit()
        return result
    except DomainError as exc:
        session.rollback()
        raise _fail(exc) from exc


def register_commands(cli: FlaskGroup) -> None:
    """Add the ``organizations`` command group to the registry CLI."""
    from registry.organizations import service

    group = AppGroup("organizations", help="Verify, merge and staff organisations.")

    @group.command("list-unverified")
    @click.option("--q", default=None, help="Part of the name.")
    def list_unverified(q: str | None) -> None:
        """Organisations awaiting verification, oldest first (id, name, country)."""
        orgs = _run(lambda s: service.list_for_verification(db_session=s, principal=SYSTEM,
                                                            q=q, limit=1000))
        for org in orgs:
            click.echo(f"{org.id}\t{org.name}\t{org.country or ''}")

    @group.command("verify")
    @click.argument("organization_id", type=click.UUID)
    def verify(organization_id: uuid.UUID) -> None:
        """Mark an organisation verified (its initiatives may then be published)."""
        org = _run(lambda s: service.verify_organization(db_session=s, principal=SYSTEM,
                                                         organization_id=organization_id))
        click.echo(f"verified {org.id} {org.name}")

    @group.command("merge")
    @click.argument("duplicate_id", type=click.UUID)
    @click.option("--into", "into_id", type=click.UUID, required=True,
                  help="The organisation that stays.")
    def merge(duplicate_id: uuid.UUID, into_id: uuid.UUID) -> None:
        """Merge a duplicate into another organisation (every link moves there)."""
        org = _run(lambda s: service.merge_organizations(
            db_session=s, principal=SYSTEM, duplicate_id=duplicate_id, into_id=into_id))
        click.echo(f"merged {duplicate_id} into {org.id} {org.name}")

    @group.command("add-member")
    @click.argument("organization_id", type=click.UUID)
    @click.option("--email", required=True, help="The person's account e-mail.")
    @click.option("--role", type=click.Choice([r.value for r in OrgRole]),
                  default=OrgRole.MEMBER.value, show_default=True)
    def add_member(organization_id: uuid.UUID, email: str, role: str) -> None:
        """Make an account a member (or admin) of an organisation at once."""
        _run(lambda s: service.add_member(db_session=s, principal=SYSTEM,
                                          organization_id=organization_id, email=email,
                                          role=OrgRole(role)))
        click.echo(f"{email} is {role} of {organization_id}")

    cli.add_command(group)
