"""initial notifier tables: deliveries, processed_events

Revision ID: 0001
Revises:
Create Date: 2026-11-23 19:54:52.073560
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("initiative_id", sa.String(length=200), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("template", sa.String(length=100), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("message_id", sa.String(length=300), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        # UTCDateTime() is DateTime(timezone=True); autogenerate renders "(timezone=True)",
        # which its constructor does not take
        sa.Column("created_at", shared.db.UTCDateTime(), nullable=False),
        sa.Column("sent_at", shared.db.UTCDateTime(), nullable=True),
        sa.CheckConstraint("channel IN ('email')", name=op.f("ck_deliveries_channel")),
        sa.CheckConstraint("status IN ('sent', 'failed')", name=op.f("ck_deliveries_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("event_id", "channel", "recipient",
                            name=op.f("uq_deliveries_event_id")),
    )
    op.create_index(op.f("ix_deliveries_initiative_id"), "deliveries", ["initiative_id"],
                    unique=False)
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("processed_at", shared.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_processed_events")),
    )


def downgrade() -> None:
    op.drop_table("processed_events")
    op.drop_index(op.f("ix_deliveries_initiative_id"), table_name="deliveries")
    op.drop_table("deliveries")
