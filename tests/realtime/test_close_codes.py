"""One set of close codes: the page's JavaScript reads the values realtime.protocol.CloseCode declares."""

from __future__ import annotations

import re
from pathlib import Path

from realtime.protocol import CloseCode, close_codes_js

LIVE = Path(__file__).resolve().parents[2] / "web" / "static" / "live"


def test_the_close_codes_module_is_generated_from_the_enum() -> None:
    module = (LIVE / "close_codes.js").read_text()
    assert module == close_codes_js(), "run `python -m realtime.protocol` to regenerate it"
    found = dict(re.findall(r"^\s+([A-Z_]+): (\d+),$", module, re.M))
    assert {k: int(v) for k, v in found.items()} == {c.name: c.value for c in CloseCode}


def test_the_live_scripts_name_close_codes_only_through_the_module() -> None:
    for script in LIVE.glob("*.js"):
        if script.name == "close_codes.js":
            continue
        text = script.read_text()
        bare = re.findall(r"\.code\s*[=!]==?\s*\d+", text)
        assert not bare, f"{script.name} compares close codes with bare numbers: {bare}"
