"""Secrets never printed, SQL parameters never logged, log lines labelled per service, links in
e-mails on the port actually served (issue 7)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner


@pytest.mark.parametrize("service", ["registry", "notifier", "reporting"])
def test_settings_command_masks_every_secret(monkeypatch, service):
    from importlib import import_module

    from shared import config

    monkeypatch.setenv("DATABASE_URL",
                       "postgresql+psycopg://registry:s3cr3t-db@db.example:5432/registry")
    monkeypatch.setenv("SMTP_URL", "smtp+starttls://mailer:s3cr3t-smtp@smtp.example:587")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    extra = (config.Setting("SECRET_KEY", None, "test"),
             config.Setting("SMTP_PASSWORD", None, "test"),
             config.Setting("OAUTH_SIGNING_KEY", None, "test"),
             config.Setting("PARTNER_API_TOKEN", None, "test"),
             config.Setting("OPAQUE", None, "test", secret=True),
             config.Setting("WEBHOOK_URL", None, "test"))
    monkeypatch.setattr(config, "SETTINGS", config.SETTINGS + extra)
    import shared.cli
    monkeypatch.setattr(shared.cli, "SETTINGS", config.SETTINGS)
    for name in ("SECRET_KEY", "SMTP_PASSWORD", "OAUTH_SIGNING_KEY", "PARTNER_API_TOKEN",
                 "OPAQUE"):
        monkeypatch.setenv(name, f"s3cr3t-{name.lower()}")
    monkeypatch.setenv("WEBHOOK_URL", "https://hooks.example/x?token=s3cr3t-q&a=1")

    cli = import_module(f"{service}.cli")
    group = cli.cli
    result = CliRunner().invoke(group, ["settings"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "s3cr3t" not in result.output, result.output
    lines = dict(line.split("\t")[0].split("=", 1) for line in result.output.splitlines())
    assert lines["DATABASE_URL"] == \
        "postgresql+psycopg://registry:********@db.example:5432/registry"
    assert lines["SMTP_URL"] == "smtp+starttls://mailer:********@smtp.example:587"
    assert lines["SECRET_KEY"] == lines["OPAQUE"] == "********"
    assert lines["WEBHOOK_URL"] == "https://hooks.example/x?token=********&a=1"
    # not secrets: printed as they are
    assert lines["KAFKA_BOOTSTRAP_SERVERS"] == "k1:9092,k2:9092"
    assert lines["TOKEN_CACHE_SECONDS"] == "2"
    assert lines["SECRETARIAT_EMAIL"] == "secretariat@localhost"


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_sql_parameters_never_reach_error_messages(request, sqlite_url, db):
    from sqlalchemy import exc, text

    from shared.db import make_engine

    url = request.getfixturevalue("pg_url") if db == "postgresql" else sqlite_url
    engine = make_engine(url)
    try:
        with engine.connect() as conn, pytest.raises(exc.DBAPIError) as info:
            conn.execute(text("SELECT * FROM no_such_table WHERE email = :email"),
                         {"email": "person@example.org"})
    finally:
        engine.dispose()
    assert "no_such_table" in str(info.value)
    assert "person@example.org" not in str(info.value)


@pytest.mark.postgres
def test_a_database_error_in_a_request_logs_no_parameter(service_app, pg_url, caplog):
    from sqlalchemy import text

    app = service_app("registry", pg_url)

    @app.get("/boom")
    def boom():
        from registry import db

        db.session().execute(text("SELECT * FROM no_such_table WHERE email = :email"),
                             {"email": "person@example.org"})
        return "no"

    resp = app.test_client().get("/boom")
    assert resp.status_code == 500
    logged = "\n".join(r.getMessage() + str(r.exc_info) + repr(r.__dict__)
                       for r in caplog.records)
    assert "no_such_table" in logged and "person@example.org" not in logged
