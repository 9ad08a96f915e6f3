"""organisations: memberships, invitations, join requests, verification, merges; proposed links

Issue 7 (authz): ``organization_memberships`` (person, organisation, role member|admin),
``organization_invitations`` (by e-mail; token stored as a SHA-256 digest, single use,
expiring), ``organization_join_requests``, ``organization_activities`` (history: register,
verify, merge, member changes); ``organizations`` gains ``website``, ``verification_status``
(unverified|verified, existing rows unverified), ``verified_at``/``verified_by`` and
``merged_into_id``; lead and partner links of initiatives gain ``confirmed`` (existing links
stay confirmed).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 07:40:36.378750
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
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
    with op.batch_alter_table('organization_activities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organization_activities_organization_id'), ['organization_id'], unique=False)

    op.create_table('organization_invitations',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('invited_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answered_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['invited_by'], ['users.id'], name=op.f('fk_organization_invitations_invited_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_organization_invitations_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organization_invitations')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_organization_invitations_token_hash'))
    )
    with op.batch_alter_table('organization_invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organization_invitations_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_organization_invitations_organization_id'), ['organization_id'], unique=False)

    op.create_table('organization_join_requests',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_organization_join_requests_decided_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_organization_join_requests_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_organization_join_requests_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organization_join_requests'))
    )
    with op.batch_alter_table('organization_join_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organization_join_requests_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_organization_join_requests_user_id'), ['user_id'], unique=False)

    op.create_table('organization_memberships',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('created_at', shared.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_organization_memberships_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_organization_memberships_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organization_memberships')),
    sa.UniqueConstraint('user_id', 'organization_id', name=op.f('uq_organization_memberships_user_id'))
    )
    with op.batch_alter_table('organization_memberships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organization_memberships_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_organization_memberships_user_id'), ['user_id'], unique=False)

    # plain ALTER TABLE ... ADD COLUMN (a batch would recreate ``initiatives`` on SQLite and
    # lose its full-text triggers); ``true`` is a constant both dialects accept
    op.add_column('initiative_partners', sa.Column('confirmed', sa.Boolean(), server_default=sa.text('true'), nullable=False))
    op.add_column('initiatives', sa.Column('lead_confirmed', sa.Boolean(), server_default=sa.text('true'), nullable=False))

    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('website', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('verification_status', sa.String(length=20), server_default='unverified', nullable=False))
        batch_op.add_column(sa.Column('verified_at', shared.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('verified_by', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('merged_into_id', sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f('ix_organizations_merged_into_id'), ['merged_into_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_organizations_verification_status'), ['verification_status'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_organizations_merged_into_id_organizations'), 'organizations', ['merged_into_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_organizations_merged_into_id_organizations'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_organizations_verification_status'))
        batch_op.drop_index(batch_op.f('ix_organizations_merged_into_id'))
        batch_op.drop_column('merged_into_id')
        batch_op.drop_column('verified_by')
        batch_op.drop_column('verified_at')
        batch_op.drop_column('verification_status')
        batch_op.drop_column('website')

    op.drop_column('initiatives', 'lead_confirmed')
    op.drop_column('initiative_partners', 'confirmed')

    with op.batch_alter_table('organization_memberships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organization_memberships_user_id'))
        batch_op.drop_index(batch_op.f('ix_organization_memberships_organization_id'))

    op.drop_table('organization_memberships')
    with op.batch_alter_table('organization_join_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organization_join_requests_user_id'))
        batch_op.drop_index(batch_op.f('ix_organization_join_requests_organization_id'))

    op.drop_table('organization_join_requests')
    with op.batch_alter_table('organization_invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organization_invitations_organization_id'))
        batch_op.drop_index(batch_op.f('ix_organization_invitations_email'))

    op.drop_table('organization_invitations')
    with op.batch_alter_table('organization_activities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organization_activities_organization_id'))

    op.drop_table('organization_activities')
