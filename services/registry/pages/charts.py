"""Server-rendered SVG charts of an initiative's progress (the public progress tab): the
progress of its approved reports (percent, 0-100) and the actual values of each indicator
over time, with its baseline and target. No JavaScript: plain inline SVG (``role="img"``
named by its ``<title>``/``<desc>``), each point carrying a ``<title>`` (the browser's
tooltip), and the same numbers as a table beside it for screen readers and copying.

Shapes: :func:`line_chart` takes ``[(date, number)]`` points and returns :class:`Chart`
(``svg`` markup, safe to embed; ``rows`` for the table). Dates are placed on a linear time
axis; numbers on a linear axis from the lower bound (0 unless a value is negative) to the
upper bound (100 for percentages, else the largest value, baseline or target plus a tenth).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from flask_babel import format_date, format_decimal
from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 20, 16, 36
#: Colours (WCAG AA against white for lines and text).
INK, GRID, LINE, TARGET, BASELINE = "#263238", "#cfd8dc", "#19486a", "#b3261e", "#546e7a"

_ids = itertools.count(1)


@dataclass
class Chart:
    """A rendered chart: ``svg`` (Markup) and the ``rows`` it shows ``[(date, number)]``."""

    svg: Markup
    rows: list[tuple[date, Decimal]] = field(default_factory=list)


def _number(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def _fmt(value: Decimal | float) -> str:
    return format_decimal(value, format="#,##0.##")


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values between ``lo`` and ``hi``."""
    span = hi - lo or 1.0
    raw = span / (count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = (lo // step) * step
    out: list[float] = []
    value = first
    while value <= hi + step * 1e-9 and len(out) < 12:
        if value >= lo - step * 1e-9:
            out.append(round(value, 10))
        value += step
    return out


def line_chart(points: list[tuple[date, Any]], *, title: str, description: str,
               percent: bool = False, baseline: Any = None, target: Any = None,
               baseline_label: str = "", target_label: str = "") -> Chart:
    """An SVG line chart of ``points`` (``[(date, number)]``, sorted here; points without a
    date or a number are left out), with optional horizontal ``baseline`` and ``target``
    lines (labelled ``baseline_label``/``target_label``). ``title``/``description`` name the
    chart for assistive technology."""
    clean = sorted((d, n) for d, n in ((d, _number(v)) for d, v in points)
                   if d is not None and n is not None)
    base, goal = _number(baseline), _number(target)
    uid = next(_ids)
    values = [float(n) for _d, n in clean] + [float(x) for x in (base, goal) if x is not None]
    lo = min([0.0, *values])
    hi = 100.0 if percent else max([*values, 1.0]) * 1.1
    if hi <= lo:
        hi = lo + 1
    days = [d.toordinal() for d, _n in clean] or [date.today().toordinal()]
    first, last = min(days), max(days)
    if first == last:
        first, last = first - 180, last + 180
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: int) -> float:
        return LEFT + (day - first) / (last - first) * plot_w

    def y(value: float) -> float:
        return TOP + (1 - (value - lo) / (hi - lo)) * plot_h

    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
             f'height="{HEIGHT}" role="img" aria-labelledby="chart-{uid}-title chart-{uid}-desc"'
             ' xmlns="http://www.w3.org/2000/svg">',
             f'<title id="chart-{uid}-title">{escape(title)}</title>',
             f'<desc id="chart-{uid}-desc">{escape(description)}</desc>',
             f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" '
             f'stroke="{GRID}"/>']
    for tick in _ticks(lo, hi):
        ty = y(tick)
        label = _fmt(tick) + ("%" if percent else "")
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{ty:.1f}" y2="{ty:.1f}" '
                     f'stroke="{GRID}" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end" '
                     f'font-size="11" fill="{INK}">{escape(label)}</text>')
    shown_days = sorted({d.toordinal() for d, _n in clean})
    if len(shown_days) > 6:
        step = (len(shown_days) - 1) / 5
        shown_days = [shown_days[round(i * step)] for i in range(6)]
    for day in shown_days:
        parts.append(f'<text x="{x(day):.1f}" y="{HEIGHT - 12}" text-anchor="middle" '
                     f'font-size="11" fill="{INK}">'
                     f'{escape(format_date(date.fromordinal(day), "short"))}</text>')
    for value, colour, dash, label in ((base, BASELINE, "2 3", baseline_label),
                                       (goal, TARGET, "6 4", target_label)):
        if value is None:
            continue
        ly = y(float(value))
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{ly:.1f}" y2="{ly:.1f}" '
                     f'stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>')
        parts.append(f'<text x="{LEFT + plot_w - 4}" y="{ly - 5:.1f}" text-anchor="end" '
                     f'font-size="11" fill="{colour}">{escape(label)}</text>')
    if clean:
        coords = " ".join(f"{x(d.toordinal()):.1f},{y(float(n)):.1f}" for d, n in clean)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{LINE}" '
                     'stroke-width="2.5"/>')
        for d, n in clean:
            tip = f"{format_date(d, 'medium')}: {_fmt(n)}{'%' if percent else ''}"
            parts.append(f'<circle cx="{x(d.toordinal()):.1f}" cy="{y(float(n)):.1f}" r="4.5" '
                         f'fill="{LINE}"><title>{escape(tip)}</title></circle>')
    parts.append("</svg>")
    # every piece of text above went through escape(); numbers are formatted here
    return Chart(svg=Markup("".join(parts)), rows=clean)  # noqa: S704  # nosec B704
