"""People's accounts on PostgreSQL (issue 7): password policy, argon2id and its rehash,
verification and reset links (single use, expiry), sign-in without account enumeration,
lockout, sessions (no fixation, idle and absolute timeouts), the audit log (never a secret),
rate limits (429 + Retry-After), staff roles, ``registry create-admin``, contact addresses
that get mail only once verified, and the account e-mails through the notifier to a real SMTP
server in the recipient's language."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from shared.db import utcnow

PASSWORD = "correct horse battery staple"
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def accounts_db(create_pg_database) -> str:
    """One migrated PostgreSQL database for the module (tests use their own addresses)."""
    from shared import migrate

    url = create_pg_database("accounts")
    migrate.upgrade("registry", url)
    return url


@pytest.fixture
def reg(accounts_db, monkeypatch):
    """The registry on the module's database; rate limits high enough not to interfere."""
    from registry.app import create_app
    from registry.ratelimits import limiter

    monkeypatch.setenv("PUBLIC_BASE_URL", "https://registry.example")
    app = create_app({"DATABASE_URL": accounts_db, "TESTING": True,
                      "WTF_CSRF_ENABLED": False, "RATELIMIT_SIGNIN": "1000/minute",
                      "RATELIMIT_SIGNUP": "1000/minute", "RATELIMIT_RESET": "1000/minute"})
    limiter.reset()
    yield Accounts(app)
    app.extensions["db_engine"].dispose()


class Accounts:
    """The app, a test client and shortcuts through the API and the database."""

    def __init__(self, app):
        self.app = app
        self.client = app.test_client()

    def session(self):
        return self.app.extensions["db_session_factory"]()

    def email(self, label: str = "user") -> str:
        return f"{label}-{uuid.uuid4().hex[:10]}@example.org"

    def sign_up(self, email: str, password: str = PASSWORD, **extra: Any):
        return self.client.post("/api/v1/account/sign-up",
                                json={"email": email, "password": password, **extra})

    def sign_in(self, email: str, password: str = PASSWORD, client=None, **kw):
        return (client or self.client).post("/api/v1/account/sign-in",
                                            json={"email": email, "password": password}, **kw)

    def user(self, email: str):
        from registry.accounts.models import User

        with self.session() as s:
            return s.scalar(select(User).where(User.email == email.lower()))

    def events(self, type_suffix: str, recipient: str) -> list[dict]:
        """Outbox envelopes of one account e-mail type to ``recipient``, oldest first."""
        from registry.outbox.models import OutboxEvent

        with self.session() as s:
            rows = s.scalars(select(OutboxEvent).where(OutboxEvent.event_type.endswith(
                type_suffix)).order_by(OutboxEvent.seq)).all()
        return [r.envelope for r in rows if r.envelope["data"]["recipient"] == recipient]

    def link_token(self, type_suffix: str, recipient: str) -> str:
        """The token of the newest one-time link of that type sent to ``recipient``."""
        link = self.events(type_suffix, recipient)[-1]["data"]["link"]
        return link.rsplit("/", 1)[1]

    def verified_user(self, label: str = "user") -> str:
        """A signed-up account whose address is verified; returns the e-mail."""
        email = self.email(label)
        assert self.sign_up(email).status_code == 202
        token = self.link_token("email-verification-requested.v1", email)
        assert self.client.post("/api/v1/account/verify", json={"token": token}).status_code \
            == 200
        return email

    def audit(self, **filters: Any) -> list:
        from registry.audit.models import AuditEntry

        with self.session() as s:
            query = select(AuditEntry).order_by(AuditEntry.id)
            for key, value in filters.items():
                query = query.where(getattr(AuditEntry, key) == value)
            return list(s.scalars(query))


def _sid(client) -> str | None:
    with client.session_transaction() as cookie:
        return cookie.get("sid")


# -- password policy and hashing --------------------------------------------------------------
def test_password_policy_length_common_list_and_no_composition_rules():
    from registry.accounts.passwords import common_passwords, password_problems

    assert len(common_passwords()) == 30_000
    assert password_problems("short12")[0][0] == "too_short"           # 7 < 8
    assert password_problems("x" * 129)[0][0] == "too_long"            # ASVS: up to 128 allowed
    assert password_problems("x" * 128 + "") == []
    assert password_problems("baseball1")[0][0] == "common"            # on the shipped list
    assert password_problems("BaseBall1")[0][0] == "common"            # case-insensitively
    assert password_problems("alllowercaseletters") == []              # no composition rules
    assert password_problems("密码很长的一句话呢") == []                   # any characters count
    assert password_problems("me@example.org", email="Me@Example.org")[0][0] == "is_email"


def test_sign_up_refuses_a_weak_password_with_a_field_error(reg):
    resp = reg.sign_up(reg.email(), password="password1")
    assert resp.status_code == 422 and resp.mimetype == PROBLEM
    assert [e["field"] for e in resp.json["errors"]] == ["password"]
    assert resp.json["errors"][0]["code"] == "common"


def test_passwords_are_argon2id_and_rehashed_at_sign_in_when_parameters_change(reg):
    email = reg.email()
    assert reg.sign_up(email).status_code == 202
    stored = reg.user(email).password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert not PasswordHasher().check_needs_rehash(stored)  # argon2-cffi's defaults
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    from registry.accounts.models import User

    with reg.session() as s:
        s.execute(update(User).where(User.email == email).values(password_hash=weak))
        s.commit()
    assert reg.sign_in(email).status_code == 200
    rehashed = reg.user(email).password_hash
    assert rehashed != weak and not PasswordHasher().check_needs_rehash(rehashed)
    assert "m=65536" in rehashed
    assert reg.sign_in(email, client=reg.app.test_client()).status_code == 200  # still valid


# -- sign-up and verification -----------------------------------------------------------------
def test_sign_up_sends_a_verification_link_that_works_once(reg):
    email = reg.email("Ann").replace("ann", "Ann")
    resp = reg.sign_up(email, display_name="Ann", locale="zh")
    assert resp.status_code == 202
    user = reg.user(email)
    assert user.email == email.lower() and user.locale == "zh" and user.email_verified_at is None
    event = reg.events("email-verification-requested.v1", email.lower())[-1]
    assert event["data"]["locale"] == "zh" and event["subject"] == str(user.id)
    assert event["data"]["link"].startswith("https://registry.example/account/verify/")
    assert PASSWORD not in json.dumps(event)
    token = event["data"]["link"].rsplit("/", 1)[1]
    from registry.accounts.models import AccountToken

    with reg.session() as s:  # only the digest is stored
        assert s.scalar(select(AccountToken.token_hash).where(
            AccountToken.user_id == user.id)) != token
    first = reg.client.post("/api/v1/account/verify", json={"token": token})
    assert first.status_code == 200 and first.json["email_verified"] is True
    again = reg.client.post("/api/v1/account/verify", json={"token": token})
    assert again.status_code == 400 and again.json["type"].endswith("/invalid-link")


def test_verification_link_expires_and_a_newer_one_supersedes_it(reg):
    from registry.accounts.models import AccountToken

    email = reg.email()
    reg.sign_up(email)
    old = reg.link_token("email-verification-requested.v1", email)
    assert reg.sign_in(email).status_code == 200
    assert reg.client.post("/api/v1/account/verify/resend").status_code == 202
    new = reg.link_token("email-verification-requested.v1", email)
    assert new != old
    assert reg.client.post("/api/v1/account/verify", json={"token": old}).status_code == 400
    with reg.session() as s:
        s.execute(update(AccountToken).where(AccountToken.email == email).values(
            expires_at=utcnow() - timedelta(seconds=1)))
        s.commit()
    assert reg.client.post("/api/v1/account/verify", json={"token": new}).status_code == 400
    assert reg.user(email).email_verified_at is None


def test_sign_up_of_a_taken_address_answers_the_same_and_creates_nothing(reg):
    from registry.accounts.models import User

    email = reg.email()
    first = reg.sign_up(email)
    second = reg.sign_up(email.upper(), password="another long password")
    assert (first.status_code, first.json) == (second.status_code, second.json)
    with reg.session() as s:
        assert s.scalar(select(User.id).where(User.email == email)) is not None
        assert len(s.scalars(select(User).where(User.email == email)).all()) == 1
    assert reg.sign_in(email, "another long password").status_code == 401


# -- sign-in, lockout, sessions ----------------------------------------------------------------
def test_sign_in_failures_look_the_same_whatever_failed(reg):
    email = reg.verified_user()
    unknown = reg.sign_in(reg.email("nobody"))
    wrong = reg.sign_in(email, "not the password at all")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json["detail"] == wrong.json["detail"]
    assert unknown.headers["WWW-Authenticate"].startswith("Cookie realm=")
    assert reg.client.get("/api/v1/account").status_code == 401


def test_repeated_failures_lock_the_account_even_for_the_right_password(reg, monkeypatch):
    monkeypatch.setenv("SIGNIN_LOCKOUT_THRESHOLD", "3")
    email = reg.verified_user()
    for _ in range(3):
        assert reg.sign_in(email, "wrong password here").status_code == 401
    assert reg.sign_in(email).status_code == 401  # locked: the right password too
    user = reg.user(email)
    assert user.locked_until is not None and user.locked_until > utcnow()
    events = [(a.event, a.outcome) for a in reg.audit(subject=str(user.id))]
    assert ("account.locked", "failure") in events
    assert events.count(("account.sign_in", "failure")) == 4
    # a password reset ends the lockout
    reg.client.post("/api/v1/account/password-reset", json={"email": email})
    token = reg.link_token("password-reset-requested.v1", email)
    assert reg.client.post("/api/v1/account/password-reset/confirm", json={
        "token": token, "password": "a brand new passphrase"}).status_code == 204
    assert reg.sign_in(email, "a brand new passphrase").status_code == 200


def test_session_id_changes_at_sign_in_no_fixation(reg):
    email = reg.verified_user()
    client = reg.app.test_client()
    with client.session_transaction() as cookie:
        cookie["sid"] = "planted-by-an-attacker"
        cookie["csrf_token"] = "planted"
    assert client.get("/api/v1/account").status_code == 401  # an unknown id is nobody
    assert reg.sign_in(email, client=client).status_code == 200
    first = _sid(client)
    assert first and first != "planted-by-an-attacker"
    with client.session_transaction() as cookie:
        assert "csrf_token" not in cookie  # the whole cookie session was replaced
    assert client.get("/api/v1/account").json["email"] == email
    assert reg.sign_in(email, client=client).status_code == 200
    assert _sid(client) != first
    from registry.accounts.models import WebSession

    with reg.session() as s:  # only digests are stored
        hashes = set(s.scalars(select(WebSession.token_hash)))
    assert first not in hashes and _sid(client) not in hashes


def test_session_cookie_flags_locally_and_in_production(reg, accounts_db):
    from registry.app import create_app

    email = reg.verified_user()
    local = reg.sign_in(email)
    cookie = local.headers["Set-Cookie"]
    assert cookie.startswith("session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    prod = create_app({"DATABASE_URL": accounts_db, "ENVIRONMENT": "production",
                       "SECRET_KEY": "s" * 48, "RATELIMIT_SIGNIN": "1000/minute"})
    try:
        resp = reg.sign_in(email, client=prod.test_client())
        cookie = resp.headers["Set-Cookie"]
        assert cookie.startswith("__Host-session=") and "Secure" in cookie
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Domain" not in cookie
    finally:
        prod.extensions["db_engine"].dispose()


def test_idle_and_absolute_timeouts_end_the_session(reg, monkeypatch):
    from registry.accounts.models import WebSession
    from registry.accounts.service import _hash

    email = reg.verified_user()
    assert reg.sign_in(email).status_code == 200
    sid = _sid(reg.client)
    row = WebSession.token_hash == _hash(sid)

    def move(**values):
        with reg.session() as s:
            s.execute(update(WebSession).where(row).values(**values))
            s.commit()

    monkeypatch.setenv("SESSION_IDLE_MINUTES", "30")
    move(last_seen_at=utcnow() - timedelta(minutes=29))
    assert reg.client.get("/api/v1/account").status_code == 200  # and last_seen_at moves
    with reg.session() as s:
        seen = s.scalar(select(WebSession.last_seen_at).where(row))
    assert utcnow() - seen < timedelta(minutes=1)
    move(last_seen_at=utcnow() - timedelta(minutes=31))
    assert reg.client.get("/api/v1/account").status_code == 401  # idle
    assert _sid(reg.client) is None  # dropped from the cookie

    assert reg.sign_in(email).status_code == 200
    row = WebSession.token_hash == _hash(_sid(reg.client))
    move(expires_at=utcnow() - timedelta(seconds=1))  # absolute end, however active
    assert reg.client.get("/api/v1/account").status_code == 401


def test_sign_out_and_remote_session_sign_out(reg):
    email = reg.verified_user()
    laptop, phone = reg.app.test_client(), reg.app.test_client()
    reg.sign_in(email, client=laptop)
    reg.sign_in(email, client=phone, headers={"User-Agent": "Phone/1.0"})
    listed = laptop.get("/api/v1/account/sessions").json
    assert len(listed) == 2 and sum(s["current"] for s in listed) == 1
    other = next(s for s in listed if not s["current"])
    assert other["user_agent"] == "Phone/1.0"
    assert laptop.delete(f"/api/v1/account/sessions/{other['id']}").status_code == 204
    assert phone.get("/api/v1/account").status_code == 401
    assert laptop.post("/api/v1/account/sign-out").status_code == 204
    assert laptop.get("/api/v1/account").status_code == 401
    stranger = reg.app.test_client()
    reg.sign_in(reg.verified_user(), client=stranger)
    mine = [s["id"] for s in stranger.get("/api/v1/account/sessions").json]
    reg.sign_in(email, client=laptop)
    assert laptop.delete(f"/api/v1/account/sessions/{mine[0]}").status_code == 404


# -- reset and change password ------------------------------------------------------------------
def test_password_reset_link_is_single_use_expires_and_ends_every_session(reg):
    from registry.accounts.models import AccountToken

    email = reg.verified_user()
    other = reg.app.test_client()
    reg.sign_in(email, client=other)
    unknown = reg.client.post("/api/v1/account/password-reset", json={"email": reg.email()})
    known = reg.client.post("/api/v1/account/password-reset", json={"email": email})
    assert (unknown.status_code, unknown.json) == (known.status_code, known.json) \
        == (202, known.json)
    token = reg.link_token("password-reset-requested.v1", email)
    weak = reg.client.post("/api/v1/account/password-reset/confirm",
                           json={"token": token, "password": "123456789"})
    assert weak.status_code == 422  # and the link is still usable
    assert reg.client.post("/api/v1/account/password-reset/confirm", json={
        "token": token, "password": "the second passphrase"}).status_code == 204
    assert other.get("/api/v1/account").status_code == 401  # every session ended
    assert reg.client.post("/api/v1/account/password-reset/confirm", json={
        "token": token, "password": "a third passphrase"}).status_code == 400  # used
    assert reg.sign_in(email, "the second passphrase").status_code == 200
    reg.client.post("/api/v1/account/password-reset", json={"email": email})
    token = reg.link_token("password-reset-requested.v1", email)
    with reg.session() as s:
        s.execute(update(AccountToken).where(AccountToken.email == email).values(
            expires_at=utcnow() - timedelta(seconds=1)))
        s.commit()
    assert reg.client.post("/api/v1/account/password-reset/confirm", json={
        "token": token, "password": "a third passphrase"}).status_code == 400  # expired


def test_change_password_asks_the_current_one_and_ends_the_other_sessions(reg):
    email = reg.verified_user()
    other = reg.app.test_client()
    reg.sign_in(email)
    reg.sign_in(email, client=other)
    wrong = reg.client.post("/api/v1/account/password", json={
        "current_password": "not it at all", "password": "a new passphrase"})
    assert wrong.status_code == 422 and wrong.json["errors"][0]["field"] == "current_password"
    assert reg.client.post("/api/v1/account/password", json={
        "current_password": PASSWORD, "password": "a new passphrase"}).status_code == 204
    assert reg.client.get("/api/v1/account").status_code == 200  # this one stays
    assert other.get("/api/v1/account").status_code == 401


def test_account_name_and_language(reg):
    email = reg.verified_user()
    reg.sign_in(email)
    resp = reg.client.patch("/api/v1/account", json={"display_name": " Li Wei ", "locale": "zh"})
    assert resp.status_code == 200 and resp.json["display_name"] == "Li Wei"
    assert resp.json["locale"] == "zh"
    bad = reg.client.patch("/api/v1/account", json={"locale": "xx"})
    assert bad.status_code == 422
    page = reg.client.get("/account")  # the person's language applies to pages
    assert page.status_code == 200 and "您的账户" in page.get_data(as_text=True)


# -- audit log ----------------------------------------------------------------------------------
def test_audit_rows_say_who_when_where_and_never_hold_a_secret(reg):
    email = reg.verified_user()
    reg.sign_in(email, "wrong but long password", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    reg.sign_in(email)
    reg.client.post("/api/v1/account/password-reset", json={"email": email})
    token = reg.link_token("password-reset-requested.v1", email)
    reg.client.post("/api/v1/account/password-reset/confirm",
                    json={"token": token, "password": "a secret new passphrase"})
    user = reg.user(email)
    rows = reg.audit(subject=str(user.id))
    kinds = [(r.event, r.outcome) for r in rows]
    for expected in [("account.signed_up", "success"), ("account.email_verified", "success"),
                     ("account.sign_in", "failure"), ("account.sign_in", "success"),
                     ("account.password_reset_requested", "success"),
                     ("account.password_reset", "success")]:
        assert expected in kinds, (expected, kinds)
    failure = next(r for r in rows if (r.event, r.outcome) == ("account.sign_in", "failure"))
    assert failure.ip == "203.0.113.9" and failure.actor_email == email
    assert failure.occurred_at.utcoffset() == timedelta(0) and failure.request_id
    everything = json.dumps([[r.event, r.actor_email, r.subject, r.detail] for r in
                             reg.audit()], default=str)
    for secret in (PASSWORD, "wrong but long password", "a secret new passphrase", token,
                   "/account/reset/", "/account/verify/", "$argon2"):
        assert secret not in everything


def test_audit_api_is_for_secretariat_admins_with_filters(reg):
    from registry.accounts import service

    admin_email = reg.email("admin")
    with reg.app.app_context():
        from registry import db

        session = db.session()
        made = service.create_admin(db_session=session, email=admin_email)
        session.commit()
    token = made.set_password_link.rsplit("/", 1)[1]
    assert reg.client.post("/api/v1/account/password-reset/confirm", json={
        "token": token, "password": "admin passphrase here"}).status_code == 204
    member = reg.verified_user()
    assert reg.app.test_client().get("/api/v1/audit").status_code == 401
    plain = reg.app.test_client()
    reg.sign_in(member, client=plain)
    assert plain.get("/api/v1/audit").status_code == 403
    reg.sign_in(admin_email, "admin passphrase here")
    page = reg.client.get("/api/v1/audit", query_string={"event": "account.", "per_page": 5})
    assert page.status_code == 200 and len(page.json["items"]) == 5
    assert all(i["event"].startswith("account.") for i in page.json["items"])
    mine = reg.client.get("/api/v1/audit", query_string={"actor": admin_email,
                                                         "event": "account.sign_in"}).json
    assert mine["total"] >= 1 and mine["items"][0]["outcome"] == "success"
    assert reg.client.get("/api/v1/audit", query_string={"outcome": "nope"}).status_code == 422
    twice = reg.client.get("/api/v1/audit?event=account.&event=auth.")  # never one picked
    assert twice.status_code == 422, twice.get_json()
    assert "event" in str(twice.get_json()["errors"])


# -- rate limits --------------------------------------------------------------------------------
def test_sign_in_is_rate_limited_per_address_and_per_account_with_retry_after(reg):
    from registry.ratelimits import limiter

    reg.app.config["RATELIMIT_SIGNIN"] = "3/minute"
    limiter.reset()
    email = reg.email()
    for _ in range(3):
        assert reg.sign_in(email, environ_base={"REMOTE_ADDR": "198.51.100.1"}
                           ).status_code == 401
    limited = reg.sign_in(email, environ_base={"REMOTE_ADDR": "198.51.100.1"})
    assert limited.status_code == 429 and limited.mimetype == PROBLEM
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # the same account from another address: the per-account limit holds
    elsewhere = reg.sign_in(email, environ_base={"REMOTE_ADDR": "198.51.100.2"})
    assert elsewhere.status_code == 429
    # another account from a fresh address is not affected
    assert reg.sign_in(reg.email(), environ_base={"REMOTE_ADDR": "198.51.100.3"}
                       ).status_code == 401
    # the sign-in page shares the limit and answers a page
    page = reg.client.post("/account/sign-in", data={"email": email, "password": "x" * 9},
                           headers={"Accept": "text/html"},
                           environ_base={"REMOTE_ADDR": "198.51.100.1"})
    assert page.status_code == 429 and page.headers["Retry-After"]
    assert page.mimetype == "text/html"


def test_sign_up_and_reset_are_rate_limited(reg):
    from registry.ratelimits import limiter

    reg.app.config.update(RATELIMIT_SIGNUP="2/minute", RATELIMIT_RESET="2/minute")
    limiter.reset()
    statuses = [reg.client.post("/api/v1/account/sign-up", json={
        "email": reg.email(), "password": PASSWORD}, environ_base={"REMOTE_ADDR": "192.0.2.7"}
    ).status_code for _ in range(3)]
    assert statuses == [202, 202, 429]
    email = reg.email()
    statuses = [reg.client.post("/api/v1/account/password-reset", json={"email": email},
                                environ_base={"REMOTE_ADDR": f"192.0.2.{20 + i}"}).status_code
                for i in range(3)]
    assert statuses == [202, 202, 429]  # per e-mail, whatever the address


# -- staff roles and create-admin ---------------------------------------------------------------
def test_create_admin_command_then_grants_and_revocations(reg):
    from registry.cli import cli

    runner = reg.app.test_cli_runner()  # the commands run on this app (its database)
    admin = reg.email("boss")
    out = runner.invoke(cli, ["create-admin", "--email", admin])
    assert out.exit_code == 0, out.output
    assert "secretariat admin (created)" in out.output
    link = re.search(r"set a password at: (\S+)", out.output).group(1)
    token = link.rsplit("/", 1)[1]
    assert reg.client.post("/api/v1/account/password-reset/confirm", json={
        "token": token, "password": "boss passphrase ok"}).status_code == 204
    assert reg.user(admin).email_verified_at is not None  # the link reached the address
    again = runner.invoke(cli, ["create-admin", "--email", admin.upper()])
    assert "promoted" in again.output and "set a password" not in again.output

    reviewer = reg.verified_user("reviewer")
    reg.sign_in(admin, "boss passphrase ok")
    granted = reg.client.post("/api/v1/staff", json={"email": reviewer, "role": "reviewer"})
    assert granted.status_code == 200 and granted.json["staff_roles"] == ["reviewer"]
    rev_client = reg.app.test_client()
    reg.sign_in(reviewer, client=rev_client)
    assert rev_client.get("/api/v1/account").json["staff_roles"] == ["reviewer"]
    assert rev_client.post("/api/v1/staff", json={"email": admin, "role": "reviewer"}
                           ).status_code == 403
    listed = runner.invoke(cli, ["staff", "list"])
    assert reviewer in listed.output and admin in listed.output
    uid = granted.json["id"]
    assert reg.client.delete(f"/api/v1/staff/{uid}/roles/reviewer").status_code == 200
    assert rev_client.get("/api/v1/account").json["staff_roles"] == []
    audit = runner.invoke(cli, ["audit", "list", "--event", "staff_role.", "--json"])
    events = [json.loads(line) for line in audit.output.splitlines() if line.startswith("{")]
    assert {e["event"] for e in events} >= {"staff_role.granted", "staff_role.revoked"}
    assert any(e["actor_email"] == admin for e in events)


def test_the_last_secretariat_admin_cannot_be_revoked(reg):
    from registry.accounts import service
    from registry.accounts.models import UserStaffRole
    from shared.identity import SYSTEM

    with reg.session() as s:  # alone in this test's view of the table
        s.execute(UserStaffRole.__table__.delete().where(
            UserStaffRole.role == "secretariat_admin"))
        s.commit()
        made = service.create_admin(db_session=s, email=reg.email("only"))
        s.commit()
        with pytest.raises(service.Conflict):
            service.revoke_staff_role(db_session=s, principal=SYSTEM, user_id=made.user.id,
                                      role="secretariat_admin")


# -- contact addresses --------------------------------------------------------------------------
def _partner(reg) -> tuple[str, str]:
    from registry.auth.service import create_token
    from registry.organizations.models import Organization

    with reg.session() as s:
        org = Organization(name=f"Reef {uuid.uuid4().hex[:6]}",
                           normalized_name=f"reef {uuid.uuid4().hex}", stakeholder_group="ngo")
        s.add(org)
        s.flush()
        token, _ = create_token(db_session=s, role="partner", organization_id=org.id)
        s.commit()
        return token, str(org.id)


def _initiative_events(reg, initiative_id: str) -> list[dict]:
    from registry.outbox.models import OutboxEvent

    with reg.session() as s:
        rows = s.scalars(select(OutboxEvent).where(OutboxEvent.subject == initiative_id)
                         .order_by(OutboxEvent.seq)).all()
    return [r.envelope for r in rows]


def test_contact_address_gets_review_mail_only_once_verified(reg):
    token, org_id = _partner(reg)
    bearer = {"Authorization": f"Bearer {token}"}
    contact = reg.email("contact")
    body = {"title": "Reef restoration", "lead_organization_id": org_id,
            "contact_email": contact}
    first = reg.client.post("/api/v1/initiatives", json=body, headers=bearer)
    assert first.status_code == 201
    created = _initiative_events(reg, first.json["id"])[-1]
    assert created["data"]["initiative"]["contact_email_verified"] is False
    sent = reg.events("contact.email-verification-requested.v1", contact)
    assert len(sent) == 1
    assert "Reef restoration" not in json.dumps(sent[0])  # no partner text reaches the address
    # naming the address again does not mail it again while the link is valid
    second = reg.client.post("/api/v1/initiatives", json=body | {"title": "Another"},
                             headers=bearer)
    assert second.status_code == 201
    assert len(reg.events("contact.email-verification-requested.v1", contact)) == 1
    token_ = sent[0]["data"]["link"].rsplit("/", 1)[1]
    assert reg.client.get(f"/contact/verify/{token_}").status_code == 200  # GET changes nothing
    confirmed = reg.client.post("/api/v1/contact-emails/verify", json={"token": token_})
    assert confirmed.status_code == 200 and confirmed.json == {"email": contact}
    reg.client.patch(f"/api/v1/initiatives/{first.json['id']}",
                     json={"description": "Forty hectares."}, headers=bearer)
    updated = _initiative_events(reg, first.json["id"])[-1]
    assert updated["data"]["initiative"]["contact_email_verified"] is True


def test_a_verified_accounts_address_counts_as_a_verified_contact(reg):
    from registry.accounts.service import is_contact_verified

    email = reg.verified_user()
    unverified = reg.email()
    reg.sign_up(unverified)
    with reg.session() as s:
        assert is_contact_verified(db_session=s, email=email.upper())
        assert not is_contact_verified(db_session=s, email=unverified)


# -- e-mails through the notifier -----------------------------------------------------------------
def test_account_mails_reach_a_real_smtp_server_in_the_recipients_language(
        reg, create_pg_database, smtp_server):
    from notifier.app import build_consumer, build_delivery_worker
    from notifier.app import create_app as notifier_app
    from shared import migrate
    from shared.bus import Message
    from shared.events import event_to_message, topic_name
    from shared.events.types import TOPIC_ACCOUNTS

    email = reg.email("li")
    reg.sign_up(email, display_name="李伟", locale="zh")
    reg.client.post("/api/v1/account/password-reset", json={"email": email})
    envelopes = (reg.events("email-verification-requested.v1", email)
                 + reg.events("password-reset-requested.v1", email))
    url = create_pg_database("accounts_notifier")
    migrate.upgrade("notifier", url)
    app = notifier_app({"DATABASE_URL": url, "SMTP_URL": smtp_server.url,
                        "MAIL_FROM": "Registry <noreply@registry.example>",
                        "PUBLIC_BASE_URL": "https://registry.example"})
    try:
        consumer = build_consumer(app)
        for envelope in envelopes:
            key, headers, value = event_to_message(envelope)
            message = Message(topic=topic_name(TOPIC_ACCOUNTS), key=key, value=value,
                              headers=headers)
            consumer.handle(message)
            consumer.handle(message)  # redelivered: still one e-mail
        worker = build_delivery_worker(app)
        assert worker.run_once() + worker.run_once() >= 2
        mails = smtp_server.wait_for(2, timeout=30)
    finally:
        app.extensions["db_engine"].dispose()
    assert len(mails) == 2 and {m["To"] for m in mails} == {email}
    subjects = {m["Subject"] for m in mails}
    assert subjects == {"请确认您的电子邮件地址", "重置您的密码"}
    for mail, envelope in zip(sorted(mails, key=lambda m: m["Subject"]),
                              sorted(envelopes, key=lambda e: "重置" in str(e)), strict=False):
        text = mail.get_body(("plain",)).get_content()
        assert "李伟，您好" in text and "https://registry.example/account/" in text
        assert mail.get_body(("html",)) is not None
        del envelope


# -- pages --------------------------------------------------------------------------------------
def test_pages_sign_up_sign_in_and_account_in_chinese_with_csrf(reg, accounts_db):
    from registry.app import create_app

    app = create_app({"DATABASE_URL": accounts_db, "RATELIMIT_SIGNIN": "1000/minute",
                      "RATELIMIT_SIGNUP": "1000/minute"})
    client = app.test_client()
    try:
        page = client.get("/account/sign-up?lang=zh")
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and "注册账户" in html
        # e-mails default to the page's language (a Chinese page offers Chinese first)
        assert re.search(r'<option[^>]*selected[^>]*value="zh"|<option[^>]*value="zh"[^>]*'
                         r'selected', html)
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
        email = reg.email("page")
        without = client.post("/account/sign-up", data={"email": email, "password": PASSWORD})
        assert without.status_code == 400  # no CSRF token
        weak = client.post("/account/sign-up", data={"csrf_token": csrf, "email": email,
                                                     "password": "password1", "locale": "zh"})
        assert weak.status_code == 422 and "最常用的密码" in weak.get_data(as_text=True)
        done = client.post("/account/sign-up", data={"csrf_token": csrf, "email": email,
                                                     "password": PASSWORD, "locale": "zh"})
        assert done.status_code == 200 and "请查看您的收件箱" in done.get_data(as_text=True)
        token = reg.link_token("email-verification-requested.v1", email)
        shown = client.get(f"/account/verify/{token}")
        assert shown.status_code == 200 and reg.user(email).email_verified_at is None
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                         shown.get_data(as_text=True)).group(1)
        assert client.post(f"/account/verify/{token}", data={"csrf_token": csrf}
                           ).status_code == 303
        assert reg.user(email).email_verified_at is not None
        assert client.get(f"/account/verify/{token}").status_code == 400  # used
        failed = client.post("/account/sign-in", data={"csrf_token": csrf, "email": email,
                                                       "password": "not the password"})
        assert failed.status_code == 401 and "暂时锁定" in failed.get_data(as_text=True)
        signed = client.post("/account/sign-in?next=//evil.example/x",
                             data={"csrf_token": csrf, "email": email, "password": PASSWORD})
        assert signed.status_code == 303 and signed.headers["Location"] == "/account"
        account = client.get("/account").get_data(as_text=True)
        assert email in account and "您的登录位置" in account
    finally:
        app.extensions["db_engine"].dispose()


def test_authorization_denials_are_audited_with_the_signed_in_person(reg):
    token, org_id = _partner(reg)
    draft = reg.client.post("/api/v1/initiatives", json={
        "title": "Mangrove nursery", "lead_organization_id": org_id},
        headers={"Authorization": f"Bearer {token}"})
    assert draft.status_code == 201, draft.json
    email = reg.verified_user("outsider")
    outsider = reg.app.test_client()
    reg.sign_in(email, client=outsider)
    denied = outsider.post(f"/api/v1/initiatives/{draft.json['id']}/submit", json={})
    assert denied.status_code in (403, 404)
    rows = reg.audit(event="authorization.denied", subject=draft.json["id"])
    assert rows and rows[-1].outcome == "denied"
    assert rows[-1].actor_subject == str(reg.user(email).id)
    assert rows[-1].detail["status"] == denied.status_code


def test_client_address_behind_a_trusted_proxy(accounts_db):
    from registry.app import create_app

    def audited_ip(app, forwarded: str) -> str | None:
        client = app.test_client()
        client.post("/api/v1/account/sign-in", json={"email": f"{uuid.uuid4().hex}@x.org",
                                                     "password": "whatever it is"},
                    headers={"X-Forwarded-For": forwarded},
                    environ_base={"REMOTE_ADDR": "10.0.0.2"})
        from registry.audit.models import AuditEntry

        with app.extensions["db_session_factory"]() as s:
            return s.scalar(select(AuditEntry.ip).order_by(AuditEntry.id.desc()).limit(1))

    direct = create_app({"DATABASE_URL": accounts_db, "TRUSTED_PROXIES": 0})
    proxied = create_app({"DATABASE_URL": accounts_db, "TRUSTED_PROXIES": 1})
    try:
        assert audited_ip(direct, "203.0.113.50") == "10.0.0.2"  # a forged header is ignored
        assert audited_ip(proxied, "198.51.100.7, 203.0.113.50") == "203.0.113.50"
    finally:
        direct.extensions["db_engine"].dispose()
        proxied.extensions["db_engine"].dispose()


def test_account_page_forms_profile_password_sessions_and_sign_out(reg, accounts_db):
    from registry.app import create_app

    app = create_app({"DATABASE_URL": accounts_db, "RATELIMIT_SIGNIN": "1000/minute"})
    client, other = app.test_client(), app.test_client()
    csrf_re = r'name="(?:\w+-)?csrf_token" type="hidden" value="([^"]+)"'
    try:
        email = reg.verified_user("pages")
        reg.sign_in(email, client=other)
        login = client.get("/account/sign-in").get_data(as_text=True)
        csrf = re.search(csrf_re, login).group(1)
        client.post("/account/sign-in", data={"csrf_token": csrf, "email": email,
                                              "password": PASSWORD})
        page = client.get("/account").get_data(as_text=True)
        csrf = re.search(csrf_re, page).group(1)
        saved = client.post("/account/profile", data={
            "profile-csrf_token": csrf, "profile-display_name": "Amina",
            "profile-locale": "fr"})
        assert saved.status_code == 303 and reg.user(email).locale == "fr"
        wrong = client.post("/account/password", data={
            "password-csrf_token": csrf, "password-current_password": "nope nope nope",
            "password-password": "a fresh passphrase"}, headers={"Accept-Language": "en"},
            query_string={"lang": "en"})
        assert wrong.status_code == 422
        assert "The current password is wrong." in wrong.get_data(as_text=True)
        changed = client.post("/account/password", data={
            "password-csrf_token": csrf, "password-current_password": PASSWORD,
            "password-password": "a fresh passphrase"})
        assert changed.status_code == 303
        assert other.get("/api/v1/account").status_code == 401  # the other session ended
        assert client.get("/account").status_code == 200
        out = client.post("/account/sign-out", data={"csrf_token": csrf})
        assert out.status_code == 303
        assert client.get("/account").status_code == 302  # to the sign-in page
    finally:
        app.extensions["db_engine"].dispose()


@pytest.mark.parametrize("lang", ["en", "zh", "ar"])
def test_every_account_page_renders_in_each_language(reg, lang):
    pages = {"/account/sign-up": 200, "/account/sign-in": 200,
             "/account/forgot-password": 200, "/account/verify/not-a-real-token-at-all": 400,
             "/account/reset/not-a-real-token-at-all": 400,
             "/contact/verify/not-a-real-token-at-all": 400, "/account": 302}
    for path, status in pages.items():
        resp = reg.client.get(path, query_string={"lang": lang})
        assert resp.status_code == status, (path, resp.status_code)
        if status != 302:
            html = resp.get_data(as_text=True)
            assert f'lang="{"zh-Hans" if lang == "zh" else lang}"' in html
            assert 'dir="rtl"' in html if lang == "ar" else 'dir="ltr"' in html


def test_disabling_an_account_ends_its_sessions_and_sign_in(reg):
    from registry.cli import cli

    email = reg.verified_user("gone")
    reg.sign_in(email)
    runner = reg.app.test_cli_runner()
    out = runner.invoke(cli, ["users", "disable", "--email", email])
    assert out.exit_code == 0 and "disabled" in out.output
    assert reg.client.get("/api/v1/account").status_code == 401  # the session ended
    refused = reg.sign_in(email)
    assert refused.status_code == 401 and refused.json["title"] == "Sign-in failed"
    assert [a.event for a in reg.audit(subject=str(reg.user(email).id))][-2:] == [
        "account.disabled", "account.sign_in"]
    assert runner.invoke(cli, ["users", "enable", "--email", email]).exit_code == 0
    assert reg.sign_in(email).status_code == 200
