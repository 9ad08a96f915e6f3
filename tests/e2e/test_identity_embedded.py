"""One identity in the embedded mode (``make run``): the registry's signing key and
revocations reach the notifier and reporting over the in-process bus, through the same
outbox and consumer code as on Kafka; a token works on all three paths and a revoked one on
none."""

from __future__ import annotations

import time

import pytest
from werkzeug.test import Client

from embedded import build

pytestmark = pytest.mark.e2e

PATHS = ("/api/v1/initiatives", "/api/v1/subscriptions/channels", "/api/v1/reports/summary")


@pytest.fixture
def embedded(monkeypatch):
    monkeypatch.setenv("OUTBOX_POLL_SECONDS", "0.05")
    monkeypatch.setenv("TOKEN_CACHE_SECONDS", "0")
    stack = build()
    yield stack
    stack.stop()


def _statuses(client: Client, token: str) -> list[int]:
    return [client.get(p, headers={"Authorization": f"Bearer {token}"}).status_code
            for p in PATHS]


def _until(client: Client, token: str, expected: list[int], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (got := _statuses(client, token)) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert got == expected


def test_a_token_works_on_the_three_services_until_it_is_revoked(embedded):
    from registry import db
    from registry.auth.service import create_token

    client = Client(embedded.router)
    with embedded.apps["registry"].app_context():
        session = db.session()
        token, _claims = create_token(db_session=session, role="secretariat")
        session.commit()
    _until(client, token, [200, 200, 200])
    resp = client.post("/api/v1/tokens/revoke", json={},
                       headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200 and resp.json["revoked"]
    _until(client, token, [401, 401, 401])
