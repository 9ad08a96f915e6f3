"""The access-token contract of ``shared.identity.tokens``: what verifies, and every way a token
is refused (no database: static key sets and revocation lists)."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from shared.identity import OrgRole, Principal, PrincipalKind, Scope, StaffRole
from shared.identity import tokens as t
from shared.problems import Unauthenticated

ISS = "https://registry.example.org"
ORG = uuid.UUID("5b827d98-273e-4055-80bd-54cff9735638")


@pytest.fixture(scope="module")
def key() -> RSAKey:
    return t.generate_signing_key()


@pytest.fixture
def verifier(key) -> t.TokenVerifier:
    return t.TokenVerifier(t.StaticKeySet([t.public_jwk(key)]), ISS)


def _user(**kw) -> Principal:
    return Principal(PrincipalKind.USER, subject=str(uuid.uuid4()),
                     memberships={ORG: OrgRole.ADMIN},
                     staff_roles=frozenset({StaffRole.REVIEWER}), email="a@ngo.test",
                     locale="zh", **kw)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_token_round_trips_into_the_same_principal(key, verifier):
    person = _user(scopes=frozenset({Scope.INITIATIVES_READ, Scope.REVIEW}))
    token, claims = t.issue_token(person, key, issuer_url=ISS, expires_in=60)
    header = jwt.decode(token, key).header
    assert header == {"alg": "RS256", "kid": key.kid, "typ": "at+jwt"}
    assert claims["aud"] == "partnership-registry" and claims["iss"] == ISS
    assert claims["orgs"] == {str(ORG): "admin"} and claims["staff"] == ["reviewer"]
    assert claims["scope"] == "initiatives:read review"
    assert claims["exp"] - claims["iat"] == 60 and claims["nbf"] == claims["iat"]
    got = verifier.verify(token)
    assert got.kind is PrincipalKind.USER and got.subject == person.subject
    assert got.memberships == {ORG: OrgRole.ADMIN} and got.is_admin_of(ORG)
    assert got.staff_roles == {StaffRole.REVIEWER}
    assert got.scopes == {Scope.INITIATIVES_READ, Scope.REVIEW}
    assert got.token_id == claims["jti"] and got.email == "a@ngo.test" and got.locale == "zh"


def test_an_unlimited_principal_gets_every_scope_and_a_client_its_client_id(key, verifier):
    token, _ = t.issue_token(_user(), key, issuer_url=ISS, expires_in=60)
    assert verifier.verify(token).scopes == frozenset(Scope)
    client = Principal(PrincipalKind.CLIENT, subject="cli_abc", client_id="cli_abc",
                       memberships={ORG: OrgRole.MEMBER},
                       scopes=frozenset({Scope.INITIATIVES_WRITE}))
    got = verifier.verify(t.issue_token(client, key, issuer_url=ISS, expires_in=60)[0])
    assert got.kind is PrincipalKind.CLIENT and got.client_id == "cli_abc"
    assert got.has_scope(Scope.INITIATIVES_WRITE) and not got.has_scope(Scope.REVIEW)


def test_anonymous_and_system_get_no_token(key):
    from shared.identity import ANONYMOUS, SYSTEM

    for who in (ANONYMOUS, SYSTEM):
        with pytest.raises(ValueError):
            t.issue_token(who, key, issuer_url=ISS, expires_in=60)


@pytest.mark.parametrize("alg", ["none", "HS256", "RS512", "ES256", "PS256"])
def test_any_algorithm_but_rs256_is_refused(key, verifier, alg):
    token, claims = t.issue_token(_user(), key, issuer_url=ISS, expires_in=60)
    _h, payload, signature = token.split(".")
    forged = f"{_b64({'alg': alg, 'kid': key.kid, 'typ': 'at+jwt'})}.{payload}."
    with pytest.raises(Unauthenticated):
        verifier.verify(forged)
    with pytest.raises(Unauthenticated):
        verifier.verify(f"{_b64({'alg': alg, 'kid': key.kid})}.{payload}.{signature}")


def test_hs256_signed_with_the_public_key_as_secret_is_refused(key, verifier):
    # the classic key-confusion attack: HMAC keyed with the published public key
    _, claims = t.issue_token(_user(), key, issuer_url=ISS, expires_in=60)
    secret = OctKey.import_key(json.dumps(t.public_jwk(key)).encode())
    forged = jwt.encode({"alg": "HS256", "kid": key.kid}, claims, secret)
    with pytest.raises(Unauthenticated, match="invalid|algorithm"):
        verifier.verify(forged)


def test_a_foreign_key_with_the_same_kid_is_refused(key, verifier):
    foreign = RSAKey.import_key(t.generate_signing_key().as_dict(private=True) | {"kid": key.kid})
    token, _ = t.issue_token(_user(), foreign, issuer_url=ISS, expires_in=60)
    with pytest.raises(Unauthenticated, match="bad_signature"):
        verifier.verify(token)


def test_an_unknown_kid_is_refused(verifier):
    other = t.generate_signing_key()
    token, _ = t.issue_token(_user(), other, issuer_url=ISS, expires_in=60)
    with pytest.raises(Unauthenticated, match="unknown key"):
        verifier.verify(token)


def test_expired_not_yet_valid_wrong_issuer_and_audience_are_refused(key, verifier):
    now = int(time.time())
    expired, _ = t.issue_token(_user(), key, issuer_url=ISS, expires_in=60, now=now - 120)
    with pytest.raises(Unauthenticated, match="expired"):
        verifier.verify(expired)
    future, _ = t.issue_token(_user(), key, issuer_url=ISS, expires_in=600, now=now + 300)
    with pytest.raises(Unauthenticated, match="not valid yet"):
        verifier.verify(future)
    other_iss, _ = t.issue_token(_user(), key, issuer_url="https://evil.test", expires_in=60)
    with pytest.raises(Unauthenticated, match="another issuer"):
        verifier.verify(other_iss)
    _, claims = t.issue_token(_user(), key, issuer_url=ISS, expires_in=60)
    with pytest.raises(Unauthenticated, match="another audience"):
        verifier.verify(t.sign(claims | {"aud": "someone-else"}, key))
    for missing in ("jti", "exp", "kind", "scope", "sub"):
        stripped = {k: v for k, v in claims.items() if k != missing}
        with pytest.raises(Unauthenticated, match=missing):
            verifier.verify(t.sign(stripped, key))


def test_a_leeway_of_30_seconds_tolerates_clock_skew(key, verifier):
    now = int(time.time())
    token, _ = t.issue_token(_user(), key, issuer_url=ISS, expires_in=60, now=now - 80)
    assert verifier.verify(token).kind is PrincipalKind.USER  # expired 20 s ago: within leeway


def test_malformed_claims_and_tokens_are_401_never_500(key, verifier):
    _, claims = t.issue_token(_user(), key, issuer_url=ISS, expires_in=60)
    for bad in ({"kind": "system"}, {"kind": "root"}, {"orgs": {"not-a-uuid": "admin"}},
                {"orgs": {str(ORG): "owner"}}, {"staff": ["god"]}, {"orgs": []},
                {"exp": "tomorrow"}, {"exp": True}, {"email": 5}, {"jti": 7}):
        with pytest.raises(Unauthenticated):
            verifier.verify(t.sign(claims | bad, key))
    for junk in ("", "a.b", "a.b.c", "x" * 9000, "..", "é.é.é", f"{_b64({'alg': 'RS256'})}.e30."):
        with pytest.raises(Unauthenticated):
            verifier.verify(junk)


def test_a_revoked_jti_is_refused(key):
    token, claims = t.issue_token(_user(), key, issuer_url=ISS, expires_in=60)
    revoked: set[str] = set()
    verifier = t.TokenVerifier(t.StaticKeySet([t.public_jwk(key)]), ISS,
                               revocations=t.CachedRevocations(lambda: revoked, ttl=0))
    assert verifier.verify(token)
    revoked.add(claims["jti"])
    with pytest.raises(Unauthenticated, match="revoked"):
        verifier.verify(token)


def test_cached_revocations_are_read_again_after_ttl_and_local_ones_apply_at_once(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(t, "clock", lambda: now[0])
    table = {"a"}
    loads = []
    cache = t.CachedRevocations(lambda: loads.append(1) or set(table), ttl=2)
    assert cache.is_revoked("a") and not cache.is_revoked("b")
    table.add("b")
    now[0] += 1.9
    assert not cache.is_revoked("b") and len(loads) == 1
    now[0] += 0.1
    assert cache.is_revoked("b") and len(loads) == 2
    cache.add("c")
    assert cache.is_revoked("c") and len(loads) == 2


def test_cached_keyset_reloads_for_an_unknown_kid_at_most_twice_a_second(key, monkeypatch):
    now = [100.0]
    monkeypatch.setattr(t, "clock", lambda: now[0])
    published: list[dict] = []
    loads = []
    keyset = t.CachedKeySet(lambda: loads.append(1) or list(published), ttl=60)
    assert keyset.key(key.kid) is None and len(loads) == 1
    published.append(t.public_jwk(key))
    assert keyset.key(key.kid) is None  # asked again at once: no reload storm
    now[0] += 0.5
    assert keyset.key(key.kid) is not None and len(loads) == 2
    assert keyset.key("garbage") is None and len(loads) == 2


@pytest.mark.parametrize("change,reason", [
    ({"kty": "EC"}, "kty"), ({"alg": "HS256"}, "alg"), ({"use": "enc"}, "use"),
    ({"d": "AAAA"}, "private"), ({"kid": "bad kid!"}, "kid"), ({"kid": None}, "kid"),
    ({"e": "Aw"}, "exponent"), ({"n": "AQAB"}, "bits|RSA"), ({"n": "!!"}, "RSA"),
])
def test_validate_public_jwk_refuses_what_is_not_a_safe_rsa_signing_key(key, change, reason):
    jwk = t.public_jwk(key) | change
    with pytest.raises(t.InvalidKey, match=reason):
        t.validate_public_jwk(jwk)


def test_validate_public_jwk_refuses_small_keys_and_accepts_ours(key):
    from cryptography.hazmat.primitives.asymmetric import rsa

    small = rsa.generate_private_key(65537, 1024)  # noqa: S505 - the weak key refused
    numbers = small.public_key().public_numbers()
    n = base64.urlsafe_b64encode(numbers.n.to_bytes(128, "big")).rstrip(b"=").decode()
    jwk = t.public_jwk(key) | {"n": n, "kid": "small"}
    with pytest.raises(t.InvalidKey, match="1024 bits"):
        t.validate_public_jwk(jwk)
    assert t.validate_public_jwk(t.public_jwk(key)) == t.public_jwk(key)
    with pytest.raises(t.InvalidKey):
        t.validate_public_jwk(["not", "a", "dict"])


def test_bearer_header_parsing():
    assert t.bearer_token(None) is None and t.bearer_token("") is None
    assert t.bearer_token("Bearer abc") == "abc" and t.bearer_token("bearer  abc ") == "abc"
    for bad in ("Basic abc", "Bearer", "Bearer   ", "Token abc"):
        with pytest.raises(Unauthenticated):
            t.bearer_token(bad)


def test_a_remembered_token_is_refused_as_soon_as_a_fresh_check_would_refuse_it(key,
                                                                                 monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(t, "clock", lambda: now[0])
    published = [t.public_jwk(key)]
    revoked: set[str] = set()
    clock = [time.time()]
    verifier = t.TokenVerifier(t.CachedKeySet(lambda: list(published), ttl=0), ISS,
                               revocations=t.CachedRevocations(lambda: set(revoked), ttl=0),
                               now=lambda: clock[0])
    token, claims = t.issue_token(_user(), key, issuer_url=ISS, expires_in=60,
                                  now=int(clock[0]))
    first = verifier.verify(token)
    assert verifier.verify(token) is first and token in verifier.remembered  # no 2nd check
    # a forged token (same claims, other key with our kid) is not the remembered string
    foreign = RSAKey.import_key(t.generate_signing_key().as_dict(private=True) | {"kid": key.kid})
    with pytest.raises(Unauthenticated, match="bad_signature"):
        verifier.verify(t.sign(claims, foreign))
    revoked.add(claims["jti"])
    with pytest.raises(Unauthenticated, match="revoked"):
        verifier.verify(token)
    revoked.clear()
    assert verifier.verify(token) is first
    published.clear()  # the key retired
    with pytest.raises(Unauthenticated, match="unknown key"):
        verifier.verify(token)
    published.append(t.public_jwk(key))
    verifier.verify(token)
    clock[0] += 60 + t.LEEWAY_SECONDS  # expired
    with pytest.raises(Unauthenticated, match="expired"):
        verifier.verify(token)
    assert token not in verifier.remembered
