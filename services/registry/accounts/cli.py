"""``registry create-admin``, ``registry staff list|grant|revoke`` and ``registry users
disable|enable``: operator commands (they act as the system)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import FlaskGroup

from registry import db
from registry.accounts import service
from registry.accounts.models import LOCALES
from shared.cli import ensure_schema
from shared.identity import SYSTEM, StaffRole
from shared.problems import DomainError

STAFF_ROLES = [r.value for r in StaffRole]


def _fail(exc: DomainError) -> click.ClickException:
    return click.ClickException(exc.detail + ("" if not exc.errors else ": " + "; ".join(
        e["message"] for e in exc.errors)))


def register_commands(cli: FlaskGroup) -> None:
    """Add ``create-admin`` and the ``staff`` and ``users`` groups to the registry CLI."""

    @cli.command("create-admin")
    @click.option("--email", required=True, help="The secretariat admin's e-mail address.")
    @click.option("--locale", type=click.Choice(LOCALES), default="en", show_default=True,
                  help="Language of a new account.")
    def create_admin_cmd(email: str, locale: str) -> None:
        """Make EMAIL a secretariat admin, creating the account if needed.

        A new account (or one without a password yet) gets a link to set its password,
        printed here (valid VERIFY_LINK_HOURS, single use); give it to the person.
        """
        ensure_schema(current_app._get_current_object())  # type: ignore[attr-defined]
        session = db.session()
        try:
            result = service.create_admin(db_session=session, email=email, locale=locale)
            session.commit()
        except DomainError as exc:
            session.rollback()
            raise _fail(exc) from exc
        what = "created" if result.created else "promoted"
        click.echo(f"{result.user.email}: secretariat admin ({what})")
        if result.set_password_link:
            click.echo(f"set a password at: {result.set_password_link}")

    @cli.group("staff")
    def staff() -> None:
        """Secretariat staff roles (reviewer, secretariat_admin)."""

    @staff.command("list")
    def staff_list() -> None:
        """Everyone holding a staff role: e-mail, roles, id."""
        ensure_schema(current_app._get_current_object())  # type: ignore[attr-defined]
        for user in service.list_staff(db_session=db.session(), principal=SYSTEM):
            click.echo(f"{user.email}\t{','.join(sorted(user.staff_roles))}\t{user.id}")

    def _change(email: str, role: str, grant: bool) -> None:
        ensure_schema(current_app._get_current_object())  # type: ignore[attr-defined]
        session = db.session()
        user = service.find_user_by_email(db_session=session, email=email)
        if user is None:
            raise click.ClickException(f"No account uses {email}.")
        change = service.grant_staff_role if grant else service.revoke_staff_role
        try:
            change(db_session=session, principal=SYSTEM, user_id=user.id, role=role)
            session.commit()
        except DomainError as exc:
            session.rollback()
            raise _fail(exc) from exc
        click.echo(f"{user.email}: {','.join(sorted(user.staff_roles)) or '(no staff role)'}")

    @cli.group("users")
    def users() -> None:
        """People's accounts (operator commands)."""

    def _set_disabled(email: str, disabled: bool) -> None:
        ensure_schema(current_app._get_current_object())  # type: ignore[attr-defined]
        session = db.session()
        user = service.find_user_by_email(db_session=session, email=email)
        if user is None:
            raise click.ClickException(f"No account uses {email}.")
        try:
            service.set_disabled(db_session=session, principal=SYSTEM, user_id=user.id,
                                 disabled=disabled)
            session.commit()
        except DomainError as exc:
            session.rollback()
            raise _fail(exc) from exc
        click.echo(f"{user.email}: {'disabled' if disabled else 'enabled'}")

    @users.command("disable")
    @click.option("--email", required=True)
    def users_disable(email: str) -> None:
        """Disable the account with EMAIL: no sign-in, its sessions end at once."""
        _set_disabled(email, True)

    @users.command("enable")
    @click.option("--email", required=True)
    def users_enable(email: str) -> None:
        """Enable a disabled account again."""
        _set_disabled(email, False)

    @staff.command("grant")
    @click.option("--email", required=True)
    @click.option("--role", type=click.Choice(STAFF_ROLES), required=True)
    def staff_grant(email: str, role: str) -> None:
        """Give the account with EMAIL a staff role."""
        _change(email, role, grant=True)

    @staff.command("revoke")
    @click.option("--email", required=True)
    @click.option("--role", type=click.Choice(STAFF_ROLES), required=True)
    def staff_revoke(email: str, role: str) -> None:
        """Take a staff role from the account with EMAIL (never the last secretariat
        admin's)."""
        _change(email, role, grant=False)
