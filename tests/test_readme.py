"""The README stays true: every setting, console command and HTTP path is documented there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.config import SETTINGS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", [s.name for s in SETTINGS])
def test_every_setting_is_documented(name):
    assert f"`{name}`" in README


def _openapi_paths(create_app, url):
    from shared import migrate

    app = create_app({"DATABASE_URL": url, "TESTING": True})
    migrate.upgrade(app.config["SERVICE_NAME"], url)
    return app.test_client().get(app.config["OPENAPI_URL_PREFIX"] + "/openapi.json").json["paths"]


def test_every_http_path_is_documented(tmp_path):
    from notifier.app import create_app as notifier_app
    from registry.app import create_app as registry_app
    from reporting.app import create_app as reporting_app

    documented = " ".join(re.findall(r"`(?:GET|POST|PATCH|PUT|DELETE) ([^`]+)`", README))
    documented = documented.replace("{public id}", "{public_id}")
    missing = []
    for name, create in (("registry", registry_app), ("notifier", notifier_app),
                         ("reporting", reporting_app)):
        for path in _openapi_paths(create, f"sqlite:///{tmp_path / name}.db"):
            generic = re.sub(r"\{[^}]+\}", "{id}", path)
            tail = path.rsplit("/", 1)[-1]
            if generic not in re.sub(r"\{[^}]+\}", "{id}", documented) and f"/{tail}`" not in \
                    README and f"`/{tail}`" not in README:
                missing.append(path)
    assert missing == []


def test_every_console_command_is_documented():
    from notifier.cli import cli as notifier_cli
    from registry.cli import cli as registry_cli
    from reporting.cli import cli as reporting_cli

    flask_builtins = {"run", "shell", "routes", "openapi"}
    missing = []
    for prog, group in (("registry", registry_cli), ("notifier", notifier_cli),
                        ("reporting", reporting_cli)):
        for name in group.commands:
            if name in flask_builtins or name in {"db", "settings"}:
                continue
            if f"`{prog} {name}" not in README:
                missing.append(f"{prog} {name}")
    assert missing == []
