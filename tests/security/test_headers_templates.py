"""Nothing in the templates needs 'unsafe-inline': no inline script, style attribute, style
element or event-handler attribute (the browser test shows the pages run under the policy)."""

from __future__ import annotations

import re
from pathlib import Path

import web

TEMPLATES = Path(web.__file__).parent / "templates"
INLINE = {
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
    "style element": re.compile(r"<style\b", re.I),
    "style attribute": re.compile(r"\sstyle\s*=", re.I),
    "event handler": re.compile(r"\son[a-z]+\s*=", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}


def test_templates_hold_no_inline_script_or_style() -> None:
    found = []
    files = sorted(TEMPLATES.rglob("*.html"))
    assert len(files) > 10
    for path in files:
        text = path.read_text()
        for what, pattern in INLINE.items():
            found += [f"{path.relative_to(TEMPLATES)}: {what}: {m.group(0)}" for m in pattern.finditer(text)]
    assert found == []
