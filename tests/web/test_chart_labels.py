"""Every drawn chart says in sight what it measures (sleep has two charts side by side)."""

from __future__ import annotations

import re
from datetime import date

from content.loader import load
from web import charts


def test_each_measure_chart_names_its_measure_visibly() -> None:
    sleep = load().tracker("sleep")
    week = charts.weeks([{"for_date": "2026-11-30", "values": {"hours": 7.5, "quality": 4}}], today=date(2026, 12, 1))[
        0
    ]
    shown = []
    for m in sleep.measures:
        svg = charts.svg(sleep, m, week, f"c-{m.id}")
        shown += re.findall(r'<text class="measure"[^>]*>([^<]+)</text>', svg)
    assert shown == ["Hours slept (hours)", "Sleep quality"]
