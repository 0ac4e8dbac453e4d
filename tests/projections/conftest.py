"""Helpers for the projection tests: a started ProjectionSet, and a dump of every view table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from core.service import Tandem
from core.settings import Settings
from projections import ProjectionSet


@pytest.fixture
def views(store_settings: Settings, tandem: Tandem) -> Iterator[ProjectionSet]:
    v = ProjectionSet(store_settings, tandem=tandem, batch_size=50)
    v.start()
    yield v
    v.close()


def dump(views: ProjectionSet) -> dict[str, Any]:
    """Every live view table, ordered, plus dead letters: what rebuild-equals-incremental compares."""
    out: dict[str, Any] = {}
    for p in views.projections.values():
        for spec in p.tables:
            cols = ", ".join(spec.col_names)
            rows = views.store.query(f"SELECT {cols} FROM {spec.name} ORDER BY {', '.join(spec.pk)}")
            out[spec.name] = [tuple(r.values()) for r in rows]
    dead = views.store.query(
        "SELECT projection, position, event_type, reason FROM dead_letters ORDER BY projection, position"
    )
    out["dead_letters"] = [tuple(r.values()) for r in dead]
    return out


def positions(views: ProjectionSet) -> dict[str, int]:
    return {n: s["position"] for n, s in views.status().items()}
