"""Real servers for the live-session tests: uvicorn on a free port, real sockets, a real store."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import uvicorn

from core.commands import Actor
from core.service import Tandem
from core.settings import Settings
from realtime import tokens
from realtime.client import LiveClient
from realtime.hub import Limits
from realtime.presence import Grace
from tests.conftest import free_port, make_settings
from web.socket_protocol import UVICORN_OPTIONS

PASSWORDS = {"wendy": "wendy-pass-123", "sam": "sam-pass-1234", "walt": "walt-pass-123", "sue": "sue-pass-12345"}


def seed(settings: Settings) -> dict[str, UUID]:
    t = Tandem(settings)
    try:
        ids = {
            "wendy": t.register("wendy", "Wendy Clarke", "worker", PASSWORDS["wendy"]),
            "sam": t.register("sam", "Sam Taylor", "service_user", PASSWORDS["sam"]),
            "walt": t.register("walt", "Walt Other", "worker", PASSWORDS["walt"]),
            "sue": t.register("sue", "Sue Other", "service_user", PASSWORDS["sue"]),
        }
        t.link(ids["wendy"], ids["sam"], by=ids["wendy"])
        t.link(ids["walt"], ids["sue"], by=ids["walt"])
    finally:
        t.close()
    return ids


class ServerThread:
    """uvicorn in a thread of this process (so a test can reach app.state)."""

    def __init__(self, app: Any, port: int):
        self.app, self.port = app, port
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            **UVICORN_OPTIONS,
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@dataclass
class Live:
    base: str
    app: Any
    settings: Settings
    ids: dict[str, UUID]
    server: ServerThread
    clients: list[LiveClient] = field(default_factory=list)

    @property
    def ws(self) -> str:
        return self.base.replace("http://", "ws://")

    @property
    def tandem(self) -> Tandem:
        return self.app.state.tandem

    def token(self, who: str) -> str:
        role = "worker" if who in ("wendy", "walt") else "service_user"
        return tokens.issue(self.settings.secret_key, self.ids[who], role, self.tandem.open_session(self.ids[who]))

    def actor(self, who: str) -> Actor:
        role = "worker" if who in ("wendy", "walt") else "service_user"
        return Actor(self.ids[who], role, device="test")

    async def start_session(self, worker: str = "wendy", su: str = "sam") -> str:
        sid = await asyncio.to_thread(self.tandem.start_session, self.actor(worker), self.ids[su])
        return str(sid)

    async def client(self, who: str, sid: str, *, binary: bool = False, connect: bool = True, **kw: Any) -> LiveClient:
        c = LiveClient(self.ws, sid, token=self.token(who), binary=binary, **kw)
        self.clients.append(c)
        if connect:
            await c.connect()
        return c

    async def pair(self, sid: str | None = None, binary_su: bool = False) -> tuple[str, LiveClient, LiveClient]:
        sid = sid or await self.start_session()
        su = await self.client("sam", sid, binary=binary_su, device_kind="phone")
        worker = await self.client("wendy", sid, device_kind="tablet")
        wendy = str(self.ids["wendy"])
        if wendy not in self.tandem.session(UUID(sid)).present:  # first join: wait until recorded
            await su.wait_for(lambda m: m["type"] == "ParticipantJoined" and m["payload"]["user_id"] == wendy)
        return sid, su, worker


def build_app(settings: Settings, **live_options: Any) -> Any:
    from web.app import create_app

    app = create_app(settings)
    app.state.live_options = {
        "grace": Grace(away_after=1.0, gone_after=2.5),
        "limits": Limits(rate=200, burst=400, kick_after=5000),
        "tick": 0.2,
        "poll": 0.5,
        "redis_url": None,
        **live_options,
    }
    return app


@pytest.fixture
def live_factory(tmp_path: Path) -> Iterator[Any]:
    made: list[Live] = []

    def make(settings: Settings | None = None, **live_options: Any) -> Live:
        s = settings or make_settings(tmp_path)
        ids = seed(s)
        app = build_app(s, **live_options)
        server = ServerThread(app, free_port())
        server.start()
        live = Live(f"http://127.0.0.1:{server.port}", app, s, ids, server)
        made.append(live)
        return live

    yield make
    for live in made:
        live.server.stop()


@pytest.fixture
def live(live_factory: Any) -> Live:
    return live_factory()
