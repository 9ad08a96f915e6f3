"""The summary report, computed in SQL over the read model (``reporting.readmodel``).

Rules (issue "reporting summary"; keys are strings so JSON, CSV and HTML agree):

* ``total`` — active initiatives: status ``published`` or ``completion_declared`` (a
  declared completion waits for the secretariat and may be declined: issue 8); completed,
  archived, withdrawn or suspended ones no longer count here nor in the breakdowns below,
  only in ``by_status``. "Published" below means these active ones.
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
* ``by_reporting_status`` — published initiatives by reporting light (issue 9, UN DESA's rule:
  ``green`` reported within ``REPORTING_YELLOW_MONTHS`` of publication or of the last approved
  progress report, ``yellow`` overdue, ``red`` overdue ``REPORTING_RED_MONTHS`` and shown as
  inactive), keys ``green``, ``yellow``, ``red`` always present; a published initiative whose
  light the registry has not computed yet counts in none of them.
* ``by_status`` — EVERY initiative the read model knows, by workflow status (the only
  breakdown not limited to published ones); every status of
  ``shared.events.types.INITIATIVE_STATUSES`` present (zeros).
* ``generated_at`` — when it was computed, timezone-aware UTC (RFC 3339 when dumped).

How: the consumer keeps one counter per (dimension, key) in ``report_summary_counts``, moved in
the same transaction as each snapshot change (``reporting.readmodel.service``), so
:func:`compute_summary` is ONE read of a few dozen rows — one statement, hence one consistent
state of the read model even while the consumer writes — instead of five GROUP BYs over every
initiative (2.7 s per request at 100,000 initiatives under load before). :func:`count_read_model`
keeps the GROUP BY definitions: migration 0002 fills the counters with them and the tests check
that both always agree.

On top, each process keeps its last answer (:class:`SummaryCache`): dropped at once when this
process's consumer commits a change (``reporting serve`` with its worker, the embedded mode),
and in any case at most ``SUMMARY_CACHE_SECONDS`` (default 1) old — the bound on how late a
change applied by ANOTHER process (``reporting consume`` beside ``RUN_WORKERS=0``) shows. A
request then needs no database round trip at all; on a shared, loaded PostgreSQL the round
trips (pool ping, BEGIN, SELECT, ROLLBACK) were most of a request's time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reporting.readmodel.models import (
    ACTIVE_STATUSES,
    UNSPECIFIED_REGION,
    UNSPECIFIED_STAKEHOLDER_GROUP,
    ReportInitiative,
    ReportInitiativeGoal,
    ReportInitiativeRegionName,
    ReportSummaryCount,
)
from shared.db import utcnow
from shared.events.types import INITIATIVE_STATUSES, REPORTING_STATUSES
from shared.reference import STAKEHOLDER_GROUPS, goals

#: The five top-level UN M49 regions, always present in ``by_region``.
M49_REGIONS = ("Africa", "Americas", "Asia", "Europe", "Oceania")
WORLD_REGION = "World"


@dataclass(frozen=True)
class Summary:
    """The summary report; see the module docstring for what each count means."""

    total: int
    by_sdg_goal: dict[str, int]
    by_region: dict[str, int]
    by_stakeholder_group: dict[str, int]
    by_status: dict[str, int]
    generated_at: datetime
    by_reporting_status: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(REPORTING_STATUSES, 0))


def _with_defaults(defaults: tuple[str, ...] | list[str], counts: dict[str, int],
                   extras: tuple[str, ...] = ()) -> dict[str, int]:
    """``defaults`` in order (zeros when absent), then ``extras`` in order and any other key,
    sorted, each only when non-zero."""
    out = {key: counts.get(key, 0) for key in defaults}
    out.update({key: counts[key] for key in extras if counts.get(key)})
    out.update({k: v for k, v in sorted(counts.items()) if k not in out and v})
    return out


def summary_from_counts(counts: dict[tuple[str, str], int]) -> Summary:
    """The :class:`Summary` of counters ``{(dimension, key): count}`` (dimensions ``total``,
    ``goal``, ``region``, ``stakeholder_group``, ``status``; see
    ``reporting.readmodel.models.ReportSummaryCount``), with every default key and the
    ordering rules of the module docstring."""
    by: dict[str, dict[str, int]] = {}
    for (dimension, key), count in counts.items():
        by.setdefault(dimension, {})[key] = int(count)
    by_goal = by.get("goal", {})
    return Summary(
        total=by.get("total", {}).get("", 0),
        by_sdg_goal={str(g): by_goal.get(str(g), 0) for g in sorted(goals())},
        by_region=_with_defaults(M49_REGIONS, by.get("region", {}),
                                 (WORLD_REGION, UNSPECIFIED_REGION)),
        by_stakeholder_group=_with_defaults(list(STAKEHOLDER_GROUPS),
                                            by.get("stakeholder_group", {}),
                                            (UNSPECIFIED_STAKEHOLDER_GROUP,)),
        by_status=_with_defaults(INITIATIVE_STATUSES, by.get("status", {})),
        generated_at=utcnow(),
        by_reporting_status={colour: by.get("reporting_status", {}).get(colour, 0)
                             for colour in REPORTING_STATUSES},
    )


def compute_summary(*, db_session: Session) -> Summary:
    """The summary from the counters the consumer keeps (one SELECT); see the module docstring
    for the rules. Read-only: it rolls back its own transaction. Raises SQLAlchemy errors when
    the database is unreachable."""
    table = ReportSummaryCount.__table__
    try:  # a Core statement on the session's connection: no ORM result processing
        rows = db_session.connection().execute(
            select(table.c.dimension, table.c.key, table.c.count)).all()
    finally:
        db_session.rollback()
    return summary_from_counts({(d, k): n for d, k, n in rows})


def count_read_model(*, db_session: Session) -> dict[tuple[str, str], int]:
    """The counters computed afresh from the read model's rows with six GROUP BYs
    (``{(dimension, key): count}``, zero counts absent but ``("total", "")``). Costs a scan of
    the read model: for migrations, repairs and tests, not for requests. Does not end the
    caller's transaction."""
    published = ReportInitiative.status.in_(ACTIVE_STATUSES)
    counts: dict[tuple[str, str], int] = {("total", ""): int(db_session.scalar(
        select(func.count()).select_from(ReportInitiative).where(published)) or 0)}
    for goal, count in db_session.execute(
            select(ReportInitiativeGoal.goal, func.count())
            .join(ReportInitiative, ReportInitiative.id == ReportInitiativeGoal.initiative_id)
            .where(published).group_by(ReportInitiativeGoal.goal)):
        counts[("goal", str(goal))] = int(count)
    for name, count in db_session.execute(
            select(ReportInitiativeRegionName.region_name, func.count())
            .join(ReportInitiative,
                  ReportInitiative.id == ReportInitiativeRegionName.initiative_id)
            .where(published).group_by(ReportInitiativeRegionName.region_name)):
        counts[("region", name)] = int(count)
    # grouped on the bare column (None = no lead organisation): a COALESCE with a bound
    # literal would differ between SELECT and GROUP BY on PostgreSQL
    for group, count in db_session.execute(
            select(ReportInitiative.lead_stakeholder_group, func.count())
            .where(published).group_by(ReportInitiative.lead_stakeholder_group)):
        key = ("stakeholder_group", UNSPECIFIED_STAKEHOLDER_GROUP if group is None else group)
        counts[key] = counts.get(key, 0) + int(count)
    for status, count in db_session.execute(
            select(ReportInitiative.status, func.count()).group_by(ReportInitiative.status)):
        counts[("status", status)] = int(count)
    for colour, count in db_session.execute(
            select(ReportInitiative.reporting_status, func.count())
            .where(published, ReportInitiative.reporting_status.in_(REPORTING_STATUSES))
            .group_by(ReportInitiative.reporting_status)):
        counts[("reporting_status", str(colour))] = int(count)
    return counts


class SummaryCache:
    """The last :class:`Summary` a process computed, reused for at most ``max_age`` seconds
    and forgotten by :meth:`invalidate` (called after the local consumer commits a change).

    Thread-safe. A value computed while an invalidation happened is not kept (a generation
    counter), so a reader never gets a summary older than the last local commit it saw.
    ``max_age`` 0 turns caching off.
    """

    def __init__(self, max_age: float):
        self.max_age = max_age
        self._lock = threading.Lock()
        self._generation = 0
        self._value: Summary | None = None
        self._expires = 0.0
        self._renderings: dict[str, str] = {}

    def invalidate(self) -> None:
        """Forget the cached summary (the read model changed)."""
        with self._lock:
            self._generation += 1
            self._value = None
            self._renderings = {}

    def rendered(self, summary: Summary, fmt: str, render: Callable[[], str]) -> str:
        """``render()`` of ``summary`` in format ``fmt`` (e.g. the JSON body), kept as long as
        ``summary`` is the cached summary, so a cache hit costs no serialisation either."""
        with self._lock:
            if summary is self._value and fmt in self._renderings:
                return self._renderings[fmt]
        body = render()
        with self._lock:
            if summary is self._value:
                self._renderings[fmt] = body
        return body

    def get(self, compute: Callable[[], Summary]) -> Summary:
        """The cached summary if fresh, else ``compute()`` (kept unless invalidated meanwhile)."""
        now = time.monotonic()
        with self._lock:
            if self._value is not None and now < self._expires:
                return self._value
            generation = self._generation
        value = compute()
        with self._lock:
            if generation == self._generation and self.max_age > 0:
                self._value, self._expires, self._renderings = value, now + self.max_age, {}
        return value
