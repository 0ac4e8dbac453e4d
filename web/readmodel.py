"""Start and stop the projections (read models) with the app; read-your-writes helper."""

from __future__ import annotations

import asyncio
from typing import Any

from core.service import Tandem

FRESH_TIMEOUT_S = 2.0


def start_projections(tandem: Tandem, content: Any) -> Any:
    from projections import ProjectionSet

    views = ProjectionSet(tandem.settings, tandem=tandem, content=content)
    views.start()
    return views


def stop_projections(views: Any) -> None:
    if views is not None:
        views.close()


async def caught_up(views: Any, position: int) -> bool:
    """Wait (off the event loop) until the read models include `position`; False on timeout."""
    return bool(await asyncio.to_thread(views.wait_for, position, FRESH_TIMEOUT_S))
