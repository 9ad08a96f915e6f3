"""Alembic environment of the notifier service (its own tables, alembic_version_notifier)."""

from alembic import context

from notifier.db import Base, import_models
from shared.migrate import run_env

import_models()
run_env(context, Base.metadata)
