"""Accounts' tables: ``users``, ``user_staff_roles``, ``web_sessions``, ``account_tokens``
(one-time links) and ``verified_contact_emails``."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.db import Base
from shared.db import UTCDateTime, new_uuid, utcnow

#: Languages a person may choose (the page and e-mail catalogues of issue 7).
LOCALES = ("en", "zh", "ar", "fr", "ru", "es")


class User(Base):
    """A person's account.

    - ``email``: stored normalised (trimmed, lower-case), unique: one account per address
      whatever its case.
    - ``password_hash``: argon2id PHC string (argon2-cffi); None until a password is set (an
      account made by ``registry create-admin`` gets a set-password link).
    - ``locale``: one of :data:`LOCALES`; pages and e-mails use it.
    - ``failed_sign_ins`` / ``locked_until``: consecutive failed sign-ins and the end of the
      current lockout (``SIGNIN_LOCKOUT_*`` settings).
    - ``disabled_at``: a disabled account cannot sign in and its sessions stop working.
    """

    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    locale: Mapped[str] = mapped_column(String(8), default="en")
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    staff_role_rows: Mapped[list[UserStaffRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin",
        foreign_keys="UserStaffRole.user_id")

    @property
    def staff_roles(self) -> frozenset[str]:
        """The secretariat roles held (``shared.identity.StaffRole`` values)."""
        return frozenset(r.role for r in self.staff_role_rows)

    @property
    def is_verified(self) -> bool:
        """The person proved they read mail at ``email``."""
        return self.email_verified_at is not None


class UserStaffRole(Base):
    """A secretariat role (``shared.identity.StaffRole`` value) a user holds; who granted it
    and when (the audit log keeps grants and revocations)."""

    __tablename__ = "user_staff_roles"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(40), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    granted_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))

    user: Mapped[User] = relationship(back_populates="staff_role_rows", foreign_keys=[user_id])


class WebSession(Base):
    """A browser session kept on the server (OWASP Session Management Cheat Sheet).

    The cookie holds a random id (32 bytes, URL-safe base64); only its SHA-256 digest
    (``token_hash``) is stored, so a leaked table opens no session. ``id`` is a separate
    UUID that pages and the API show for "sign out that session". ``expires_at`` is the
    absolute end (``SESSION_ABSOLUTE_HOURS`` after creation); the idle end is
    ``last_seen_at + SESSION_IDLE_MINUTES``.
    """

    __tablename__ = "web_sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(500))


class AccountToken(Base):
    """A one-time link's token: random 32 bytes, only the SHA-256 digest stored.

    ``purpose``: ``verify_email`` (a user's address), ``reset_password`` (also used for the
    first password of an account made by ``create-admin``) or ``verify_contact`` (an
    initiative's contact address, no user). Single use: ``used_at`` is set when it is
    redeemed; a newer link of the same purpose and address makes older ones unusable.
    """

    __tablename__ = "account_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(30))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class VerifiedContactEmail(Base):
    """A contact address (stored normalised, lower-case) whose holder followed a
    verification link: the notifier may send it mail about initiatives."""

    __tablename__ = "verified_contact_emails"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
