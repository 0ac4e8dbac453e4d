"""Attack tests against real servers: the live fixtures, and a raw outside client.

The raw client speaks only what docs/protocol.md says (plain `websockets`, JSON frames),
not realtime/client.py, so it checks the protocol as written, not our own client.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets

from tests.realtime.conftest import live, live_factory  # noqa: F401 (fixtures)
from tests.realtime.test_backplane import own_redis, pg  # noqa: F401 (fixtures)


class Raw:
    """One outside client's socket: send JSON frames, wait for frames by a condition."""

    def __init__(self, ws: Any):
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, server: Any, who: str, sid: str) -> Raw:
        ws = await websockets.connect(
            f"{server.ws}/ws/sessions/{sid}",
            additional_headers={"Authorization": f"Bearer {server.token(who)}"},
            ping_interval=None,
            open_timeout=10,
        )
        return cls(ws)

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def next(self, want: Any, timeout: float = 15) -> dict[str, Any]:
        """The first frame (already seen or still to come) for which `want(frame)` holds."""
        for m in self.seen:
            if want(m):
                self.seen.remove(m)
                return m
        async with asyncio.timeout(timeout):
            while True:
                m = json.loads(await self.ws.recv())
                if want(m):
                    return m
                self.seen.append(m)

    async def hello(self, **payload: Any) -> dict[str, Any]:
        await self.send({"type": "hello", "payload": payload})
        return await self.next(lambda m: m["type"] == "welcome")

    async def close(self) -> None:
        await self.ws.close()
