"""The read model: what reports need of each initiative, as the latest snapshot carried it.

Tables (all owned by reporting, all prefixed ``report_`` so that the services could even share
one database without name clashes — ``shared.migrate`` allows that):

* ``report_initiatives`` — one row per initiative id, the scalar fields of the newest snapshot;
* ``report_initiative_goals`` / ``_targets`` / ``_countries`` / ``_regions`` — one row per tag
  (primary key ``(initiative_id, value)``, so a tag repeated in a snapshot counts once);
* ``report_initiative_region_names`` — the top-level UN M49 region names derived from the
  countries and regions when the snapshot was applied (``Africa`` … ``Oceania``, ``World``,
  or ``Unspecified``), so that the by-region breakdown is one ``GROUP BY`` in SQL (the summary
  itself reads ``report_summary_counts``; the GROUP BYs fill and check those counters);
* ``report_summary_counts`` — the summary's counters, one row per (dimension, key), kept by the
  consumer in the same transaction as the snapshot change (``reporting.readmodel.service``), so
  the summary is one small read instead of five GROUP BYs over the whole read model;
* ``report_processed_events`` — the consumer's idempotency record (``shared.consumer``).

Child tables instead of JSON columns: aggregation is then plain ``JOIN … GROUP BY``, which runs
the same on PostgreSQL and SQLite (no ``jsonb_array_elements`` / ``json_each`` dialects).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from reporting.db import Base
from shared.consumer import ProcessedEventMixin
from shared.db import UTCDateTime, utcnow

#: Region name for published initiatives with no country or region that maps to an M49 region.
UNSPECIFIED_REGION = "Unspecified"
#: The status of a published initiative.
PUBLISHED = "published"
#: The statuses whose initiatives the summary counts (all breakdowns but ``by_status``): the
#: registry's active public records — published, and published with a completion declared
#: but not yet confirmed by the secretariat (issue 8), so an initiative does not leave the
#: counts while its completion waits for review and come back when it is declined.
ACTIVE_STATUSES = ("published", "completion_declared")
#: Stakeholder-group key for published initiatives without a lead organisation.
UNSPECIFIED_STAKEHOLDER_GROUP = "unspecified"


class ReportInitiative(Base):
    """An initiative as its newest applied snapshot describes it.

    ``id`` is the registry's initiative id (UUID string, the event ``subject``); ``version`` the
    snapshot's version (a snapshot with a version <= this one is ignored). ``lead_*`` are null
    when the initiative has no lead organisation; ``lead_country`` is ISO 3166-1 alpha-3.
    Times are UTC; ``applied_at`` is when this row last changed. Issue 9: ``reporting_status``
    the traffic light (``green``/``yellow``/``red``, null when the initiative has none: not
    active, or not computed yet), ``reporting_status_as_of`` the job's clock of the last
    ``reporting-status-changed`` event applied, ``reporting_anchor_on``
    the start of the current reporting cycle it named; ``last_progress_report_on``,
    ``progress_percent`` (0-100) and ``progress_reports_count`` (approved reports) as the
    newest snapshot carried them. ``tags`` repeats the tag
    lists of the child tables as applied (``{"goals", "targets", "countries", "regions",
    "region_names"}``, each sorted and without duplicates) so that the next snapshot's change
    and its counter deltas are known from this one row; null on rows applied before migration
    0002 (then the child tables are read instead).
    """

    __tablename__ = "report_initiatives"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    public_id: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(30), index=True)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    lead_organization_name: Mapped[str | None] = mapped_column(String(500))
    lead_stakeholder_group: Mapped[str | None] = mapped_column(String(100))
    lead_country: Mapped[str | None] = mapped_column(String(3))
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    tags: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # progress reports and the reporting light (issue 9): from the snapshots' new fields and
    # the progress report events' snapshots, and from initiative.reporting-status-changed.v1
    reporting_status: Mapped[str | None] = mapped_column(String(10))
    reporting_status_as_of: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reporting_anchor_on: Mapped[date | None] = mapped_column(Date)
    last_progress_report_on: Mapped[date | None] = mapped_column(Date)
    progress_percent: Mapped[int | None] = mapped_column(Integer)
    progress_reports_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


def _initiative_fk() -> ForeignKey:
    return ForeignKey("report_initiatives.id", ondelete="CASCADE")


class ReportInitiativeGoal(Base):
    """An SDG goal (1-17) an initiative is tagged with."""

    __tablename__ = "report_initiative_goals"

    initiative_id: Mapped[str] = mapped_column(String(200), _initiative_fk(), primary_key=True)
    goal: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)


class ReportInitiativeTarget(Base):
    """An SDG target code (``14.1``) an initiative is tagged with."""

    __tablename__ = "report_initiative_targets"

    initiative_id: Mapped[str] = mapped_column(String(200), _initiative_fk(), primary_key=True)
    target: Mapped[str] = mapped_column(String(10), primary_key=True)


class ReportInitiativeCountry(Base):
    """A country (ISO 3166-1 alpha-3) an initiative is tagged with."""

    __tablename__ = "report_initiative_countries"

    initiative_id: Mapped[str] = mapped_column(String(200), _initiative_fk(), primary_key=True)
    country: Mapped[str] = mapped_column(String(3), primary_key=True)


class ReportInitiativeRegion(Base):
    """A UN M49 region code (3 digits, ``001`` = World) an initiative is tagged with explicitly."""

    __tablename__ = "report_initiative_regions"

    initiative_id: Mapped[str] = mapped_column(String(200), _initiative_fk(), primary_key=True)
    region_code: Mapped[str] = mapped_column(String(3), primary_key=True)


class ReportInitiativeRegionName(Base):
    """A top-level M49 region name derived from the initiative's countries and regions.

    Derived with ``shared.reference.region_names_for`` when the snapshot is applied (so it
    follows the reference data of that moment); ``Unspecified`` when nothing maps.
    """

    __tablename__ = "report_initiative_region_names"

    initiative_id: Mapped[str] = mapped_column(String(200), _initiative_fk(), primary_key=True)
    region_name: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)


class ReportSummaryCount(Base):
    """One counter of the summary report: ``dimension`` is ``total`` (key ``""``), ``goal``
    (key ``"1"``..), ``region`` (a top-level region name), ``stakeholder_group`` (a code, or
    ``unspecified``), ``reporting_status`` (``green``/``yellow``/``red``; issue 9) — all five
    over published initiatives — or ``status`` (every initiative).

    Maintained by ``reporting.readmodel.service.apply_initiative_snapshot`` in the consumer's
    transaction: the old snapshot's contributions are subtracted and the new one's added, so a
    count may reach 0 but never goes negative.
    """

    __tablename__ = "report_summary_counts"

    dimension: Mapped[str] = mapped_column(String(30), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class ProcessedEvent(ProcessedEventMixin, Base):
    """Events the ``reporting`` consumer group already applied (see ``shared.consumer``)."""

    __tablename__ = "report_processed_events"
