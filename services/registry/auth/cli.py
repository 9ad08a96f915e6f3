"""The token commands (``create-token``, ``revoke-token``, ``rotate-signing-key``) live in
:mod:`registry.oauth.cli`; this name stays for the CLIs that register them from here."""

from __future__ import annotations

from flask.cli import FlaskGroup


def register_commands(cli: FlaskGroup) -> None:
    """Add the token and signing-key commands to the registry CLI."""
    from registry.oauth.cli import register_commands as oauth_commands

    oauth_commands(cli)
