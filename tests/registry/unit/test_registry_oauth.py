"""OAuth 2 flows against the registry's authorization server (Authlib), through its HTTP
endpoints: client credentials, authorization code + PKCE (S256), refresh with rotation and
reuse detection, revocation (RFC 7009), introspection (RFC 7662), metadata (RFC 8414), and the
organisations' API clients (API and page). SQLite; the same flows over a real HTTP server on
PostgreSQL are in ``tests/registry/integration/test_oauth_http.py``."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import uuid
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from registry.oauth.models import AccessToken, OAuthClient, RefreshToken
from shared.identity import OrgRole, PrincipalKind, Scope

REDIRECT = "https://app.example.org/callback"


def _basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@pytest.fixture
def org(registry):
    """An organisation, its admin's token and a member's token."""
    sec = registry.token("secretariat")
    made = registry.org(sec, f"Reef Alliance {uuid.uuid4().hex[:6]}")
    admin = registry.user_token(orgs={made["id"]: "admin"}, email="admin@reef.test")
    member = registry.user_token(orgs={made["id"]: "member"}, email="member@reef.test")
    return {"id": made["id"], "admin": admin, "member": member, "secretariat": sec}


def _register(registry, org, **body) -> dict:
    resp = registry.post(f"/api/v1/organizations/{org['id']}/clients",
                         {"name": "Reef data system"} | body, org["admin"])
    assert resp.status_code == 201, resp.json
    return resp.json


def _token(registry, data: dict, headers: dict | None = None):
    return registry.client.post("/oauth/token", data=data, headers=headers or {})


def _verify(registry, token: str):
    return registry.app.extensions["token_verifier"].verify(token)


# -- client credentials ----------------------------------------------------------------------------
def test_client_credentials_token_acts_for_the_organisation_with_the_clients_scopes(
        registry, org):
    client = _register(registry, org, scopes=["initiatives:read", "initiatives:write"])
    assert client["client_secret"] and client["kind"] == "organization"
    resp = _token(registry, {"grant_type": "client_credentials"},
                  _basic(client["client_id"], client["client_secret"]))
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert "refresh_token" not in body and resp.headers["Cache-Control"] == "no-store"
    assert set(body["scope"].split()) == {"initiatives:read", "initiatives:write"}
    principal = _verify(registry, body["access_token"])
    assert principal.kind is PrincipalKind.CLIENT and principal.client_id == client["client_id"]
    assert principal.role_in(uuid.UUID(org["id"])) is OrgRole.MEMBER
    draft = registry.create(body["access_token"], title="Reef sensors",
                            lead_organization_id=org["id"])
    assert draft["owner_organization_id"] == org["id"]
    with registry.session() as s:
        row = s.get(AccessToken, principal.token_id)
        assert row.grant == "client_credentials" and row.client_id == client["client_id"]

    # the secret in the body works too; a narrower scope is granted as asked
    narrow = _token(registry, {"grant_type": "client_credentials", "scope": "initiatives:read",
                               "client_id": client["client_id"],
                               "client_secret": client["client_secret"]})
    assert narrow.status_code == 200 and narrow.json["scope"] == "initiatives:read"
    read_only = narrow.json["access_token"]
    resp = registry.post("/api/v1/initiatives", {"title": "Reef sensors, read only",
                                                 "lead_organization_id": org["id"]}, read_only)
    assert resp.status_code == 403 and "initiatives:write" in resp.json["detail"]


def test_client_credentials_refusals(registry, org):
    client = _register(registry, org, scopes=["initiatives:read"])
    bad = _token(registry, {"grant_type": "client_credentials"},
                 _basic(client["client_id"], "wrong-secret"))
    assert bad.status_code == 401 and bad.json["error"] == "invalid_client"
    unknown = _token(registry, {"grant_type": "client_credentials"},
                     _basic("prc_nobody", "x"))
    assert unknown.status_code == 401 and unknown.json["error"] == "invalid_client"
    too_much = _token(registry, {"grant_type": "client_credentials", "scope": "review"},
                      _basic(client["client_id"], client["client_secret"]))
    assert too_much.status_code == 400 and too_much.json["error"] == "invalid_scope"
    nonsense = _token(registry, {"grant_type": "password", "username": "a", "password": "b"},
                      _basic(client["client_id"], client["client_secret"]))
    assert nonsense.status_code == 400 and nonsense.json["error"] == "unsupported_grant_type"
    app = _register(registry, org, kind="application", redirect_uris=[REDIRECT])
    wrong_grant = _token(registry, {"grant_type": "client_credentials"},
                         _basic(app["client_id"], app["client_secret"]))
    assert wrong_grant.json["error"] == "unauthorized_client"


def test_deleting_a_client_refuses_its_tokens_at_once(registry, org, problem):
    client = _register(registry, org)
    token = _token(registry, {"grant_type": "client_credentials"},
                   _basic(client["client_id"], client["client_secret"])).json["access_token"]
    assert registry.get("/api/v1/initiatives", token).status_code == 200
    resp = registry.client.delete(f"/api/v1/organizations/{org['id']}/clients/"
                                  f"{client['client_id']}",
                                  headers=registry.headers(org["admin"]))
    assert resp.status_code == 204
    problem(registry.get("/api/v1/initiatives", token), 401)
    again = _token(registry, {"grant_type": "client_credentials"},
                   _basic(client["client_id"], client["client_secret"]))
    assert again.json["error"] == "invalid_client"


# -- the clients API -------------------------------------------------------------------------------
def test_only_the_organisations_admins_manage_its_clients(registry, org, problem):
    path = f"/api/v1/organizations/{org['id']}/clients"
    problem(registry.get(path), 401)
    problem(registry.get(path, org["member"]), 403)
    problem(registry.post(path, {"name": "x"}, org["member"]), 403)
    problem(registry.get(f"/api/v1/organizations/{uuid.uuid4()}/clients", org["admin"]), 404)
    made = _register(registry, org)
    listed = registry.get(path, org["admin"]).json["items"]
    assert [c["client_id"] for c in listed] == [made["client_id"]]
    assert "client_secret" not in listed[0]
    assert registry.get(path, org["secretariat"]).status_code == 200
    with registry.session() as s:
        row = s.query(OAuthClient).one()
        assert made["client_secret"] not in str(row.__dict__)  # only its digest
    problem(registry.post(path, {"name": "x", "scopes": ["review"]}, org["admin"]), 422,
            "scopes")
    problem(registry.post(path, {"name": "x", "kind": "application"}, org["admin"]), 422,
            "redirect_uris")
    problem(registry.post(path, {"name": "x", "kind": "application",
                                 "redirect_uris": ["http://evil.example/cb"]}, org["admin"]),
            422, "redirect_uris")
    problem(registry.post(path, {"name": "x", "extra": 1}, org["admin"]), 422, "extra")


def test_client_created_and_token_issued_are_audited_without_secrets(registry, org):
    from registry.audit.models import AuditEntry

    client = _register(registry, org)
    _token(registry, {"grant_type": "client_credentials"},
           _basic(client["client_id"], client["client_secret"]))
    with registry.session() as s:
        entries = {e.event: e for e in s.query(AuditEntry)}
    assert entries["client.created"].subject == client["client_id"]
    assert entries["client.created"].actor_email == "admin@reef.test"
    assert entries["token.issued"].detail["grant"] == "client_credentials"
    assert client["client_secret"] not in str([e.detail for e in entries.values()])


# -- authorization code + PKCE ---------------------------------------------------------------------
def _authorize(registry, person: str, client_id: str, *, challenge: str | None,
               method: str | None = "S256", scope: str = "initiatives:read initiatives:write",
               decision: str = "allow", state: str = "xyz"):
    """GET the consent page as ``person`` then POST the decision; returns the final response."""
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
              "scope": scope, "state": state}
    if challenge:
        params["code_challenge"] = challenge
    if method:
        params["code_challenge_method"] = method
    url = f"/oauth/authorize?{urlencode(params)}"
    page = registry.client.get(url, headers=registry.headers(person))
    if page.status_code != 200:
        return page
    html = page.get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    return registry.client.post(url, data={"csrf_token": csrf, "decision": decision},
                                headers=registry.headers(person))


def _code(resp) -> dict[str, list[str]]:
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    location = resp.headers["Location"]
    assert location.startswith(REDIRECT)
    return parse_qs(urlsplit(location).query)


@pytest.fixture
def app_client(registry, org):
    return _register(registry, org, kind="application", redirect_uris=[REDIRECT],
                     name="Reef dashboard")


def _exchange(registry, app_client, code: str, verifier: str):
    return _token(registry, {"grant_type": "authorization_code", "code": code,
                             "redirect_uri": REDIRECT, "code_verifier": verifier},
                  _basic(app_client["client_id"], app_client["client_secret"]))


def test_authorization_code_with_pkce_acts_for_the_person(registry, org, app_client):
    verifier, challenge = _pkce()
    page = registry.client.get("/oauth/authorize?" + urlencode({
        "response_type": "code", "client_id": app_client["client_id"],
        "redirect_uri": REDIRECT, "scope": "initiatives:read", "state": "s1",
        "code_challenge": challenge, "code_challenge_method": "S256"}),
        headers=registry.headers(org["admin"]))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Reef dashboard" in html and "Read initiatives" in html
    assert 'lang="en"' in html
    params = _code(_authorize(registry, org["admin"], app_client["client_id"],
                              challenge=challenge))
    assert params["state"] == ["xyz"]
    resp = _exchange(registry, app_client, params["code"][0], verifier)
    assert resp.status_code == 200, resp.json
    tokens = resp.json
    assert tokens["refresh_token"] and tokens["expires_in"] == 900
    principal = _verify(registry, tokens["access_token"])
    admin = _verify(registry, org["admin"])
    assert principal.kind is PrincipalKind.USER and principal.subject == admin.subject
    assert principal.client_id == app_client["client_id"]
    assert principal.scopes == {Scope.INITIATIVES_READ, Scope.INITIATIVES_WRITE}
    assert principal.is_admin_of(uuid.UUID(org["id"]))  # the person's own roles
    draft = registry.create(tokens["access_token"], title="Via the dashboard",
                            lead_organization_id=org["id"])
    assert draft["owner_organization_id"] == org["id"]

    # the code is single use: a second exchange fails and revokes what the first issued
    again = _exchange(registry, app_client, params["code"][0], verifier)
    assert again.status_code == 400 and again.json["error"] == "invalid_grant"
    assert registry.get("/api/v1/initiatives", tokens["access_token"]).status_code == 401


def test_pkce_is_required_and_only_s256(registry, org, app_client):
    verifier, challenge = _pkce()
    missing = _code(_authorize(registry, org["admin"], app_client["client_id"], challenge=None,
                               method=None))
    assert missing["error"] == ["invalid_request"] and missing["state"] == ["xyz"]
    plain = _code(_authorize(registry, org["admin"], app_client["client_id"],
                             challenge=verifier, method="plain"))
    assert plain["error"] == ["invalid_request"]
    params = _code(_authorize(registry, org["admin"], app_client["client_id"],
                              challenge=challenge))
    wrong = _exchange(registry, app_client, params["code"][0], _pkce()[0])
    assert wrong.status_code == 400 and wrong.json["error"] == "invalid_grant"
    no_verifier = _token(registry, {"grant_type": "authorization_code",
                                    "code": params["code"][0], "redirect_uri": REDIRECT},
                         _basic(app_client["client_id"], app_client["client_secret"]))
    assert no_verifier.json["error"] in ("invalid_request", "invalid_grant")


def test_denied_consent_and_bad_requests(registry, org, app_client):
    _verifier, challenge = _pkce()
    denied = _code(_authorize(registry, org["admin"], app_client["client_id"],
                              challenge=challenge, decision="deny"))
    assert denied["error"] == ["access_denied"] and "code" not in denied
    # an unknown client or a redirect URI not registered: an error page, never a redirect
    for params in ({"client_id": "prc_nobody", "redirect_uri": REDIRECT},
                   {"client_id": app_client["client_id"],
                    "redirect_uri": "https://evil.example/cb"}):
        resp = registry.client.get("/oauth/authorize?" + urlencode(
            {"response_type": "code", "code_challenge": challenge,
             "code_challenge_method": "S256"} | params),
            headers=registry.headers(org["admin"]))
        assert resp.status_code == 400 and "Location" not in resp.headers
    # nobody signed in: sign in first; an app's own token is not a person's session
    anonymous = registry.client.get("/oauth/authorize?client_id=x")
    assert anonymous.status_code in (302, 401)
    client = _register(registry, org)
    app_token = _token(registry, {"grant_type": "client_credentials"},
                       _basic(client["client_id"], client["client_secret"])).json[
        "access_token"]
    assert registry.client.get("/oauth/authorize?client_id=x",
                               headers=registry.headers(app_token)).status_code in (302, 401)
    # the consent POST needs the CSRF token
    resp = registry.client.post("/oauth/authorize?" + urlencode({
        "response_type": "code", "client_id": app_client["client_id"],
        "redirect_uri": REDIRECT, "code_challenge": challenge,
        "code_challenge_method": "S256"}), data={"decision": "allow"},
        headers=registry.headers(org["admin"]))
    assert resp.status_code == 400 and "Location" not in resp.headers


def test_public_application_uses_pkce_without_a_secret(registry, org):
    public = _register(registry, org, kind="application", redirect_uris=[REDIRECT],
                       public=True)
    assert public["client_secret"] is None and public["token_endpoint_auth_method"] == "none"
    verifier, challenge = _pkce()
    params = _code(_authorize(registry, org["member"], public["client_id"], challenge=challenge))
    resp = _token(registry, {"grant_type": "authorization_code", "code": params["code"][0],
                             "redirect_uri": REDIRECT, "code_verifier": verifier,
                             "client_id": public["client_id"]})
    assert resp.status_code == 200, resp.json
    assert _verify(registry, resp.json["access_token"]).role_in(
        uuid.UUID(org["id"])) is OrgRole.MEMBER


# -- refresh tokens --------------------------------------------------------------------------------
def _consented(registry, org, app_client) -> dict:
    verifier, challenge = _pkce()
    params = _code(_authorize(registry, org["admin"], app_client["client_id"],
                              challenge=challenge))
    resp = _exchange(registry, app_client, params["code"][0], verifier)
    assert resp.status_code == 200
    return resp.json


def _refresh(registry, app_client, refresh: str):
    return _token(registry, {"grant_type": "refresh_token", "refresh_token": refresh},
                  _basic(app_client["client_id"], app_client["client_secret"]))


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_family(registry, org,
                                                                       app_client, problem):
    first = _consented(registry, org, app_client)
    second = _refresh(registry, app_client, first["refresh_token"])
    assert second.status_code == 200, second.json
    second = second.json
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    third = _refresh(registry, app_client, second["refresh_token"]).json
    assert registry.get("/api/v1/initiatives", third["access_token"]).status_code == 200
    with registry.session() as s:
        family = {r.family_id for r in s.query(RefreshToken)}
        assert len(family) == 1  # one grant, one family
    # an attacker replays the first (spent) refresh token: refused, and the whole family
    # (the legitimate newest refresh token and the access tokens) is revoked
    replay = _refresh(registry, app_client, first["refresh_token"])
    assert replay.status_code == 400 and replay.json["error"] == "invalid_grant"
    for access in (first["access_token"], second["access_token"], third["access_token"]):
        problem(registry.get("/api/v1/initiatives", access), 401)
    assert _refresh(registry, app_client, third["refresh_token"]).json["error"] == \
        "invalid_grant"
    # another client cannot use someone else's refresh token
    fresh = _consented(registry, org, app_client)
    other = _register(registry, org, kind="application", redirect_uris=[REDIRECT])
    stolen = _refresh(registry, other, fresh["refresh_token"])
    assert stolen.json["error"] == "invalid_grant"


# -- revocation and introspection ------------------------------------------------------------------
def test_rfc7009_revocation_of_access_and_refresh_tokens(registry, org, app_client, problem):
    auth = _basic(app_client["client_id"], app_client["client_secret"])
    tokens = _consented(registry, org, app_client)
    resp = registry.client.post("/oauth/revoke", data={
        "token": tokens["access_token"], "token_type_hint": "access_token"}, headers=auth)
    assert resp.status_code == 200
    problem(registry.get("/api/v1/initiatives", tokens["access_token"]), 401)
    assert _refresh(registry, app_client, tokens["refresh_token"]).status_code == 200

    tokens = _consented(registry, org, app_client)
    resp = registry.client.post("/oauth/revoke", data={"token": tokens["refresh_token"]},
                                headers=auth)
    assert resp.status_code == 200
    assert _refresh(registry, app_client, tokens["refresh_token"]).json["error"] == \
        "invalid_grant"
    problem(registry.get("/api/v1/initiatives", tokens["access_token"]), 401)  # its family
    # an unknown token is answered 200 (RFC 7009 §2.2); another client's token is refused
    assert registry.client.post("/oauth/revoke", data={"token": "nonsense"},
                                headers=auth).status_code == 200
    other = _register(registry, org, kind="application", redirect_uris=[REDIRECT])
    mine = _consented(registry, org, app_client)
    resp = registry.client.post("/oauth/revoke", data={"token": mine["access_token"]},
                                headers=_basic(other["client_id"], other["client_secret"]))
    assert resp.status_code == 400
    assert registry.get("/api/v1/initiatives", mine["access_token"]).status_code == 200


def test_rfc7662_introspection_for_confidential_clients(registry, org, app_client):
    auth = _basic(app_client["client_id"], app_client["client_secret"])
    tokens = _consented(registry, org, app_client)
    resp = registry.client.post("/oauth/introspect", data={"token": tokens["access_token"]},
                                headers=auth)
    assert resp.status_code == 200, resp.json
    info = resp.json
    assert info["active"] is True and info["client_id"] == app_client["client_id"]
    assert info["sub"] == _verify(registry, org["admin"]).subject
    assert set(info["scope"].split()) == {"initiatives:read", "initiatives:write"}
    assert info["exp"] > info["iat"] and info["aud"] == "partnership-registry"
    refresh = registry.client.post("/oauth/introspect", data={
        "token": tokens["refresh_token"], "token_type_hint": "refresh_token"}, headers=auth)
    assert refresh.json["active"] is True and refresh.json["token_type"] == "refresh_token"
    registry.client.post("/oauth/revoke", data={"token": tokens["access_token"]}, headers=auth)
    assert registry.client.post("/oauth/introspect", data={"token": tokens["access_token"]},
                                headers=auth).json == {"active": False}
    assert registry.client.post("/oauth/introspect", data={"token": "junk"},
                                headers=auth).json == {"active": False}
    # someone else's token: not active for this client
    other = _register(registry, org, kind="application", redirect_uris=[REDIRECT])
    theirs = registry.client.post("/oauth/introspect", data={"token": tokens["refresh_token"]},
                                  headers=_basic(other["client_id"], other["client_secret"]))
    assert theirs.json == {"active": False}
    # a public client may not introspect
    public = _register(registry, org, kind="application", redirect_uris=[REDIRECT],
                       public=True)
    resp = registry.client.post("/oauth/introspect", data={
        "token": tokens["refresh_token"], "client_id": public["client_id"]})
    assert resp.status_code in (400, 401) and resp.json["error"] == "invalid_client"


def test_server_metadata_rfc8414(registry):
    meta = registry.get("/.well-known/oauth-authorization-server").json
    issuer = meta["issuer"]
    assert meta["token_endpoint"] == issuer + "/oauth/token"
    assert meta["authorization_endpoint"] == issuer + "/oauth/authorize"
    assert meta["jwks_uri"] == issuer + "/.well-known/jwks.json"
    assert meta["revocation_endpoint"] and meta["introspection_endpoint"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert set(meta["grant_types_supported"]) == {"authorization_code", "client_credentials",
                                                  "refresh_token"}
    assert "initiatives:write" in meta["scopes_supported"]


# -- the page --------------------------------------------------------------------------------------
def test_api_clients_page_registers_shows_the_secret_once_and_deletes(registry, org):
    path = f"/organizations/{org['id']}/clients"
    page = registry.client.get(path, headers=registry.headers(org["admin"]))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "No API client yet." in html
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    made = registry.client.post(path, data={
        "csrf_token": csrf, "name": "Reef sync", "kind": "organization",
        "scopes": ["initiatives:read"]}, headers=registry.headers(org["admin"]))
    assert made.status_code == 201
    html = made.get_data(as_text=True)
    secret = re.search(r"Client secret</dt><dd><code>([^<]+)</code>", html).group(1)
    client_id = re.search(r"Client id</dt><dd><code>([^<]+)</code>", html).group(1)
    assert "shown only once" in html
    assert _token(registry, {"grant_type": "client_credentials"},
                  _basic(client_id, secret)).status_code == 200
    listing = registry.client.get(path, headers=registry.headers(org["admin"]))
    assert secret not in listing.get_data(as_text=True)
    assert registry.client.get(path, headers=registry.headers(org["member"])).status_code == 403
    zh = registry.client.get(path + "?lang=zh", headers=registry.headers(org["admin"]))
    assert "API 客户端" in zh.get_data(as_text=True)
    deleted = registry.client.post(f"{path}/{client_id}/delete", data={"csrf_token": csrf},
                                   headers=registry.headers(org["admin"]))
    assert deleted.status_code == 303
    assert _token(registry, {"grant_type": "client_credentials"},
                  _basic(client_id, secret)).json["error"] == "invalid_client"


def test_a_real_account_consents_and_its_roles_are_read_again_at_refresh(registry, org,
                                                                         app_client):
    """``create-token --email`` acts as the account; a refreshed access token carries the
    person's roles as they are now (a staff role granted after the consent)."""
    from registry import db
    from registry.accounts import service as accounts
    from shared.identity import SYSTEM, StaffRole

    with registry.app.app_context():
        session = db.session()
        user = accounts.sign_up(db_session=session, email="ana@reef.test",
                                password="a long enough passphrase", locale="zh")
        session.commit()
        user_id = str(user.id)
    result = registry.app.test_cli_runner().invoke(_cli_group(), [
        "create-token", "--email", "ana@reef.test", "--expires-in", "600"])
    assert result.exit_code == 0, result.output
    own = result.output.strip()
    person = _verify(registry, own)
    assert person.subject == user_id  # (e-mail claim only once the address is verified)
    assert person.locale == "zh" and not person.is_staff

    verifier, challenge = _pkce()
    params = _code(_authorize(registry, own, app_client["client_id"], challenge=challenge))
    tokens = _exchange(registry, app_client, params["code"][0], verifier).json
    assert _verify(registry, tokens["access_token"]).subject == user_id
    with registry.app.app_context():
        session = db.session()
        accounts.grant_staff_role(db_session=session, principal=SYSTEM, user_id=user.id,
                                  role="reviewer")
        session.commit()
    refreshed = _refresh(registry, app_client, tokens["refresh_token"]).json
    assert _verify(registry, refreshed["access_token"]).has_staff_role(StaffRole.REVIEWER)
    # a disabled account gets no new token from its refresh token
    from registry.accounts.models import User
    from shared.db import utcnow

    with registry.session() as s:
        s.get(User, user.id).disabled_at = utcnow()
        s.commit()
    refused = _refresh(registry, app_client, refreshed["refresh_token"])
    assert refused.status_code == 400 and "access_token" not in refused.json


def _cli_group():
    from registry.app import create_app
    from registry.oauth.cli import register_commands
    from shared.cli import service_cli

    group = service_cli("registry", create_app, None, default_port=5001)
    register_commands(group)
    return group


def test_clients_cli_creates_lists_and_deletes(registry, org):
    runner = registry.app.test_cli_runner()
    made = runner.invoke(_cli_group(), ["clients", "create", "--organization", org["id"],
                                        "--name", "Nightly sync", "--scope", "initiatives:read"])
    assert made.exit_code == 0, made.output
    values = dict(line.split("=", 1) for line in made.output.split())
    token = _token(registry, {"grant_type": "client_credentials"},
                   _basic(values["client_id"], values["client_secret"]))
    assert token.status_code == 200 and token.json["scope"] == "initiatives:read"
    listed = runner.invoke(_cli_group(), ["clients", "list", "--organization", org["id"]])
    assert values["client_id"] in listed.output and values["client_secret"] not in listed.output
    gone = runner.invoke(_cli_group(), ["clients", "delete", "--organization", org["id"],
                                        values["client_id"]])
    assert gone.exit_code == 0 and "1 access token(s) revoked" in gone.output
    assert registry.get("/api/v1/initiatives", token.json["access_token"]).status_code == 401
    bad = runner.invoke(_cli_group(), ["clients", "create", "--organization", str(uuid.uuid4()),
                                       "--name", "x"])
    assert bad.exit_code != 0 and "No organisation" in bad.output
