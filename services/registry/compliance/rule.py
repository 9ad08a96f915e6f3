"""The reporting rule: the UN DESA Partnerships for SDGs platform's traffic light (since 2018).

A published initiative reports its progress every year. Its reporting *cycle* starts at its
*anchor*: the later of the publication date and the ``reported_on`` date of its last approved
progress report. From the anchor:

- ``upcoming_on`` = ``yellow_on`` - ``REPORTING_REMINDER_DAYS_BEFORE`` days (first reminder);
- ``yellow_on`` = anchor + ``REPORTING_YELLOW_MONTHS`` (12) calendar months: the report is
  *due*, and the light turns yellow;
- ``red_on`` = anchor + ``REPORTING_RED_MONTHS`` (24) months: the light turns red and the
  initiative is shown as *inactive*.

Months are calendar months, the day clamped to the month's last day (31 January + 1 month =
28 or 29 February), with :func:`calendar.monthrange` (PostgreSQL's ``date + interval`` does
the same). Pure functions: no database, no clock.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta

#: The lights, least to most severe (``shared.events.types.REPORTING_STATUSES``).
GREEN, YELLOW, RED = "green", "yellow", "red"
#: Reminder kinds the job decides, least to most severe (``REMINDER_KINDS`` less ``manual``).
UPCOMING, DUE, TURNED_YELLOW, TURNED_RED, MANUAL = "upcoming", "due", "yellow", "red", "manual"
SEVERITY = {UPCOMING: 0, DUE: 1, TURNED_YELLOW: 2, TURNED_RED: 3}


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, the day clamped to the target month's length."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Cycle:
    """A reporting cycle: its start (``anchor_on``) and the dates the rule derives from it."""

    anchor_on: date
    upcoming_on: date
    yellow_on: date
    red_on: date


def cycle(anchor_on: date, *, yellow_months: int, red_months: int, days_before: int) -> Cycle:
    """The :class:`Cycle` starting on ``anchor_on`` (publication or last approved report's
    ``reported_on``) under the thresholds (settings ``REPORTING_YELLOW_MONTHS``,
    ``REPORTING_RED_MONTHS``, ``REPORTING_REMINDER_DAYS_BEFORE``)."""
    yellow_on = add_months(anchor_on, yellow_months)
    return Cycle(anchor_on=anchor_on, upcoming_on=yellow_on - timedelta(days=days_before),
                 yellow_on=yellow_on, red_on=add_months(anchor_on, red_months))


def light(c: Cycle, as_of: date | datetime) -> str:
    """``green`` before ``yellow_on``, ``yellow`` from it until ``red_on``, ``red`` from
    ``red_on`` (UN DESA: 12 and 24 months without an approved report). A datetime counts by
    its UTC date."""
    day = as_of.date() if isinstance(as_of, datetime) else as_of
    if day < c.yellow_on:
        return GREEN
    if day < c.red_on:
        return YELLOW
    return RED


def kinds_due(c: Cycle, as_of: date | datetime) -> list[str]:
    """The reminder kinds whose date has come as of ``as_of`` in cycle ``c``, least severe
    first: ``upcoming`` (from ``upcoming_on``), ``due`` and ``yellow`` (from ``yellow_on``),
    ``red`` (from ``red_on``)."""
    day = as_of.date() if isinstance(as_of, datetime) else as_of
    kinds = []
    if day >= c.upcoming_on:
        kinds.append(UPCOMING)
    if day >= c.yellow_on:
        kinds += [DUE, TURNED_YELLOW]
    if day >= c.red_on:
        kinds.append(TURNED_RED)
    return kinds


def anchor(published_on: date | None, last_report_on: date | None) -> date | None:
    """The cycle's start: the later of the publication date and the last approved report's
    date (None when not published)."""
    if published_on is None:
        return None
    if last_report_on is None or last_report_on < published_on:
        return published_on
    return last_report_on
