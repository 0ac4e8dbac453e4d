"""kill -9 a real projection process mid-stream, several times; the result equals a rebuild."""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.log import open_log
from core.settings import Settings
from projections import ProjectionSet

from .conftest import dump

ROOT = Path(__file__).resolve().parents[2]


def _seeder():  # bench/rebuild.py's realistic generator, at a small size
    spec = importlib.util.spec_from_file_location("bench_rebuild", ROOT / "bench" / "rebuild.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.Seeder


def _slowest(watcher: ProjectionSet) -> int:
    return min(s["position"] for s in watcher.status().values())


def _follower(settings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TANDEM_DATABASE_URL": settings.database_url,
        "TANDEM_VAR_DIR": str(settings.var_dir),
        "TANDEM_SECRET_KEY": settings.secret_key,
        "TANDEM_MASTER_KEY": settings.master_key.hex(),
        "TANDEM_PROJECTION_BATCH": "40",  # many small commits: many chances to die between them
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "projections", "follow", "--no-content"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_kill_minus_9_mid_stream_then_resume_equals_rebuild(store_settings: Settings) -> None:
    log = open_log(store_settings)
    _seeder()(log, 5000, random.Random(3)).run()
    head = log.head()
    log.close()
    watcher = ProjectionSet(store_settings)  # reads the tracking table; never applies anything itself
    watcher.prepare()
    rng = random.Random(11)
    # Kill when the follower is seen past a target position, not after a delay: each
    # target leaves a fifth of the log unapplied, so no machine is fast enough to
    # finish in the moment between seeing the position and the kill.
    targets = sorted(rng.randint(head * k // 5, head * k // 5 + head // 10) for k in range(1, 5))
    try:
        for target in targets:
            proc = _follower(store_settings)
            deadline = time.monotonic() + 120
            while _slowest(watcher) < target and time.monotonic() < deadline:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                time.sleep(0.001)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            position = _slowest(watcher)
            assert target <= position < head, f"killed at {position} of {head}, aiming for {target}"

        proc = _follower(store_settings)  # the last run resumes and finishes
        deadline = time.monotonic() + 120
        while _slowest(watcher) < head and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        assert all(s["position"] == head for s in watcher.status().values())
        resumed = dump(watcher)
        watcher.rebuild(progress=False)
        assert dump(watcher) == resumed
    finally:
        watcher.close()
