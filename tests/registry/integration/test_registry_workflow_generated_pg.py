"""The generated (state, action, actor) workflow test
(``tests/registry/unit/test_registry_workflow_generated.py``) again on PostgreSQL, where the
transitions lock the row (``SELECT … FOR UPDATE OF initiatives``) and the INSERT graph is one
statement."""

from __future__ import annotations

import pytest

from tests.registry.unit.test_registry_workflow_generated import *  # noqa: F403

pytestmark = pytest.mark.postgres


@pytest.fixture
def registry(registry_on, pg_url):
    """The registry on a fresh, migrated PostgreSQL database."""
    return registry_on(pg_url)
