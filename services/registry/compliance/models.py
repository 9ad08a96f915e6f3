"""Compliance tables: the reporting lights' history, the reminders decided, the job's runs.

The current light of each initiative is kept on ``initiatives`` (``reporting_status``,
``reporting_status_since``, ``reporting_anchor_on``: declared on
``registry.initiatives.models.Initiative``, added by migration 0010).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base
from shared.db import JSONType, UTCDateTime, new_uuid, utcnow


class ReportingStatusChange(Base):
    """The light of ``initiative_id`` went ``from_status`` (null: it had none) ->
    ``to_status`` as of ``as_of`` (the job's clock, or the approval's time), in the cycle
    starting ``anchor_on``. The weekly digest reads "turned yellow / red this week" here."""

    __tablename__ = "reporting_status_changes"
    __table_args__ = (Index("ix_reporting_status_changes_digest", "to_status", "as_of"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    initiative_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("initiatives.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(10))
    to_status: Mapped[str] = mapped_column(String(10))
    as_of: Mapped[datetime] = mapped_column(UTCDateTime())
    anchor_on: Mapped[date] = mapped_column(Date)


class ProgressReminder(Base):
    """A reminder decided for an initiative's reporting cycle (``anchor_on``): ``kind`` one of
    ``REMINDER_KINDS``; at most one row per (initiative, anchor_on, kind) except ``manual``
    (partial unique index ``uq_progress_reminders_once``: the exactly-once guarantee).
    ``covered_by`` names the reminder sent in the same run that covered this one (one e-mail
    of the most severe kind); null: this one was sent (its event carries ``id``).
    ``reporting_status`` the light then; ``requested_by_user_id`` who asked (``manual``)."""

    __tablename__ = "progress_reminders"
    __table_args__ = (Index("uq_progress_reminders_once", "initiative_id", "anchor_on", "kind",
                            unique=True, postgresql_where=text("kind <> 'manual'"),
                            sqlite_where=text("kind <> 'manual'")),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    initiative_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("initiatives.id", ondelete="CASCADE"), index=True)
    anchor_on: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(10))
    reporting_status: Mapped[str | None] = mapped_column(String(10))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: no foreign key: the covering row is written in the same transaction (the job's) and
    #: rows go only with their initiative (cascade), while a self-referencing key check
    #: costs ~11 µs per covered row (110,000 on a first run over 100,000 initiatives)
    covered_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    requested_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class ComplianceJobRun(Base):
    """One run of a compliance job (``job``: ``lights`` the daily job, ``digest`` the weekly
    digest): when it started and finished (UTC), the clock it ran with (``as_of``) and what it
    counted (``counts`` JSON: lights, changes, reminders, batches, statements)."""

    __tablename__ = "compliance_job_runs"
    __table_args__ = (Index("ix_compliance_job_runs_job", "job", "as_of"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    job: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    as_of: Mapped[datetime] = mapped_column(UTCDateTime())
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
