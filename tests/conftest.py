"""Shared fixtures: real stores (an SQLite file and a PostgreSQL schema), real Redis.

Outside CI a test that needs PostgreSQL, Redis or Chromium skips with a one-line
reason when that service is missing; with CI=true it fails instead.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import settings as settings_mod
from core.settings import Settings

PG_URL = os.environ.get("TANDEM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TANDEM_TEST_REDIS", "redis://127.0.0.1:6379/0")
CHROMIUM = "/usr/bin/chromium"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip (on a laptop) or fail (in CI) a test whose service is missing."""
    if IN_CI:
        pytest.fail(f"CI must provide this: {reason}", pytrace=False)
    pytest.skip(reason)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> str:
    if not _port_open("127.0.0.1", 5432):
        unavailable("PostgreSQL is not running on 127.0.0.1:5432")
    return PG_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    if not _port_open("127.0.0.1", 6379):
        unavailable("Redis is not running on 127.0.0.1:6379")
    return REDIS_URL


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        unavailable("Debian's chromium is not installed (/usr/bin/chromium)")
    return CHROMIUM


def fresh_pg_schema(base_url: str) -> tuple[str, str]:
    schema = "t_" + uuid.uuid4().hex[:12]
    return f"{base_url}?schema={schema}", schema


def drop_pg_schema(base_url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}_keys" CASCADE')
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}_views" CASCADE')


def make_settings(var_dir: Path, database_url: str | None = None) -> Settings:
    overrides = {"tandem_var_dir": str(var_dir), "tandem_secret_key": "test-secret", "tandem_master_key": "11" * 32}
    if database_url:
        overrides["tandem_database_url"] = database_url
    return settings_mod.load(**overrides)


@pytest.fixture(params=["sqlite", "postgres"])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings for a brand-new store: an SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield make_settings(tmp_path)
        return
    base = request.getfixturevalue("postgres_url")
    url, schema = fresh_pg_schema(base)
    try:
        yield make_settings(tmp_path, url)
    finally:
        drop_pg_schema(base, schema)


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def tandem(store_settings: Settings):
    from core.service import Tandem

    t = Tandem(store_settings)
    yield t
    t.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """In CI every skip is unexpected: nothing may quietly not run."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI: {report.longrepr}"
