"""PostgreSQL restarted or down, on a cluster of the test's own (never the shared server):
a committed request still answers its success, and an unreachable database answers 503
problem+json with ``Retry-After`` instead of 500 (issue: "A PostgreSQL restart made a committed
submit answer 500 ...; PostgreSQL down gives 500 where 503 + Retry-After is right")."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.shared.integration.conftest import registry_app, registry_token

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def registry(own_postgres):
    app = registry_app(own_postgres.create_database("faults"))
    yield app
    app.extensions["db_engine"].dispose()


def _org(client, token, name="Pacific Reef Alliance"):
    return client.post("/api/v1/organizations", json={"name": name, "stakeholder_group": "ngo"},
                       headers={"Authorization": f"Bearer {token}"})


def test_a_restart_after_the_commit_does_not_turn_the_answer_into_a_500(registry,
                                                                       own_postgres):
    from shared.web import request_session

    partner = registry_token(registry, "partner", "partner@ngo.test")
    restarted = []

    @registry.after_request
    def restart_database(response):
        # the view committed, then read again (a transaction is open on its connection) —
        # and the server restarts before the request's teardown rolls that back
        if response.status_code == 201 and not restarted:
            request_session().execute(text("SELECT 1"))
            own_postgres.restart()
            restarted.append(True)
        return response

    registry.config["PROPAGATE_EXCEPTIONS"] = True  # a teardown error would surface here
    resp = _org(registry.test_client(), partner)
    assert restarted and resp.status_code == 201, resp.get_data(as_text=True)[:500]
    # the write is there, and the next request gets a fresh connection
    listed = registry.test_client().get(
        "/api/v1/organizations", headers={"Authorization": f"Bearer {partner}"})
    assert listed.status_code == 200
    assert [o["name"] for o in listed.json["items"]] == ["Pacific Reef Alliance"]


def test_a_restart_between_requests_is_not_seen_by_the_next_request(registry, own_postgres):
    """Pooled connections the restart closed are discarded at checkout (no ``SELECT 1`` per
    request: ``shared.db._discard_if_closed_by_server``); the next request connects anew."""
    partner = registry_token(registry, "partner", "partner@ngo.test")
    client = registry.test_client()
    auth = {"Authorization": f"Bearer {partner}"}
    assert client.get("/api/v1/initiatives", headers=auth).status_code == 200
    engine = registry.extensions["db_engine"]
    assert engine.pool.checkedin() >= 1  # the request's connection waits in the pool
    own_postgres.restart()
    for _ in range(3):
        resp = client.get("/api/v1/initiatives", headers=auth)
        assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    assert _org(client, partner).status_code == 201


def test_an_unreachable_database_answers_503_with_retry_after_then_recovers(registry,
                                                                           own_postgres):
    partner = registry_token(registry, "partner", "partner@ngo.test")
    client = registry.test_client()
    assert client.get("/api/v1/initiatives").status_code == 200
    own_postgres.stop()
    try:
        for resp in (client.get("/api/v1/initiatives"), _org(client, partner)):
            assert resp.status_code == 503, resp.get_data(as_text=True)[:500]
            assert resp.mimetype == "application/problem+json"
            assert int(resp.headers["Retry-After"]) > 0
            body = resp.get_data(as_text=True)
            assert resp.json["status"] == 503
            # no driver text: neither the host, the port, nor the role
            assert "127.0.0.1" not in body and str(own_postgres.port) not in body
            assert "postgres" not in body.replace("database-unavailable", "")
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json["checks"]["database"] in ("error: unavailable", "error: timeout")
    finally:
        own_postgres.start()
    assert client.get("/api/v1/initiatives").status_code == 200
    assert _org(client, partner).status_code == 201
