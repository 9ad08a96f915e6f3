"""outbox: partial index on the unpublished rows

The relay claims the oldest ``OUTBOX_BATCH_SIZE`` unpublished rows
(``WHERE published_at IS NULL ORDER BY seq LIMIT n FOR UPDATE SKIP LOCKED``). Without an index
matching that predicate, PostgreSQL scanned every row ever published to find the backlog
(~21 % of relay time at a 20,000-event backlog, issue 6). A partial index on ``seq`` over the
unpublished rows holds only the backlog, is read in ``seq`` order, and shrinks as rows are
published. Declared on ``shared.outbox.OutboxMixin`` too (drift check).

On PostgreSQL the index is built ``CONCURRENTLY`` (no write lock on a live outbox), which
needs to run outside the migration's transaction (``autocommit_block``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = 'ix_outbox_events_unpublished_seq'
WHERE = sa.text('published_at IS NULL')


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.create_index(INDEX, 'outbox_events', ['seq'], unique=False,
                            postgresql_where=WHERE, postgresql_concurrently=True,
                            if_not_exists=True)
    else:
        op.create_index(INDEX, 'outbox_events', ['seq'], unique=False, sqlite_where=WHERE)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.drop_index(INDEX, table_name='outbox_events', postgresql_concurrently=True,
                          if_exists=True)
    else:
        op.drop_index(INDEX, table_name='outbox_events')
