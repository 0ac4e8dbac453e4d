"""Guessing passwords across server processes: with Redis configured, every process
counts the same failed log-ins, so spreading guesses over several does not buy more."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from core.settings import Settings
from tests.conftest import free_port
from tests.security.conftest import fresh_settings, servers
from tests.web.conftest import PASSWORDS, csrf_of, seed_all
from web.ratelimit import MAX_PER_ACCOUNT


def _log_in(c: TestClient, username: str, password: str) -> int:
    c.cookies.clear()
    token = csrf_of(c.get("/login").text)
    return c.post("/login", data={"csrf": token, "username": username, "password": password}).status_code


def test_two_processes_share_the_guess_count(pg_redis_settings: Settings) -> None:
    seed_all(pg_redis_settings)
    with ExitStack() as stack:
        a, b = servers(stack, pg_redis_settings, 2)
        for i in range(MAX_PER_ACCOUNT):
            assert _log_in((a, b)[i % 2], "sam", f"wrong-guess-{i}") == 400
        # The limit is reached on both, for the right password too.
        assert _log_in(a, "sam", "wrong-guess-x") == 429
        assert _log_in(b, "sam", PASSWORDS["sam"]) == 429
        r = b.post("/live/token", json={"username": "sam", "password": PASSWORDS["sam"]})
        assert r.status_code == 429
        # Another account is not affected.
        assert _log_in(b, "sue", PASSWORDS["sue"]) == 303


def test_without_redis_reachable_the_count_stays_in_the_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    down = fresh_settings(tmp_path, tandem_redis_url=f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    seed_all(down)
    with ExitStack() as stack, caplog.at_level(logging.WARNING, logger="tandem.ratelimit"):
        [a] = servers(stack, down, 1)
        for i in range(MAX_PER_ACCOUNT):
            assert _log_in(a, "sam", f"wrong-guess-{i}") == 400
        assert _log_in(a, "sam", PASSWORDS["sam"]) == 429
        assert _log_in(a, "sue", PASSWORDS["sue"]) == 303
    warnings = [r for r in caplog.records if r.name == "tandem.ratelimit"]
    assert len(warnings) == 1 and "Redis is unavailable" in warnings[0].getMessage()
