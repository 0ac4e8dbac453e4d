"""The follower's drift correction (web/static/live/video.js), run in node: it converges, no oscillation."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.conftest import unavailable

JS = Path(__file__).resolve().parents[2] / "web" / "static" / "live" / "video.js"

SIM = """
import { correction, expectedPosition, SEEK_AT, NUDGE_AT, SETTLE_AT } from "%s";
const out = {};
out.small = correction(0.3, false).action;            // inside the start threshold: leave it
out.keep = correction(0.3, true).action;              // already nudging: keep going until settled
out.stop = correction(0.1, true).action;              // settled
out.nudgeSlow = correction(1.0, false).rate < 1;      // ahead -> slower
out.nudgeFast = correction(-1.0, false).rate > 1;     // behind -> faster
out.seek = correction(4.0, false).action;
out.expected = expectedPosition({ playing: true, position_s: 10, rate: 1, ts: 100 }, 102.5);
out.paused = expectedPosition({ playing: false, position_s: 10, rate: 1, ts: 100 }, 102.5);
// 60 s watch: follower starts 2.2 s behind, with 50 ms jitter per tick; correct every 250 ms.
let drift = -2.2, nudging = false, rate = 1, changes = 0, t = 0, worst = 0;
for (; t < 60; t += 0.25) {
  drift += (rate - 1) * 0.25 + (Math.sin(t * 7) * 0.01);
  const c = correction(drift, nudging, 1);
  if (c.action === "seek") drift = 0.05;
  if (c.rate !== rate) changes++;
  rate = c.rate; nudging = c.nudging;
  if (t > 30) worst = Math.max(worst, Math.abs(drift));
}
out.final = Math.abs(drift); out.changes = changes; out.worstAfter30 = worst;
console.log(JSON.stringify(out));
"""


def test_drift_correction_converges_without_oscillating(tmp_path):
    node = shutil.which("node")
    if not node:
        unavailable("node is not installed (apt-get install nodejs)")
    sim = tmp_path / "sim.mjs"
    sim.write_text(SIM % JS.as_uri())
    out = json.loads(subprocess.run([node, str(sim)], capture_output=True, text=True, check=True).stdout)
    assert out["small"] == "none" and out["keep"] == "nudge" and out["stop"] == "none"
    assert out["nudgeSlow"] and out["nudgeFast"] and out["seek"] == "seek"
    assert out["expected"] == 12.5 and out["paused"] == 10
    assert out["final"] < 0.5 and out["worstAfter30"] < 0.5
    assert out["changes"] <= 4, out  # one nudge on, one off: not flapping
