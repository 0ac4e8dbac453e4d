"""The live protocol as an outside client finds it: a real server (tests/realtime/conftest.py)
and a small client written from docs/protocol.md alone (plain `websockets`, JSON or msgpack
frames), never realtime/client.py."""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import httpx
import msgpack
import websockets

from tests.realtime.conftest import PASSWORDS, live, live_factory  # noqa: F401 (fixtures)
from tests.realtime.test_backplane import own_redis  # noqa: F401 (fixture)
from tests.web.conftest import sqlite_site  # noqa: F401 (fixture)


def cid() -> str:
    return "c-" + secrets.token_hex(8)


def token(base: str, who: str) -> str:
    """POST /live/token, as the document says."""
    r = httpx.post(f"{base}/live/token", json={"username": who, "password": PASSWORDS[who]}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["token"]


class Peer:
    """One socket: send frames, wait for frames by a condition, see how it closed."""

    def __init__(self, ws: Any, binary: bool):
        self.ws, self.binary = ws, binary
        self.seen: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, server: Any, who: str, sid: str, *, binary: bool = False, tok: str | None = None) -> Peer:
        ws = await websockets.connect(
            f"{server.ws}/ws/sessions/{sid}",
            additional_headers={"Authorization": f"Bearer {tok or server.token(who)}"},
            subprotocols=["tandem.msgpack.v1"] if binary else None,  # type: ignore[list-item]
            ping_interval=None,
            open_timeout=20,
            max_size=None,
        )
        return cls(ws, binary)

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(msgpack.packb(frame) if self.binary else json.dumps(frame))

    async def raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    def _decode(self, data: str | bytes) -> dict[str, Any]:
        return msgpack.unpackb(data) if isinstance(data, bytes) else json.loads(data)

    async def next(self, want: Any, timeout: float = 20) -> dict[str, Any]:
        for m in self.seen:
            if want(m):
                self.seen.remove(m)
                return m
        async with asyncio.timeout(timeout):
            while True:
                m = self._decode(await self.ws.recv())
                if want(m):
                    return m
                self.seen.append(m)

    async def of_type(self, kind: str, timeout: float = 20) -> dict[str, Any]:
        return await self.next(lambda m: m["type"] == kind, timeout)

    async def error(self, timeout: float = 20) -> dict[str, Any]:
        return (await self.of_type("error", timeout))["payload"]

    async def hello(self, **payload: Any) -> dict[str, Any]:
        await self.send({"type": "hello", "payload": payload})
        return await self.of_type("welcome")

    async def closed(self, timeout: float = 30) -> tuple[int | None, str]:
        """Read until the server closes; the close code and reason the client received."""
        async with asyncio.timeout(timeout):
            try:
                while True:
                    self.seen.append(self._decode(await self.ws.recv()))
            except websockets.ConnectionClosed:
                pass
        rcvd = self.ws.protocol.close_rcvd
        return (rcvd.code, rcvd.reason) if rcvd is not None else (None, "")

    async def close(self) -> None:
        await self.ws.close()
