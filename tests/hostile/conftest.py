"""Fixtures of the hostile-input tests: each service's app on a migrated database, and a
bearer token of the registry."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask

SERVICES = ("registry", "notifier", "reporting")


def build_app(service: str, url: str) -> Flask:
    """``service``'s app on ``url``, migrated to head."""
    from shared import migrate

    migrate.upgrade(service, url)
    if service == "registry":
        from registry.app import create_app
    elif service == "notifier":
        from notifier.app import create_app
    else:
        from reporting.app import create_app
    return create_app({"DATABASE_URL": url, "TESTING": True, "IN_PROCESS_BUS": True})


@pytest.fixture
def service_app(tmp_path) -> Iterator[Callable[..., Flask]]:
    """Factory ``service_app(service, url=None)``: the app on ``url`` (default: SQLite)."""
    made: list[Flask] = []

    def make(service: str, url: str | None = None) -> Flask:
        app = build_app(service, url or f"sqlite:///{tmp_path / f'{service}.db'}")
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["db_engine"].dispose()


def _registry_token(app: Flask, role: str = "partner") -> str:
    """A bearer token made by the service function (as ``registry create-token``); a partner's
    acts for a fresh organisation of its own (drafts belong to an organisation)."""
    import uuid

    from registry import db
    from registry.auth.service import create_token
    from registry.organizations.models import Organization

    with app.app_context():
        session = db.session()
        org = None
        if role == "partner":
            name = f"Partner {uuid.uuid4().hex[:8]}"
            org = uuid.uuid4()
            session.add(Organization(id=org, name=name, normalized_name=name.lower(),
                                     stakeholder_group="ngo"))
            session.flush()
        plain, _row = create_token(db_session=session, role=role, organization_id=org)
        session.commit()
    return plain


@pytest.fixture
def registry_token() -> Callable[..., str]:
    """``registry_token(app, role="partner")``: a bearer token on ``app``'s database."""
    return _registry_token
