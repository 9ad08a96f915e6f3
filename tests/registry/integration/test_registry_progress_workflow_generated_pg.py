"""The generated (state, action, actor) progress report workflow test
(``tests/registry/unit/test_registry_progress_workflow_generated.py``) again on PostgreSQL,
where the actions lock the initiative and the report (``SELECT … FOR UPDATE``)."""

from __future__ import annotations

import pytest

from tests.registry.unit.test_registry_progress_workflow_generated import *  # noqa: F403

pytestmark = pytest.mark.postgres


@pytest.fixture
def registry(registry_on, pg_url):
    """The registry on a fresh, migrated PostgreSQL database."""
    return registry_on(pg_url)
