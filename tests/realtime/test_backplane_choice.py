"""The backplane is chosen by URL: this process alone, or Redis; the hub asks no other question."""

from __future__ import annotations

from realtime.backplane import Backplane, Kind, LocalBackplane, RedisBackplane, backplane_for


def make(url: str | None) -> Backplane:
    return backplane_for(url, "proc", lambda *_a: None, lambda: None, "k" * 32, lambda _r: None)


def test_no_url_or_memory_is_this_process_alone() -> None:
    assert isinstance(make(None), LocalBackplane)
    assert isinstance(make("memory://"), LocalBackplane)


def test_a_redis_url_is_redis() -> None:
    assert isinstance(make("redis://127.0.0.1:6379/0"), RedisBackplane)
    assert isinstance(make("unix:///run/redis.sock"), RedisBackplane)


async def test_the_local_backplane_takes_every_call_and_tells_nobody() -> None:
    bp = make(None)
    await bp.start()
    await bp.subscribe("s")
    bp.publish("s", Kind.EPHEMERAL, {"type": "nav"})
    bp.ring(3)
    await bp.unsubscribe("s")
    await bp.stop()
