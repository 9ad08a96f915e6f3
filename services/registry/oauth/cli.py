"""``registry create-token``, ``revoke-token``, ``rotate-signing-key``,
``publish-signing-keys``, ``clients create|list|delete``: access tokens, signing keys and
organisations' API clients for operators and scripts."""

from __future__ import annotations

import uuid

import click
from flask import current_app
from flask.cli import FlaskGroup

from registry import db
from shared.cli import ensure_schema
from shared.identity import SYSTEM, Scope
from shared.problems import DomainError


def _fail(exc: DomainError) -> click.ClickException:
    reasons = "; ".join(e["message"] for e in exc.errors)
    return click.ClickException(f"{exc.detail}: {reasons}" if reasons else exc.detail)


def register_commands(cli: FlaskGroup) -> None:
    """Add the token and signing-key commands to the registry CLI."""
    from registry.oauth.service import CLI_TOKEN_SECONDS, LEGACY_ROLES

    @cli.command("create-token")
    @click.option("--role", type=click.Choice(LEGACY_ROLES), default=None,
                  help="A person acting as a partner (of --organization) or as the "
                       "secretariat.")
    @click.option("--organization", "organization_id", type=click.UUID, default=None,
                  help="Organisation id the partner acts for.")
    @click.option("--email", default=None,
                  help="The person the token is for (a user's address; with --role, only the "
                       "token's e-mail claim).")
    @click.option("--client", "client_id", default=None,
                  help="An organisation's API client the token is for (client_id).")
    @click.option("--scope", "scopes", multiple=True, type=click.Choice([s.value for s in Scope]),
                  help="Limit the token to these scopes (repeatable; default: all).")
    @click.option("--expires-in", type=click.IntRange(1, 90 * 24 * 3600),
                  default=CLI_TOKEN_SECONDS, show_default=True, help="Lifetime in seconds.")
    def create_token_cmd(role: str | None, organization_id: uuid.UUID | None,
                         email: str | None, client_id: str | None, scopes: tuple[str, ...],
                         expires_in: int) -> None:
        """Print a new signed access token (JWT), shown only now; only its id is stored."""
        from registry.oauth.service import create_token, principal_for_cli

        ensure_schema(current_app._get_current_object())  # type: ignore[attr-defined]
        session = db.session()
        try:
            principal = principal_for_cli(db_session=session, role=role,
                                          organization_id=organization_id, email=email,
                                          client_id=client_id)
            token, _claims = create_token(
                db_session=session, principal=principal, expires_in=expires_in,
                scopes=frozenset(Scope(s) for s in scopes) if scopes else None)
            session.commit()
        except DomainError as exc:
            session.rollback()
            raise _fail(exc) from exc
        click.echo(token)

    @cli.command("revoke-token")
    @click.argument("token", required=False)
    @click.option("--jti", default=None, help="The token's id instead of the token.")
    def revoke_token_cmd(token: str | None, jti: str | None) -> None:
        """Revoke an access token at once (by the token or its --jti)."""
        from registry.oauth.service import revoke_access_token

        if not token and not jti:
            raise click.UsageError("give the TOKEN or --jti")
        ensure_schema(current_app._get_current_object())  # type: ignore[attr-defined]
        session = db.session()
        try:
            outcome = revoke_access_token(db_session=session, principal=SYSTEM, jti=jti,
                                          token=token)
            session.commit()
        except DomainError as exc:
            session.rollback()
            raise _fail(exc) from exc
        click.echo(f"{outcome.jti} {'revoked' if outcome.revoked else 'was revoked already'}")

    @cli.command("rotate-signing-key")
    @click.option("--retire-now", is_flag=True,
                  help="Refuse the previous key's tokens at once (key compromised); by "
                       "default they verify until they expire.")
    def rotate_signing_key_cmd(retire_now: bool) -> None:
        """Make a new signing key current; the previous one verifies until its last token
        expires (then is retired), or not at all with --retire-now."""
        from registry.oauth.keys import rotate_signing_key

        ensure_schema(current_app._get_current_object())  # type: ignore[attr-defined]
        session = db.session()
        new, old = rotate_signing_key(db_session=session, retire_now=retire_now)
        session.commit()
        click.echo(f"current key {new.kid}")
        for row in old:
            until = row.not_after.isoformat() if row.not_after else "now"
            click.echo(f"rotated out {row.kid}: verifies until {until}")

    @cli.command("publish-signing-keys")
    def publish_signing_keys_cmd() -> None:
        """Emit the identity events of every key still verifying again (a service whose key
        table was reset catches up)."""
        from registry.oauth.keys import republish_signing_keys

        ensure_schema(current_app._get_current_object())  # type: ignore[attr-defined]
        session = db.session()
        n = republish_signing_keys(db_session=session)
        session.commit()
        click.echo(f"published {n} key(s)")

    register_client_commands(cli)


def register_client_commands(cli: FlaskGroup) -> None:
    """Add ``clients create|list|delete`` (an organisation's API clients, as an operator)."""

    @cli.group("clients")
    def clients_group() -> None:
        """Organisations' API clients (OAuth 2)."""

    @clients_group.command("create")
    @click.option("--organization", "organization_id", type=click.UUID, required=True)
    @click.option("--name", required=True)
    @click.option("--kind", type=click.Choice(["organization", "application"]),
                  default="organization", show_default=True,
                  help="organization: its own system (client credentials); application: a "
                       "third-party app acting for people (authorization code + PKCE).")
    @click.option("--scope", "scopes", multiple=True, type=click.Choice([s.value for s in Scope]),
                  help="Repeatable; default: every scope the kind may have.")
    @click.option("--redirect-uri", "redirect_uris", multiple=True,
                  help="An application's redirect URI (repeatable).")
    @click.option("--public", is_flag=True, help="An application without a secret.")
    def clients_create(organization_id: uuid.UUID, name: str, kind: str,
                       scopes: tuple[str, ...], redirect_uris: tuple[str, ...],
                       public: bool) -> None:
        """Register a client; prints client_id and the secret (shown only now)."""
        from registry.oauth.clients import create_client

        ensure_schema(current_app._get_current_object())  # type: ignore[attr-defined]
        session = db.session()
        try:
            made = create_client(db_session=session, principal=SYSTEM,
                                 organization_id=organization_id, name=name, kind=kind,
                                 scopes=list(scopes) or None,
                                 redirect_uris=list(redirect_uris), public=public)
            session.commit()
        except DomainError as exc:
            session.rollback()
            raise _fail(exc) from exc
        click.echo(f"client_id={made.client.client_id}")
        if made.client_secret:
            click.echo(f"client_secret={made.client_secret}")

    @clients_group.command("list")
    @click.option("--organization", "organization_id", type=click.UUID, required=True)
    def clients_list(organization_id: uuid.UUID) -> None:
        """The organisation's live clients: client_id, kind, scopes, name (never secrets)."""
        from registry.oauth.clients import list_clients

        session = db.session()
        try:
            rows = list_clients(db_session=session, principal=SYSTEM,
                                organization_id=organization_id)
        except DomainError as exc:
            raise _fail(exc) from exc
        for row in rows:
            click.echo(f"{row.client_id}\t{row.kind}\t{row.scope}\t{row.name}")

    @clients_group.command("delete")
    @click.option("--organization", "organization_id", type=click.UUID, required=True)
    @click.argument("client_id")
    def clients_delete(organization_id: uuid.UUID, client_id: str) -> None:
        """Delete a client: its tokens are refused at once."""
        from registry.oauth.clients import delete_client

        session = db.session()
        try:
            revoked = delete_client(db_session=session, principal=SYSTEM,
                                    organization_id=organization_id, client_id=client_id)
            session.commit()
        except DomainError as exc:
            session.rollback()
            raise _fail(exc) from exc
        click.echo(f"deleted {client_id}; {revoked} access token(s) revoked")
