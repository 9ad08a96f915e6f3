"""Alembic environment of the registry service (its own tables, alembic_version_registry)."""

from alembic import context

from registry.db import Base, import_models
from shared.migrate import run_env

import_models()

from registry.initiatives.models import (  # noqa: E402 (after import_models)
    MIGRATION_ONLY_INDEXES,
    MIGRATION_ONLY_TABLE_PREFIX,
)


def _include_name(name, type_, _parent_names):
    """Leave SQLite's FTS5 tables and the dialect-specific search indexes to the migrations."""
    if type_ == "table" and name and name.startswith(MIGRATION_ONLY_TABLE_PREFIX):
        return False
    return not (type_ == "index" and name in MIGRATION_ONLY_INDEXES)


def _include_object(_obj, name, type_, _reflected, _compare_to):
    return not (type_ == "index" and name in MIGRATION_ONLY_INDEXES)


run_env(context, Base.metadata, include_name=_include_name, include_object=_include_object)
