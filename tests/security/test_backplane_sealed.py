"""Nothing personal crosses Redis in clear: an SU's draft typed on one server reaches the worker
on another through a real Redis, while a raw subscriber on every backplane channel sees
none of it; a message not sealed with the deployment's key is dropped, and logged once
without its content."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import redis.asyncio as aioredis

from realtime.backplane import channel
from tests.conftest import drop_pg_schema, free_port, fresh_pg_schema, make_settings, unavailable
from tests.realtime.conftest import Live, ServerThread, build_app, seed
from tests.realtime.test_backplane import RedisServer

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    import shutil

    if not shutil.which("redis-server"):
        unavailable("redis-server is not installed")
    r = RedisServer()
    r.start()
    yield r
    r.stop()


@pytest.fixture
def two_servers(tmp_path: Path, postgres_url: str, own_redis: RedisServer) -> Iterator[list[Live]]:
    """Two live servers (two hubs) on one PostgreSQL schema, fanned out through one Redis."""
    url, schema = fresh_pg_schema(postgres_url)
    settings = make_settings(tmp_path, url)
    ids = seed(settings)
    servers: list[Live] = []
    try:
        for _ in range(2):  # one at a time: both creating the tables at once races in PostgreSQL
            app = build_app(settings, redis_url=own_redis.url)
            thread = ServerThread(app, free_port())
            thread.start()
            servers.append(Live(f"http://127.0.0.1:{thread.port}", app, settings, ids, thread))
        yield servers
    finally:
        for s in servers:
            s.server.stop()
        drop_pg_schema(postgres_url, schema)


class Tap:
    """A raw Redis client subscribed to every backplane channel, keeping each message's bytes."""

    def __init__(self, url: str) -> None:
        self.client = aioredis.Redis.from_url(url)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.seen: list[tuple[bytes, bytes]] = []

    async def run(self) -> None:
        await self.pubsub.psubscribe("tandem:live:*")
        while True:
            m = await self.pubsub.get_message(timeout=0.2)
            if m is not None and m["type"] == "pmessage":
                self.seen.append((m["channel"], m["data"]))


@pytest.fixture
async def tap(own_redis: RedisServer) -> AsyncIterator[Tap]:
    t = Tap(own_redis.url)
    task = asyncio.get_running_loop().create_task(t.run())
    yield t
    task.cancel()
    await t.pubsub.aclose()
    await t.client.aclose()


async def wait_until(condition: Any, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_a_draft_crosses_redis_sealed(
    two_servers: list[Live], tap: Tap, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = two_servers
    sid = await a.start_session()
    su = await a.client("sam", sid, device_kind="phone")
    worker = await b.client("wendy", sid, binary=True)
    await su.wait_for(lambda m: m["type"] == "presence" and len(m["payload"]["participants"]) == 2, timeout=20)
    marker = f"MARKER-{uuid.uuid4().hex}"
    text = f"What I would like to say: {marker} " + "x" * 9_000
    mark = len(worker.history)
    await su.ephemeral("draft", {"question_id": "q-recovery-1", "text": text})
    got = await worker.wait_for(lambda m: m["type"] == "draft", since=mark, timeout=20)
    assert got["payload"]["text"] == text

    session_channel = channel(sid).encode()
    await wait_until(lambda: any(len(d) > 9_000 for ch, d in tap.seen if ch == session_channel))
    assert all(marker.encode() not in data for _, data in tap.seen), "the draft crossed Redis in clear"
    for ch, data in tap.seen:  # nor who is in the session, nor what they answer
        assert b"q-recovery-1" not in data and str(a.ids["sam"]).encode() not in data, ch

    # Someone else on Redis publishes in clear: dropped by both servers, logged once by each, without its content.
    caplog.set_level(logging.WARNING, logger="tandem.realtime")
    forged_text = f"FORGED-{uuid.uuid4().hex}"
    forged = {"o": "elsewhere", "k": "eph", "s": sid, "d": {"type": "draft", "payload": {"text": forged_text}}}
    for _ in range(3):
        await tap.client.publish(channel(sid), msgpack.packb(forged, use_bin_type=True))
    backplanes = [s.app.state.live_hub.backplane for s in two_servers]
    await wait_until(lambda: [bp.unreadable for bp in backplanes] == [3, 3])
    mark = len(worker.history)
    await su.ephemeral("draft", {"question_id": "q-recovery-1", "text": "after"})
    await worker.wait_for(lambda m: m["type"] == "draft" and m["payload"]["text"] == "after", since=mark)
    assert all(forged_text not in str(m) for m in worker.history + su.history)
    warnings = [r.getMessage() for r in caplog.records if "did not open" in r.getMessage()]
    assert len(warnings) == 2, warnings
    assert all(forged_text not in w for w in warnings)
