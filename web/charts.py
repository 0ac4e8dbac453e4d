"""Tracker charts: a week of points drawn as accessible SVG (with a table alongside).

Drawn on the server so the chart works without JavaScript and reads the same to a
screen reader as it looks: the SVG has a title and a description listing every value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from html import escape
from typing import Any

from content.model import Measure, Tracker

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
W, H, LEFT, RIGHT, TOP, BOTTOM = 340, 200, 44, 12, 26, 34


@dataclass
class Week:
    monday: date
    days: list[dict[str, float] | None]  # 7 entries, the day's latest values or None

    @property
    def label(self) -> str:
        sunday = self.monday + timedelta(days=6)
        return f"{self.monday:%-d %b} – {sunday:%-d %b %Y}"

    @property
    def id(self) -> str:
        return self.monday.isoformat()


def weeks(series: list[dict[str, Any]], today: date | None = None) -> list[Week]:
    """Group points (oldest first) into weeks, newest week first; the latest point of a day wins.

    The current week is always included so there is somewhere to see today's entry."""
    today = today or date.today()
    by_week: dict[date, list[dict[str, float] | None]] = {}
    for p in series:
        d = date.fromisoformat(p["for_date"])
        monday = d - timedelta(days=d.weekday())
        by_week.setdefault(monday, [None] * 7)[d.weekday()] = dict(p["values"])
    by_week.setdefault(today - timedelta(days=today.weekday()), [None] * 7)
    return [Week(m, by_week[m]) for m in sorted(by_week, reverse=True)]


def value_words(measure: Measure, v: float) -> str:
    text = f"{v:g}" + (f" {measure.unit}" if measure.unit and measure.unit != "points" else "")
    word = measure.labels.get(int(v)) if float(v).is_integer() else None
    return f"{text} ({word})" if word else text


def measure_name(measure: Measure) -> str:
    unit = f" ({measure.unit})" if measure.unit and measure.unit != "points" else ""
    return f"{measure.label}{unit}"


def svg(tracker: Tracker, measure: Measure, week: Week, element_id: str) -> str:
    lo, hi = measure.min, measure.max
    span = (hi - lo) or 1
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + pw * (i + 0.5) / 7

    def y(v: float) -> float:
        return TOP + ph * (1 - (min(max(v, lo), hi) - lo) / span)

    points = [(i, d[measure.id]) for i, d in enumerate(week.days) if d and measure.id in d]
    said = "; ".join(f"{DAYS[i]} {value_words(measure, v)}" for i, v in points) or "no entries yet"
    title = f"{tracker.title}: {measure.label}, week of {week.label}"
    parts = [
        f'<svg class="chart" id="{element_id}" viewBox="0 0 {W} {H}" role="img" '
        f'aria-labelledby="{element_id}-t {element_id}-d" data-week="{week.id}" data-measure="{escape(measure.id)}">',
        f'<title id="{element_id}-t">{escape(title)}</title>',
        f'<desc id="{element_id}-d">{escape(said)}</desc>',
        # What is measured, in sight (the title above is only read out or shown on hover).
        f'<text class="measure" x="{LEFT}" y="16" aria-hidden="true">{escape(measure_name(measure))}</text>',
    ]
    for frac in (0, 0.5, 1):  # three gridlines with their values (whole numbers where the scale is)
        v = lo + span * frac
        if measure.step >= 1:
            v = round(v)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>')
        parts.append(f'<text class="axis" x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    for i, day in enumerate(DAYS):
        parts.append(f'<text class="axis" x="{x(i):.1f}" y="{H - 10}" text-anchor="middle">{day}</text>')
    if len(points) > 1:
        path = " ".join(f"{'M' if k == 0 else 'L'}{x(i):.1f},{y(v):.1f}" for k, (i, v) in enumerate(points))
        parts.append(f'<path class="line" d="{path}"/>')
    for i, v in points:
        parts.append(
            f'<circle class="dot" cx="{x(i):.1f}" cy="{y(v):.1f}" r="6"><title>{DAYS[i]}: {escape(value_words(measure, v))}</title></circle>'
        )
        parts.append(
            f'<text class="val" x="{x(i):.1f}" y="{y(v) - 11:.1f}" text-anchor="middle" aria-hidden="true">{v:g}</text>'
        )
    if not points:
        parts.append(f'<text class="empty" x="{W / 2}" y="{H / 2}" text-anchor="middle">No entries this week</text>')
    parts.append("</svg>")
    return "".join(parts)
