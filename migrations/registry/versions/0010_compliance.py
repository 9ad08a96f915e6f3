"""compliance: the reporting traffic light, its history, reminders and job runs

Issue 9 (the reporting traffic light, UN DESA's rule since 2018):

* ``initiatives``: ``reporting_status`` (green, yellow, red; null: not active or not computed
  yet), ``reporting_status_since``, ``reporting_anchor_on`` (the current cycle's start). They
  are in NO index and the table's ``fillfactor`` becomes 70 (PostgreSQL): the compliance job's
  updates of a light are then HOT (heap-only tuples: the new row version goes on the same page
  and none of the table's 16 indexes — an 87 MB GIN among them at 100,000 rows — gets an
  entry). Measured on 100,000 initiatives: 123 s of UPDATE with an index on
  ``reporting_status`` and packed pages, 7 s (98 % HOT) without it at fillfactor 70. Pages
  written before this migration stay packed until the table is rewritten (``VACUUM FULL``);
  the public list's filter on the light walks the public ordering index;
* ``reporting_status_changes``: each change of a light (the weekly digest reads it);
* ``progress_reminders``: reminders decided per (initiative, cycle, kind), unique except
  ``manual`` (partial unique index: the exactly-once guarantee); ``covered_by`` (the reminder
  sent in its place, written in the same transaction) carries no foreign key: its check cost
  ~11 µs per covered row of the job's first run;
* ``compliance_job_runs``: the runs of the daily job and of the weekly digest.

Columns added to ``initiatives`` carry no foreign key, so SQLite adds them in place (a
rebuilt table would lose the full-text triggers).

Revision ID: 0010_compliance
Revises: 0009_progress_reports
Create Date: 2026-12-02 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = '0010_compliance'
down_revision: str | None = '0009_progress_reports'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('initiatives', sa.Column('reporting_status', sa.String(length=10),
                                           nullable=True))
    op.add_column('initiatives', sa.Column('reporting_status_since', shared.db.UTCDateTime(),
                                           nullable=True))
    op.add_column('initiatives', sa.Column('reporting_anchor_on', sa.Date(), nullable=True))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE initiatives SET (fillfactor = 70)')
    op.create_table(
        'reporting_status_changes',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('initiative_id', sa.Uuid(), nullable=False),
        sa.Column('from_status', sa.String(length=10), nullable=True),
        sa.Column('to_status', sa.String(length=10), nullable=False),
        sa.Column('as_of', shared.db.UTCDateTime(), nullable=False),
        sa.Column('anchor_on', sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(['initiative_id'], ['initiatives.id'],
                                name=op.f('fk_reporting_status_changes_initiative_id_initiatives'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reporting_status_changes')))
    op.create_index('ix_reporting_status_changes_digest', 'reporting_status_changes',
                    ['to_status', 'as_of'], unique=False)
    op.create_index(op.f('ix_reporting_status_changes_initiative_id'),
                    'reporting_status_changes', ['initiative_id'], unique=False)
    op.create_table(
        'progress_reminders',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('initiative_id', sa.Uuid(), nullable=False),
        sa.Column('anchor_on', sa.Date(), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('reporting_status', sa.String(length=10), nullable=True),
        sa.Column('decided_at', shared.db.UTCDateTime(), nullable=False),
        sa.Column('covered_by', sa.Uuid(), nullable=True),
        sa.Column('requested_by_user_id', sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(['initiative_id'], ['initiatives.id'],
                                name=op.f('fk_progress_reminders_initiative_id_initiatives'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_progress_reminders')))
    op.create_index(op.f('ix_progress_reminders_initiative_id'), 'progress_reminders',
                    ['initiative_id'], unique=False)
    op.create_index('uq_progress_reminders_once', 'progress_reminders',
                    ['initiative_id', 'anchor_on', 'kind'], unique=True,
                    postgresql_where=sa.text("kind <> 'manual'"),
                    sqlite_where=sa.text("kind <> 'manual'"))
    op.create_table(
        'compliance_job_runs',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('job', sa.String(length=20), nullable=False),
        sa.Column('started_at', shared.db.UTCDateTime(), nullable=False),
        sa.Column('finished_at', shared.db.UTCDateTime(), nullable=True),
        sa.Column('as_of', shared.db.UTCDateTime(), nullable=False),
        sa.Column('counts', shared.db.JSONType, nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_compliance_job_runs')))
    op.create_index('ix_compliance_job_runs_job', 'compliance_job_runs', ['job', 'as_of'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_compliance_job_runs_job', table_name='compliance_job_runs')
    op.drop_table('compliance_job_runs')
    op.drop_index('uq_progress_reminders_once', table_name='progress_reminders')
    op.drop_index(op.f('ix_progress_reminders_initiative_id'), table_name='progress_reminders')
    op.drop_table('progress_reminders')
    op.drop_index(op.f('ix_reporting_status_changes_initiative_id'),
                  table_name='reporting_status_changes')
    op.drop_index('ix_reporting_status_changes_digest', table_name='reporting_status_changes')
    op.drop_table('reporting_status_changes')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE initiatives RESET (fillfactor)')
    for name in ('reporting_anchor_on', 'reporting_status_since', 'reporting_status'):
        op.drop_column('initiatives', name)  # in place on SQLite too (no rebuild)
