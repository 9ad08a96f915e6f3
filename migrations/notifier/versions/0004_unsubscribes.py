"""unsubscribes: the suppression list; deliveries get extra headers, a list and ``suppressed``

Issue 9: reminders to report progress carry ``List-Unsubscribe`` / ``List-Unsubscribe-Post``
(RFC 8058). ``unsubscribes`` keeps who left which list (one row per address and list);
``deliveries.headers`` the extra header fields of a message, ``deliveries.list_id`` the list it
belongs to, and the status ``suppressed`` marks an e-mail not sent because its address left the
list. Downgrade turns ``suppressed`` rows into ``failed`` with a note (never sent either).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_STATUSES = "status IN ('pending', 'sending', 'sent', 'failed', 'dead', 'suppressed')"
OLD_STATUSES = "status IN ('pending', 'sending', 'sent', 'failed', 'dead')"


def upgrade() -> None:
    op.create_table(
        "unsubscribes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("list_id", sa.String(length=100), nullable=False),
        sa.Column("via", sa.String(length=20), nullable=False),
        sa.Column("created_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("list_id IN ('progress-reminders')",
                           name=op.f("ck_unsubscribes_list_id")),
        sa.CheckConstraint("via IN ('web', 'api')", name=op.f("ck_unsubscribes_via")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unsubscribes")),
        sa.UniqueConstraint("address", "list_id", name=op.f("uq_unsubscribes_address")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("headers", shared.db.JSONType, nullable=True))
        batch_op.add_column(sa.Column("list_id", sa.String(length=100), nullable=True))
        batch_op.drop_constraint(batch_op.f("ck_deliveries_status"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_deliveries_status"), NEW_STATUSES)
        batch_op.create_index(batch_op.f("ix_deliveries_list_id_status"),
                              ["list_id", "status"], unique=False)


def downgrade() -> None:
    op.execute("UPDATE deliveries SET status = 'failed', "
               "error = 'not sent: the address unsubscribed (downgraded)' "
               "WHERE status = 'suppressed'")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_list_id_status"))
        batch_op.drop_constraint(batch_op.f("ck_deliveries_status"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_deliveries_status"), OLD_STATUSES)
        batch_op.drop_column("list_id")
        batch_op.drop_column("headers")
    op.drop_table("unsubscribes")
