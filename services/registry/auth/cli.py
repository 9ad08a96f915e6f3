"""``registry create-token``."""

from __future__ import annotations

import uuid

import click
from flask import current_app
from flask.cli import FlaskGroup

from registry import db
from registry.auth.service import ROLES, create_token
from shared.cli import ensure_schema
from shared.problems import DomainError


def register_commands(cli: FlaskGroup) -> None:
    """Add ``create-token`` to the registry CLI."""

    @cli.command("create-token")
    @click.option("--role", type=click.Choice(ROLES), required=True)
    @click.option("--organization", "organization_id", type=click.UUID, default=None,
                  help="Organisation id the partner acts for.")
    @click.option("--email", default=None, help="Contact e-mail of the token holder.")
    def create_token_cmd(role: str, organization_id: uuid.UUID | None, email: str | None) -> None:
        """Print a new bearer token (stored hashed; shown only now)."""
        ensure_schema(current_app._get_current_object())  # type: ignore[attr-defined]
        session = db.session()
        try:
            plain, _row = create_token(db_session=session, role=role,
                                       organization_id=organization_id, email=email)
            session.commit()
        except DomainError as exc:
            session.rollback()
            raise click.ClickException(f"{exc.detail}: " + "; ".join(
                e["message"] for e in exc.errors)) from exc
        click.echo(plain)
