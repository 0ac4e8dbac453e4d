"""Two real server processes sharing PostgreSQL, mirrored through real Redis (and its outage)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from realtime import protocol as P
from realtime import tokens
from realtime.client import LiveClient
from tests.conftest import drop_pg_schema, free_port, fresh_pg_schema, make_settings
from tests.realtime.conftest import seed

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def _wait_http(url: str, timeout: float = 40) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


class RedisServer:
    """Our own redis-server on a free port, so the test may stop it (never the shared one)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--bind",
                "127.0.0.1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            if (
                subprocess.run(
                    ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True
                ).stdout.strip()
                == "PONG"
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    if not shutil.which("redis-server"):
        from tests.conftest import unavailable

        unavailable("redis-server is not installed")
    r = RedisServer()
    r.start()
    yield r
    r.stop()


def start_servers(tmp_path: Path, pg_url: str, redis_url: str, n: int = 2) -> tuple[list[subprocess.Popen], list[str]]:
    env = {
        **os.environ,
        "TANDEM_DATABASE_URL": pg_url,
        "TANDEM_REDIS_URL": redis_url,
        "TANDEM_VAR_DIR": str(tmp_path),
        "TANDEM_SECRET_KEY": "test-secret",
        "TANDEM_MASTER_KEY": "11" * 32,
    }
    procs: list[subprocess.Popen] = []
    bases: list[str] = []
    try:
        _start_each(procs, bases, env, n)
    except Exception:
        _stop(procs)  # never leave a server behind
        raise
    return procs, bases


def _start_each(procs: list[subprocess.Popen], bases: list[str], env: dict[str, str], n: int) -> None:
    for _ in range(n):
        port = free_port()
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "web.app:create_app",
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--ws-max-size",
                    str(P.MAX_TRANSPORT_FRAME),
                    "--ws-per-message-deflate",
                    "false",
                    "--log-level",
                    "warning",
                ],
                cwd=ROOT,
                env=env,
            )
        )
        bases.append(f"http://127.0.0.1:{port}")
        # One at a time: two processes creating the same tables at once race in PostgreSQL
        # ("tuple concurrently updated"), a start-up issue outside realtime.
        _wait_http(bases[-1] + "/health")


@pytest.fixture
def pg(postgres_url: str) -> Iterator[str]:
    url, schema = fresh_pg_schema(postgres_url)
    yield url
    drop_pg_schema(postgres_url, schema)


async def _two_process_session(tmp_path: Path, pg_url: str, redis_url: str):
    settings = make_settings(tmp_path, pg_url)
    ids = seed(settings)
    procs, bases = await asyncio.to_thread(start_servers, tmp_path, pg_url, redis_url)
    from core.commands import Actor
    from core.service import Tandem

    t = Tandem(settings)
    sid = str(await asyncio.to_thread(t.start_session, Actor(ids["wendy"], "worker"), ids["sam"]))
    tok = lambda who, role: tokens.issue("test-secret", ids[who], role, t.open_session(ids[who]))  # noqa: E731
    su = LiveClient(bases[0], sid, token=tok("sam", "service_user"), device_kind="phone")
    worker = LiveClient(bases[1], sid, token=tok("wendy", "worker"), binary=True)
    await su.connect()
    await worker.connect()
    return t, procs, su, worker, ids, sid, bases


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


async def test_two_processes_mirror_through_shared_redis(tmp_path, pg, redis_url):
    t, procs, su, worker, _ids, _sid, _ = await _two_process_session(tmp_path, pg, redis_url)
    try:
        # presence crosses processes
        await su.wait_for(
            lambda m: (
                m["type"] == "presence"
                and len(m["payload"]["participants"]) == 2
                and all(p["state"] == "online" for p in m["payload"]["participants"])
            ),
            timeout=10,
        )
        await su.ephemeral("scroll", {"section_id": "p-2", "fraction": 0.5}, drive=True)
        m = await worker.wait_for(lambda m: m["type"] == "scroll", timeout=5)
        assert m["payload"]["fraction"] == 0.5
        ack = await su.durable("TopicOpened", {"topic_id": "health"}, drive=True)
        got = await worker.wait_for(lambda m: m["type"] == "TopicOpened", timeout=5)
        assert got["position"] == ack["position"]
        ack = await worker.durable(
            "ChartPointRecorded", {"tracker_id": "mood", "values": {"level": 4}, "for_date": "2026-11-20"}
        )
        await su.wait_for(lambda m: m["type"] == "ChartPointRecorded" and m["position"] == ack["position"], timeout=5)
    finally:
        await su.close()
        await worker.close()
        _stop(procs)
        t.close()


async def test_redis_outage_loses_nothing_and_mirroring_resumes(tmp_path, pg, own_redis):
    t, procs, su, worker, ids, sid, bases = await _two_process_session(tmp_path, pg, own_redis.url)
    try:
        await su.ephemeral("scroll", {"section_id": "p-1", "fraction": 0.1}, drive=True)
        await worker.wait_for(lambda m: m["type"] == "scroll", timeout=5)
        own_redis.stop()
        await asyncio.sleep(0.5)
        # each process keeps serving its own sockets
        su2 = LiveClient(
            bases[0], sid, token=tokens.issue("test-secret", ids["wendy"], "worker", t.open_session(ids["wendy"]))
        )
        await su2.connect()
        await su.ephemeral("scroll", {"section_id": "p-2", "fraction": 0.2}, drive=True)
        await su2.wait_for(lambda m: m["type"] == "scroll" and m["payload"]["section_id"] == "p-2", timeout=5)
        # durable facts still reach the other process, from the store
        acks = []
        for i in range(5):
            a = await su.durable(
                "SectionViewed", {"section_id": "recovery/hope", "seconds_on_screen": float(i)}, drive=True
            )
            assert a["type"] == "ack", a
            acks.append(a["position"])
        await worker.wait_for(lambda m: m.get("position") == acks[-1], timeout=10)
        own_redis.start()
        # cross-process ephemeral mirroring comes back on its own
        deadline = time.time() + 15
        while True:
            mark = len(worker.history)
            await su.ephemeral("scroll", {"section_id": "p-3", "fraction": 0.3}, drive=True)
            try:
                await worker.wait_for(
                    lambda m: m["type"] == "scroll" and m["payload"]["section_id"] == "p-3", timeout=0.5, since=mark
                )
                break
            except TimeoutError:
                assert time.time() < deadline, "mirroring did not resume after Redis came back"
        a = await su.durable("TopicOpened", {"topic_id": "me"}, drive=True)
        await worker.wait_for(lambda m: m.get("position") == a["position"], timeout=5)
        # nothing lost, nothing twice, in order
        assert all(p in worker.positions for p in acks)
        assert len(worker.positions) == len(set(worker.positions)) and worker.positions == sorted(worker.positions)
        await su2.close()
    finally:
        await su.close()
        await worker.close()
        _stop(procs)
        t.close()
