"""Helpers for tests that break a copy of the content on purpose (used by tests/content)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from content.loader import DATA_ROOT, ContentError, ContentProblem, load


def copy_data(dest: Path) -> Path:
    """Copy content/data (without saved version snapshots) to dest; returns dest."""
    shutil.copytree(DATA_ROOT, dest, ignore=shutil.ignore_patterns("versions"))
    return dest


def problems(root: Path) -> list[ContentProblem]:
    """The problems load(root) reports; fails if the content is valid."""
    try:
        load(root)
    except ContentError as e:
        return list(e.errors)
    raise AssertionError(f"expected {root} to be invalid")


def edit_yaml(path: Path, change: Callable[[Any], Any]) -> None:
    """Load a YAML file, let `change` mutate the data in place (its return value is ignored), save."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def first_section(root: Path, topic_dir: str = "01-recovery") -> Path:
    return sorted((root / "topics" / topic_dir).glob("[0-9][0-9]-*.yaml"))[0]


def find(found: list[ContentProblem], file: str, field: str | None, text: str) -> ContentProblem:
    """The problem whose file ends with `file`, with this field, whose message contains text."""
    for p in found:
        if p.file.endswith(file) and p.field == field and text in p.message:
            return p
    raise AssertionError(
        f"no problem for {file!r} field {field!r} containing {text!r}; got:\n" + "\n".join(map(str, found))
    )
