"""Guessing passwords across server processes: with Redis configured, every process
counts the same failed log-ins, so spreading guesses over several does not buy more."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from core import settings as settings_mod
from core.settings import Settings
from tests.conftest import drop_pg_schema, free_port, fresh_pg_schema
from tests.web.conftest import PASSWORDS, csrf_of, seed_all
from web.ratelimit import MAX_PER_ACCOUNT


def _settings(tmp_path: Path, **more: str) -> Settings:
    # A secret of its own: the limiter's Redis keys are this run's, whoever else uses the Redis.
    return settings_mod.load(
        tandem_var_dir=str(tmp_path), tandem_secret_key=secrets.token_hex(16), tandem_master_key="22" * 32, **more
    )


@pytest.fixture
def pg_redis_settings(tmp_path: Path, postgres_url: str, redis_url: str) -> Iterator[Settings]:
    url, schema = fresh_pg_schema(postgres_url)
    try:
        yield _settings(tmp_path, tandem_database_url=url, tandem_redis_url=redis_url)
    finally:
        drop_pg_schema(postgres_url, schema)


def _servers(stack: ExitStack, settings: Settings, n: int) -> list[TestClient]:
    from web.app import create_app

    return [
        stack.enter_context(TestClient(create_app(settings), follow_redirects=False, raise_server_exceptions=False))
        for _ in range(n)
    ]


def _log_in(c: TestClient, username: str, password: str) -> int:
    c.cookies.clear()
    token = csrf_of(c.get("/login").text)
    return c.post("/login", data={"csrf": token, "username": username, "password": password}).status_code


def test_two_processes_share_the_guess_count(pg_redis_settings: Settings) -> None:
    seed_all(pg_redis_settings)
    with ExitStack() as stack:
        a, b = _servers(stack, pg_redis_settings, 2)
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
    down = _settings(tmp_path, tandem_redis_url=f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    seed_all(down)
    with ExitStack() as stack, caplog.at_level(logging.WARNING, logger="tandem.ratelimit"):
        [a] = _servers(stack, down, 1)
        for i in range(MAX_PER_ACCOUNT):
            assert _log_in(a, "sam", f"wrong-guess-{i}") == 400
        assert _log_in(a, "sam", PASSWORDS["sam"]) == 429
        assert _log_in(a, "sue", PASSWORDS["sue"]) == 303
    warnings = [r for r in caplog.records if r.name == "tandem.ratelimit"]
    assert len(warnings) == 1 and "Redis is unavailable" in warnings[0].getMessage()
