"""The progress reports API tests (``tests/registry/unit/test_registry_progress_api.py``)
again on PostgreSQL: row locks on the initiative and the report, JSONB columns, numeric
weights and values, the queue's UNION with its covering index."""

from __future__ import annotations

import pytest

from tests.registry.unit.test_registry_progress_api import *  # noqa: F403

pytestmark = pytest.mark.postgres


@pytest.fixture
def registry(registry_on, pg_url):
    """The registry on a fresh, migrated PostgreSQL database."""
    return registry_on(pg_url)
