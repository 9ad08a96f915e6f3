"""``organizations``: lead entities and partners of initiatives; their members
(``organization_memberships``), invitations and join requests (their history is in the generic
``activities`` table, ``registry.workflow.models``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base
from shared.db import UTCDateTime, new_uuid, utcnow

#: ``organizations.verification_status`` values: organisations start ``unverified``; the
#: secretariat verifies them (their initiatives are published only then).
UNVERIFIED, VERIFIED = "unverified", "verified"
VERIFICATION_STATUSES = (UNVERIFIED, VERIFIED)
#: Status of invitations, join requests (readable strings, as stored).
PENDING, ACCEPTED, DECLINED, WITHDRAWN = "pending", "accepted", "declined", "withdrawn"


class Organization(Base):
    """An organisation. ``normalized_name`` (accent-, case- and punctuation-insensitive) is
    unique, so free-text partner names from imports reuse one record per organisation.

    ``website``: http(s) only. ``verification_status``: ``unverified`` or ``verified``
    (``verified_at``/``verified_by``: when and by which staff user). ``merged_into_id``: set
    when the secretariat merged this duplicate into another organisation (every link moved
    there; this row stays as a pointer).
    """

    __tablename__ = "organizations"
    __aggregate__ = "organization"  # registry.authz.permissions.Aggregate

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(500))
    normalized_name: Mapped[str] = mapped_column(String(500), unique=True)
    acronym: Mapped[str | None] = mapped_column(String(50))
    stakeholder_group: Mapped[str] = mapped_column(String(50), index=True)
    country: Mapped[str | None] = mapped_column(String(3), index=True)
    website: Mapped[str | None] = mapped_column(String(500))
    verification_status: Mapped[str] = mapped_column(String(20), default=UNVERIFIED,
                                                     server_default=UNVERIFIED, index=True)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verified_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class OrganizationMembership(Base):
    """A person's membership of an organisation: ``role`` is a ``shared.identity.OrgRole``
    value (``member`` or ``admin``)."""

    __tablename__ = "organization_memberships"
    __table_args__ = (UniqueConstraint("user_id", "organization_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                               index=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OrganizationInvitation(Base):
    """An invitation to join an organisation, sent by e-mail (``email`` normalised).

    The link carries a random token (32 bytes, URL-safe base64); only its SHA-256 digest is
    stored. Single use (``status`` leaves ``pending``), expiring at ``expires_at``
    (``INVITATION_DAYS``). ``status``: ``pending``, ``accepted``, ``declined``.
    """

    __tablename__ = "organization_invitations"
    __aggregate__ = "invitation"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=PENDING)
    invited_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OrganizationJoinRequest(Base):
    """A person's request to join an organisation; its admins accept or decline it.
    ``status``: ``pending``, ``accepted``, ``declined``, ``withdrawn``."""

    __tablename__ = "organization_join_requests"
    __aggregate__ = "join_request"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                               index=True)
    message: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
