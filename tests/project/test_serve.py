"""`tandem serve --demo` on the embedded store: a page at / and a health report."""

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import free_port

ROOT = Path(__file__).parents[2]


def test_serve_seeds_demo_accounts_and_answers(tmp_path):
    port = free_port()
    env = {**os.environ, "TANDEM_VAR_DIR": str(tmp_path), "PORT": str(port)}
    env.pop("TANDEM_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--demo"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    health = json.load(r)
                break
            except OSError:
                time.sleep(0.3)
        else:
            raise AssertionError("server did not start")
        assert health["status"] == "ok" and health["store"] == "sqlite"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.status == 200 and "Tandem" in r.read().decode()
        assert (tmp_path / "tandem.sqlite").exists()
    finally:
        proc.terminate()
        out = proc.communicate(timeout=20)[0]
        lines = out.splitlines()
    assert any("sam" in line and "service_user" in line for line in lines), out
