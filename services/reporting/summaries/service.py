"""The summary report, computed in SQL over the read model (``reporting.readmodel``).

Rules (issue "reporting summary"; keys are strings so JSON, CSV and HTML agree):

* ``total`` — initiatives whose status is ``published``.
* ``by_sdg_goal`` — published initiatives per SDG goal, keys ``"1"`` … ``"17"`` always all
  present (zeros included); an initiative counts once under EACH goal it is tagged with, so the
  values may add up to more than ``total``.
* ``by_region`` — published initiatives per top-level UN M49 region (derived with
  ``shared.reference.region_names_for`` from the countries and regions): ``Africa``,
  ``Americas``, ``Asia``, ``Europe``, ``Oceania`` always present; ``World`` (tagged ``001``)
  and ``Unspecified`` (no country or region that maps to a region) only when non-zero. An
  initiative counts once under each region it touches.
* ``by_stakeholder_group`` — published initiatives per stakeholder group code of their lead
  organisation: every code of ``shared.reference.STAKEHOLDER_GROUPS`` present (zeros), plus
  ``unspecified`` when some have no lead organisation (and any code outside the catalogue an
  event carried, under its own key).
* ``by_status`` — EVERY initiative the read model knows, by workflow status (the only
  breakdown not limited to published ones); every status of
  ``shared.events.types.INITIATIVE_STATUSES`` present (zeros).
* ``generated_at`` — when it was computed, timezone-aware UTC (RFC 3339 when dumped).

All five counts are read in one transaction (REPEATABLE READ on PostgreSQL), so they describe
the same state of the read model even while the consumer writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reporting.readmodel.models import (
    UNSPECIFIED_REGION,
    ReportInitiative,
    ReportInitiativeGoal,
    ReportInitiativeRegionName,
)
from shared.db import utcnow
from shared.events.types import INITIATIVE_STATUSES
from shared.reference import STAKEHOLDER_GROUPS, goals

PUBLISHED = "published"
#: The five top-level UN M49 regions, always present in ``by_region``.
M49_REGIONS = ("Africa", "Americas", "Asia", "Europe", "Oceania")
WORLD_REGION = "World"
UNSPECIFIED_STAKEHOLDER_GROUP = "unspecified"


@dataclass(frozen=True)
class Summary:
    """The summary report; see the module docstring for what each count means."""

    total: int
    by_sdg_goal: dict[str, int]
    by_region: dict[str, int]
    by_stakeholder_group: dict[str, int]
    by_status: dict[str, int]
    generated_at: datetime


def _group_counts(db_session: Session, stmt) -> dict[str, int]:
    return {str(key): int(count) for key, count in db_session.execute(stmt)}


def _with_defaults(defaults: tuple[str, ...] | list[str], counts: dict[str, int],
                   extras: tuple[str, ...] = ()) -> dict[str, int]:
    """``defaults`` in order (zeros when absent), then ``extras`` in order and any other key,
    sorted, each only when non-zero."""
    out = {key: counts.get(key, 0) for key in defaults}
    out.update({key: counts[key] for key in extras if counts.get(key)})
    out.update({k: v for k, v in sorted(counts.items()) if k not in out and v})
    return out


def _begin_consistent_read(db_session: Session) -> None:
    """Start a snapshot read: REPEATABLE READ, read-only on PostgreSQL (SQLite transactions are
    serializable already)."""
    if db_session.get_bind().dialect.name == "postgresql":
        db_session.connection(execution_options={"isolation_level": "REPEATABLE READ",
                                                  "postgresql_readonly": True})


def compute_summary(*, db_session: Session) -> Summary:
    """Count the read model; see the module docstring for the rules. Read-only: it rolls back
    its own transaction. Raises SQLAlchemy errors when the database is unreachable."""
    _begin_consistent_read(db_session)
    try:
        published = ReportInitiative.status == PUBLISHED
        total = db_session.scalar(select(func.count()).select_from(ReportInitiative)
                                  .where(published)) or 0
        by_goal = _group_counts(db_session, (
            select(ReportInitiativeGoal.goal, func.count())
            .join(ReportInitiative, ReportInitiative.id == ReportInitiativeGoal.initiative_id)
            .where(published).group_by(ReportInitiativeGoal.goal)))
        by_region = _group_counts(db_session, (
            select(ReportInitiativeRegionName.region_name, func.count())
            .join(ReportInitiative,
                  ReportInitiative.id == ReportInitiativeRegionName.initiative_id)
            .where(published).group_by(ReportInitiativeRegionName.region_name)))
        # grouped on the bare column (None = no lead organisation): a COALESCE with a bound
        # literal would differ between SELECT and GROUP BY on PostgreSQL
        by_group: dict[str, int] = {}
        for key, count in db_session.execute(
                select(ReportInitiative.lead_stakeholder_group, func.count())
                .where(published).group_by(ReportInitiative.lead_stakeholder_group)):
            key = UNSPECIFIED_STAKEHOLDER_GROUP if key is None else key
            by_group[key] = by_group.get(key, 0) + int(count)
        by_status = _group_counts(db_session, (
            select(ReportInitiative.status, func.count()).group_by(ReportInitiative.status)))
    finally:
        db_session.rollback()
    return Summary(
        total=int(total),
        by_sdg_goal={str(g): by_goal.get(str(g), 0) for g in sorted(goals())},
        by_region=_with_defaults(M49_REGIONS, by_region, (WORLD_REGION, UNSPECIFIED_REGION)),
        by_stakeholder_group=_with_defaults(list(STAKEHOLDER_GROUPS), by_group,
                                            (UNSPECIFIED_STAKEHOLDER_GROUP,)),
        by_status=_with_defaults(INITIATIVE_STATUSES, by_status),
        generated_at=utcnow(),
    )
