"""``registry`` console script: serve, relay, db, create-token, import, settings."""

from __future__ import annotations

from registry.accounts.cli import register_commands as account_commands
from registry.app import create_app, start_workers
from registry.audit.cli import register_commands as audit_commands
from registry.auth.cli import register_commands as auth_commands
from registry.compliance.cli import register_commands as compliance_commands
from registry.imports.cli import register_commands as import_commands
from registry.initiatives.versions_cli import register_commands as version_commands
from registry.organizations.cli import register_commands as organization_commands
from registry.outbox.cli import register_commands as outbox_commands
from registry.progress.cli import register_commands as progress_commands
from registry.workflow.cli import register_commands as review_commands
from shared.cli import service_cli

cli = service_cli("registry", create_app, start_workers, default_port=5001)
auth_commands(cli)
import_commands(cli)
outbox_commands(cli)
organization_commands(cli)
account_commands(cli)
audit_commands(cli)
review_commands(cli)  # review queue|assign, initiatives act|archive-completed
compliance_commands(cli)  # compliance run|status|remind|digest (issue 9)
version_commands(cli)  # after any other ``initiatives`` group: it adds to it
progress_commands(cli)  # progress list|show|act|rollup (issue 9)


def main() -> None:
    """Entry point of the ``registry`` console script."""
    cli.main(prog_name="registry")
