"""The review desk's API tests (``tests/registry/unit/test_registry_review_desk.py``) again on
PostgreSQL: the transitions lock the row (``SELECT … FOR UPDATE OF initiatives``), the
thread's JSON aggregates, the queue's UNION of index-served branches and the one-statement
INSERT graph run as in production."""

from __future__ import annotations

import pytest

from tests.registry.unit.test_registry_review_desk import *  # noqa: F403

pytestmark = pytest.mark.postgres


@pytest.fixture
def registry(registry_on, pg_url):
    """The registry on a fresh, migrated PostgreSQL database."""
    return registry_on(pg_url)
