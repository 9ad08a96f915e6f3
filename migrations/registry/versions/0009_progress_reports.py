"""progress reports, indicators, deliverable weights, the initiative's progress

Issue 9 (progress reports):

* ``progress_reports``: an initiative's progress reports (number per initiative, workflow
  status, period, reported_on, overall status, progress 0-100, sanitised narrative,
  resources mobilised / milestones / links as JSON, source and source_ref, change counter,
  owner organisation copied, creator, assigned reviewer, submission and approval times);
  indexes for the last approved report per initiative and for the review queue;
* ``progress_deliverable_updates``: a report's line per deliverable (status, note);
* ``initiative_indicators`` (IATI result model: title, unit, measure, ascending, baseline,
  target, SDG indicator code) and ``indicator_values`` (a report's actuals per period);
* ``deliverables.weight`` (numeric, default 1);
* ``initiatives.progress_percent``, ``progress_reports_count`` (default 0),
  ``last_progress_report_on``.

Columns added to ``initiatives`` and ``deliverables`` carry no foreign key, so SQLite adds
them in place (a rebuilt ``initiatives`` would lose the full-text triggers).

Revision ID: 0009_progress_reports
Revises: 0008
Create Date: 2026-12-02 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = '0009_progress_reports'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('initiatives', sa.Column('progress_percent', sa.SmallInteger(),
                                           nullable=True))
    op.add_column('initiatives', sa.Column('progress_reports_count', sa.Integer(),
                                           server_default='0', nullable=False))
    op.add_column('initiatives', sa.Column('last_progress_report_on', sa.Date(),
                                           nullable=True))
    op.add_column('deliverables', sa.Column('weight', sa.Numeric(precision=9, scale=3),
                                            server_default='1', nullable=False))

    op.create_table('progress_reports',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('initiative_id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('reported_on', sa.Date(), nullable=True),
    sa.Column('overall_status', sa.String(length=30), nullable=True),
    sa.Column('progress_percent', sa.SmallInteger(), nullable=True),
    sa.Column('narrative_html', sa.Text(), nullable=True),
    sa.Column('resources_mobilised', shared.db.JSONType, nullable=False),
    sa.Column('milestones', shared.db.JSONType, nullable=False),
    sa.Column('links', shared.db.JSONType, nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('source_ref', sa.String(length=100), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('owner_organization_id', sa.Uuid(), nullable=True),
    sa.Column('created_by_user_id', sa.Uuid(), nullable=True),
    sa.Column('assigned_reviewer_id', sa.Uuid(), nullable=True),
    sa.Column('submitted_at', shared.db.UTCDateTime(), nullable=True),
    sa.Column('approved_at', shared.db.UTCDateTime(), nullable=True),
    sa.Column('created_at', shared.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', shared.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['initiative_id'], ['initiatives.id'],
                            name=op.f('fk_progress_reports_initiative_id_initiatives'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_progress_reports')),
    sa.UniqueConstraint('initiative_id', 'number',
                        name=op.f('uq_progress_reports_initiative_id')),
    sa.UniqueConstraint('initiative_id', 'source', 'source_ref',
                        name='uq_progress_reports_source_ref')
    )
    op.create_index('ix_progress_reports_last_approved', 'progress_reports',
                    ['initiative_id', 'status', 'reported_on'], unique=False)
    op.create_index('ix_progress_reports_queue', 'progress_reports',
                    ['status', 'submitted_at', 'id'], unique=False,
                    postgresql_include=['assigned_reviewer_id', 'initiative_id'])
    op.create_index(op.f('ix_progress_reports_owner_organization_id'), 'progress_reports',
                    ['owner_organization_id'], unique=False)

    op.create_table('initiative_indicators',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('initiative_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('unit', sa.String(length=100), nullable=True),
    sa.Column('measure', sa.String(length=20), nullable=False),
    sa.Column('ascending', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('baseline_value', sa.Numeric(precision=20, scale=4), nullable=True),
    sa.Column('baseline_year', sa.SmallInteger(), nullable=True),
    sa.Column('target_value', sa.Numeric(precision=20, scale=4), nullable=True),
    sa.Column('target_year', sa.SmallInteger(), nullable=True),
    sa.Column('sdg_indicator_code', sa.String(length=20), nullable=True),
    sa.Column('created_at', shared.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', shared.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['initiative_id'], ['initiatives.id'],
                            name=op.f('fk_initiative_indicators_initiative_id_initiatives'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_initiative_indicators'))
    )
    op.create_index(op.f('ix_initiative_indicators_initiative_id'), 'initiative_indicators',
                    ['initiative_id'], unique=False)

    op.create_table('progress_deliverable_updates',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('report_id', sa.Uuid(), nullable=False),
    sa.Column('deliverable_id', sa.Uuid(), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(
        ['deliverable_id'], ['deliverables.id'],
        name=op.f('fk_progress_deliverable_updates_deliverable_id_deliverables'),
        ondelete='SET NULL'),
    sa.ForeignKeyConstraint(
        ['report_id'], ['progress_reports.id'],
        name=op.f('fk_progress_deliverable_updates_report_id_progress_reports'),
        ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_progress_deliverable_updates'))
    )
    op.create_index(op.f('ix_progress_deliverable_updates_deliverable_id'),
                    'progress_deliverable_updates', ['deliverable_id'], unique=False)
    op.create_index(op.f('ix_progress_deliverable_updates_report_id'),
                    'progress_deliverable_updates', ['report_id'], unique=False)

    op.create_table('indicator_values',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('report_id', sa.Uuid(), nullable=False),
    sa.Column('indicator_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=True),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('value', sa.Numeric(precision=20, scale=4), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(
        ['indicator_id'], ['initiative_indicators.id'],
        name=op.f('fk_indicator_values_indicator_id_initiative_indicators'),
        ondelete='CASCADE'),
    sa.ForeignKeyConstraint(
        ['report_id'], ['progress_reports.id'],
        name=op.f('fk_indicator_values_report_id_progress_reports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_indicator_values'))
    )
    op.create_index(op.f('ix_indicator_values_indicator_id'), 'indicator_values',
                    ['indicator_id'], unique=False)
    op.create_index(op.f('ix_indicator_values_report_id'), 'indicator_values', ['report_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_indicator_values_report_id'), table_name='indicator_values')
    op.drop_index(op.f('ix_indicator_values_indicator_id'), table_name='indicator_values')
    op.drop_table('indicator_values')
    op.drop_index(op.f('ix_progress_deliverable_updates_report_id'),
                  table_name='progress_deliverable_updates')
    op.drop_index(op.f('ix_progress_deliverable_updates_deliverable_id'),
                  table_name='progress_deliverable_updates')
    op.drop_table('progress_deliverable_updates')
    op.drop_index(op.f('ix_initiative_indicators_initiative_id'),
                  table_name='initiative_indicators')
    op.drop_table('initiative_indicators')
    op.drop_index(op.f('ix_progress_reports_owner_organization_id'),
                  table_name='progress_reports')
    op.drop_index('ix_progress_reports_queue', table_name='progress_reports')
    op.drop_index('ix_progress_reports_last_approved', table_name='progress_reports')
    op.drop_table('progress_reports')
    with op.batch_alter_table('deliverables', schema=None) as batch_op:
        batch_op.drop_column('weight')
    for name in ('last_progress_report_on', 'progress_reports_count', 'progress_percent'):
        op.drop_column('initiatives', name)
