"""organisations: names hold no e-mail address nor telephone number

The demo import took personal e-mail addresses and telephone numbers that sat in the source's
free-text partner field for organisation names (e.g. on #OceanAction41057). Each organisation
whose name holds one (``registry.organizations.names``) is cleaned:

* the detail (and its "E-mail:" / "Phone:" label) is removed from the name; when what remains
  is a name (3+ characters) no other organisation has, the organisation keeps it;
* when another organisation already has that name, every reference moves to it (partner links
  that would repeat one are dropped) and this one is deleted;
* when nothing is left (the name WAS the address or number): its partner links are deleted, and
  the organisation too unless something else still refers to it (a lead entity, a token, a
  membership...), which keeps it under the neutral name "Unnamed organisation <id prefix>".

References are found from the database's foreign keys to ``organizations``, so tables added by
other migrations are covered. Data only; the downgrade changes nothing (the details are gone
on purpose).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARTNER_LINKS = 'initiative_partners'


def _run(bind, sql: str, **ids):
    """Run ``sql`` with UUID parameters ``ids`` (typed: SQLite stores them as hex text)."""
    statement = sa.text(sql).bindparams(*(sa.bindparam(k, type_=sa.Uuid()) for k in ids))
    return bind.execute(statement, ids)


#: tables holding an organisation's own history, not references from elsewhere
OWN_HISTORY = frozenset({'organization_activities'})


def _references(bind) -> list[tuple[str, str]]:
    """(table, column) of every single-column foreign key to ``organizations.id``."""
    inspector = sa.inspect(bind)
    found = []
    for table in inspector.get_table_names():
        for fk in inspector.get_foreign_keys(table):
            if fk['referred_table'] == 'organizations' and len(fk['constrained_columns']) == 1:
                found.append((table, fk['constrained_columns'][0]))
    return found


def upgrade() -> None:
    from registry.organizations.names import contact_details_in, without_contact_details
    from registry.reference import normalize_name

    bind = op.get_bind()
    orgs = sa.table('organizations', sa.column('id', sa.Uuid), sa.column('name', sa.String),
                    sa.column('normalized_name', sa.String))
    rows = bind.execute(sa.select(orgs.c.id, orgs.c.name, orgs.c.normalized_name)).all()
    taken = {r.normalized_name: r.id for r in rows}
    references = _references(bind)
    for row in rows:
        if not contact_details_in(row.name):
            continue
        cleaned = without_contact_details(row.name)[:300]
        key = normalize_name(cleaned) if cleaned else ''
        if len(cleaned) >= 3 and key and not contact_details_in(cleaned):
            owner = taken.get(key)
            if owner is None or owner == row.id:
                del taken[row.normalized_name]
                taken[key] = row.id
                bind.execute(orgs.update().where(orgs.c.id == row.id)
                             .values(name=cleaned, normalized_name=key))
                continue
            _move_references(bind, references, row.id, owner)
            bind.execute(orgs.delete().where(orgs.c.id == row.id))
            del taken[row.normalized_name]
            continue
        # nothing but contact details: the partner links go; the rest keeps a neutral name
        _run(bind, f'DELETE FROM {PARTNER_LINKS} WHERE organization_id = :id', id=row.id)
        # its own history (organisation activity rows) repeats the personal data: it goes with it
        if any(_run(bind, f'SELECT 1 FROM {table} WHERE {column} = :id', id=row.id).first()
               for table, column in references if table not in OWN_HISTORY):
            name = f'Unnamed organisation {str(row.id)[:8]}'
            del taken[row.normalized_name]
            taken[normalize_name(name)] = row.id
            bind.execute(orgs.update().where(orgs.c.id == row.id)
                         .values(name=name, normalized_name=normalize_name(name)))
        else:
            for table, column in references:
                if table in OWN_HISTORY:
                    _run(bind, f'DELETE FROM {table} WHERE {column} = :id', id=row.id)
            bind.execute(orgs.delete().where(orgs.c.id == row.id))
            del taken[row.normalized_name]


def _move_references(bind, references: list[tuple[str, str]], old, new) -> None:
    """Point every reference to organisation ``old`` at ``new``; a partner link that would
    repeat one ``new`` already has on the same initiative is dropped."""
    _run(bind, f'DELETE FROM {PARTNER_LINKS} WHERE organization_id = :old AND initiative_id '
               f'IN (SELECT initiative_id FROM {PARTNER_LINKS} WHERE organization_id = :new)',
         old=old, new=new)
    for table, column in references:
        _run(bind, f'UPDATE {table} SET {column} = :new WHERE {column} = :old', old=old, new=new)


def downgrade() -> None:
    """Nothing: the removed contact details are not restored."""
