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


def test_embedded_mode_labels_each_line_with_its_own_service(tmp_path):
    # one process, three services: every line said "notifier" (the first to configure logging)
    import logging

    from werkzeug.test import Client

    from embedded import build
    from shared.bus import Message
    from shared.events.types import TOPIC_INITIATIVES, topic_name
    from shared.logs import LogContextFilter

    class Collect(logging.Handler):
        def __init__(self):
            super().__init__()
            self.records: list[logging.LogRecord] = []
            self.addFilter(LogContextFilter())

        def emit(self, record):
            self.records.append(record)

    collect = Collect()
    logging.getLogger().addHandler(collect)
    stack = build({name: {"DATABASE_URL": f"sqlite:///{tmp_path / name}.db"}
                   for name in ("registry", "notifier", "reporting")})
    try:
        client = Client(stack.router)
        for path in ("/api/v1/initiatives", "/api/v1/subscriptions/channels",
                     "/api/v1/reports/summary"):
            assert client.post(path, data=b"[" * 1000,
                               content_type="application/json").status_code == 400
        refused = [r.service for r in collect.records if r.name == "shared.inputs"]
        assert refused == ["registry", "notifier", "reporting"]

        # an event on the in-process bus: each consumer logs in the relay's thread
        stack.bus.publish([Message(
            topic=topic_name(TOPIC_INITIATIVES), key=b"k", value=b"{}", headers=[
                ("ce_specversion", b"1.0"), ("ce_id", b"6d1c4a0e-2b6f-4a53-9a3c-4f0b1d2e3f40"),
                ("ce_source", b"/registry"), ("ce_type", b"org.example.nobody.knows.v1"),
                ("content-type", b"application/json")])])
        parked = {r.service for r in collect.records if r.name == "shared.consumer"}
        assert parked == {"notifier", "reporting"}
    finally:
        logging.getLogger().removeHandler(collect)
        stack.stop()
        for app in stack.apps.values():
            app.extensions["db_engine"].dispose()


def test_public_base_url_follows_the_port_unless_set(monkeypatch):
    from shared.config import public_base_url

    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    monkeypatch.setenv("PORT", "8123")
    assert public_base_url() == "http://127.0.0.1:8123"
    assert public_base_url(9000) == "http://127.0.0.1:9000"
    monkeypatch.setenv("HOST", "0.0.0.0")
    assert public_base_url() == "http://127.0.0.1:8123"
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://registry.example/")
    assert public_base_url(9000) == "https://registry.example"


def test_links_in_embedded_e_mails_use_the_port_served(tmp_path, monkeypatch, registry_token):
    # links said http://127.0.0.1:5000 whatever port `partnership-registry --port` served
    import time
    from email import message_from_bytes, policy

    from embedded import build

    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    stack = build({name: {"DATABASE_URL": f"sqlite:///{tmp_path / name}.db"}
                   for name in ("registry", "notifier", "reporting")}, port=8765)
    try:
        registry = stack.apps["registry"]
        token = registry_token(registry)
        client = registry.test_client()
        auth = {"Authorization": f"Bearer {token}"}
        org = client.post("/api/v1/organizations", headers=auth, json={
            "name": "Port Reef Trust", "stakeholder_group": "ngo"}).json
        created = client.post("/api/v1/initiatives", headers=auth, json={
            "title": "Reefs on another port", "description": "Restore reefs.",
            "lead_organization_id": org["id"], "sdg_targets": ["14.2"], "countries": ["FJI"],
            "start_date": "2026-01-01", "end_date": "2027-01-01",
            "deliverables": [{"description": "10 ha", "due_date": "2026-06-30"}],
            "resources": [{"type": "other", "details": "Volunteers"}],
            "contact_email": "reefs@ngo.test"}).json
        resp = client.post(f"/api/v1/initiatives/{created['id']}/submit", headers=auth, json={})
        assert resp.status_code == 200, resp.json
        mail_dir = tmp_path / "var" / "mail"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not list(mail_dir.glob("*.eml")):
            time.sleep(0.05)
        mails = [message_from_bytes(p.read_bytes(), policy=policy.default)
                 for p in mail_dir.glob("*.eml")]
        assert mails, "no e-mail written"
        text = "".join(m.get_body(("plain",)).get_content() for m in mails)
        assert "http://127.0.0.1:8765" in text and ":5000" not in text
    finally:
        stack.stop()
        for app in stack.apps.values():
            app.extensions["db_engine"].dispose()
