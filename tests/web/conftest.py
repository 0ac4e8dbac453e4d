"""Fixtures for the web tests: the app over a real store with demo accounts, logged-in clients."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import pytest

from core.service import Tandem
from core.settings import Settings

warnings.filterwarnings("ignore", message=".*httpx2.*")
from starlette.testclient import TestClient  # noqa: E402

# Beyond the demo accounts: a second SU and worker, so "another person's data" exists.
EXTRA = [("sue", "Sue Other", "service_user", "sue-pass-12345"), ("walt", "Walt Other", "worker", "walt-pass-12345")]
PASSWORDS = {
    "sam": "sam-demo-pass",
    "wendy": "wendy-demo-pass",
    "rita": "rita-demo-pass",
    "adam": "adam-demo-pass",
    **{u: p for u, _, _, p in EXTRA},
}


def seed_all(settings: Settings) -> dict[str, UUID]:
    from core.aggregates import account_id
    from web import demo

    t = Tandem(settings)
    try:
        demo.seed(t)
        for username, name, role, password in EXTRA:
            t.register(username, name, role, password)
        t.link(account_id("walt"), account_id("sue"), by=account_id("adam"))
    finally:
        t.close()
    return {u: account_id(u) for u in PASSWORDS}


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf-token" content="([^"]+)"', html) or re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


@dataclass
class Site:
    app: Any
    ids: dict[str, UUID]
    clients: list[TestClient] = field(default_factory=list)

    def client(self) -> TestClient:
        # Only the first client runs the app's lifespan (one Tandem, one ProjectionSet);
        # the others share it and keep their own cookies.
        c = TestClient(self.app, follow_redirects=False, raise_server_exceptions=False)
        if not self.clients:
            c.__enter__()
            # The seeded demo is thousands of events: pages read the projections, so start caught up.
            state = self.app.state
            assert state.projections.wait_for(state.tandem.head(), timeout=120), "projections did not catch up"
        self.clients.append(c)
        return c

    def login(self, username: str | None) -> tuple[TestClient, str]:
        """A client logged in as `username` (or anonymous for None) and its CSRF token."""
        c = self.client()
        token = csrf_of(c.get("/login").text)
        if username is None:
            return c, token
        r = c.post("/login", data={"csrf": token, "username": username, "password": PASSWORDS[username]})
        assert r.status_code == 303, r.text
        return c, csrf_of(c.get("/account").text)

    def log_in_status(self, username: str, password: str) -> int:
        """The status a fresh log-in with these credentials gets (303 in, 400 refused)."""
        c = self.client()
        token = csrf_of(c.get("/login").text)
        return c.post("/login", data={"csrf": token, "username": username, "password": password}).status_code

    @property
    def tandem(self) -> Tandem:
        return self.app.state.tandem

    @property
    def views(self) -> Any:
        return self.app.state.projections


@pytest.fixture
def site(store_settings: Settings) -> Iterator[Site]:
    from web.app import create_app

    ids = seed_all(store_settings)
    app = create_app(store_settings)
    s = Site(app, ids)
    s.client()
    try:
        yield s
    finally:
        if s.clients:
            s.clients[0].__exit__(None, None, None)
        if store_settings.backend == "postgres":
            _drop_views_schema(store_settings)


@pytest.fixture
def sqlite_site(sqlite_settings: Settings) -> Iterator[Site]:
    from web.app import create_app

    ids = seed_all(sqlite_settings)
    s = Site(create_app(sqlite_settings), ids)
    s.client()
    try:
        yield s
    finally:
        s.clients[0].__exit__(None, None, None)


def _drop_views_schema(settings: Settings) -> None:
    import psycopg

    from tests.conftest import PG_URL

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{settings.postgres_schema}_views" CASCADE')
