"""Kafka unreachable: services start and take writes at once, connect in the background, and
``/readyz`` stays bounded without slowing the API (issue: "/readyz takes 30 s while Kafka is
down ... 10 probes at once made GET /api/v1/initiatives take 27 s"; "A service started while
Kafka is unreachable never opens its HTTP port")."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from sqlalchemy import func, select

from tests.shared.integration.conftest import free_port, registry_app, registry_token, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.kafka,
              pytest.mark.filterwarnings("ignore::ResourceWarning"),
              pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]


@pytest.fixture(autouse=True)
def _quiet_kafka(caplog):
    import logging

    caplog.set_level(logging.CRITICAL, logger="kafka")  # its connection errors are expected


def _get(url: str, timeout: float = 30) -> tuple[int, dict, float]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    return status, json.loads(body or b"{}"), time.monotonic() - started


def test_readyz_is_bounded_and_probes_do_not_slow_the_api(pg_url, kafka_env, monkeypatch,
                                                          tcp_stand_in):
    from waitress.server import create_server

    hanging = tcp_stand_in(mode="blackhole")  # accepts, never answers: a hung broker
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", hanging.address)
    app = registry_app(pg_url)
    server = create_server(app, host="127.0.0.1", port=0, threads=8)
    base = f"http://127.0.0.1:{server.effective_port}"
    def serve() -> None:
        try:
            server.run()
        except OSError:  # closed from the test thread below (EBADF in its select loop)
            pass

    serving = threading.Thread(target=serve, daemon=True)
    serving.start()
    try:
        assert _get(f"{base}/api/v1/initiatives")[0] == 200
        probes: list[tuple[int, dict, float]] = []
        threads = [threading.Thread(target=lambda: probes.append(_get(f"{base}/readyz")))
                   for _ in range(10)]
        for t in threads:
            t.start()
        api = [_get(f"{base}/api/v1/initiatives") for _ in range(5)]
        for t in threads:
            t.join(30)
        assert all(status == 200 for status, _b, _s in api)
        assert max(s for _st, _b, s in api) < 1.0, [s for _st, _b, s in api]
        assert len(probes) == 10
        assert max(s for _st, _b, s in probes) <= 3.5, [s for _st, _b, s in probes]
        for status, body, _s in probes:
            assert status == 503 and body["checks"]["database"] in ("ok", "error: checking")
            assert body["checks"]["kafka"].startswith("error:")
            assert str(hanging.port) not in json.dumps(body)  # no driver text with the host
        # once checked, a probe answers from the monitor's last result at once
        status, body, seconds = _get(f"{base}/readyz")
        assert status == 503 and body["checks"] == {"database": "ok",
                                                    "kafka": body["checks"]["kafka"]}
        assert body["checks"]["kafka"] in ("error: timeout", "error: unavailable")
        assert seconds < 1.0
    finally:
        server.close()
        serving.join(5)
        app.extensions["readiness_monitor"].stop(wait=10)
        app.extensions["db_engine"].dispose()


def test_services_start_without_kafka_take_writes_and_catch_up(create_pg_database, kafka_env,
                                                               monkeypatch, tcp_stand_in,
                                                               read_topic):
    from registry.app import start_workers as registry_workers
    from reporting.app import create_app as reporting_create
    from reporting.app import start_workers as reporting_workers
    from reporting.readmodel.models import ReportInitiative
    from shared import migrate
    from shared.events.types import TOPIC_INITIATIVES, topic_name

    port = free_port()  # nothing listens here yet: Kafka is down
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{port}")
    monkeypatch.setenv("KAFKA_RETRY_MAX_SECONDS", "1")
    registry = registry_app(create_pg_database("reg"))
    reporting_url = create_pg_database("rep")
    migrate.upgrade("reporting", reporting_url)
    reporting = reporting_create({"DATABASE_URL": reporting_url, "TESTING": True})
    started = time.monotonic()
    workers = [registry_workers(registry), reporting_workers(reporting)]
    try:
        assert time.monotonic() - started < 3.0  # the HTTP port would open at once
        secretariat = registry_token(registry, "secretariat")
        client = registry.test_client()
        org = client.post("/api/v1/organizations",
                          headers={"Authorization": f"Bearer {secretariat}"},
                          json={"name": "Reef Alliance", "stakeholder_group": "ngo"})
        assert org.status_code == 201
        partner = registry_token(registry, "partner", "p@ngo.test", org.json["id"])
        auth = {"Authorization": f"Bearer {partner}"}
        made = client.post("/api/v1/initiatives", headers=auth,
                           json={"title": "Reefs", "lead_organization_id": org.json["id"]})
        assert made.status_code == 201  # the outbox holds the event while Kafka is down

        tcp_stand_in(port=port, mode="forward", target=("127.0.0.1", 9092))  # Kafka is back
        records = read_topic(kafka_env, topic_name(TOPIC_INITIATIVES), 1, timeout=60)
        assert [r.key.decode() for r in records] == [made.json["id"]]

        def in_read_model() -> int:
            with reporting.extensions["db_session_factory"]() as s:
                return s.scalar(select(func.count()).select_from(ReportInitiative))

        assert wait_until(in_read_model, 60) == 1
    finally:
        for w in workers:
            w.stop()
        registry.extensions["db_engine"].dispose()
        reporting.extensions["db_engine"].dispose()
