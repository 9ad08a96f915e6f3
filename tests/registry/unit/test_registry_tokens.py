"""The registry's access tokens: signing keys, JWKS, rotation without downtime, revocation (API
and CLI), ``create-token`` (SQLite)."""

from __future__ import annotations

import logging
import uuid

import pytest
from sqlalchemy import select

from registry.oauth.models import AccessToken, RevokedToken, SigningKey
from shared.events.types import (
    IDENTITY_SIGNING_KEY_PUBLISHED,
    IDENTITY_SIGNING_KEY_RETIRED,
    IDENTITY_TOKEN_REVOKED,
    load_data,
)
from shared.identity import tokens as t


def _cli(registry, *args: str):
    from registry.app import create_app
    from registry.oauth.cli import register_commands
    from shared.cli import service_cli

    group = service_cli("registry", create_app, None, default_port=5001)
    register_commands(group)
    return registry.app.test_cli_runner().invoke(group, list(args))


def _rotate(registry, *args: str) -> str:
    result = _cli(registry, "rotate-signing-key", *args)
    assert result.exit_code == 0, result.output
    return result.output


def test_jwks_publishes_the_current_key_and_its_published_event(registry):
    token = registry.token("partner")
    body = registry.get("/.well-known/jwks.json")
    assert body.status_code == 200 and "max-age" in body.headers["Cache-Control"]
    keys = body.json["keys"]
    assert len(keys) == 1 and keys[0]["alg"] == "RS256" and keys[0]["use"] == "sig"
    assert set(keys[0]) == {"kty", "n", "e", "kid", "alg", "use"}  # no private member
    assert t.validate_public_jwk(keys[0]) == keys[0]
    header_kid = token.split(".")[0]
    assert keys[0]["kid"] in __import__("base64").urlsafe_b64decode(
        header_kid + "==").decode()
    events = registry.outbox(identity=True)
    assert [e.event_type for e in events] == [IDENTITY_SIGNING_KEY_PUBLISHED]
    data = load_data(IDENTITY_SIGNING_KEY_PUBLISHED, events[0].envelope["data"])
    assert data["jwk"] == keys[0] and data["kid"] == keys[0]["kid"]


def test_rotation_keeps_old_tokens_valid_until_they_expire(registry):
    old_token = registry.token("partner")
    old_kid = registry.get("/.well-known/jwks.json").json["keys"][0]["kid"]
    out = _rotate(registry)
    assert f"rotated out {old_kid}" in out
    new_token = registry.token("partner")
    # both verify: no downtime for holders of the old key's tokens
    assert registry.get("/api/v1/initiatives", old_token).status_code == 200
    assert registry.get("/api/v1/initiatives", new_token).status_code == 200
    kids = [k["kid"] for k in registry.get("/.well-known/jwks.json").json["keys"]]
    assert len(kids) == 2 and kids[1] == old_kid  # current first
    with registry.session() as s:
        old = s.get(SigningKey, old_kid)
        expiry = s.scalar(select(AccessToken.expires_at).where(AccessToken.kid == old_kid))
        assert old.rotated_out_at is not None and old.not_after == expiry
        assert old.retired_at is None
    retired = [e for e in registry.outbox(identity=True)
               if e.event_type == IDENTITY_SIGNING_KEY_RETIRED]
    assert len(retired) == 1 and retired[0].subject == old_kid
    assert load_data(IDENTITY_SIGNING_KEY_RETIRED, retired[0].envelope["data"])[
        "not_after"] == expiry


def test_a_key_whose_tokens_all_expired_is_retired_and_refuses_its_tokens(registry):
    from datetime import timedelta

    from shared.db import utcnow

    token = registry.token("partner")
    kid = registry.get("/.well-known/jwks.json").json["keys"][0]["kid"]
    _rotate(registry)
    with registry.session() as s:  # time passes: the old key's last token has expired
        s.get(SigningKey, kid).not_after = utcnow() - timedelta(seconds=1)
        s.commit()
    _rotate(registry)  # the next rotation retires it
    with registry.session() as s:
        assert s.get(SigningKey, kid).retired_at is not None
    assert kid not in {k["kid"] for k in registry.get("/.well-known/jwks.json").json["keys"]}
    registry.app.extensions["token_verifier"].keyset.invalidate()
    resp = registry.get("/api/v1/initiatives", token)
    assert resp.status_code == 401 and "unknown key" in resp.json["detail"]


def test_retire_now_refuses_the_old_keys_tokens_at_once(registry, problem):
    token = registry.token("partner")
    _rotate(registry, "--retire-now")
    body = problem(registry.get("/api/v1/initiatives", token), 401)
    assert "unknown key" in body["detail"]
    assert len(registry.get("/.well-known/jwks.json").json["keys"]) == 1
    assert registry.get("/api/v1/initiatives", registry.token("partner")).status_code == 200


def test_a_token_signed_by_a_foreign_key_with_our_kid_is_refused(registry, problem):
    from joserfc.jwk import RSAKey

    registry.token("partner")
    kid = registry.get("/.well-known/jwks.json").json["keys"][0]["kid"]
    foreign = RSAKey.import_key(t.generate_signing_key().as_dict(private=True) | {"kid": kid})
    from shared.identity import Principal, PrincipalKind, StaffRole

    admin = Principal(PrincipalKind.USER, subject=str(uuid.uuid4()),
                      staff_roles=frozenset({StaffRole.SECRETARIAT_ADMIN}))
    forged, _ = t.issue_token(admin, foreign, issuer_url=t.issuer(registry.app.config),
                              expires_in=600)
    body = problem(registry.get("/api/v1/initiatives", forged), 401)
    assert "bad_signature" in body["detail"]


def test_private_keys_are_encrypted_with_the_passphrase_and_never_logged(registry, monkeypatch,
                                                                          caplog):
    from registry.oauth import keys

    monkeypatch.setenv("SIGNING_KEY_PASSPHRASE", "correct horse battery staple")
    caplog.set_level(logging.DEBUG)
    _rotate(registry)
    with registry.session() as s:
        row = s.scalars(select(SigningKey).where(SigningKey.rotated_out_at.is_(None))).one()
        assert row.encrypted and "ENCRYPTED PRIVATE KEY" in row.private_key
        assert "PRIVATE" not in repr(row)
        pem = row.private_key
    assert pem not in caplog.text and pem.splitlines()[1] not in caplog.text
    keys._private_cache.clear()  # another process: decrypts with the passphrase
    assert registry.get("/api/v1/initiatives", registry.token("partner")).status_code == 200
    keys._private_cache.clear()
    monkeypatch.setenv("SIGNING_KEY_PASSPHRASE", "wrong")
    with registry.app.app_context(), registry.session() as s, pytest.raises(
            RuntimeError, match="cannot be decrypted") as exc:
        keys.private_key(s.get(SigningKey, row.kid))
    assert "BEGIN" not in str(exc.value)


def test_the_revoke_api_refuses_the_token_at_once_and_emits_the_event(registry, problem):
    token = registry.token("partner")
    resp = registry.post("/api/v1/tokens/revoke", {}, token)  # its own bearer token
    assert resp.status_code == 200 and resp.json["revoked"] is True
    problem(registry.get("/api/v1/initiatives", token), 401)
    events = [e for e in registry.outbox(identity=True) if e.event_type == IDENTITY_TOKEN_REVOKED]
    assert len(events) == 1 and events[0].subject == resp.json["jti"]
    with registry.session() as s:
        assert s.get(RevokedToken, resp.json["jti"]) is not None


def test_only_the_holder_an_org_admin_or_the_secretariat_may_revoke_a_token(registry, problem):
    victim = registry.token("partner")
    other = registry.token("partner")
    admin = registry.token("secretariat")
    resp = registry.post("/api/v1/tokens/revoke", {"token": victim}, other)
    problem(resp, 404)  # not yours: answered like an unknown token
    problem(registry.post("/api/v1/tokens/revoke", {"jti": "nope"}, admin), 404)
    problem(registry.post("/api/v1/tokens/revoke", {"token": victim}), 401)
    problem(registry.post("/api/v1/tokens/revoke", {"token": "a.b.c"}, admin), 404)
    problem(registry.post("/api/v1/tokens/revoke", {"jti": "x", "extra": 1}, admin), 422)
    ok = registry.post("/api/v1/tokens/revoke", {"token": victim}, admin)
    assert ok.status_code == 200 and ok.json["revoked"] is True
    again = registry.post("/api/v1/tokens/revoke", {"jti": ok.json["jti"]}, admin)
    assert again.status_code == 200 and again.json["revoked"] is False
    problem(registry.get("/api/v1/initiatives", victim), 401)
    assert registry.get("/api/v1/initiatives", other).status_code == 200


def test_revoke_token_command_takes_effect_at_once(registry, problem):
    token = registry.token("partner")
    result = _cli(registry, "revoke-token", token)
    assert result.exit_code == 0 and "revoked" in result.output, result.output
    problem(registry.get("/api/v1/initiatives", token), 401)
    second = registry.token("partner")
    jti = registry.app.extensions["token_verifier"].verify(second).token_id
    assert _cli(registry, "revoke-token", "--jti", jti).exit_code == 0
    problem(registry.get("/api/v1/initiatives", second), 401)
    assert _cli(registry, "revoke-token", "--jti", "unknown").exit_code != 0
    assert _cli(registry, "revoke-token").exit_code == 2


def test_create_token_command_expiry_scopes_and_whom_for(registry):
    result = _cli(registry, "create-token", "--role", "secretariat", "--expires-in", "120",
                  "--scope", "review", "--scope", "initiatives:read")
    assert result.exit_code == 0, result.output
    principal = registry.app.extensions["token_verifier"].verify(result.output.strip())
    assert {s.value for s in principal.scopes} == {"review", "initiatives:read"}
    with registry.session() as s:
        row = s.get(AccessToken, principal.token_id)
        assert 119 <= (row.expires_at - row.issued_at).total_seconds() <= 121
    assert _cli(registry, "create-token").exit_code != 0  # whom for?
    assert _cli(registry, "create-token", "--role", "partner", "--expires-in", "0").exit_code == 2
    unknown = _cli(registry, "create-token", "--client", "cli_nope")
    assert unknown.exit_code != 0 and "No organisation API client" in unknown.output


def test_the_test_helper_mints_tokens_for_any_principal_spec(registry):
    from shared.identity import OrgRole, PrincipalKind, Scope, StaffRole

    org = registry.org(registry.token("secretariat"), "Reef Watch")["id"]
    token = registry.user_token(orgs={org: "admin"}, staff=("reviewer",), email="x@y.test")
    got = registry.app.extensions["token_verifier"].verify(token)
    assert got.kind is PrincipalKind.USER and got.role_in(uuid.UUID(org)) is OrgRole.ADMIN
    assert got.staff_roles == {StaffRole.REVIEWER} and got.email == "x@y.test"
    client = registry.client_token(org, scopes=("initiatives:read",))
    got = registry.app.extensions["token_verifier"].verify(client)
    assert got.kind is PrincipalKind.CLIENT and got.scopes == {Scope.INITIATIVES_READ}
    assert got.is_member_of(uuid.UUID(org)) and got.client_id == got.subject


def test_an_interim_partner_without_organisation_administers_the_first_it_registers(
        registry):
    result = _cli(registry, "create-token", "--role", "partner", "--email", "p@ngo.test")
    partner = result.output.strip()
    first = registry.org(partner, "Lagoon Keepers")
    second = registry.org(partner, "Second Trust")
    made = registry.post("/api/v1/initiatives", {
        "title": "Lagoon monitoring", "lead_organization_id": first["id"]}, partner)
    assert made.status_code == 201 and made.json["owner_organization_id"] == first["id"]
    other = registry.post("/api/v1/initiatives", {
        "title": "Led by another", "lead_organization_id": second["id"]}, partner)
    assert other.json["owner_organization_id"] == first["id"]  # only the first is adopted
    principal = registry.app.extensions["token_verifier"].verify(partner)
    assert not principal.memberships  # the JWT itself never changes


def test_alg_none_and_hs256_forgeries_are_401_on_the_api(registry, problem):
    import base64
    import json

    token = registry.token("secretariat")
    header, payload, _signature = token.split(".")
    kid = json.loads(base64.urlsafe_b64decode(header + "==="))["kid"]

    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    jwk = registry.get("/.well-known/jwks.json").json["keys"][0]
    import hashlib
    import hmac

    signing_input = f"{b64({'alg': 'HS256', 'kid': kid})}.{payload}"
    hs256 = base64.urlsafe_b64encode(hmac.new(json.dumps(jwk).encode(), signing_input.encode(),
                                              hashlib.sha256).digest()).rstrip(b"=").decode()
    for forged in (f"{b64({'alg': 'none', 'kid': kid})}.{payload}.",
                   f"{b64({'alg': 'none'})}.{payload}.", f"{signing_input}.{hs256}"):
        resp = registry.get("/api/v1/initiatives", forged)
        body = problem(resp, 401)
        assert "invalid" in body["detail"] or "algorithm" in body["detail"]
        assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
