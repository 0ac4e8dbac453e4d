"""A small Python client for live sessions: the tests, the benchmark and `tandem join` use it.

    c = LiveClient("ws://127.0.0.1:8000", session_id, token=token)
    await c.connect()
    ack = await c.durable("TopicOpened", {"topic_id": "recovery"}, drive=True)
    await c.ephemeral("scroll", {"section_id": "p-2", "fraction": 0.4}, drive=True)

It remembers the last durable position it saw, so `reconnect()` resumes with nothing
lost and nothing twice (the server replays from the store, then goes live).
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

from realtime import protocol as P

NOT_DURABLE = {"ack", "welcome", "resumed", "error", "presence", "pong"}


class LiveClient:
    def __init__(
        self,
        base_url: str,
        session_id: str,
        *,
        token: str | None = None,
        cookie: str | None = None,
        origin: str | None = None,
        binary: bool = False,
        device_kind: str = "desktop",
        on_message: Callable[[dict[str, Any], float], None] | None = None,
        keep_history: bool = True,
    ):
        self.base_url = base_url.rstrip("/").replace("http://", "ws://").replace("https://", "wss://")
        self.session_id = session_id
        self.token, self.cookie, self.origin, self.binary = token, cookie, origin, binary
        self.device_kind = device_kind
        self.on_message = on_message
        self.keep_history = keep_history
        self.ws: ClientConnection | None = None
        self.last_position: int | None = None
        self.epoch = 0
        self.holder: str | None = None
        self.me: str | None = None
        self.mirroring = True
        self.participants: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        self.positions: list[int] = []  # durable positions received, in order (tests check no dupes)
        self.closed: tuple[int | None, str] | None = None
        self._seq = itertools.count(1)
        self._changed = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ connection

    async def connect(self, resume: bool = True, timeout: float = 10) -> dict[str, Any]:
        headers: dict[str, str] = {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.cookie:
            headers["Cookie"] = self.cookie
        self.ws = await connect(
            f"{self.base_url}/ws/sessions/{self.session_id}",
            additional_headers=headers,
            origin=self.origin,  # type: ignore[arg-type]
            subprotocols=[P.SUBPROTOCOL] if self.binary else None,  # type: ignore[list-item]
            compression=None,
            max_size=P.MAX_TRANSPORT_FRAME,
            open_timeout=timeout,
            ping_interval=None,
        )
        self.closed = None
        mark = len(self.history)
        self._reader = asyncio.get_running_loop().create_task(self._read(self.ws))
        hello: dict[str, Any] = {"device_kind": self.device_kind}
        if resume and self.last_position is not None:
            hello["last_position"] = self.last_position
        await self.send("hello", hello)
        welcome = await self.wait_for(lambda m: m["type"] == "welcome", timeout, since=mark)
        if "last_position" in hello and welcome["position"] > hello["last_position"]:
            await self.wait_for(lambda m: m["type"] == "resumed", timeout, since=mark)
        return welcome

    async def reconnect(self) -> dict[str, Any]:
        await self.close()
        return await self.connect(resume=True)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 5)
            except (TimeoutError, Exception):
                self._reader.cancel()

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for data in ws:
                now = time.perf_counter()
                msg = P.decode(data) if len(data) <= P.MAX_FRAME else P.decode(data[: P.MAX_FRAME])
                self._observe(msg)
                if self.on_message is not None:
                    self.on_message(msg, now)
                if self.keep_history:
                    self.history.append(msg)
                    async with self._changed:
                        self._changed.notify_all()
        except websockets.ConnectionClosed:
            pass
        finally:
            rcvd = ws.protocol.close_rcvd
            self.closed = (rcvd.code, rcvd.reason) if rcvd else (None, "")
            async with self._changed:
                self._changed.notify_all()

    def _observe(self, m: dict[str, Any]) -> None:
        t = m.get("type")
        p = m.get("payload") or {}
        if t == "welcome":
            self.me = p.get("you")
            self.holder, self.epoch = p["control"]["holder"], p["control"]["epoch"]
            self.mirroring = p.get("mirroring", True)
            self.participants = p.get("participants", [])
            if self.last_position is None:
                self.last_position = m.get("position", 0)
        elif t == "presence":
            self.participants = p.get("participants", [])
        elif t not in NOT_DURABLE and isinstance(m.get("position"), int):
            self.positions.append(m["position"])
            self.last_position = max(self.last_position or 0, m["position"])
            if t == "ControlHandedOver" and p.get("epoch", 0) > self.epoch:
                self.holder, self.epoch = p["to_user"], p["epoch"]
            elif t == "MirroringPaused":
                self.mirroring = False
            elif t == "MirroringResumed":
                self.mirroring = True

    # ------------------------------------------------------------ sending

    async def send_raw(self, data: str | bytes) -> None:
        assert self.ws is not None
        await self.ws.send(data)

    async def send(self, type: str, payload: dict[str, Any] | None = None, **envelope: Any) -> int:
        seq = next(self._seq)
        message = {"type": type, "session": self.session_id, "seq": seq, "payload": payload or {}, **envelope}
        await self.send_raw(P.encode(message, self.binary))
        return seq

    async def durable(
        self,
        type: str,
        payload: dict[str, Any],
        *,
        drive: bool = False,
        client_event_id: str | None = None,
        wait: bool = True,
        timeout: float = 10,
    ) -> dict[str, Any]:
        """Send a durable message; return its ack (or error) frame."""
        cid = client_event_id or f"py-{uuid.uuid4().hex}"
        extra: dict[str, Any] = {"client_event_id": cid}
        if drive:
            extra["epoch"] = self.epoch
        mark = len(self.history)
        seq = await self.send(type, payload, **extra)
        if not wait:
            return {"client_event_id": cid, "seq": seq}
        return await self.wait_for(lambda m: m["type"] in ("ack", "error") and m.get("seq") == seq, timeout, since=mark)

    async def ephemeral(self, type: str, payload: dict[str, Any], *, drive: bool = False) -> int:
        return await self.send(type, payload, **({"epoch": self.epoch} if drive else {}))

    # ------------------------------------------------------------ waiting

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10, since: int = 0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        index = since
        async with self._changed:
            while True:
                while index < len(self.history):
                    m = self.history[index]
                    index += 1
                    if predicate(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching message within {timeout}s; last: {self.history[-3:]}")
                if self.closed is not None and index >= len(self.history):
                    raise ConnectionError(f"connection closed {self.closed}")
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except TimeoutError:
                    pass

    def durable_messages(self) -> list[dict[str, Any]]:
        return [m for m in self.history if m.get("type") not in NOT_DURABLE and isinstance(m.get("position"), int)]
