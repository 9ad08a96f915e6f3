"""progress: each initiative's reporting light and progress in the read model

Issue 9: ``report_initiatives`` keeps the reporting status (traffic light), the time and cycle
of its last change, the date of the last approved progress report, the progress (0-100) and the
number of approved reports. Existing rows get nulls and 0 until the next event about them; the
summary's counters by colour (``report_summary_counts``, dimension ``reporting_status``) start
at zero accordingly (no row has a colour yet), so nothing needs backfilling.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 14:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("report_initiatives", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reporting_status", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("reporting_status_as_of",
                                      shared.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reporting_anchor_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("last_progress_report_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("progress_percent", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("progress_reports_count", sa.Integer(),
                                      server_default="0", nullable=False))


def downgrade() -> None:
    op.execute("DELETE FROM report_summary_counts WHERE dimension = 'reporting_status'")
    with op.batch_alter_table("report_initiatives", schema=None) as batch_op:
        batch_op.drop_column("progress_reports_count")
        batch_op.drop_column("progress_percent")
        batch_op.drop_column("last_progress_report_on")
        batch_op.drop_column("reporting_anchor_on")
        batch_op.drop_column("reporting_status_as_of")
        batch_op.drop_column("reporting_status")
