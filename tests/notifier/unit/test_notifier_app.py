"""The notifier's web app and command line: health, readiness, OpenAPI, channels, CLI guards."""

from __future__ import annotations

from click.testing import CliRunner

from notifier.app import create_app


def test_healthz_and_readyz_check_the_database(notifier_app):
    client = notifier_app.test_client()

    assert client.get("/healthz").json == {"status": "ok", "service": "notifier"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["checks"] == {"database": "ok"}


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/missing/dir/n.db"})

    ready = app.test_client().get("/readyz")

    assert ready.status_code == 503
    assert ready.json["checks"]["database"].startswith("error:")


def test_kafka_mode_adds_a_kafka_readiness_check(sqlite_url, monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")

    app = create_app({"DATABASE_URL": sqlite_url})

    assert set(app.extensions["readiness_checks"]) == {"database", "kafka"}


def test_openapi_document_is_served_under_the_service_prefix(notifier_app):
    doc = notifier_app.test_client().get("/api/v1/subscriptions/openapi.json").json

    assert doc["openapi"] == "3.0.3"  # what the self-served Swagger UI renders
    assert doc["info"]["title"] == "Partnership Registry notifications API"
    assert set(doc["paths"]) == {"/api/v1/subscriptions/channels",
                                 "/api/v1/unsubscribe/{token}"}
    assert set(doc["paths"]["/api/v1/unsubscribe/{token}"]) >= {"get", "post"}


def test_channels_lists_email(notifier_app):
    response = notifier_app.test_client().get("/api/v1/subscriptions/channels")

    assert response.status_code == 200
    assert [c["code"] for c in response.json] == ["email"]


def test_consume_and_dlt_replay_need_kafka(sqlite_url, monkeypatch):
    from notifier.cli import cli

    monkeypatch.setenv("NOTIFIER_DATABASE_URL", sqlite_url)
    runner = CliRunner()

    for args in (["consume"], ["dlt", "replay"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, result.output
        assert "KAFKA_BOOTSTRAP_SERVERS" in result.output


def test_db_upgrade_and_check_commands(sqlite_url, monkeypatch):
    from notifier.cli import cli

    monkeypatch.setenv("NOTIFIER_DATABASE_URL", sqlite_url)
    runner = CliRunner()

    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(cli, ["db", "check"])
    assert result.exit_code == 0, result.output
    assert "agree" in result.output
