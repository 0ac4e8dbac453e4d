"""`python -m content check` and the add_commands hook for the main CLI."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from content.cli import add_commands, main
from content.loader import DATA_ROOT
from content.testing import edit_yaml, first_section

REPO = DATA_ROOT.parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "content", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_check_shipped_content_exits_0() -> None:
    r = run("check")
    assert r.returncode == 0, r.stderr
    assert "content OK, version" in r.stdout
    for name in ("topics", "sections", "peers", "videos", "questions", "trackers", "worksheets"):
        assert name in r.stdout


def test_check_broken_content_exits_1(data_copy: Path) -> None:
    f = first_section(data_copy)
    edit_yaml(f, lambda d: d.update(summary="Far too short.", video="v-nobody"))
    r = run("check", "--root", str(data_copy))
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert any(line.endswith(f"{f.name}: field 'summary': has 3 words, needs 150-400") for line in lines)
    assert any(f"{f.name}: field 'video': unknown video 'v-nobody'" in line for line in lines)


def test_add_commands_on_a_parent_parser(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="tandem")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["content", "check"])
    assert args.func(args) == 0
    assert "content OK" in capsys.readouterr().out
    args = parser.parse_args(["content", "make-media", "--only", "v-me-joe"])
    assert args.only == ["v-me-joe"]


def test_main_returns_exit_code(data_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (data_copy / "peers.yaml").unlink()
    assert main(["check", "--root", str(data_copy)]) == 1
    assert "peers.yaml: file is missing" in capsys.readouterr().err


def test_snapshot_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["snapshot", "--dir", str(tmp_path)]) == 0
    written = Path(capsys.readouterr().out.strip())
    assert written.parent == tmp_path and written.suffix == ".json"
