"""`tandem research export`: the same rule, consent filter and audit as the dashboard's downloads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core import aggregates as A
from core.service import Tandem
from tests.conftest import make_settings
from tests.web.conftest import seed_all

ROOT = Path(__file__).resolve().parents[2]


def _run(var: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TANDEM_VAR_DIR": str(var),
        "TANDEM_SECRET_KEY": "test-secret",
        "TANDEM_MASTER_KEY": "11" * 32,
        "PYTHONPATH": str(ROOT),
    }
    env.pop("TANDEM_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "web.cli", "research", "export", *args],
        cwd=var,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_export_from_the_command_line(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    seed_all(settings)
    out = _run(tmp_path, "tandem-pilot", "--by", "rita", "--format", "csv", "--out", str(tmp_path / "e.csv"))
    assert out.returncode == 0, out.stderr
    assert "participant" in out.stderr and "100%" in out.stderr, "a progress bar on stderr"
    lines = (tmp_path / "e.csv").read_text().splitlines()
    assert lines[0].startswith("study,participant,arm,at") and len(lines) > 100
    assert all("demo-p" not in line for line in lines)

    out = _run(tmp_path, "tandem-pilot", "--by", "rita", "--format", "parquet", "--out", str(tmp_path / "pq"))
    assert out.returncode == 0, out.stderr
    assert {p.name for p in (tmp_path / "pq").iterdir()} == {"arm=therapy", "arm=routine"}
    import pyarrow.dataset as ds

    table = ds.dataset(tmp_path / "pq", format="parquet", partitioning="hive").to_table()
    assert table.num_rows == len(lines) - 1, "the partitioned files read back as one table, every event once"
    assert set(table.column("arm").to_pylist()) == {"therapy", "routine"}

    head = _head(settings)
    out = _run(tmp_path, "tandem-pilot", "--by", "adam", "--format", "csv")
    assert out.returncode == 3 and "not on this study" in out.stderr
    t = Tandem(settings)
    try:
        refused = [e for _, e in t.read(head, 100) if isinstance(e, A.AuditTrail.DataAccessed) and not e.allowed]
    finally:
        t.close()
    assert refused and refused[0].resource.startswith("research:")


def _head(settings: object) -> int:
    t = Tandem(settings)  # type: ignore[arg-type]
    try:
        return t.head()
    finally:
        t.close()
