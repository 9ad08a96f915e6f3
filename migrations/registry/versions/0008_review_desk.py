"""review desk: one activities table, lifecycle columns, versions and revisions

Issue 8 (review desk):

* ``activities``: the one timeline of every reviewed record, keyed by (record type, record
  id), replacing ``initiative_activities`` and ``organization_activities`` (their rows are
  copied: initiative entries keep their action, statuses, comment (now ``body``), actor and
  changes; organisation entries their action, actor and detail (now ``changes``)), then the
  two tables are dropped;
* ``initiatives``: the time each lifecycle state was entered (``completion_declared_at``,
  ``completed_at``, ``archived_at``, ``withdrawn_at``, ``suspended_at``), ``approved_version``
  (1 for the records published before this migration), ``assigned_reviewer_id``; review-queue
  indexes; the public ordering's partial index now covers every publicly visible state;
* ``deliverables.status`` (planned, in_progress, achieved, delayed, cancelled; default
  planned);
* ``initiative_revisions`` (proposed changes to published initiatives; at most one open per
  initiative: partial unique index) and ``initiative_versions`` (approved content, numbered).

Columns added to ``initiatives`` carry no foreign key, so SQLite adds them in place (a
rebuilt table would lose the full-text triggers).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 11:30:00
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PUBLIC_STATES = "('archived', 'completed', 'completion_declared', 'published', 'withdrawn')"
OPEN_REVISIONS = "status IN ('changes_requested', 'draft', 'submitted')"
ORG_ACTOR_ROLE = {'user': 'partner', 'client': 'client', 'system': 'system',
                  'anonymous': 'anonymous'}


def _public_order(states_sql: str) -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    published = 'published_at DESC NULLS LAST' if postgresql else 'published_at DESC'
    op.create_index('ix_initiatives_public_order', 'initiatives',
                    [sa.text(published), sa.text('updated_at DESC'), 'id'],
                    unique=False, postgresql_where=sa.text(f"status {states_sql}"),
                    sqlite_where=sa.text(f"status {states_sql}"))


def _activity_columns() -> list[sa.Column]:
    return [
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('record_type', sa.String(length=30), nullable=False),
        sa.Column('record_id', sa.Uuid(), nullable=False),
        sa.Column('revision_number', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('action', sa.String(length=40), nullable=False),
        sa.Column('from_status', sa.String(length=30), nullable=True),
        sa.Column('to_status', sa.String(length=30), nullable=True),
        sa.Column('body', sa.Text(), nullable=True),
        sa.Column('visibility', sa.String(length=20), nullable=False),
        sa.Column('reply_to_id', sa.Uuid(), nullable=True),
        sa.Column('actor_role', sa.String(length=20), nullable=False),
        sa.Column('actor_user_id', sa.Uuid(), nullable=True),
        sa.Column('actor_token_id', sa.Uuid(), nullable=True),
        sa.Column('actor_organization_id', sa.Uuid(), nullable=True),
        sa.Column('actor_email', sa.String(length=320), nullable=True),
        sa.Column('actor_name', sa.String(length=200), nullable=True),
        sa.Column('changes', shared.db.JSONType, nullable=True),
        sa.Column('created_at', shared.db.UTCDateTime(), nullable=False),
    ]


def _uuid_or_none(value):
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def upgrade() -> None:
    bind = op.get_bind()
    # -- activities ---------------------------------------------------------------------
    op.create_table('activities', *_activity_columns(),
                    sa.ForeignKeyConstraint(['reply_to_id'], ['activities.id'],
                                            name=op.f('fk_activities_reply_to_id_activities'),
                                            ondelete='SET NULL'),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_activities')))
    op.create_index('ix_activities_record', 'activities',
                    ['record_type', 'record_id', 'created_at'], unique=False)
    # initiative entries: edits are 'edit'; the rest were transitions (create, submit,
    # approve, request_changes, reject, import); entries of an import are public
    op.execute(
        "INSERT INTO activities (id, record_type, record_id, revision_number, kind, action, "
        "from_status, to_status, body, visibility, reply_to_id, actor_role, actor_user_id, "
        "actor_token_id, actor_organization_id, actor_email, actor_name, changes, created_at) "
        "SELECT id, 'initiative', initiative_id, NULL, "
        "CASE WHEN action = 'update' THEN 'edit' ELSE 'transition' END, action, "
        "from_status, to_status, comment, "
        "CASE WHEN action = 'import' THEN 'public' ELSE 'participants' END, NULL, actor_role, "
        "NULL, actor_token_id, actor_organization_id, actor_email, NULL, changes, created_at "
        "FROM initiative_activities")
    old = sa.table('organization_activities', sa.column('id', sa.Uuid()),
                   sa.column('organization_id', sa.Uuid()), sa.column('action', sa.String()),
                   sa.column('actor_kind', sa.String()), sa.column('actor_subject', sa.String()),
                   sa.column('actor_email', sa.String()),
                   sa.column('detail', shared.db.JSONType),
                   sa.column('created_at', shared.db.UTCDateTime()))
    new = sa.table('activities', *(sa.column(c.name, c.type) for c in _activity_columns()))
    rows = [{
        'id': r.id, 'record_type': 'organization', 'record_id': r.organization_id,
        'revision_number': None,
        'kind': 'transition' if r.action == 'verify' else 'event', 'action': r.action,
        'from_status': 'unverified' if r.action == 'verify' else None,
        'to_status': 'verified' if r.action == 'verify' else None, 'body': None,
        'visibility': 'participants', 'reply_to_id': None,
        'actor_role': ORG_ACTOR_ROLE.get(r.actor_kind, r.actor_kind),
        'actor_user_id': _uuid_or_none(r.actor_subject) if r.actor_kind == 'user' else None,
        'actor_token_id': None, 'actor_organization_id': None, 'actor_email': r.actor_email,
        'actor_name': None, 'changes': r.detail, 'created_at': r.created_at}
        for r in bind.execute(sa.select(old))]
    if rows:
        bind.execute(new.insert(), rows)
    op.drop_index(op.f('ix_initiative_activities_created_at'),
                  table_name='initiative_activities')
    op.drop_index(op.f('ix_initiative_activities_initiative_id'),
                  table_name='initiative_activities')
    op.drop_table('initiative_activities')
    op.drop_index(op.f('ix_organization_activities_organization_id'),
                  table_name='organization_activities')
    op.drop_table('organization_activities')

    # -- initiatives: lifecycle ------------------------------------------------------------
    for name in ('completion_declared_at', 'completed_at', 'archived_at', 'withdrawn_at',
                 'suspended_at'):
        op.add_column('initiatives', sa.Column(name, shared.db.UTCDateTime(), nullable=True))
    op.add_column('initiatives', sa.Column('approved_version', sa.Integer(), nullable=True))
    op.add_column('initiatives', sa.Column('assigned_reviewer_id', sa.Uuid(), nullable=True))
    op.create_index(op.f('ix_initiatives_assigned_reviewer_id'), 'initiatives',
                    ['assigned_reviewer_id'], unique=False)
    # covering (index-only scans): the queue's filter on the assigned reviewer reads no heap
    op.create_index('ix_initiatives_review_queue', 'initiatives',
                    ['status', 'submitted_at', 'id'], unique=False,
                    postgresql_include=['assigned_reviewer_id'])
    op.create_index('ix_initiatives_completion_queue', 'initiatives',
                    ['status', 'completion_declared_at', 'id'], unique=False,
                    postgresql_include=['assigned_reviewer_id'])
    op.execute("UPDATE initiatives SET approved_version = 1 WHERE published_at IS NOT NULL")
    op.drop_index('ix_initiatives_public_order', table_name='initiatives')
    _public_order(f"IN {PUBLIC_STATES}")

    # -- deliverables ---------------------------------------------------------------------
    op.add_column('deliverables', sa.Column('status', sa.String(length=20),
                                            server_default='planned', nullable=False))

    # -- revisions and versions ------------------------------------------------------------
    op.create_table('initiative_revisions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('initiative_id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('content', shared.db.JSONType, nullable=False),
    sa.Column('base_version', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('owner_organization_id', sa.Uuid(), nullable=True),
    sa.Column('assigned_reviewer_id', sa.Uuid(), nullable=True),
    sa.Column('created_by_user_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', shared.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', shared.db.UTCDateTime(), nullable=False),
    sa.Column('submitted_at', shared.db.UTCDateTime(), nullable=True),
    sa.Column('decided_at', shared.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['initiative_id'], ['initiatives.id'], name=op.f('fk_initiative_revisions_initiative_id_initiatives'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_initiative_revisions')),
    sa.UniqueConstraint('initiative_id', 'number', name=op.f('uq_initiative_revisions_initiative_id'))
    )
    op.create_index(op.f('ix_initiative_revisions_initiative_id'), 'initiative_revisions',
                    ['initiative_id'], unique=False)
    op.create_index(op.f('ix_initiative_revisions_owner_organization_id'),
                    'initiative_revisions', ['owner_organization_id'], unique=False)
    op.create_index(op.f('ix_initiative_revisions_assigned_reviewer_id'),
                    'initiative_revisions', ['assigned_reviewer_id'], unique=False)
    op.create_index('ix_initiative_revisions_queue', 'initiative_revisions',
                    ['status', 'submitted_at', 'initiative_id'], unique=False,
                    postgresql_include=['assigned_reviewer_id', 'number'])
    op.create_index('uq_initiative_revisions_open', 'initiative_revisions', ['initiative_id'],
                    unique=True, postgresql_where=sa.text(OPEN_REVISIONS),
                    sqlite_where=sa.text(OPEN_REVISIONS))
    op.create_table('initiative_versions',
    sa.Column('initiative_id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('content', shared.db.JSONType, nullable=False),
    sa.Column('approved_at', shared.db.UTCDateTime(), nullable=False),
    sa.Column('approved_by_name', sa.String(length=200), nullable=True),
    sa.Column('approved_by_email', sa.String(length=320), nullable=True),
    sa.Column('revision_id', sa.Uuid(), nullable=True),
    sa.Column('changed_fields', shared.db.JSONType, nullable=True),
    sa.ForeignKeyConstraint(['initiative_id'], ['initiatives.id'], name=op.f('fk_initiative_versions_initiative_id_initiatives'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['revision_id'], ['initiative_revisions.id'], name=op.f('fk_initiative_versions_revision_id_initiative_revisions'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('initiative_id', 'number', name=op.f('pk_initiative_versions'))
    )


def downgrade() -> None:
    op.drop_table('initiative_versions')
    op.drop_index('uq_initiative_revisions_open', table_name='initiative_revisions')
    op.drop_index('ix_initiative_revisions_queue', table_name='initiative_revisions')
    op.drop_index(op.f('ix_initiative_revisions_assigned_reviewer_id'),
                  table_name='initiative_revisions')
    op.drop_index(op.f('ix_initiative_revisions_owner_organization_id'),
                  table_name='initiative_revisions')
    op.drop_index(op.f('ix_initiative_revisions_initiative_id'),
                  table_name='initiative_revisions')
    op.drop_table('initiative_revisions')
    with op.batch_alter_table('deliverables', schema=None) as batch_op:
        batch_op.drop_column('status')
    op.drop_index('ix_initiatives_public_order', table_name='initiatives')
    _public_order("= 'published'")
    op.drop_index('ix_initiatives_completion_queue', table_name='initiatives')
    op.drop_index('ix_initiatives_review_queue', table_name='initiatives')
    op.drop_index(op.f('ix_initiatives_assigned_reviewer_id'), table_name='initiatives')
    for name in ('assigned_reviewer_id', 'approved_version', 'suspended_at', 'withdrawn_at',
                 'archived_at', 'completed_at', 'completion_declared_at'):
        op.drop_column('initiatives', name)

    # the two old timelines, from the generic one (comments and notes have no place there)
    op.create_table('organization_activities',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('actor_kind', sa.String(length=20), nullable=False),
    sa.Column('actor_subject', sa.String(length=200), nullable=True),
    sa.Column('actor_email', sa.String(length=320), nullable=True),
    sa.Column('detail', shared.db.JSONType, nullable=True),
    sa.Column('created_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_organization_activities_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organization_activities'))
    )
    op.create_index(op.f('ix_organization_activities_organization_id'),
                    'organization_activities', ['organization_id'], unique=False)
    op.create_table('initiative_activities',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('initiative_id', sa.Uuid(), nullable=False),
    sa.Column('action', sa.String(length=30), nullable=False),
    sa.Column('from_status', sa.String(length=30), nullable=True),
    sa.Column('to_status', sa.String(length=30), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('actor_role', sa.String(length=20), nullable=False),
    sa.Column('actor_token_id', sa.Uuid(), nullable=True),
    sa.Column('actor_organization_id', sa.Uuid(), nullable=True),
    sa.Column('actor_email', sa.String(length=320), nullable=True),
    sa.Column('changes', shared.db.JSONType, nullable=True),
    sa.Column('created_at', shared.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['initiative_id'], ['initiatives.id'], name=op.f('fk_initiative_activities_initiative_id_initiatives'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_initiative_activities'))
    )
    op.create_index(op.f('ix_initiative_activities_created_at'), 'initiative_activities',
                    ['created_at'], unique=False)
    op.create_index(op.f('ix_initiative_activities_initiative_id'), 'initiative_activities',
                    ['initiative_id'], unique=False)
    op.execute(
        "INSERT INTO initiative_activities (id, initiative_id, action, from_status, to_status, "
        "comment, actor_role, actor_token_id, actor_organization_id, actor_email, changes, "
        "created_at) SELECT a.id, a.record_id, substr(a.action, 1, 30), a.from_status, "
        "coalesce(a.to_status, i.status), a.body, a.actor_role, a.actor_token_id, "
        "a.actor_organization_id, a.actor_email, a.changes, a.created_at FROM activities a "
        "JOIN initiatives i ON i.id = a.record_id WHERE a.record_type = 'initiative' "
        "AND a.kind IN ('transition', 'edit')")
    op.execute(
        "INSERT INTO organization_activities (id, organization_id, action, actor_kind, "
        "actor_subject, actor_email, detail, created_at) SELECT a.id, a.record_id, a.action, "
        "CASE WHEN a.actor_role IN ('partner', 'secretariat') THEN 'user' ELSE a.actor_role "
        "END, NULL, a.actor_email, a.changes, a.created_at FROM activities a "
        "JOIN organizations o ON o.id = a.record_id WHERE a.record_type = 'organization'")
    op.drop_index('ix_activities_record', table_name='activities')
    op.drop_table('activities')
