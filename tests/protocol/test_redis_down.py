"""A server process started while Redis is down serves its own sockets at once and joins
the backplane when Redis returns (a redis-server of the test's own, on its own port)."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from realtime.backplane import Kind, RedisBackplane, channel
from tests.conftest import free_port
from tests.protocol.conftest import Peer

pytestmark = [pytest.mark.redis]


async def test_backplane_start_does_not_wait_for_redis_to_return():
    nothing_there = f"redis://127.0.0.1:{free_port()}/0"
    bp = RedisBackplane(nothing_there, "p1", lambda *a: None, lambda: None, "secret")
    await bp.start()
    try:
        # start() came back after the first refused attempt, not after retrying for seconds.
        assert (bp.up, bp.attempts) == (False, 1)
    finally:
        await bp.stop()


async def test_process_started_while_redis_is_down_welcomes_then_joins_the_backplane(live_factory, own_redis):
    own_redis.stop()
    live = live_factory(redis_url=own_redis.url)
    sid = await live.start_session()
    peer = await Peer.open(live, "sam", sid)
    welcome = await peer.hello()
    assert welcome["payload"]["role"] == "service_user"
    assert not live.app.state.live_hub.backplane.up  # served while Redis is still down

    own_redis.start()

    async def subscribed() -> None:
        while True:
            out = await asyncio.to_thread(
                subprocess.run,
                ["redis-cli", "-p", str(own_redis.port), "pubsub", "channels", channel(sid)],
                capture_output=True,
                text=True,
            )
            if channel(sid) in out.stdout:
                return
            await asyncio.sleep(0.1)

    async with asyncio.timeout(30):
        await subscribed()
    # Another process's ephemeral frame now reaches this socket through Redis.
    other = RedisBackplane(own_redis.url, "other-process", lambda *a: None, lambda: None, live.settings.secret_key)
    await other.start()
    try:
        pointer = {"type": "pointer", "session": sid, "from": str(live.ids["wendy"]), "payload": {"x": 0.1, "y": 0.9}}
        other.publish(sid, Kind.EPHEMERAL, pointer)
        got = await peer.of_type("pointer", timeout=30)
        assert got["payload"] == {"x": 0.1, "y": 0.9}
    finally:
        await other.stop()
