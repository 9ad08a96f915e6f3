"""accounts: users, staff roles, web sessions, one-time links, verified contact e-mails, audit log

People's accounts (issue 7): ``users`` (e-mail stored lower-case, unique; argon2id hash;
locale; lockout counters), ``user_staff_roles`` (reviewer, secretariat_admin),
``web_sessions`` (server-side browser sessions, id stored as a SHA-256 digest),
``account_tokens`` (one-time links: e-mail verification, password reset, contact e-mail
verification; digest only), ``verified_contact_emails``, and ``audit_log``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 07:34:46.569835
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('occurred_at', shared.db.UTCDateTime(), nullable=False),
    sa.Column('event', sa.String(length=80), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('actor_kind', sa.String(length=20), nullable=False),
    sa.Column('actor_subject', sa.String(length=200), nullable=True),
    sa.Column('actor_email', sa.String(length=320), nullable=True),
    sa.Column('subject', sa.String(length=200), nullable=True),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('request_id', sa.String(length=100), nullable=True),
    sa.Column('detail', shared.db.JSONType, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_actor_subject'), ['actor_subject'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_event'), ['event'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_occurred_at'), ['occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_subject'), ['subject'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('email_verified_at', shared.db.UTCDateTime(), nullable=True),
    sa.Column('failed_sign_ins', sa.Integer(), nullable=False),
    sa.Column('locked_until', shared.db.UTCDateTime(), nullable=True),
    sa.Column('created_at', shared.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', shared.db.UTCDateTime(), nullable=False),
    sa.Column('last_sign_in_at', shared.db.UTCDateTime(), nullable=True),
    sa.Column('password_changed_at', shared.db.UTCDateTime(), nullable=True),
    sa.Column('disabled_at', shared.db.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    op.create_table('verified_contact_emails',
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('verified_at', shared.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('email', name=op.f('pk_verified_contact_emails'))
    )
    op.create_table('account_tokens',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=30), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('created_at', shared.db.UTCDateTime(), nullable=False),
    sa.Column('expires_at', shared.db.UTCDateTime(), nullable=False),
    sa.Column('used_at', shared.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_account_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_account_tokens_token_hash'))
    )
    with op.batch_alter_table('account_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_tokens_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_account_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('user_staff_roles',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('role', sa.String(length=40), nullable=False),
    sa.Column('granted_at', shared.db.UTCDateTime(), nullable=False),
    sa.Column('granted_by', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['granted_by'], ['users.id'], name=op.f('fk_user_staff_roles_granted_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_staff_roles_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'role', name=op.f('pk_user_staff_roles'))
    )
    op.create_table('web_sessions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', shared.db.UTCDateTime(), nullable=False),
    sa.Column('last_seen_at', shared.db.UTCDateTime(), nullable=False),
    sa.Column('expires_at', shared.db.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', shared.db.UTCDateTime(), nullable=True),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('user_agent', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_web_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_web_sessions_token_hash'))
    )
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_user_id'), ['user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_sessions_user_id'))

    op.drop_table('web_sessions')
    op.drop_table('user_staff_roles')
    with op.batch_alter_table('account_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_tokens_user_id'))
        batch_op.drop_index(batch_op.f('ix_account_tokens_email'))

    op.drop_table('account_tokens')
    op.drop_table('verified_contact_emails')
    op.drop_table('users')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_subject'))
        batch_op.drop_index(batch_op.f('ix_audit_log_occurred_at'))
        batch_op.drop_index(batch_op.f('ix_audit_log_event'))
        batch_op.drop_index(batch_op.f('ix_audit_log_actor_subject'))

    op.drop_table('audit_log')
