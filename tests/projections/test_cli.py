"""`python -m projections status|rebuild` (the same functions as `tandem projections ...`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.commands import Actor, Command
from core.service import Tandem
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def run(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TANDEM_DATABASE_URL": settings.database_url,
        "TANDEM_VAR_DIR": str(settings.var_dir),
        "TANDEM_SECRET_KEY": settings.secret_key,
        "TANDEM_MASTER_KEY": settings.master_key.hex(),
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, "-m", "projections", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_status_and_rebuild_commands(store_settings: Settings, tandem: Tandem) -> None:
    su = tandem.register("cli-su", "C", "service_user", "password1")
    tandem.record_blocking(Actor(su, "service_user"), Command("TopicOpened", {"topic_id": "recovery"}, "cli-00000001"))
    head = tandem.head()
    out = run(store_settings, "status")
    assert out.returncode == 0, out.stderr
    assert "progress" in out.stdout and f" {head} " in out.stdout
    out = run(store_settings, "rebuild", "--no-content")
    assert out.returncode == 0, out.stderr
    assert f"up to position {head}" in out.stdout and "ev/s" in out.stderr  # the tqdm bar
    lines = [line.split() for line in run(store_settings, "status").stdout.splitlines()[1:]]
    assert all(cols[1] == str(head) and cols[3] == "0" for cols in lines)  # position = head, lag 0
    assert run(store_settings, "rebuild", "nope").returncode == 2
