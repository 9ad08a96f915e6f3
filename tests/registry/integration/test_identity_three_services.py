"""One identity for the three services, on the real stack (PostgreSQL x3, Kafka): the registry
publishes its signing keys and revocations through its outbox; the notifier and reporting keep
them in their own tables and verify bearer JWTs themselves. A token signed by a retired key or
by a foreign key (same kid, other key), and a revoked token, are refused by all three; a key
rotated out normally keeps verifying (no downtime)."""

from __future__ import annotations

import time

import pytest
from joserfc.jwk import RSAKey

from shared import migrate
from shared.identity import Principal, PrincipalKind, StaffRole
from shared.identity import tokens as t

pytestmark = [pytest.mark.postgres, pytest.mark.kafka,
              pytest.mark.filterwarnings(
                  "ignore:(open_text|read_text) is deprecated:DeprecationWarning")]

ISSUER = "https://registry.example.org"
#: every service reads its keys and revocations on each request: assertions need no sleeps
CONFIG = {"OAUTH_ISSUER": ISSUER, "TOKEN_CACHE_SECONDS": 0}
PATHS = {"registry": "/api/v1/initiatives", "notifier": "/api/v1/subscriptions/channels",
         "reporting": "/api/v1/reports/summary"}


@pytest.fixture
def stack(kafka_env, create_pg_database, registry_on, tmp_path, monkeypatch):
    """The three apps on their own PostgreSQL databases, the registry's relay and the two
    consumer groups running on Kafka under the test's topic prefix."""
    from notifier.app import create_app as notifier_app
    from notifier.app import start_workers as notifier_workers
    from registry.app import start_workers as registry_workers
    from reporting.app import create_app as reporting_app
    from reporting.app import start_workers as reporting_workers

    monkeypatch.setenv("OUTBOX_POLL_SECONDS", "0.1")
    registry = registry_on(create_pg_database("reg"), **CONFIG)
    apps = {"registry": registry.app}
    for name, factory in (("notifier", notifier_app), ("reporting", reporting_app)):
        url = create_pg_database(name[:3])
        migrate.upgrade(name, url)
        apps[name] = factory({"DATABASE_URL": url, **CONFIG})
    workers = [registry_workers(registry.app), notifier_workers(apps["notifier"]),
               reporting_workers(apps["reporting"])]
    yield registry, apps
    for w in workers:
        w.stop()
    for name in ("notifier", "reporting"):
        apps[name].extensions["db_engine"].dispose()


def _statuses(apps, token: str) -> dict[str, int]:
    return {name: app.test_client().get(PATHS[name], headers={
        "Authorization": f"Bearer {token}"}).status_code for name, app in apps.items()}


def _until(apps, token: str, expected: dict[str, int] | int, timeout: float = 60.0):
    want = expected if isinstance(expected, dict) else dict.fromkeys(apps, expected)
    deadline = time.monotonic() + timeout
    while True:
        got = _statuses(apps, token)
        if got == want or time.monotonic() > deadline:
            assert got == want
            return
        time.sleep(0.1)


def _rotate(registry, *args: str) -> None:
    from registry.app import create_app
    from registry.oauth.cli import register_commands
    from shared.cli import service_cli

    group = service_cli("registry", create_app, None, default_port=5001)
    register_commands(group)
    result = registry.app.test_cli_runner().invoke(group, ["rotate-signing-key", *args])
    assert result.exit_code == 0, result.output


def test_keys_revocations_and_rotation_reach_all_three_services(stack):
    registry, apps = stack
    first = registry.token("partner")
    _until(apps, first, 200)  # the first key reached the notifier and reporting by Kafka

    # a foreign key that claims our kid: refused everywhere (bad signature), nothing stored
    kid = registry.get("/.well-known/jwks.json").json["keys"][0]["kid"]
    foreign = RSAKey.import_key(t.generate_signing_key().as_dict(private=True) | {"kid": kid})
    admin = Principal(PrincipalKind.USER, subject="00000000-0000-4000-8000-000000000001",
                      staff_roles=frozenset({StaffRole.SECRETARIAT_ADMIN}))
    forged, _ = t.issue_token(admin, foreign, issuer_url=ISSUER, expires_in=600)
    assert _statuses(apps, forged) == dict.fromkeys(apps, 401)

    # revoked in the registry: refused there at once, by the others once the event arrived
    second = registry.token("secretariat")
    _until(apps, second, 200)
    resp = registry.post("/api/v1/tokens/revoke", {}, second)
    assert resp.status_code == 200 and resp.json["revoked"]
    assert _statuses(apps, second)["registry"] == 401
    _until(apps, second, 401)
    assert _statuses(apps, first) == dict.fromkeys(apps, 200)  # only that token

    # normal rotation: the old key's tokens keep verifying everywhere (no downtime)
    _rotate(registry)
    third = registry.token("partner")  # signed by the new key
    _until(apps, third, 200)
    assert _statuses(apps, first) == dict.fromkeys(apps, 200)

    # the key retired at once (compromised): its tokens are refused by all three
    _rotate(registry, "--retire-now")
    assert _statuses(apps, third)["registry"] == 401
    _until(apps, third, 401)
    fourth = registry.token("partner")
    _until(apps, fourth, 200)
    assert _statuses(apps, first) == dict.fromkeys(apps, 200)  # rotated out before: still due
    for name in ("notifier", "reporting"):
        body = apps[name].test_client().get(PATHS[name], headers={
            "Authorization": f"Bearer {third}"})
        assert body.headers["WWW-Authenticate"].startswith("Bearer ")
        assert "unknown key" in body.json["detail"]


def test_an_untrusted_key_event_is_dead_lettered_not_stored(stack, kafka_env, read_topic):
    """A published-key event whose JWK is weak or whose kid is not its thumbprint never
    becomes a key the notifier or reporting trust (it goes to the dead-letter topic)."""
    from notifier.identity.models import SigningKey as NotifierKey
    from registry.oauth.models import SigningKey as _RegistryKey  # noqa: F401
    from registry.outbox.models import OutboxEvent
    from reporting.identity.models import SigningKey as ReportingKey
    from shared.db import utcnow
    from shared.events.types import IDENTITY_SIGNING_KEY_PUBLISHED, TOPIC_IDENTITY, topic_name
    from shared.outbox import record_event

    registry, apps = stack
    rogue = t.generate_signing_key()
    jwk = t.public_jwk(rogue) | {"kid": "not-its-thumbprint"}
    with registry.session() as s:  # as if someone wrote to the outbox
        record_event(s, OutboxEvent, IDENTITY_SIGNING_KEY_PUBLISHED, source="/registry",
                     subject=jwk["kid"], data={"kid": jwk["kid"], "jwk": jwk,
                                               "published_at": utcnow()})
        s.commit()
    dead = read_topic(kafka_env, f"{topic_name(TOPIC_IDENTITY)}.dlt", count=2, timeout=60)
    assert len(dead) == 2  # one per consumer group
    assert {dict(r.headers)["dlt_reason"] for r in dead} == {b"poison"}
    for name, model in (("notifier", NotifierKey), ("reporting", ReportingKey)):
        with apps[name].extensions["db_session_factory"]() as s:
            assert s.get(model, "not-its-thumbprint") is None
