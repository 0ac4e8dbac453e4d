"""Vega-Lite specs for the research dashboard, built from the metrics (data inline).

Each chart is also shown as an HTML table on the page, so the numbers do not depend on
the drawing (or on JavaScript) and a screen reader gets them in full.
"""

from __future__ import annotations

from typing import Any

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"


def _spec(title: str, data: list[dict[str, Any]], **rest: Any) -> dict[str, Any]:
    return {
        "$schema": SCHEMA,
        "title": title,
        "width": "container",
        "height": 260,
        "data": {"values": data},
        # Legends below the plot: on a phone a legend at the side takes half the width.
        "config": {
            "font": "system-ui, sans-serif",
            "axis": {"labelFontSize": 13, "titleFontSize": 13},
            "legend": {"orient": "bottom", "direction": "horizontal", "labelFontSize": 13, "titleFontSize": 13},
        },
        **rest,
    }


def dashboard(m: dict[str, Any]) -> dict[str, dict[str, Any]]:
    retention = [r for r in m["retention"] if r["retained"] is not None]
    # The curve ends a little after the last day anyone was still active, not at day 180.
    last = max((r["day"] for r in retention if r["retained"]), default=0)
    retention = [r for r in retention if r["day"] <= last + 9]
    weekly = [w for w in m["weekly"] if w["mode"] != "all"]
    heat = [h for h in m["video_heatmap"] if h["mode"] == "all" and h["share_played"] is not None]
    return {
        "retention": _spec(
            "Still active, by days since first use",
            retention,
            mark={"type": "line", "point": False, "strokeWidth": 2.5},
            encoding={
                "x": {"field": "day", "type": "quantitative", "title": "Days since first use"},
                "y": {
                    "field": "retained",
                    "type": "quantitative",
                    "title": "Share still active",
                    "axis": {"format": "%"},
                },
                "color": {"field": "arm", "type": "nominal", "title": "Arm"},
                "strokeDash": {"field": "mode", "type": "nominal", "title": "Activity"},
            },
        ),
        "weekly": _spec(
            "Active minutes per participant, by study week",
            weekly,
            mark={"type": "bar"},
            encoding={
                "x": {"field": "week", "type": "ordinal", "title": "Study week"},
                "y": {"field": "active_minutes_mean", "type": "quantitative", "title": "Mean minutes", "stack": "zero"},
                "color": {"field": "mode", "type": "nominal", "title": "Solo or joint"},
                "row": {"field": "arm", "type": "nominal", "title": None},
            },
            height=140,
        ),
        "topics": _spec(
            "Order topics were first explored",
            m["topic_flow"],
            mark={"type": "rect"},
            encoding={
                "x": {"field": "step", "type": "ordinal", "title": "Order (1 = first topic opened)"},
                "y": {"field": "topic", "type": "nominal", "title": "Topic"},
                "color": {
                    "field": "participants",
                    "type": "quantitative",
                    "title": "Participants",
                    "scale": {"scheme": "blues"},
                },
                "column": {"field": "arm", "type": "nominal", "title": None},
            },
            width=220,
        ),
        "videos": _spec(
            "Which parts of each video were played (share of viewers)",
            heat,
            mark={"type": "rect"},
            encoding={
                "x": {"field": "segment", "type": "ordinal", "title": "Part of the video", "sort": None},
                "y": {"field": "video_id", "type": "nominal", "title": "Video"},
                "color": {
                    "field": "share_played",
                    "type": "quantitative",
                    "title": "Share played",
                    "scale": {"scheme": "greens", "domain": [0, 1]},
                },
            },
            height={"step": 18},
        ),
    }


def swimlanes(tl: dict[str, Any], study: Any) -> dict[str, Any]:
    data = [
        {"mode": s["mode"], "start": s["start"], "end": s["end"], "minutes": s["minutes"], "session": s["session"]}
        for s in tl["sessions"]
    ]
    # Short sessions would be invisible as bars over months: each also gets a tick at its start.
    x = {"field": "start", "type": "temporal", "title": "Date"}
    y = {"field": "mode", "type": "nominal", "title": None, "sort": ["solo", "joint"]}
    color = {
        "field": "mode",
        "type": "nominal",
        "legend": None,
        "scale": {"domain": ["solo", "joint"], "range": ["#1f4e79", "#b35900"]},
    }
    return _spec(
        "Sessions over the study period",
        data,
        height=120,
        layer=[
            {
                "mark": {"type": "bar", "height": 26},
                "encoding": {"x": x, "x2": {"field": "end"}, "y": y, "color": color},
            },
            {"mark": {"type": "tick", "thickness": 3, "size": 26}, "encoding": {"x": x, "y": y, "color": color}},
        ],
    )
