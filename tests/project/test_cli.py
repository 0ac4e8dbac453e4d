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
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_help_lists_the_commands(tmp_path):
    out = tandem("--help", var_dir=tmp_path).stdout
    for command in ("serve", "seed-demo", "events", "users", "content"):
        assert command in out


def test_seed_then_tail_shows_the_events(tmp_path):
    from web.demo import DEMO, DEMO_PARTICIPANTS

    def counts() -> tuple[int, int]:
        tail = tandem("events", "tail", "-n", "1000000", var_dir=tmp_path).stdout.splitlines()
        return sum("Account.Registered" in line for line in tail), sum("CaseloadLink.Linked" in line for line in tail)

    seeded = tandem("seed-demo", var_dir=tmp_path)
    assert seeded.returncode == 0 and "wendy" in seeded.stdout
    registered, linked = counts()
    # The four demo accounts and Wendy's link to Sam, and the demo study's generated people and their links.
    assert registered >= len(DEMO) + DEMO_PARTICIPANTS and linked >= 1 + DEMO_PARTICIPANTS
    again = tandem("seed-demo", var_dir=tmp_path)  # idempotent: nothing is created twice
    assert again.returncode == 0
    assert counts() == (registered, linked)


def test_several_workers_need_postgres_and_redis(tmp_path):
    result = tandem("serve", "--workers", "2", var_dir=tmp_path)
    assert result.returncode == 2 and "PostgreSQL" in result.stderr


def test_the_console_can_reset_a_forgotten_password_deactivate_and_erase(tmp_path):
    """When no admin can log in (an admin who forgot theirs), the server's console can act."""
    from core import settings as settings_mod
    from core.aggregates import account_id
    from core.service import Tandem

    assert tandem("seed-demo", var_dir=tmp_path).returncode == 0
    reset = tandem("users", "reset-password", "adam", "--base-url", "https://tandem.example", var_dir=tmp_path)
    assert reset.returncode == 0 and "adam's password is reset" in reset.stdout
    link = reset.stdout.strip().splitlines()[-1]
    assert link.startswith("https://tandem.example/password/set/")
    refused = tandem("users", "erase", "sam", var_dir=tmp_path)
    assert refused.returncode == 1 and "--yes sam" in refused.stderr
    assert (
        tandem("users", "erase", "wendy", "--yes", "wendy", var_dir=tmp_path).returncode == 1
    )  # a worker: deactivate instead
    assert tandem("users", "deactivate", "rita", "--by", "adam", var_dir=tmp_path).returncode == 0
    erased = tandem("users", "erase", "sam", "--yes", "sam", "--by", "adam", var_dir=tmp_path)
    assert erased.returncode == 0 and "can no longer be read" in erased.stdout
    t = Tandem(settings_mod.load(tandem_var_dir=str(tmp_path)))
    try:
        assert t.authenticate("adam", "adam-demo-pass") is None  # the old password no longer works
        _, token = link.rsplit("/", 1)[1].split(".", 1)
        t.set_password_by_link(account_id("adam"), token, "adams-new-pass")
        assert t.authenticate("adam", "adams-new-pass") is not None
        assert t.authenticate("rita", "rita-demo-pass") is None
        assert t.account(account_id("sam")).erased
    finally:
        t.close()
