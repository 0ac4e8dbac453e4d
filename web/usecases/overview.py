"""Charts across the journey: each tracker over a week, a month or three months, with the days
of joint sessions marked. Drawn as SVG (presentation attributes and classes only, so it works
under a strict CSP and offline in the export) with the same values as a table."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from html import escape
from typing import Any

from starlette.requests import Request

from content.model import ContentSet, Measure, Tracker
from web import errors
from web.charts import value_words

ZOOMS = {"week": ("Week", 7), "month": ("Month", 31), "quarter": ("Three months", 92)}
W, H, LEFT, RIGHT, TOP, BOTTOM = 640, 220, 48, 14, 16, 36


@dataclass
class Row:
    day: str
    text: str
    joint: bool


@dataclass
class MeasureChart:
    measure: Measure
    svg: str
    rows: list[Row]


@dataclass
class TrackerChart:
    tracker: Tracker
    start: str
    end: str
    measures: list[MeasureChart]
    total_points: int


def parse_chart_query(params: Mapping[str, str], content: ContentSet) -> tuple[str, str | None]:
    unknown = sorted(set(params) - {"zoom", "tracker"})
    if unknown:
        raise errors.WebError(422, "invalid_field", "unknown parameter; use zoom and tracker", unknown[0])
    zoom = params.get("zoom") or "month"
    if zoom not in ZOOMS:
        raise errors.WebError(422, "invalid_field", f"must be one of {', '.join(ZOOMS)}", "zoom")
    tracker = params.get("tracker") or None
    if tracker is not None and not content.knows("tracker", tracker):
        raise errors.WebError(422, "invalid_field", "there is no such tracker", "tracker")
    return zoom, tracker


def joint_days(views: Any, su_id: Any) -> set[str]:
    found = views.journey.q("SELECT started_at FROM jrn_visits WHERE su_id = ? AND joint = 1", str(su_id))
    return {r["started_at"][:10] for r in found}


def chart_for(tracker: Tracker, series: list[dict[str, Any]], joint: set[str], days: int) -> TrackerChart:
    """The last `days` days up to the newest point (today when there are none)."""
    end = date.fromisoformat(series[-1]["for_date"]) if series else date.today()
    start = end - timedelta(days=days - 1)
    in_range = [p for p in series if start.isoformat() <= p["for_date"] <= end.isoformat()]
    latest: dict[str, dict[str, float]] = {}
    for p in in_range:
        latest[p["for_date"]] = p["values"]  # the day's latest point wins, as on the weekly chart
    measures = []
    for m in tracker.measures:
        pts = [(d, v[m.id]) for d, v in sorted(latest.items()) if m.id in v]
        rows = [Row(d, value_words(m, val), d in joint) for d, val in pts]
        measures.append(MeasureChart(m, svg(tracker, m, pts, start, days, joint), rows))
    return TrackerChart(tracker, start.isoformat(), end.isoformat(), measures, len(series))


def svg(tracker: Tracker, m: Measure, pts: list[tuple[str, float]], start: date, days: int, joint: set[str]) -> str:
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    span = (m.max - m.min) or 1

    def x(day: str) -> float:
        i = (date.fromisoformat(day) - start).days
        return LEFT + (pw * (i + 0.5) / days)

    def y(v: float) -> float:
        return TOP + ph * (1 - (min(max(v, m.min), m.max) - m.min) / span)

    label = f"{tracker.title}: {m.label}, {len(pts)} points from {start:%-d %b %Y}"
    out = [
        f'<svg class="jchart" viewBox="0 0 {W} {H}" role="img" aria-labelledby="t-{tracker.id}-{m.id}">',
        f'<title id="t-{tracker.id}-{m.id}">{escape(label)}</title>',
    ]
    band = pw / days
    for d in sorted(joint):
        if start.isoformat() <= d <= (start + timedelta(days=days - 1)).isoformat():
            out.append(
                f'<rect class="jchart-joint" x="{x(d) - band / 2:.1f}" y="{TOP}" width="{max(band, 2):.1f}" '
                f'height="{ph}" fill="#e3f0f2"/>'
            )
    for v in (m.min, (m.min + m.max) / 2, m.max):
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#d5dcdf"/>')
        out.append(
            f'<text x="{LEFT - 6}" y="{y(v) + 5:.1f}" text-anchor="end" font-size="13" fill="#4a5a63">{v:g}</text>'
        )
    ticks = 7 if days <= 7 else 5
    for i in range(ticks):
        tick = start + timedelta(days=round(i * (days - 1) / max(ticks - 1, 1)))
        anchor = "start" if i == 0 else "end" if i == ticks - 1 else "middle"  # the ends stay inside the chart
        out.append(
            f'<text x="{x(tick.isoformat()):.1f}" y="{H - 12}" text-anchor="{anchor}" font-size="13" '
            f'fill="#4a5a63">{tick:%-d %b}</text>'
        )
    if pts:
        line = " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in pts)
        out.append(f'<polyline points="{line}" fill="none" stroke="#1f5f6e" stroke-width="2.5"/>')
        for d, v in pts:
            out.append(f'<circle cx="{x(d):.1f}" cy="{y(v):.1f}" r="4" fill="#1f5f6e"/>')
    out.append("</svg>")
    return "".join(out)


async def journey_charts(request: Request, viewer: Any, zoom: str, only: str | None) -> list[TrackerChart]:
    content: ContentSet = request.app.state.content
    views = request.app.state.projections
    joint = await asyncio.to_thread(joint_days, views, viewer.su_id)
    out = []
    for t in content.trackers:
        if only and t.id != only:
            continue
        if viewer.shares is not None and not viewer.shares.tracker(t.id):
            continue
        series = await asyncio.to_thread(views.trackers.series, viewer.su_id, t.id)
        if series or only:
            out.append(chart_for(t, series, joint, ZOOMS[zoom][1]))
    return out
