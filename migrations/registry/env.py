"""Alembic environment of the registry service (its own tables, alembic_version_registry)."""

from alembic import context

from registry.db import Base, import_models
from shared.migrate import run_env

import_models()
run_env(context, Base.metadata)
