"""Alembic environment of the reporting service (its own tables, alembic_version_reporting)."""

from alembic import context

from reporting.db import Base, import_models
from shared.migrate import run_env

import_models()
run_env(context, Base.metadata)
