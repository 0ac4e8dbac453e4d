"""Fixtures for the content tests (helpers that break content live in content/testing.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from content.testing import copy_data


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """A writable copy of content/data that a test may break."""
    return copy_data(tmp_path / "data")
