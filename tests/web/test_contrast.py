"""The stylesheet's colour pairs meet WCAG AA (4.5:1 for text, 3:1 for focus and large text)."""

from __future__ import annotations

import re
from pathlib import Path

CSS = (Path(__file__).resolve().parents[2] / "web" / "static" / "tandem.css").read_text()
VARS = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", CSS))


def _lum(hex_: str) -> float:
    def ch(v: int) -> float:
        c = v / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * ch(r) + 0.7152 * ch(g) + 0.0722 * ch(b)


def ratio(a: str, b: str) -> float:
    la, lb = sorted((_lum(VARS.get(a, a)), _lum(VARS.get(b, b))), reverse=True)
    return (la + 0.05) / (lb + 0.05)


TEXT_PAIRS = [
    ("ink", "bg"),
    ("ink", "surface"),
    ("muted", "bg"),
    ("muted", "surface"),
    ("muted", "#eef1f2"),
    ("primary", "surface"),
    ("primary", "bg"),
    ("primary-ink", "primary"),
    ("ink", "primary-soft"),
    ("ok", "surface"),
    ("ok", "ok-soft"),
    ("crisis", "crisis-soft"),
    ("danger", "#fbe9e9"),
    ("ink", "crisis-soft"),
]


def test_text_colours_meet_aa() -> None:
    low = [(a, b, round(ratio(a, b), 2)) for a, b in TEXT_PAIRS if ratio(a, b) < 4.5]
    assert not low, low


def test_focus_ring_and_borders_are_visible() -> None:
    assert ratio("focus", "surface") >= 3 and ratio("focus", "bg") >= 3
    assert ratio("#7a8a92", "surface") >= 3  # input borders (non-text contrast)
