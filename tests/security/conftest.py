"""Attack tests against real servers: the live and web fixtures, two app instances sharing one
PostgreSQL store and one Redis, and a raw outside client.

The raw client speaks only what docs/protocol.md says (plain `websockets`, JSON frames),
not realtime/client.py, so it checks the protocol as written, not our own client.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import websockets

from core import settings as settings_mod
from core.settings import Settings
from tests.conftest import drop_pg_schema, fresh_pg_schema
from tests.realtime.conftest import live, live_factory  # noqa: F401 (fixtures)
from tests.realtime.test_backplane import own_redis, pg  # noqa: F401 (fixtures)
from tests.web.conftest import sqlite_site  # noqa: F401 (fixtures)

if TYPE_CHECKING:
    from starlette.testclient import TestClient


def fresh_settings(tmp_path: Path, **more: str) -> Settings:
    # A secret of its own: the limiter's Redis keys are this run's, whoever else uses the Redis.
    return settings_mod.load(
        tandem_var_dir=str(tmp_path), tandem_secret_key=secrets.token_hex(16), tandem_master_key="22" * 32, **more
    )


@pytest.fixture
def pg_redis_settings(tmp_path: Path, postgres_url: str, redis_url: str) -> Iterator[Settings]:
    url, schema = fresh_pg_schema(postgres_url)
    try:
        yield fresh_settings(tmp_path, tandem_database_url=url, tandem_redis_url=redis_url)
    finally:
        drop_pg_schema(postgres_url, schema)


def servers(stack: ExitStack, settings: Settings, n: int) -> list[TestClient]:
    """`n` separate apps (each its own Tandem, writer and limiter) over the same settings."""
    from starlette.testclient import TestClient  # after tests.web.conftest has quietened its warning

    from web.app import create_app

    return [
        stack.enter_context(TestClient(create_app(settings), follow_redirects=False, raise_server_exceptions=False))
        for _ in range(n)
    ]


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
