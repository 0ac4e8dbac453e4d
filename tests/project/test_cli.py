"""The `tandem` command line, run as a person would run it."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def tandem(*args: str, var_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TANDEM_VAR_DIR": str(var_dir)}
    env.pop("TANDEM_DATABASE_URL", None)
    env.pop("TANDEM_REDIS_URL", None)
    return subprocess.run([sys.executable, "-m", "web.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_help_lists_the_commands(tmp_path):
    out = tandem("--help", var_dir=tmp_path).stdout
    for command in ("serve", "seed-demo", "events", "users", "content"):
        assert command in out


def test_seed_then_tail_shows_the_events(tmp_path):
    seeded = tandem("seed-demo", var_dir=tmp_path)
    assert seeded.returncode == 0 and "wendy" in seeded.stdout
    again = tandem("seed-demo", var_dir=tmp_path)  # idempotent
    assert again.returncode == 0
    tail = tandem("events", "tail", "-n", "100", var_dir=tmp_path).stdout.splitlines()
    assert sum("Account.Registered" in line for line in tail) == 4
    assert sum("CaseloadLink.Linked" in line for line in tail) == 1


def test_several_workers_need_postgres_and_redis(tmp_path):
    result = tandem("serve", "--workers", "2", var_dir=tmp_path)
    assert result.returncode == 2 and "PostgreSQL" in result.stderr
