"""search document, covered regions, public ordering index

Full-text search (PostgreSQL: ``tsvector`` + GIN; SQLite: FTS5 table kept in sync by
triggers), the M49 regions each initiative covers (derived by
``shared.reference.region_codes_for``), a partial index for the public ordering, an index for
source-reference lookups and a trigram index for organisation-name search (PostgreSQL).
Existing rows are backfilled.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TSVECTOR

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FTS_TRIGGERS = (
    """CREATE TRIGGER initiatives_fts_ai AFTER INSERT ON initiatives BEGIN
         INSERT INTO initiatives_fts(rowid, search_document)
         VALUES (new.rowid, new.search_document); END""",
    """CREATE TRIGGER initiatives_fts_ad AFTER DELETE ON initiatives BEGIN
         INSERT INTO initiatives_fts(initiatives_fts, rowid, search_document)
         VALUES ('delete', old.rowid, old.search_document); END""",
    """CREATE TRIGGER initiatives_fts_au AFTER UPDATE OF search_document ON initiatives BEGIN
         INSERT INTO initiatives_fts(initiatives_fts, rowid, search_document)
         VALUES ('delete', old.rowid, old.search_document);
         INSERT INTO initiatives_fts(rowid, search_document)
         VALUES (new.rowid, new.search_document); END""",
)


def _backfill(bind) -> None:
    """Search documents and covered regions of the rows already there."""
    from registry.initiatives.search import search_document
    from shared.reference import region_codes_for

    rows = bind.execute(sa.text("SELECT id, title, description FROM initiatives")).all()
    if not rows:
        return
    countries: dict = {}
    for iid, code in bind.execute(sa.text(
            "SELECT initiative_id, country FROM initiative_countries")):
        countries.setdefault(iid, []).append(code)
    regions: dict = {}
    for iid, code in bind.execute(sa.text(
            "SELECT initiative_id, region FROM initiative_regions")):
        regions.setdefault(iid, []).append(code)
    cast = "CAST(:doc AS tsvector)" if bind.dialect.name == "postgresql" else ":doc"
    bind.execute(sa.text(f"UPDATE initiatives SET search_document = {cast} WHERE id = :id"),
                 [{"id": iid, "doc": search_document(title, description)}
                  for iid, title, description in rows])
    covered = [{"initiative_id": iid, "region": code}
               for iid in set(countries) | set(regions)
               for code in sorted(region_codes_for(countries.get(iid, []),
                                                   regions.get(iid, [])))]
    if covered:
        bind.execute(sa.text("INSERT INTO initiative_covered_regions (initiative_id, region) "
                             "VALUES (:initiative_id, :region)"), covered)


def upgrade() -> None:
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    op.create_table('initiative_covered_regions',
    sa.Column('initiative_id', sa.Uuid(), nullable=False),
    sa.Column('region', sa.String(length=3), nullable=False),
    sa.ForeignKeyConstraint(['initiative_id'], ['initiatives.id'], name=op.f('fk_initiative_covered_regions_initiative_id_initiatives'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('initiative_id', 'region', name=op.f('pk_initiative_covered_regions'))
    )
    op.create_index(op.f('ix_initiative_covered_regions_region'), 'initiative_covered_regions', ['region'], unique=False)
    op.add_column('initiatives', sa.Column(
        'search_document', sa.Text().with_variant(TSVECTOR(), 'postgresql'), nullable=True))
    op.create_index(op.f('ix_initiatives_source_ref'), 'initiatives', ['source_ref'], unique=False)
    # SQLite sorts NULLs first ascending, so its DESC already puts them last (and it refuses
    # NULLS LAST in an index)
    published = 'published_at DESC NULLS LAST' if postgresql else 'published_at DESC'
    op.create_index('ix_initiatives_public_order', 'initiatives',
                    [sa.text(published), sa.text('updated_at DESC'), 'id'],
                    unique=False, postgresql_where=sa.text("status = 'published'"),
                    sqlite_where=sa.text("status = 'published'"))
    if postgresql:
        op.create_index('ix_initiatives_search_document', 'initiatives', ['search_document'],
                        postgresql_using='gin')
        # trusted extension (PostgreSQL 13+): the database owner may create it
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.create_index('ix_organizations_name_trgm', 'organizations', ['name'],
                        postgresql_using='gin', postgresql_ops={'name': 'gin_trgm_ops'})
    else:
        op.execute("CREATE VIRTUAL TABLE initiatives_fts USING fts5(search_document, "
                   "content='initiatives', content_rowid='rowid')")
        for trigger in _FTS_TRIGGERS:
            op.execute(trigger)
    _backfill(bind)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.drop_index('ix_organizations_name_trgm', table_name='organizations')
        op.drop_index('ix_initiatives_search_document', table_name='initiatives')
    else:
        for name in ("initiatives_fts_ai", "initiatives_fts_ad", "initiatives_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS initiatives_fts")
    op.drop_index('ix_initiatives_public_order', table_name='initiatives')
    op.drop_index(op.f('ix_initiatives_source_ref'), table_name='initiatives')
    with op.batch_alter_table('initiatives', schema=None) as batch_op:
        batch_op.drop_column('search_document')
    op.drop_index(op.f('ix_initiative_covered_regions_region'), table_name='initiative_covered_regions')
    op.drop_table('initiative_covered_regions')
