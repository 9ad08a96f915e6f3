"""Accounts: sign-up, e-mail verification, sign-in and server-side sessions, sign-out,
password reset and change, the account's own settings, secretariat staff roles, and the
verification of initiatives' contact addresses.

Every function takes a keyword-only ``db_session`` and leaves the commit to the caller (view,
page, CLI), so the change, its audit row and its outbox event land together. Rules and their
sources:

- passwords: :mod:`registry.accounts.passwords` (ASVS 5.0 V6.2, argon2id);
- no account enumeration: sign-in answers one generic error whatever failed; sign-up of a
  taken address and a reset for an unknown one answer like a success (ASVS 5.0 V6.3.8);
- lockout: ``SIGNIN_LOCKOUT_THRESHOLD`` consecutive failures lock the account for
  ``SIGNIN_LOCKOUT_MINUTES`` (ASVS 5.0 V6.3.1); rate limits per address and per e-mail come on
  top (``registry.ratelimits``);
- sessions: random 256-bit id in the cookie, SHA-256 digest stored, a new id at every sign-in
  (no fixation), idle and absolute timeouts, all sessions ended by a password reset, the
  others by a password change (ASVS 5.0 V7; OWASP Session Management Cheat Sheet);
- one-time links: random 256-bit token, SHA-256 digest stored, single use (redeemed by one
  conditional UPDATE), expiring (``VERIFY_LINK_HOURS``, ``RESET_LINK_MINUTES``); a newer link
  of the same purpose and address supersedes older ones.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from registry.accounts import passwords
from registry.accounts.models import (
    LOCALES,
    AccountToken,
    User,
    UserStaffRole,
    VerifiedContactEmail,
    WebSession,
)
from registry.audit.service import AuditEvent, Outcome, record
from registry.outbox.models import OutboxEvent
from shared.config import number, public_base_url
from shared.db import utcnow
from shared.events.types import (
    ACCOUNT_EMAIL_VERIFICATION_REQUESTED,
    ACCOUNT_PASSWORD_RESET_REQUESTED,
    CONTACT_EMAIL_VERIFICATION_REQUESTED,
)
from shared.identity import SYSTEM, OrgRole, Principal, PrincipalKind, StaffRole
from shared.outbox import record_event
from shared.problems import (
    Conflict,
    DomainError,
    NotFound,
    Unauthenticated,
    ValidationError,
)

SOURCE = "/registry"

PURPOSE_VERIFY_EMAIL = "verify_email"
PURPOSE_RESET_PASSWORD = "reset_password"  # noqa: S105 (a name, not a password)
PURPOSE_VERIFY_CONTACT = "verify_contact"

#: paths of the pages the one-time links open (``PUBLIC_BASE_URL`` + path + token)
LINK_PATHS = {
    PURPOSE_VERIFY_EMAIL: "/account/verify/",
    PURPOSE_RESET_PASSWORD: "/account/reset/",
    PURPOSE_VERIFY_CONTACT: "/contact/verify/",
}

#: last_seen_at is written at most this often per session (one UPDATE a minute, not one per
#: request); the idle timeout is therefore exact to within this many seconds
SESSION_TOUCH_SECONDS = 60


class SignInFailed(Unauthenticated):
    """Sign-in refused (401). One message whatever the cause (unknown e-mail, wrong
    password, locked or disabled account), so the answer tells nobody which accounts exist."""

    slug, title = "sign-in-failed", "Sign-in failed"

    def __init__(self) -> None:
        super().__init__("The e-mail address or the password is wrong, or the account is "
                         "temporarily locked after repeated failures.")


class InvalidLink(DomainError):
    """A one-time link that is unknown, used, superseded or expired (400)."""

    status, slug, title = 400, "invalid-link", "Invalid or expired link"

    def __init__(self) -> None:
        super().__init__("This link is invalid, was already used or has expired; ask for a "
                         "new one.")


# -- helpers ---------------------------------------------------------------------------------

def normalize_email(email: str) -> str:
    """An e-mail address as stored and compared: trimmed, lower-case (one account per
    address whatever its case)."""
    return (email or "").strip().lower()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _field_error(field: str, code: str, message: str) -> ValidationError:
    """A 422 naming ``field``; ``code`` lets pages show the message in their language."""
    return ValidationError(message, errors=[{"field": field, "code": code, "message": message}])


def _check_email(email: str) -> str:
    normalized = normalize_email(email)
    local, _, domain = normalized.partition("@")
    if (not local or "." not in domain or len(normalized) > 320 or domain.startswith(".")
            or domain.endswith(".") or any(c.isspace() for c in normalized)):
        raise _field_error("email", "invalid", "Enter a valid e-mail address.")
    return normalized


def _check_locale(locale: str | None) -> str:
    if locale is None:
        return "en"
    if locale not in LOCALES:
        raise _field_error("locale", "unknown", f"Choose one of {', '.join(LOCALES)}.")
    return locale


def _check_password(password: str, email: str | None) -> None:
    problems = passwords.password_problems(password or "", email=email)
    if problems:
        raise ValidationError(problems[0][1], errors=[
            {"field": "password", "code": code, "message": m} for code, m in problems])


def base_url() -> str:
    """The base of links in e-mails, without a trailing slash: the app's ``PUBLIC_BASE_URL``
    (the embedded mode sets the port it serves), else the setting, else the address and port
    served (``shared.config.public_base_url``)."""
    from flask import current_app, has_app_context

    if has_app_context() and current_app.config.get("PUBLIC_BASE_URL"):
        return str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/")
    return public_base_url()


def link_for(purpose: str, token: str) -> str:
    """The absolute one-time link of ``purpose`` for ``token``."""
    return f"{base_url()}{LINK_PATHS[purpose]}{token}"


def _minutes(name: str) -> timedelta:
    return timedelta(minutes=number(name))


# -- users -----------------------------------------------------------------------------------

def get_user(*, db_session: Session, user_id: uuid.UUID) -> User:
    """The user with ``user_id``; raises :class:`NotFound`."""
    user = db_session.get(User, user_id)
    if user is None:
        raise NotFound("No such account.")
    return user


def find_user_by_email(*, db_session: Session, email: str) -> User | None:
    """The user whose address is ``email`` (any case), or None."""
    return db_session.scalar(select(User).where(User.email == normalize_email(email)))


def memberships_of_user(*, db_session: Session, user_id: uuid.UUID) -> dict[uuid.UUID, OrgRole]:
    """The organisations ``user_id`` belongs to and the role in each (the organisations
    domain's ``memberships_of``: one statement)."""
    from registry.organizations.service import memberships_of

    return dict(memberships_of(db_session=db_session, user_id=user_id))


def principal_for(*, db_session: Session, user: User) -> Principal:
    """The :class:`Principal` of a signed-in person: kind ``user``, subject the user id, the
    e-mail only once verified (``None`` before: nothing may trust an unproven address), the
    locale, staff roles and organisation memberships; no scope limit (``scopes=None``)."""
    return Principal(
        kind=PrincipalKind.USER, subject=str(user.id),
        email=user.email if user.email_verified_at is not None else None, locale=user.locale,
        staff_roles=frozenset(StaffRole(r) for r in user.staff_roles
                              if r in StaffRole._value2member_map_),
        memberships=memberships_of_user(db_session=db_session, user_id=user.id))


def sign_up(*, db_session: Session, email: str, password: str, display_name: str = "",
            locale: str | None = "en", ip: str | None = None) -> User | None:
    """Create an account and send it a verification link (event
    ``account.email-verification-requested.v1``).

    Raises :class:`ValidationError` (422, per field) for a bad address, locale or password
    (8–128 characters, not a common password: ASVS 5.0 V6.2). An address that already has an
    account is not revealed: nothing is created, the existing account gets a sign-in
    reminder only if unverified (a fresh verification link), and the call returns None, so
    the answer looks the same as a success.
    """
    normalized = _check_email(email)
    locale = _check_locale(locale)
    _check_password(password, normalized)
    existing = find_user_by_email(db_session=db_session, email=normalized)
    if existing is not None:
        passwords.hash_password(password)  # same cost as a real sign-up
        if existing.email_verified_at is None and existing.disabled_at is None:
            request_email_verification(db_session=db_session, user=existing, reason="resend")
        record(db_session=db_session, event=AuditEvent.SIGNED_UP, outcome=Outcome.FAILURE,
               subject=existing.id, ip=ip, detail={"reason": "address_taken"})
        return None
    user = User(id=uuid.uuid4(), email=normalized, password_hash=passwords.hash_password(password),
                display_name=(display_name or "").strip()[:200], locale=locale,
                failed_sign_ins=0, password_changed_at=utcnow())
    db_session.add(user)
    db_session.flush()
    request_email_verification(db_session=db_session, user=user, reason="sign_up")
    record(db_session=db_session, event=AuditEvent.SIGNED_UP, subject=user.id, ip=ip,
           actor_email=user.email)
    return user


def update_account(*, db_session: Session, user: User, display_name: str | None = None,
                   locale: str | None = None) -> User:
    """Change the account's display name (trimmed, ≤ 200 characters) and/or language (one
    of ``LOCALES``); raises :class:`ValidationError` for an unknown locale."""
    changed: dict[str, Any] = {}
    if display_name is not None and display_name.strip() != user.display_name:
        user.display_name = display_name.strip()[:200]
        changed["display_name"] = True
    if locale is not None and locale != user.locale:
        user.locale = _check_locale(locale)
        changed["locale"] = user.locale
    if changed:
        record(db_session=db_session, event=AuditEvent.ACCOUNT_UPDATED,
               principal=principal_for(db_session=db_session, user=user), subject=user.id,
               detail=changed)
    return user


# -- one-time links --------------------------------------------------------------------------

def _issue_link(db_session: Session, *, purpose: str, email: str, user_id: uuid.UUID | None,
                ttl: timedelta) -> tuple[str, AccountToken]:
    """A new one-time token (plain, shown once; stored row). Older unused tokens of the same
    purpose and address are marked used (superseded)."""
    now = utcnow()
    db_session.execute(update(AccountToken).where(
        AccountToken.purpose == purpose, AccountToken.email == email,
        AccountToken.used_at.is_(None)).values(used_at=now))
    plain = secrets.token_urlsafe(32)
    row = AccountToken(id=uuid.uuid4(), token_hash=_hash(plain), purpose=purpose,
                       user_id=user_id, email=email, created_at=now, expires_at=now + ttl)
    db_session.add(row)
    return plain, row


def _peek_link(db_session: Session, token: str, purpose: str) -> AccountToken:
    """The valid (unused, unexpired) token row of ``purpose``; raises :class:`InvalidLink`."""
    row = db_session.scalar(select(AccountToken).where(
        AccountToken.token_hash == _hash(token or ""), AccountToken.purpose == purpose))
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise InvalidLink()
    return row


def _redeem_link(db_session: Session, token: str, purpose: str) -> AccountToken:
    """Mark the token used, atomically (one conditional UPDATE: of two concurrent redemptions
    only one succeeds); raises :class:`InvalidLink`."""
    now = utcnow()
    result = db_session.execute(update(AccountToken).where(
        AccountToken.token_hash == _hash(token or ""), AccountToken.purpose == purpose,
        AccountToken.used_at.is_(None), AccountToken.expires_at > now).values(used_at=now)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidLink()
    row = db_session.scalar(select(AccountToken).where(
        AccountToken.token_hash == _hash(token)))
    if row is None:  # deleted meanwhile (its account was removed)
        raise InvalidLink()
    db_session.refresh(row)
    return row


def check_link(*, db_session: Session, token: str, purpose: str) -> AccountToken:
    """The link's row while it is still usable (pages show the form only then); raises
    :class:`InvalidLink`."""
    return _peek_link(db_session, token, purpose)


def _mail_event(db_session: Session, type_: str, *, recipient: str, locale: str, link: str,
                expires_at: datetime, user: User | None, reason: str) -> None:
    record_event(db_session, OutboxEvent, type_, source=SOURCE,
                 subject=str(user.id) if user is not None else recipient,
                 data={"recipient": recipient, "locale": locale if locale in LOCALES else "en",
                       "link": link, "expires_at": expires_at,
                       "display_name": user.display_name if user is not None else "",
                       "user_id": str(user.id) if user is not None else None,
                       "reason": reason})


# -- e-mail verification ---------------------------------------------------------------------

def request_email_verification(*, db_session: Session, user: User,
                               reason: str = "resend") -> bool:
    """Send ``user`` a new verification link (event ``account.email-verification-requested
    .v1``, valid ``VERIFY_LINK_HOURS``); False (nothing sent) when already verified or
    disabled."""
    if user.email_verified_at is not None or user.disabled_at is not None:
        return False
    plain, row = _issue_link(db_session, purpose=PURPOSE_VERIFY_EMAIL, email=user.email,
                             user_id=user.id, ttl=timedelta(hours=number("VERIFY_LINK_HOURS")))
    _mail_event(db_session, ACCOUNT_EMAIL_VERIFICATION_REQUESTED, recipient=user.email,
                locale=user.locale, link=link_for(PURPOSE_VERIFY_EMAIL, plain),
                expires_at=row.expires_at, user=user, reason=reason)
    record(db_session=db_session, event=AuditEvent.VERIFICATION_REQUESTED, subject=user.id,
           actor_email=user.email, detail={"reason": reason})
    return True


def verify_email(*, db_session: Session, token: str, ip: str | None = None) -> User:
    """Redeem a verification link: the account's address is verified (single use). Raises
    :class:`InvalidLink` (400) for an unknown, used, superseded or expired link, or one
    made for an address the account no longer has."""
    row = _redeem_link(db_session, token, PURPOSE_VERIFY_EMAIL)
    user = db_session.get(User, row.user_id) if row.user_id else None
    if user is None or user.email != row.email or user.disabled_at is not None:
        raise InvalidLink()
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    record(db_session=db_session, event=AuditEvent.EMAIL_VERIFIED, subject=user.id, ip=ip,
           actor_email=user.email)
    return user


# -- sign-in, sessions, sign-out -------------------------------------------------------------

@dataclass(frozen=True)
class SignedIn:
    """A successful sign-in: the cookie value (shown once), the session row and the user."""

    token: str
    session: WebSession
    user: User


def sign_in(*, db_session: Session, email: str, password: str, ip: str | None = None,
            user_agent: str | None = None) -> SignedIn:
    """Check the password and open a new session (a new random id: no fixation).

    Raises :class:`SignInFailed` (401, one generic message) for an unknown address, a wrong
    password, a locked or disabled account; the failure counter, the lockout and the audit
    row are flushed before raising: the caller commits them (``commit_failure=True``
    pattern in the views). ``SIGNIN_LOCKOUT_THRESHOLD`` consecutive failures lock the account
    ``SIGNIN_LOCKOUT_MINUTES``. A hash made with older argon2 parameters is replaced.
    """
    now = utcnow()
    user = find_user_by_email(db_session=db_session, email=email or "")
    if user is None:
        passwords.spend_verification_time(password or "")
        record(db_session=db_session, event=AuditEvent.SIGN_IN, outcome=Outcome.FAILURE,
               ip=ip, detail={"reason": "unknown_account"})
        db_session.flush()
        raise SignInFailed()
    if user.locked_until is not None and user.locked_until > now:
        passwords.spend_verification_time(password or "")
        record(db_session=db_session, event=AuditEvent.SIGN_IN, outcome=Outcome.FAILURE,
               subject=user.id, ip=ip, actor_email=user.email, detail={"reason": "locked"})
        db_session.flush()
        raise SignInFailed()
    matches, needs_rehash = passwords.verify_password(user.password_hash, password or "")
    if not matches or user.disabled_at is not None:
        reason = "disabled" if matches else "wrong_password"
        if not matches:
            user.failed_sign_ins = (user.failed_sign_ins or 0) + 1
        record(db_session=db_session, event=AuditEvent.SIGN_IN, outcome=Outcome.FAILURE,
               subject=user.id, ip=ip, actor_email=user.email,
               detail={"reason": reason, "consecutive_failures": user.failed_sign_ins})
        if user.failed_sign_ins >= number("SIGNIN_LOCKOUT_THRESHOLD"):
            user.locked_until = now + _minutes("SIGNIN_LOCKOUT_MINUTES")
            user.failed_sign_ins = 0
            record(db_session=db_session, event=AuditEvent.LOCKED, outcome=Outcome.FAILURE,
                   subject=user.id, ip=ip, actor_email=user.email,
                   detail={"until": user.locked_until})
        db_session.flush()
        raise SignInFailed()
    if needs_rehash:
        user.password_hash = passwords.hash_password(password)
    user.failed_sign_ins = 0
    user.locked_until = None
    user.last_sign_in_at = now
    token, session = start_session(db_session=db_session, user=user, ip=ip,
                                   user_agent=user_agent)
    record(db_session=db_session, event=AuditEvent.SIGN_IN, subject=user.id, ip=ip,
           principal=principal_for(db_session=db_session, user=user),
           detail={"session": str(session.id), "rehashed": needs_rehash})
    return SignedIn(token, session, user)


def start_session(*, db_session: Session, user: User, ip: str | None = None,
                  user_agent: str | None = None) -> tuple[str, WebSession]:
    """A new session for ``user``: ``(cookie value, row)``; absolute end
    ``SESSION_ABSOLUTE_HOURS`` from now."""
    now = utcnow()
    plain = secrets.token_urlsafe(32)
    row = WebSession(id=uuid.uuid4(), token_hash=_hash(plain), user_id=user.id, created_at=now,
                     last_seen_at=now,
                     expires_at=now + timedelta(hours=number("SESSION_ABSOLUTE_HOURS")),
                     ip=(ip or None) and ip[:45], user_agent=(user_agent or None)
                     and user_agent[:500])
    db_session.add(row)
    return plain, row


def resolve_session(*, db_session: Session, token: str | None,
                    now: datetime | None = None) -> tuple[WebSession, User] | None:
    """The live session and its user for a cookie value, or None (unknown, revoked, past its
    absolute end, idle longer than ``SESSION_IDLE_MINUTES``, or the account disabled). Moves
    ``last_seen_at`` (at most once every :data:`SESSION_TOUCH_SECONDS`)."""
    if not token or len(token) > 200:
        return None
    now = now or utcnow()
    row = db_session.execute(select(WebSession, User).join(User, User.id == WebSession.user_id)
                             .where(WebSession.token_hash == _hash(token))).first()
    if row is None:
        return None
    session, user = row
    if (session.revoked_at is not None or session.expires_at <= now
            or session.last_seen_at + _minutes("SESSION_IDLE_MINUTES") <= now
            or user.disabled_at is not None):
        return None
    if (now - session.last_seen_at).total_seconds() >= SESSION_TOUCH_SECONDS:
        session.last_seen_at = now
    return session, user


def sign_out(*, db_session: Session, token: str | None, ip: str | None = None) -> bool:
    """End the session of this cookie value; False when there was none."""
    if not token:
        return False
    session = db_session.scalar(select(WebSession).where(WebSession.token_hash == _hash(token)))
    if session is None or session.revoked_at is not None:
        return False
    session.revoked_at = utcnow()
    record(db_session=db_session, event=AuditEvent.SIGN_OUT, subject=session.user_id, ip=ip,
           detail={"session": str(session.id)})
    return True


def list_sessions(*, db_session: Session, user: User) -> list[WebSession]:
    """``user``'s live sessions, newest first (revoked and expired ones left out)."""
    now = utcnow()
    idle_since = now - _minutes("SESSION_IDLE_MINUTES")
    return list(db_session.scalars(select(WebSession).where(
        WebSession.user_id == user.id, WebSession.revoked_at.is_(None),
        WebSession.expires_at > now, WebSession.last_seen_at > idle_since)
        .order_by(WebSession.created_at.desc())).all())


def revoke_session(*, db_session: Session, user: User, session_id: uuid.UUID,
                   ip: str | None = None) -> None:
    """End one of ``user``'s sessions (e.g. a forgotten one on another computer); raises
    :class:`NotFound` for a session that is not theirs."""
    session = db_session.get(WebSession, session_id)
    if session is None or session.user_id != user.id:
        raise NotFound("No such session.")
    if session.revoked_at is None:
        session.revoked_at = utcnow()
        record(db_session=db_session, event=AuditEvent.SESSION_REVOKED, subject=user.id, ip=ip,
               principal=principal_for(db_session=db_session, user=user),
               detail={"session": str(session_id)})


def revoke_sessions(*, db_session: Session, user_id: uuid.UUID,
                    keep: uuid.UUID | None = None) -> int:
    """End every live session of ``user_id`` except ``keep``; returns how many."""
    conditions = [WebSession.user_id == user_id, WebSession.revoked_at.is_(None)]
    if keep is not None:
        conditions.append(WebSession.id != keep)
    result = db_session.execute(update(WebSession).where(*conditions).values(
        revoked_at=utcnow()).execution_options(synchronize_session="fetch"))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# -- passwords -------------------------------------------------------------------------------

def request_password_reset(*, db_session: Session, email: str, ip: str | None = None) -> None:
    """Send a reset link (event ``account.password-reset-requested.v1``, valid
    ``RESET_LINK_MINUTES``) when ``email`` has an enabled account; otherwise nothing, and the
    caller answers the same (no enumeration)."""
    user = find_user_by_email(db_session=db_session, email=email or "")
    if user is None or user.disabled_at is not None:
        record(db_session=db_session, event=AuditEvent.RESET_REQUESTED, outcome=Outcome.FAILURE,
               ip=ip, detail={"reason": "unknown_account" if user is None else "disabled"})
        return
    _send_reset_link(db_session, user, reason="reset", ttl=_minutes("RESET_LINK_MINUTES"))
    record(db_session=db_session, event=AuditEvent.RESET_REQUESTED, subject=user.id, ip=ip,
           actor_email=user.email)


def _send_reset_link(db_session: Session, user: User, *, reason: str,
                     ttl: timedelta, send: bool = True) -> str:
    plain, row = _issue_link(db_session, purpose=PURPOSE_RESET_PASSWORD, email=user.email,
                             user_id=user.id, ttl=ttl)
    link = link_for(PURPOSE_RESET_PASSWORD, plain)
    if send:
        _mail_event(db_session, ACCOUNT_PASSWORD_RESET_REQUESTED, recipient=user.email,
                    locale=user.locale, link=link, expires_at=row.expires_at, user=user,
                    reason=reason)
    return link


def reset_password(*, db_session: Session, token: str, password: str,
                   ip: str | None = None) -> User:
    """Set a new password with a reset link (single use).

    The password is checked first (a refused one leaves the link usable); then the link is
    redeemed, the lockout cleared, the address counted as verified (the link reached it) and
    every session of the account ended (ASVS 5.0 V7.4.3). Raises :class:`InvalidLink` (400)
    or :class:`ValidationError` (422, field ``password``).
    """
    peek = _peek_link(db_session, token, PURPOSE_RESET_PASSWORD)
    _check_password(password, peek.email)
    row = _redeem_link(db_session, token, PURPOSE_RESET_PASSWORD)
    user = db_session.get(User, row.user_id) if row.user_id else None
    if user is None or user.email != row.email or user.disabled_at is not None:
        raise InvalidLink()
    now = utcnow()
    user.password_hash = passwords.hash_password(password)
    user.password_changed_at = now
    user.failed_sign_ins = 0
    user.locked_until = None
    if user.email_verified_at is None:
        user.email_verified_at = now
    ended = revoke_sessions(db_session=db_session, user_id=user.id)
    record(db_session=db_session, event=AuditEvent.PASSWORD_RESET, subject=user.id, ip=ip,
           actor_email=user.email, detail={"sessions_ended": ended})
    return user


def change_password(*, db_session: Session, user: User, current_password: str,
                    new_password: str, keep_session: uuid.UUID | None = None,
                    ip: str | None = None) -> None:
    """Change the password of a signed-in person; their other sessions end (the current one,
    ``keep_session``, stays). Raises :class:`ValidationError` (422) for a wrong current
    password (field ``current_password``) or a refused new one (field ``password``)."""
    matches, _ = passwords.verify_password(user.password_hash, current_password or "")
    if not matches:
        record(db_session=db_session, event=AuditEvent.PASSWORD_CHANGED,
               outcome=Outcome.FAILURE, subject=user.id, ip=ip, actor_email=user.email,
               detail={"reason": "wrong_current_password"})
        raise _field_error("current_password", "wrong", "The current password is wrong.")
    _check_password(new_password, user.email)
    user.password_hash = passwords.hash_password(new_password)
    user.password_changed_at = utcnow()
    ended = revoke_sessions(db_session=db_session, user_id=user.id, keep=keep_session)
    record(db_session=db_session, event=AuditEvent.PASSWORD_CHANGED, subject=user.id, ip=ip,
           principal=principal_for(db_session=db_session, user=user),
           detail={"sessions_ended": ended})


# -- staff roles -----------------------------------------------------------------------------

def require_secretariat_admin(principal: Principal) -> None:
    """The permission table's ``manage_staff`` (secretariat admins, the system): 401 for
    anonymous, else 403 (``registry.authz.permissions``)."""
    from registry.authz.permissions import Action, Aggregate, authorize

    authorize(principal, Action.MANAGE_STAFF, None, Aggregate.STAFF, what="staff roles")


def _staff_role(role: str) -> StaffRole:
    try:
        return StaffRole(role)
    except ValueError:
        raise _field_error("role", "unknown", "Choose one of "
                           f"{', '.join(r.value for r in StaffRole)}.") from None


def grant_staff_role(*, db_session: Session, principal: Principal, user_id: uuid.UUID,
                     role: str, ip: str | None = None) -> User:
    """Give ``user_id`` the staff role ``role`` (``reviewer`` or ``secretariat_admin``).
    Secretariat admins and the system only (401/403); :class:`NotFound` for an unknown user;
    granting a role already held changes nothing."""
    require_secretariat_admin(principal)
    staff_role = _staff_role(role)
    user = get_user(db_session=db_session, user_id=user_id)
    if staff_role.value not in user.staff_roles:
        granted_by = (uuid.UUID(principal.subject)
                      if principal.kind is PrincipalKind.USER and principal.subject else None)
        user.staff_role_rows.append(UserStaffRole(user_id=user.id, role=staff_role.value,
                                                  granted_at=utcnow(), granted_by=granted_by))
        record(db_session=db_session, event=AuditEvent.STAFF_ROLE_GRANTED, principal=principal,
               subject=user.id, ip=ip, detail={"role": staff_role.value, "email": user.email})
    return user


def revoke_staff_role(*, db_session: Session, principal: Principal, user_id: uuid.UUID,
                      role: str, ip: str | None = None) -> User:
    """Take ``role`` from ``user_id``. Secretariat admins and the system only; raises
    :class:`Conflict` (409) when it would leave no secretariat admin."""
    require_secretariat_admin(principal)
    staff_role = _staff_role(role)
    user = get_user(db_session=db_session, user_id=user_id)
    held = [r for r in user.staff_role_rows if r.role == staff_role.value]
    if not held:
        return user
    if staff_role is StaffRole.SECRETARIAT_ADMIN:
        admins = db_session.scalar(select(func.count()).select_from(UserStaffRole).where(
            UserStaffRole.role == StaffRole.SECRETARIAT_ADMIN.value))
        if (admins or 0) <= 1:
            raise Conflict("This is the last secretariat admin; grant the role to someone "
                           "else first.")
    for row in held:
        user.staff_role_rows.remove(row)
    record(db_session=db_session, event=AuditEvent.STAFF_ROLE_REVOKED, principal=principal,
           subject=user.id, ip=ip, detail={"role": staff_role.value, "email": user.email})
    return user


def list_staff(*, db_session: Session, principal: Principal) -> list[User]:
    """Every user holding a staff role, by e-mail. Secretariat admins and the system only."""
    require_secretariat_admin(principal)
    return list(db_session.scalars(select(User).where(User.id.in_(
        select(UserStaffRole.user_id))).order_by(User.email)).all())


def set_disabled(*, db_session: Session, principal: Principal, user_id: uuid.UUID,
                 disabled: bool, ip: str | None = None) -> User:
    """Disable (or enable again) an account: a disabled account cannot sign in, its sessions
    end at once and its links stop working. Secretariat admins and the system only (401/403);
    :class:`NotFound` for an unknown user; :class:`Conflict` for disabling oneself."""
    require_secretariat_admin(principal)
    user = get_user(db_session=db_session, user_id=user_id)
    if disabled and principal.subject == str(user.id):
        raise Conflict("You cannot disable your own account.")
    if disabled and user.disabled_at is None:
        user.disabled_at = utcnow()
        ended = revoke_sessions(db_session=db_session, user_id=user.id)
        record(db_session=db_session, event=AuditEvent.ACCOUNT_DISABLED, principal=principal,
               subject=user.id, ip=ip, detail={"email": user.email, "sessions_ended": ended})
    elif not disabled and user.disabled_at is not None:
        user.disabled_at = None
        record(db_session=db_session, event=AuditEvent.ACCOUNT_ENABLED, principal=principal,
               subject=user.id, ip=ip, detail={"email": user.email})
    return user


@dataclass(frozen=True)
class AdminCreated:
    """What ``registry create-admin`` did: the user, whether it was new, and the link to set
    a password (only when the account has none yet)."""

    user: User
    created: bool
    set_password_link: str | None


def create_admin(*, db_session: Session, email: str, locale: str = "en") -> AdminCreated:
    """Make ``email`` a secretariat admin, creating the account if needed (operator command:
    acts as the system). A new account, or one without a password, gets a set-password link
    (valid ``VERIFY_LINK_HOURS``) that the command prints; following it also verifies the
    address. Raises :class:`ValidationError` for a malformed address."""
    normalized = _check_email(email)
    user = find_user_by_email(db_session=db_session, email=normalized)
    created = user is None
    if user is None:
        user = User(id=uuid.uuid4(), email=normalized, password_hash=None,
                    display_name="", locale=_check_locale(locale), failed_sign_ins=0)
        db_session.add(user)
        db_session.flush()
        record(db_session=db_session, event=AuditEvent.SIGNED_UP, principal=SYSTEM,
               subject=user.id, actor_email=None, detail={"by": "create-admin"})
    grant_staff_role(db_session=db_session, principal=SYSTEM, user_id=user.id,
                     role=StaffRole.SECRETARIAT_ADMIN.value)
    link = None
    if user.password_hash is None:
        link = _send_reset_link(db_session, user, reason="set_password", send=False,
                                ttl=timedelta(hours=number("VERIFY_LINK_HOURS")))
    return AdminCreated(user, created, link)


# -- contact e-mail verification -------------------------------------------------------------

def is_contact_verified(*, db_session: Session, email: str | None) -> bool:
    """True when the notifier may write to ``email`` as an initiative's contact: its holder
    followed a contact verification link, or it is the verified address of an account."""
    normalized = normalize_email(email or "")
    if not normalized:
        return False
    if db_session.get(VerifiedContactEmail, normalized) is not None:
        return True
    return db_session.scalar(select(User.id).where(
        User.email == normalized, User.email_verified_at.is_not(None))) is not None


def request_contact_verification(*, db_session: Session, email: str, locale: str = "en",
                                 principal: Principal | None = None) -> bool:
    """Ask the holder of a contact address to confirm it (event
    ``contact.email-verification-requested.v1``, link valid ``VERIFY_LINK_HOURS``).

    Sends nothing (False) when the address is already verified or a link sent to it is still
    valid: an address receives at most one verification e-mail per ``VERIFY_LINK_HOURS``
    however often partners name it (the attacker item of issue 7: no mail bombing through
    contact fields). The e-mail carries no text chosen by the partner.
    """
    normalized = normalize_email(email or "")
    if not normalized or "@" not in normalized:
        return False
    if is_contact_verified(db_session=db_session, email=normalized):
        return False
    pending = db_session.scalar(select(AccountToken.id).where(
        AccountToken.purpose == PURPOSE_VERIFY_CONTACT, AccountToken.email == normalized,
        AccountToken.used_at.is_(None), AccountToken.expires_at > utcnow()))
    if pending is not None:
        return False
    plain, row = _issue_link(db_session, purpose=PURPOSE_VERIFY_CONTACT, email=normalized,
                             user_id=None, ttl=timedelta(hours=number("VERIFY_LINK_HOURS")))
    _mail_event(db_session, CONTACT_EMAIL_VERIFICATION_REQUESTED, recipient=normalized,
                locale=locale, link=link_for(PURPOSE_VERIFY_CONTACT, plain),
                expires_at=row.expires_at, user=None, reason="contact")
    record(db_session=db_session, event=AuditEvent.CONTACT_VERIFICATION_REQUESTED,
           principal=principal, subject=normalized)
    return True


def verify_contact_email(*, db_session: Session, token: str, ip: str | None = None) -> str:
    """Redeem a contact verification link (single use); returns the verified address.
    Raises :class:`InvalidLink`."""
    row = _redeem_link(db_session, token, PURPOSE_VERIFY_CONTACT)
    if db_session.get(VerifiedContactEmail, row.email) is None:
        db_session.add(VerifiedContactEmail(email=row.email, verified_at=utcnow()))
    record(db_session=db_session, event=AuditEvent.CONTACT_VERIFIED, subject=row.email, ip=ip)
    return row.email


def vet_contact_email(*, db_session: Session, email: str | None,
                      principal: Principal | None = None, ask: bool = True) -> bool:
    """Whether the notifier may write to an initiative's contact address ``email`` (the
    ``contact_email_verified`` flag of initiative events). When it may not and ``ask`` is
    true, a verification link is sent to it (at most one per ``VERIFY_LINK_HOURS``, see
    :func:`request_contact_verification`), in the acting person's language. Imports pass
    ``ask=False``: a bulk import never mails the addresses it carries."""
    if not email:
        return False
    if is_contact_verified(db_session=db_session, email=email):
        return True
    if ask:
        locale = (principal.locale if principal is not None else None) or "en"
        request_contact_verification(db_session=db_session, email=email, locale=locale,
                                     principal=principal)
    return False
