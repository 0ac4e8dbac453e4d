"""The attack tests reuse the web and live fixtures (a real store, a real server), and
add two app instances sharing one PostgreSQL store and one Redis (two processes' worth)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from core import settings as settings_mod
from core.settings import Settings
from tests.conftest import drop_pg_schema, fresh_pg_schema
from tests.realtime.conftest import live, live_factory  # noqa: F401
from tests.web.conftest import sqlite_site  # noqa: F401

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
