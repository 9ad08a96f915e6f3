"""Writing and reading the audit log.

What is recorded (OWASP ASVS 5.0 V16.3, OWASP Logging Cheat Sheet): authentication events
(sign-in success and failure, lockout, sign-out, password reset requested and done, password
changed, e-mail verified), staff role grants and revocations, authorization denials, OAuth
tokens issued and revoked, API clients created. Each row says who (principal kind, subject,
e-mail), when (UTC), from which address (the client IP as the WSGI server saw it) and the
request id; never a secret: :func:`record` drops any ``detail`` key that names a password,
token, secret, link or cookie, whatever its value.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.audit.models import AuditEntry
from shared.db import utcnow
from shared.identity import Principal, StaffRole
from shared.logs import request_id_var
from shared.problems import NotAllowed, Unauthenticated


class AuditEvent(StrEnum):
    """Names of audited events (stored as these strings)."""

    SIGNED_UP = "account.signed_up"
    SIGN_IN = "account.sign_in"                      # outcome success | failure
    LOCKED = "account.locked"
    SIGN_OUT = "account.sign_out"
    SESSION_REVOKED = "account.session_revoked"
    VERIFICATION_REQUESTED = "account.email_verification_requested"
    EMAIL_VERIFIED = "account.email_verified"
    RESET_REQUESTED = "account.password_reset_requested"
    PASSWORD_RESET = "account.password_reset"  # noqa: S105
    PASSWORD_CHANGED = "account.password_changed"  # noqa: S105
    ACCOUNT_UPDATED = "account.updated"
    STAFF_ROLE_GRANTED = "staff_role.granted"
    STAFF_ROLE_REVOKED = "staff_role.revoked"
    CONTACT_VERIFICATION_REQUESTED = "contact_email.verification_requested"
    CONTACT_VERIFIED = "contact_email.verified"
    AUTHORIZATION_DENIED = "authorization.denied"    # called by registry.authz
    TOKEN_ISSUED = "token.issued"  # noqa: S105 (registry.oauth)
    TOKEN_REVOKED = "token.revoked"  # noqa: S105 (registry.oauth)
    CLIENT_CREATED = "client.created"                # called by registry.oauth


class Outcome(StrEnum):
    """How the audited attempt ended."""

    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"


#: ``detail`` keys never stored (their values could be secrets)
_SECRET_KEY = re.compile(r"pass|token|secret|link|cookie|session_id|hash|code_verifier|"
                         r"authorization", re.IGNORECASE)


def scrub(detail: dict[str, Any] | None) -> dict[str, Any]:
    """``detail`` without secret-looking keys, recursively; values kept JSON-ready (UUIDs
    and datetimes as strings)."""
    clean: dict[str, Any] = {}
    for key, value in (detail or {}).items():
        if _SECRET_KEY.search(str(key)):
            continue
        if isinstance(value, dict):
            value = scrub(value)
        elif isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, list | tuple | set | frozenset):
            value = [str(v) if isinstance(v, uuid.UUID) else v for v in value]
        clean[str(key)] = value
    return clean


def record(*, db_session: Session, event: str, outcome: str = Outcome.SUCCESS,
           principal: Principal | None = None, subject: str | uuid.UUID | None = None,
           ip: str | None = None, detail: dict[str, Any] | None = None,
           actor_email: str | None = None) -> AuditEntry:
    """Add one audit row in ``db_session``'s transaction (the caller commits, so the row
    lands with the change it describes; for a failure whose request rolls back, the caller
    commits the audit row itself, as the sign-in view does).

    ``event``: an :class:`AuditEvent` (or another dotted name); ``outcome``: an
    :class:`Outcome`; ``principal``: who acted (None: anonymous); ``subject``: what it
    concerned (user id, client id, object id); ``ip``: the client address (default: the
    current request's ``remote_addr``); ``detail``: JSON, scrubbed by :func:`scrub`;
    ``actor_email``: overrides the principal's e-mail (e.g. the account that failed to sign
    in).
    """
    if ip is None:
        ip = _request_ip()
    entry = AuditEntry(
        occurred_at=utcnow(), event=str(event), outcome=str(outcome),
        actor_kind=principal.kind.value if principal is not None else "anonymous",
        actor_subject=principal.subject if principal is not None else None,
        actor_email=actor_email or (principal.email if principal is not None else None),
        subject=str(subject) if subject is not None else None,
        ip=(ip or None) and ip[:45], request_id=request_id_var.get(), detail=scrub(detail))
    db_session.add(entry)
    return entry


def _request_ip() -> str | None:
    from flask import has_request_context, request

    return request.remote_addr if has_request_context() else None


def _require_admin(principal: Principal) -> None:
    if principal.is_system:
        return
    if not principal.is_authenticated:
        raise Unauthenticated("Sign in as a secretariat admin to read the audit log.")
    if not principal.has_staff_role(StaffRole.SECRETARIAT_ADMIN):
        raise NotAllowed("Only a secretariat admin may read the audit log.")


def list_entries(*, db_session: Session, principal: Principal, event: str | None = None,
                 outcome: str | None = None, actor: str | None = None,
                 subject: str | None = None, ip: str | None = None,
                 since: datetime | None = None, until: datetime | None = None,
                 limit: int = 50, offset: int = 0) -> tuple[list[AuditEntry], int]:
    """Audit rows, newest first, and the total matching.

    Filters (all optional, combined with AND): ``event`` (exact name, or a prefix ending in
    ``.``, e.g. ``account.``), ``outcome``, ``actor`` (the actor's subject or e-mail),
    ``subject``, ``ip``, ``since``/``until`` (UTC, inclusive/exclusive). Secretariat admins
    and the system only: 401 anonymous, 403 anyone else.
    """
    _require_admin(principal)
    conditions = []
    if event:
        conditions.append(AuditEntry.event.startswith(event, autoescape=True)
                          if event.endswith(".") else AuditEntry.event == event)
    if outcome:
        conditions.append(AuditEntry.outcome == outcome)
    if actor:
        conditions.append((AuditEntry.actor_subject == actor)
                          | (AuditEntry.actor_email == actor.strip().lower()))
    if subject:
        conditions.append(AuditEntry.subject == subject)
    if ip:
        conditions.append(AuditEntry.ip == ip)
    if since:
        conditions.append(AuditEntry.occurred_at >= since)
    if until:
        conditions.append(AuditEntry.occurred_at < until)
    total = db_session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions))
    rows = db_session.scalars(select(AuditEntry).where(*conditions)
                              .order_by(AuditEntry.occurred_at.desc(), AuditEntry.id.desc())
                              .limit(limit).offset(offset)).all()
    return list(rows), int(total or 0)
