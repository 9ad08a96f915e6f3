"""Initiative tables: the initiative, its partners, SDG tags, geography, deliverables,
resources, approved versions and revisions, and the public id counter (the timeline is
``registry.workflow.models.Activity``)."""

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
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.db import Base
from registry.organizations.models import Organization
from shared.db import JSONType, UTCDateTime, new_uuid, utcnow
from shared.events.types import DELIVERABLE_STATUSES

#: The search document (``registry.initiatives.search``): ``tsvector`` on PostgreSQL (GIN
#: index ``ix_initiatives_search_document``, created by the migration), text indexed by the
#: FTS5 table ``initiatives_fts`` on SQLite.
SearchDocument = Text().with_variant(TSVECTOR(), "postgresql")

#: Index names managed by migrations only (dialect-specific), ignored by the drift check.
MIGRATION_ONLY_INDEXES = frozenset({"ix_initiatives_search_document",
                                    "ix_initiatives_public_order",
                                    "ix_organizations_name_trgm",
                                    "uq_initiative_revisions_open"})
#: States anyone may see (the permission table's ``view`` row for ``anyone``); the partial
#: index ``ix_initiatives_public_order`` (migration 0008) covers exactly these rows.
PUBLIC_STATES = ("archived", "completed", "completion_declared", "published", "withdrawn")
#: What the anonymous public list shows by default ("active" initiatives).
ACTIVE_STATES = ("completion_declared", "published")
#: Tables that are not models: SQLite's FTS5 table and its shadow tables.
MIGRATION_ONLY_TABLE_PREFIX = "initiatives_fts"


class Initiative(Base):
    """A partnership or voluntary commitment.

    ``status`` is one of ``shared.events.types.INITIATIVE_STATUSES`` (the lifecycle:
    ``policy.INITIATIVE_WORKFLOW``); each state's entry time is kept (``submitted_at``,
    ``published_at``, ``completion_declared_at``, ``completed_at``, ``archived_at``,
    ``withdrawn_at``, ``suspended_at``: the latest entry). ``approved_version`` is the number of
    the approved version the public sees (null before the first approval);
    ``assigned_reviewer_id`` the staff user reviewing it (review queue). ``public_id``
    (``PR-2026-00042``) is given on publication and never changes. ``version`` counts changes
    (events carry it; the ETag).
    ``owner_token_id``/``owner_organization_id`` say which partner may edit and submit it.
    ``source``/``source_ref`` name where an imported record came from (e.g.
    ``un-ocean-conference`` / ``#OceanAction42217``), unique together.
    """

    __tablename__ = "initiatives"
    __aggregate__ = "initiative"  # registry.authz.permissions.Aggregate
    # ix_initiatives_public_order (migrations 0002, 0008): the public ordering (newest first)
    # over the publicly visible rows only (PUBLIC_STATES); it serves the list and the
    # filters that walk it. ix_initiatives_review_queue / _completion_queue: the review queue
    # (status, oldest first; covering: the assigned-reviewer filter reads no heap)
    __table_args__ = (UniqueConstraint("source", "source_ref"),
                      Index("ix_initiatives_review_queue", "status", "submitted_at", "id",
                            postgresql_include=["assigned_reviewer_id"]),
                      Index("ix_initiatives_completion_queue", "status",
                            "completion_declared_at", "id",
                            postgresql_include=["assigned_reviewer_id"]))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    public_id: Mapped[str | None] = mapped_column(String(20), unique=True)
    status: Mapped[str] = mapped_column(String(30), index=True, default="draft")
    version: Mapped[int] = mapped_column(Integer, default=1)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    lead_organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id"), index=True)
    #: False while the lead entity (another organisation than the owner) has not confirmed
    #: it leads the initiative (a *proposed* link its admin confirms or declines)
    lead_confirmed: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    contact_email: Mapped[str | None] = mapped_column(String(320))
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    owner_token_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    owner_organization_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    source: Mapped[str | None] = mapped_column(String(50))
    source_ref: Mapped[str | None] = mapped_column(String(100), index=True)
    source_url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    completion_declared_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # the reporting traffic light (issue 9, registry.compliance; migration 0010): green,
    # yellow, red (null: not active or not computed yet), since when, and the current
    # reporting cycle's start (publication or last approved progress report). Deliberately
    # in no index: the job's updates of these columns stay HOT (heap-only, no index entry
    # written; the table's fillfactor is 70, migration 0010) instead of writing an entry in
    # each of the table's 16 indexes per changed light (123 s -> 7 s for 100,000 lights)
    reporting_status: Mapped[str | None] = mapped_column(String(10))
    reporting_status_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reporting_anchor_on: Mapped[date | None] = mapped_column(Date)
    approved_version: Mapped[int | None] = mapped_column(Integer)
    assigned_reviewer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    search_document: Mapped[str | None] = mapped_column(SearchDocument, deferred=True)
    # progress reports (issue 9, registry.progress; migration 0009): the progress rolled up
    # from the last approved report (or the deliverables' weights), the number of approved
    # reports and the ``reported_on`` of the last one
    progress_percent: Mapped[int | None] = mapped_column(SmallInteger)
    progress_reports_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_progress_report_on: Mapped[date | None] = mapped_column(Date)

    # Nothing is eager: each query loads what its response shows (service.py).
    lead_organization: Mapped[Organization | None] = relationship(lazy="select")
    partners: Mapped[list[InitiativePartner]] = relationship(
        cascade="all, delete-orphan", order_by="InitiativePartner.position", lazy="select")
    targets: Mapped[list[InitiativeTarget]] = relationship(
        cascade="all, delete-orphan", order_by="InitiativeTarget.target_code", lazy="select")
    goals: Mapped[list[InitiativeGoal]] = relationship(
        cascade="all, delete-orphan", order_by="InitiativeGoal.goal", lazy="select")
    countries: Mapped[list[InitiativeCountry]] = relationship(
        cascade="all, delete-orphan", order_by="InitiativeCountry.country", lazy="select")
    regions: Mapped[list[InitiativeRegion]] = relationship(
        cascade="all, delete-orphan", order_by="InitiativeRegion.region", lazy="select")
    deliverables: Mapped[list[Deliverable]] = relationship(
        cascade="all, delete-orphan", order_by="Deliverable.position", lazy="select")
    resources: Mapped[list[Resource]] = relationship(
        cascade="all, delete-orphan", order_by="Resource.position", lazy="select")
    covered_regions: Mapped[list[InitiativeCoveredRegion]] = relationship(
        cascade="all, delete-orphan", lazy="select")

    @property
    def goal_codes(self) -> list[int]:
        """SDG goal numbers, ascending."""
        return [g.goal for g in self.goals]

    @property
    def target_codes(self) -> list[str]:
        """SDG target codes, in framework order."""
        from shared.reference import targets

        order = {code: i for i, code in enumerate(targets())}
        return sorted((t.target_code for t in self.targets), key=lambda c: order.get(c, 10**6))

    @property
    def country_codes(self) -> list[str]:
        """ISO alpha-3 codes."""
        return [c.country for c in self.countries]

    @property
    def region_codes(self) -> list[str]:
        """M49 region codes."""
        return [r.region for r in self.regions]


class InitiativePartner(Base):
    """An organisation taking part in an initiative, with its role (``partner``, ``funding``,
    ``implementing``, ``accountable``, ``extending``: IATI OrganisationRole terms)."""

    __tablename__ = "initiative_partners"
    __table_args__ = (UniqueConstraint("initiative_id", "organization_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    initiative_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("initiatives.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    role: Mapped[str] = mapped_column(String(30), default="partner")
    position: Mapped[int] = mapped_column(Integer, default=0)
    #: False while the organisation has not confirmed it takes part (a *proposed* link)
    confirmed: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    organization: Mapped[Organization] = relationship(lazy="joined")


class InitiativeTarget(Base):
    """An SDG target an initiative contributes to (official code, e.g. ``14.1``)."""

    __tablename__ = "initiative_targets"

    initiative_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("initiatives.id", ondelete="CASCADE"), primary_key=True)
    target_code: Mapped[str] = mapped_column(String(10), primary_key=True, index=True)


class InitiativeGoal(Base):
    """An SDG goal (1-17) of an initiative: those of its targets plus goals tagged directly."""

    __tablename__ = "initiative_goals"

    initiative_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("initiatives.id", ondelete="CASCADE"), primary_key=True)
    goal: Mapped[int] = mapped_column(SmallInteger, primary_key=True, index=True)


class InitiativeCountry(Base):
    """A country an initiative works in (ISO 3166-1 alpha-3)."""

    __tablename__ = "initiative_countries"

    initiative_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("initiatives.id", ondelete="CASCADE"), primary_key=True)
    country: Mapped[str] = mapped_column(String(3), primary_key=True, index=True)


class InitiativeRegion(Base):
    """A UN M49 region an initiative covers (3-digit code, e.g. ``009`` Oceania)."""

    __tablename__ = "initiative_regions"

    initiative_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("initiatives.id", ondelete="CASCADE"), primary_key=True)
    region: Mapped[str] = mapped_column(String(3), primary_key=True, index=True)


class InitiativeCoveredRegion(Base):
    """An M49 region an initiative covers, derived from its countries and tagged regions by
    ``shared.reference.region_codes_for`` (the region filter's index; reporting derives its
    regions with the same function)."""

    __tablename__ = "initiative_covered_regions"

    initiative_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("initiatives.id", ondelete="CASCADE"), primary_key=True)
    region: Mapped[str] = mapped_column(String(3), primary_key=True, index=True)


class Deliverable(Base):
    """A deliverable: what will be delivered, when (due date), how it stands (``status``:
    ``shared.events.types.DELIVERABLE_STATUSES``, default ``planned``) and its ``weight`` in
    the initiative's progress. Its ``id`` is stable
    across edits (an input row naming it keeps it), so versions compare deliverables."""

    __tablename__ = "deliverables"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    initiative_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("initiatives.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    description: Mapped[str] = mapped_column(Text)
    due_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default=DELIVERABLE_STATUSES[0],
                                        server_default=DELIVERABLE_STATUSES[0])
    #: its share of the initiative's progress (issue 9: ``registry.progress.service
    #: .rolled_up_progress``), relative to the other deliverables' weights; default 1
    weight: Mapped[Decimal] = mapped_column(Numeric(9, 3), default=Decimal(1),
                                            server_default="1")


class Resource(Base):
    """A resource devoted to the initiative: type code (``financing``,
    ``staff_technical_expertise``, ``in_kind_contribution``, ``other``), details, and for
    financing an amount in US dollars when one is known."""

    __tablename__ = "resources"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    initiative_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("initiatives.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    type: Mapped[str] = mapped_column(String(40))
    details: Mapped[str | None] = mapped_column(Text)
    amount_usd: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))


class InitiativeVersion(Base):
    """An approved version of an initiative's content (issue 8): number 1 at first approval
    (or import), +1 per approved revision. ``content`` is the content shape
    (``registry.initiatives.versions.content_of``), ``changed_fields`` the names of the
    fields that differ from the previous version, ``revision_id`` the revision approved (null
    for version 1), ``approved_by_*`` who approved it."""

    __tablename__ = "initiative_versions"

    initiative_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("initiatives.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    content: Mapped[dict[str, Any]] = mapped_column(JSONType)
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    approved_by_name: Mapped[str | None] = mapped_column(String(200))
    approved_by_email: Mapped[str | None] = mapped_column(String(320))
    revision_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("initiative_revisions.id", ondelete="SET NULL"))
    changed_fields: Mapped[list[str] | None] = mapped_column(JSONType)

    # (rev) set when written, so the unit of work inserts a new (imported) initiative first;
    # never loaded from here
    initiative: Mapped[Initiative] = relationship(lazy="raise")


#: Revision states in which a revision is still open (at most one per initiative).
OPEN_REVISION_STATES = ("draft", "submitted", "changes_requested")


class InitiativeRevision(Base):
    """A proposed change to a published initiative (issue 8): the whole proposed ``content``
    (same shape as a version's), the approved version it started from (``base_version``),
    its ``status`` (``shared.events.types.REVISION_STATUSES``), a change counter ``version``
    (its ETag), the owner organisation (copied: the permission table's owner rule), the
    assigned reviewer and the creator. At most one open revision (draft, submitted,
    changes_requested) per initiative (partial unique index ``uq_initiative_revisions_open``,
    migration 0008)."""

    __tablename__ = "initiative_revisions"
    __aggregate__ = "revision"  # registry.authz.permissions.Aggregate
    __table_args__ = (UniqueConstraint("initiative_id", "number"),
                      Index("ix_initiative_revisions_queue", "status", "submitted_at",
                            "initiative_id", postgresql_include=["assigned_reviewer_id",
                                                                 "number"]))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_uuid)
    initiative_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("initiatives.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(30), default="draft")
    content: Mapped[dict[str, Any]] = mapped_column(JSONType)
    base_version: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=1)
    owner_organization_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    assigned_reviewer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PublicIdCounter(Base):
    """Last public-id number handed out per year (``PR-<year>-<number:05d>``)."""

    __tablename__ = "public_id_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(Integer, default=0)
