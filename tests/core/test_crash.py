"""kill -9 between commit and acknowledgement loses nothing and duplicates nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core import aggregates as A
from core.commands import Actor, Command
from core.service import Tandem

COUNT = 3000


@pytest.mark.slow
def test_kill_9_mid_load_then_retry_everything(store_settings, tmp_path: Path):
    t = Tandem(store_settings)
    su = t.register("sam", "Sam", "service_user", "correct horse")
    t.close()

    proc = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("load_writer.py")),
            str(store_settings.var_dir),
            store_settings.database_url,
            str(su),
            str(COUNT),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    acked: dict[str, int] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("ACK"):
            _, cid, pos = line.split()
            acked[cid] = int(pos)
        if len(acked) >= 400:
            break
    proc.send_signal(signal.SIGKILL)  # mid-load: some batches committed but not yet acknowledged
    proc.wait()
    assert 400 <= len(acked) < COUNT

    t = Tandem(store_settings)
    try:

        def stored() -> dict[str, list[int]]:
            seen: dict[str, list[int]] = {}
            for pos, e in t.read(0, 100_000):
                if isinstance(e, A.Journey.SectionViewed):
                    seen.setdefault(e.client_event_id, []).append(pos)
            return seen

        before = stored()
        for cid, pos in acked.items():  # every acknowledged action is there, where we were told
            assert before[cid] == [pos]

        # The client retries everything it sent; committed ones get their first ack back.
        actor = Actor(su, "service_user")
        futures = {
            f"crash-{i:06d}": t.submit(
                actor,
                Command("SectionViewed", {"section_id": "recovery/hope", "seconds_on_screen": i}, f"crash-{i:06d}"),
            )
            for i in range(COUNT)
        }
        for cid, fut in futures.items():
            ack = fut.result(60)
            if cid in before:
                assert ack.duplicate and ack.position == before[cid][0]
        after = stored()
        assert len(after) == COUNT and all(len(p) == 1 for p in after.values())
    finally:
        t.close()
