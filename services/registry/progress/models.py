"""Progress report tables: the report, its deliverable updates, the initiative's indicators
(IATI 2.03 result model: ``result/indicator`` with baseline and target) and the actual values
a report records for them.

Columns of other domains' tables added by migration 0009 (``deliverables.weight``,
``initiatives.progress_percent``, ``progress_reports_count``, ``last_progress_report_on``)
are declared on their models (``registry.initiatives.models``).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.db import Base
from shared.db import JSONType, UTCDateTime, new_uuid, utcnow

#: ``progress_reports.source`` values: the owner's page, the API (a partner's own system
#: with ``progress:write``), the import of a source file.
SOURCES = ("form", "api", "import")


class ProgressReport(Base):
    """A progress report of an initiative (``shared.events.types.ProgressReportData`` is its
    event shape).

    ``number`` 1, 2, ... per initiative; ``status`` one of ``PROGRESS_REPORT_STATES``
    (workflow: ``registry.progress.policy.PROGRESS_REPORT_WORKFLOW``); ``period_start`` ..
    ``period_end`` the period reported on; ``reported_on`` the date the partner reported (set
    on submission; an import's source date): once approved it restarts the reporting cycle.
    ``overall_status`` one of ``PROGRESS_STATUSES``, ``progress_percent`` 0-100,
    ``narrative_html`` sanitised HTML (nh3), ``resources_mobilised`` JSON
    ``[{amount: "1000.00", currency: "USD", description}]``, ``milestones`` JSON
    ``[{date, title, achieved}]``, ``links`` JSON ``["https://…"]``. ``source`` /
    ``source_ref`` where it came from (import idempotency: unique per initiative).
    ``owner_organization_id`` is the initiative's owner copied (the permission table's owner
    rule, like revisions). ``version`` counts changes (the ETag).
    """

    __tablename__ = "progress_reports"
    __aggregate__ = "progress_report"  # registry.authz.permissions.Aggregate
    # ix_progress_reports_last_approved: "the last approved report per initiative"
    # (compliance: max(reported_on) where approved, per initiative; the public timeline);
    # ix_progress_reports_queue: the review queue's kind ``progress_report`` (status, oldest
    # first; covering)
    __table_args__ = (UniqueConstraint("initiative_id", "number"),
                      UniqueConstraint("initiative_id", "source", "source_ref",
                                       name="uq_progress_reports_source_ref"),
                      Index("ix_progress_reports_last_approved", "initiative_id", "status",
                            "reported_on"),
                      Index("ix_progress_reports_queue", "status", "submitted_at", "id",
                            postgresql_include=["assigned_reviewer_id", "initiative_id"]))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    initiative_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("initiatives.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(30), default="draft")
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    reported_on: Mapped[date | None] = mapped_column(Date)
    overall_status: Mapped[str | None] = mapped_column(String(30))
    progress_percent: Mapped[int | None] = mapped_column(SmallInteger)
    narrative_html: Mapped[str | None] = mapped_column(Text)
    resources_mobilised: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    milestones: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    links: Mapped[list[str]] = mapped_column(JSONType, default=list)
    source: Mapped[str] = mapped_column(String(20), default="form")
    source_ref: Mapped[str | None] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer, default=1)
    owner_organization_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    assigned_reviewer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    deliverable_updates: Mapped[list[ProgressDeliverableUpdate]] = relationship(
        cascade="all, delete-orphan", order_by="ProgressDeliverableUpdate.position",
        lazy="select")
    indicator_values: Mapped[list[IndicatorValue]] = relationship(
        cascade="all, delete-orphan", order_by="IndicatorValue.position", lazy="select")


class ProgressDeliverableUpdate(Base):
    """A deliverable's line in a report: its ``status`` then (``DELIVERABLE_STATUSES``) and a
    plain-text ``note``. ``deliverable_id`` is null once the deliverable was removed from the
    initiative (the line stays in the report's history)."""

    __tablename__ = "progress_deliverable_updates"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    report_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("progress_reports.id", ondelete="CASCADE"), index=True)
    deliverable_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("deliverables.id", ondelete="SET NULL"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)


class InitiativeIndicator(Base):
    """An indicator an initiative declares (IATI 2.03 ``result/indicator``): ``title``,
    ``unit`` (free text: "hectares", "people trained"), ``measure`` (``INDICATOR_MEASURES``:
    IATI IndicatorMeasure codelist), ``ascending`` (true: higher is better), baseline (value,
    year) and target (value, year), optionally the official SDG indicator it relates to
    (``sdg_indicator_code``, e.g. ``14.5.1``: ``shared.reference``)."""

    __tablename__ = "initiative_indicators"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    initiative_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("initiatives.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(String(500))
    unit: Mapped[str | None] = mapped_column(String(100))
    measure: Mapped[str] = mapped_column(String(20), default="unit")
    ascending: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    baseline_value: Mapped[Decimal | None] = mapped_column(Numeric(20, 4))
    baseline_year: Mapped[int | None] = mapped_column(SmallInteger)
    target_value: Mapped[Decimal | None] = mapped_column(Numeric(20, 4))
    target_year: Mapped[int | None] = mapped_column(SmallInteger)
    sdg_indicator_code: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IndicatorValue(Base):
    """An actual value of an indicator recorded by a report (IATI ``period/actual``) for the
    period ``period_start`` .. ``period_end``; ``value`` null for a qualitative indicator
    (the ``comment`` says it)."""

    __tablename__ = "indicator_values"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    report_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("progress_reports.id", ondelete="CASCADE"), index=True)
    indicator_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("initiative_indicators.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    value: Mapped[Decimal | None] = mapped_column(Numeric(20, 4))
    comment: Mapped[str | None] = mapped_column(Text)
