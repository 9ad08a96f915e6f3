"""The OAuth 2 flows over real HTTP (a threaded WSGI server, urllib with a cookie jar) on
PostgreSQL: client credentials, authorization code + PKCE through the consent page, refresh
rotation and reuse detection, RFC 7009 revocation, RFC 7662 introspection, metadata and key
set; identifiers PostgreSQL cannot hold never reach it."""

from __future__ import annotations

import base64
import hashlib
import http.cookiejar
import json
import re
import secrets
import threading
import urllib.error
import urllib.request
import uuid
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

pytestmark = pytest.mark.postgres

REDIRECT = "https://app.example.org/callback"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Http:
    """A browser-ish client: cookies kept, redirects not followed."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect)

    def call(self, method: str, path: str, *, form: dict | None = None,
             body: dict | None = None, headers: dict | None = None):
        data = None
        headers = dict(headers or {})
        if form is not None:
            data = urlencode(form, doseq=True).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(req, timeout=30) as resp:  # noqa: S310 - loopback
                return resp.status, resp.headers, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers, exc.read().decode()


@pytest.fixture
def served(pg_url, registry_on):
    """The registry on PostgreSQL behind a threaded WSGI server on a free loopback port."""
    from werkzeug.serving import make_server

    registry = registry_on(pg_url)
    server = make_server("127.0.0.1", 0, registry.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield registry, f"http://127.0.0.1:{server.port}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def _basic(client_id: str, secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(
        f"{client_id}:{secret}".encode()).decode()}


def test_oauth_flows_over_http(served):
    registry, base = served
    http_ = Http(base)
    sec = registry.token("secretariat")
    bearer = {"Authorization": f"Bearer {sec}"}
    status, _, org = http_.call("POST", "/api/v1/organizations", body={
        "name": f"Reef Alliance {uuid.uuid4().hex[:6]}", "stakeholder_group": "ngo"},
        headers=bearer)
    assert status == 201, org
    org_id = json.loads(org)["id"]
    admin = registry.user_token(orgs={org_id: "admin"}, email="admin@reef.test")
    admin_h = {"Authorization": f"Bearer {admin}"}

    # metadata and keys
    status, headers, meta = http_.call("GET", "/.well-known/oauth-authorization-server")
    meta = json.loads(meta)
    assert status == 200 and meta["code_challenge_methods_supported"] == ["S256"]
    status, _, jwks = http_.call("GET", "/.well-known/jwks.json")
    assert status == 200 and json.loads(jwks)["keys"]

    # client credentials
    status, _, made = http_.call("POST", f"/api/v1/organizations/{org_id}/clients",
                                 body={"name": "Reef sync"}, headers=admin_h)
    assert status == 201, made
    system = json.loads(made)
    status, headers, tok = http_.call("POST", "/oauth/token", form={
        "grant_type": "client_credentials"},
        headers=_basic(system["client_id"], system["client_secret"]))
    assert status == 200 and headers["Cache-Control"] == "no-store", tok
    access = json.loads(tok)["access_token"]
    status, _, _ = http_.call("GET", "/api/v1/initiatives",
                              headers={"Authorization": f"Bearer {access}"})
    assert status == 200

    # authorization code + PKCE through the consent page
    status, _, made = http_.call("POST", f"/api/v1/organizations/{org_id}/clients", body={
        "name": "Reef dashboard", "kind": "application", "redirect_uris": [REDIRECT]},
        headers=admin_h)
    app = json.loads(made)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode({"response_type": "code", "client_id": app["client_id"],
                       "redirect_uri": REDIRECT, "scope": "initiatives:read", "state": "st",
                       "code_challenge": challenge, "code_challenge_method": "S256"})
    status, _, page = http_.call("GET", f"/oauth/authorize?{query}", headers=admin_h)
    assert status == 200 and "Reef dashboard" in page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    status, headers, _ = http_.call("POST", f"/oauth/authorize?{query}", form={
        "csrf_token": csrf, "decision": "allow"}, headers=admin_h)
    assert status == 302, headers
    params = parse_qs(urlsplit(headers["Location"]).query)
    assert params["state"] == ["st"]
    app_auth = _basic(app["client_id"], app["client_secret"])
    status, _, tok = http_.call("POST", "/oauth/token", form={
        "grant_type": "authorization_code", "code": params["code"][0],
        "redirect_uri": REDIRECT, "code_verifier": verifier}, headers=app_auth)
    assert status == 200, tok
    first = json.loads(tok)

    # refresh: rotation, then reuse of the spent one revokes the family
    status, _, tok = http_.call("POST", "/oauth/token", form={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        headers=app_auth)
    assert status == 200, tok
    second = json.loads(tok)
    status, _, body = http_.call("POST", "/oauth/introspect", form={
        "token": second["access_token"]}, headers=app_auth)
    assert status == 200 and json.loads(body)["active"] is True
    status, _, body = http_.call("POST", "/oauth/token", form={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        headers=app_auth)
    assert status == 400 and json.loads(body)["error"] == "invalid_grant"
    status, _, body = http_.call("POST", "/oauth/introspect", form={
        "token": second["access_token"]}, headers=app_auth)
    assert json.loads(body) == {"active": False}
    status, headers, _ = http_.call("GET", "/api/v1/initiatives", headers={
        "Authorization": f"Bearer {second['access_token']}"})
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")

    # RFC 7009: the client-credentials token revoked by its client
    status, _, _ = http_.call("POST", "/oauth/revoke", form={"token": access},
                              headers=_basic(system["client_id"], system["client_secret"]))
    assert status == 200
    status, _, _ = http_.call("GET", "/api/v1/initiatives",
                              headers={"Authorization": f"Bearer {access}"})
    assert status == 401


def test_nul_and_oversized_identifiers_never_reach_postgresql(served):
    """PostgreSQL refuses NUL in text: a client_id, jti or path id carrying one is no client /
    no token (401/404/422), never a 500."""
    registry, base = served
    http_ = Http(base)
    sec = registry.token("secretariat")
    status, _, body = http_.call("POST", "/oauth/token", form={
        "grant_type": "client_credentials", "client_id": "prc_a\x00b", "client_secret": "x"})
    # refused before Authlib sees it: a NUL in any form field is 422 naming the field
    # (shared.inputs.refuse_unparseable_input), or Authlib's invalid_client
    answer = json.loads(body)
    assert (status == 422 and answer["errors"][0]["field"] == "client_id") or (
        status in (400, 401) and answer["error"] == "invalid_client"), (status, answer)
    status, _, body = http_.call("POST", "/oauth/token", form={
        "grant_type": "client_credentials"}, headers=_basic("x" * 5000, "y"))
    assert status == 401
    status, _, _ = http_.call("POST", "/api/v1/tokens/revoke", body={"jti": "a\x00b"},
                              headers={"Authorization": f"Bearer {sec}"})
    assert status == 422
    org = json.loads(http_.call("POST", "/api/v1/organizations", body={
        "name": "Nul Trust", "stakeholder_group": "ngo"},
        headers={"Authorization": f"Bearer {sec}"})[2])["id"]
    status, _, _ = http_.call("GET", f"/api/v1/organizations/{org}/clients/prc_%00x",
                              headers={"Authorization": f"Bearer {sec}"})
    assert status in (400, 404)
