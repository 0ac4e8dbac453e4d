"""The app served by a real uvicorn on a free port, with the demo accounts, for the attack tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from core.commands import Actor
from core.service import Tandem
from tests.conftest import free_port, make_settings
from tests.realtime.conftest import Live, ServerThread, build_app, seed
from tests.web.conftest import csrf_of
from web import demo
from web.demo import DEMO

PASSWORDS = {u: p for u, _, _, p in DEMO}


@dataclass
class Served:
    base: str
    app: Any
    server: ServerThread

    @property
    def tandem(self) -> Tandem:
        return self.app.state.tandem

    def id_of(self, username: str) -> UUID:
        from core.aggregates import account_id

        return account_id(username)

    def login(self, username: str | None) -> tuple[httpx.Client, str]:
        """An HTTP client (logged in as `username`, or anonymous) and its CSRF token."""
        c = httpx.Client(base_url=self.base, follow_redirects=False, timeout=30)
        token = csrf_of(c.get("/login").text)
        if username is not None:
            r = c.post("/login", data={"csrf": token, "username": username, "password": PASSWORDS[username]})
            assert r.status_code == 303, r.text
            token = csrf_of(c.get("/account").text)
        return c, token

    def start_session(self) -> UUID:
        wendy = Actor(self.id_of("wendy"), "worker", device="test")
        return self.tandem.start_session(wendy, self.id_of("sam"))


def serve(tmp_path: Path, extra_routes: list[Any] | None = None) -> Served:
    settings = make_settings(tmp_path)
    t = Tandem(settings)
    try:
        demo.seed(t)
    finally:
        t.close()
    app = build_app(settings)
    app.router.routes[:0] = extra_routes or []
    server = ServerThread(app, free_port())
    server.start()
    return Served(f"http://127.0.0.1:{server.port}", app, server)


@pytest.fixture(name="served")
def served_fixture(tmp_path: Path) -> Iterator[Served]:
    s = serve(tmp_path)
    try:
        yield s
    finally:
        s.server.stop()


def live_server(tmp_path: Path, **live_options: Any) -> Live:
    """The realtime tests' seeded live server (their accounts), started on a free port."""
    settings = make_settings(tmp_path)
    ids = seed(settings)
    app = build_app(settings, **live_options)
    server = ServerThread(app, free_port())
    server.start()
    return Live(f"http://127.0.0.1:{server.port}", app, settings, ids, server)
