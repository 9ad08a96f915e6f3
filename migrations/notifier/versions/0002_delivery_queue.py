"""deliveries become a queue: pending/sending/dead, attempts, next_attempt_at, rendered bodies

The consumer now only writes ``pending`` deliveries (with the rendered message) in the
transaction of its ``processed_events`` row; a delivery worker sends them with bounded
exponential backoff. Existing rows are ``sent`` or ``failed`` and keep their meaning.
Downgrade turns rows the old schema cannot express (``pending``, ``sending``, ``dead``) into
``failed`` with a note, so nothing is sent again by an older version.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_STATUSES = "status IN ('pending', 'sending', 'sent', 'failed', 'dead')"
OLD_STATUSES = "status IN ('sent', 'failed')"


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_text", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("body_html", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0",
                                      nullable=False))
        batch_op.add_column(sa.Column("next_attempt_at", shared.db.UTCDateTime(),
                                      nullable=True))
        batch_op.drop_constraint(batch_op.f("ck_deliveries_status"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_deliveries_status"), NEW_STATUSES)
        batch_op.create_index(batch_op.f("ix_deliveries_status_next_attempt_at"),
                              ["status", "next_attempt_at"], unique=False)
    # a row recorded before had one attempt
    op.execute("UPDATE deliveries SET attempts = 1")


def downgrade() -> None:
    op.execute("UPDATE deliveries SET status = 'failed', "
               "error = 'not sent: downgraded while ' || status "
               "WHERE status IN ('pending', 'sending', 'dead')")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_status_next_attempt_at"))
        batch_op.drop_constraint(batch_op.f("ck_deliveries_status"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_deliveries_status"), OLD_STATUSES)
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("attempts")
        batch_op.drop_column("body_html")
        batch_op.drop_column("body_text")
