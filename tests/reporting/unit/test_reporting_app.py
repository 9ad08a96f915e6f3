"""The reporting app: health and readiness, its consumer wiring, its command line, its
migrations (SQLite)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner


def test_healthz_and_readyz_report_the_database(reporting_app):
    client = reporting_app.test_client()

    assert client.get("/healthz").json == {"status": "ok", "service": "reporting"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["checks"] == {"database": "ok"}


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path):
    from reporting.app import create_app

    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/missing/dir/r.db"})
    ready = app.test_client().get("/readyz")

    assert ready.status_code == 503
    assert ready.json["checks"]["database"].startswith("error:")
    app.extensions["db_engine"].dispose()


def test_kafka_mode_adds_a_kafka_readiness_check(sqlite_url, monkeypatch):
    from reporting.app import create_app

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    app = create_app({"DATABASE_URL": sqlite_url})

    assert set(app.extensions["readiness_checks"]) == {"database", "kafka"}
    app.extensions["db_engine"].dispose()


def test_workers_need_a_bus_or_kafka(reporting_app):
    from reporting.app import start_workers

    with pytest.raises(RuntimeError, match="KAFKA_BOOTSTRAP_SERVERS"):
        start_workers(reporting_app)


# -- command line ----------------------------------------------------------------------------
@pytest.fixture
def cli_env(reporting_app, monkeypatch, publish, make_snapshot):
    """REPORTING_DATABASE_URL pointing at a read model with two published initiatives."""
    monkeypatch.setenv("REPORTING_DATABASE_URL", reporting_app.config["DATABASE_URL"])
    publish(make_snapshot(goals=[14, 6], countries=["FJI"]),
            make_snapshot(goals=[14], countries=["KEN"], stakeholder_group="government"))


@pytest.mark.parametrize("fmt", ["json", "csv", "html"])
def test_summary_command_writes_the_rendering(cli_env, tmp_path, fmt):
    from reporting.cli import cli

    out = tmp_path / "reports" / f"summary.{fmt}"
    out.parent.mkdir()
    result = CliRunner().invoke(cli, ["summary", "--format", fmt, "--output", str(out)])

    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    if fmt == "json":
        body = json.loads(text)
        assert body["total"] == 2 and body["by_sdg_goal"]["14"] == 2
        assert body["by_sdg_goal"]["6"] == 1 and body["by_region"]["Oceania"] == 1
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8"), newline="")))
        assert {"dimension": "sdg_goal", "key": "14", "label": "Life below water",
                "count": "2"} in rows
        assert out.read_bytes().startswith(b"dimension,key,label,count\r\n")
    else:
        assert text.startswith("<!DOCTYPE html>") and "Clean water and sanitation" in text


def test_summary_command_writes_to_stdout_by_default(cli_env):
    from reporting.cli import cli

    result = CliRunner().invoke(cli, ["summary"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total"] == 2


def test_summary_command_on_an_unmigrated_database_says_what_to_do(sqlite_url, monkeypatch,
                                                                   tmp_path):
    from reporting.cli import cli

    monkeypatch.setenv("REPORTING_DATABASE_URL", sqlite_url)
    result = CliRunner().invoke(cli, ["summary", "--output", str(tmp_path / "s.json")])

    assert result.exit_code == 1
    assert "reporting db upgrade" in result.output
    assert not (tmp_path / "s.json").exists()


def test_summary_command_refuses_an_unknown_format(cli_env):
    from reporting.cli import cli

    result = CliRunner().invoke(cli, ["summary", "--format", "pdf"])

    assert result.exit_code == 2
    assert "pdf" in result.output


def test_consume_needs_kafka(reporting_app, monkeypatch):
    from reporting.cli import cli

    monkeypatch.setenv("REPORTING_DATABASE_URL", reporting_app.config["DATABASE_URL"])
    result = CliRunner().invoke(cli, ["consume"])

    assert result.exit_code == 2
    assert "KAFKA_BOOTSTRAP_SERVERS" in result.output
