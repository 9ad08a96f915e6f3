"""``activities``: the one timeline of every reviewed record (initiatives, organisations;
later progress reports), keyed by (``record_type``, ``record_id``).

Replaces ``initiative_activities`` and ``organization_activities`` (migration 0008 copied
their rows). Shapes borrowed from ``invenio-requests`` (one timeline of comments and events)
and CKAN's activity table (a JSON of what changed).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base
from shared.db import JSONType, UTCDateTime, new_uuid, utcnow

#: ``activities.record_type`` values.
INITIATIVE, ORGANIZATION, PROGRESS_REPORT = "initiative", "organization", "progress_report"
#: ``activities.kind`` values: a workflow transition, an edit of the content, a comment of the
#: thread, an internal secretariat note, a reviewer assignment, any other recorded event
#: (organisations' membership changes...).
TRANSITION, EDIT, COMMENT, NOTE, ASSIGNMENT, EVENT = (
    "transition", "edit", "comment", "note", "assignment", "event")
KINDS = (TRANSITION, EDIT, COMMENT, NOTE, ASSIGNMENT, EVENT)
#: ``activities.visibility`` values: ``public`` (the public page shows it), ``participants``
#: (the owner organisation and the secretariat), ``internal`` (the secretariat only).
PUBLIC, PARTICIPANTS, INTERNAL = "public", "participants", "internal"
VISIBILITIES = (PUBLIC, PARTICIPANTS, INTERNAL)


class Activity(Base):
    """A timeline entry: who (``actor_*``: role label, user, token, organisation, e-mail,
    display name), when (``created_at``, UTC), what (``kind``, ``action``, ``from_status`` ->
    ``to_status`` for transitions, ``body`` the comment or note text, ``changes`` JSON
    ``{field: {"before": ..., "after": ...}}`` or an event's detail), about which record
    (``record_type``, ``record_id``; ``revision_number`` when an initiative entry concerns
    one of its revisions), seen by whom (``visibility``), answering which entry
    (``reply_to_id``)."""

    __tablename__ = "activities"
    __table_args__ = (Index("ix_activities_record", "record_type", "record_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    record_type: Mapped[str] = mapped_column(String(30))
    record_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    revision_number: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20), default=TRANSITION)
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(30))
    to_status: Mapped[str | None] = mapped_column(String(30))
    body: Mapped[str | None] = mapped_column(Text)
    visibility: Mapped[str] = mapped_column(String(20), default=PARTICIPANTS)
    reply_to_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("activities.id", ondelete="SET NULL"))
    actor_role: Mapped[str] = mapped_column(String(20))
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_token_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_organization_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_email: Mapped[str | None] = mapped_column(String(320))
    actor_name: Mapped[str | None] = mapped_column(String(200))
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    # compatibility names of the replaced tables' columns (read-only views)
    @property
    def comment(self) -> str | None:
        """The comment of a transition (``body``)."""
        return self.body

    @property
    def detail(self) -> dict[str, Any] | None:
        """An organisation entry's detail (``changes``)."""
        return self.changes
