"""Redis pub/sub between server processes (msgpack), so people on different workers meet.

Redis carries ephemeral frames, presence, a "new commits" doorbell and revoked access
(realtime/revocation.py). It is never the
source of truth: durable events reach every process from the store's log (the doorbell
only wakes the tail early; polling catches up without it). If Redis goes away each
process keeps serving its own sockets; when it returns we resubscribe and ring the tail.

Every message body is sealed (AES-GCM, a key derived from the deployment secret, the channel
as associated data) before it reaches Redis, and opened on receipt: drafts and presence are
personal, and Redis is not trusted with them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Protocol

import msgpack
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from realtime.revocation import REVOKED, Revocation
from realtime.sealing import backplane_key, seal, unseal

log = logging.getLogger("tandem.realtime")

COMMITS = "tandem:live:commits"
OUTBOX = 20_000  # messages waiting for Redis; beyond this ephemeral ones are dropped
PIPELINE = 200


def channel(session_id: str) -> str:
    return f"tandem:live:s:{session_id}"


class Kind(StrEnum):
    """What a backplane message carries (the values are on the wire between processes)."""

    EPHEMERAL = "eph"
    PRESENCE = "presence"


OnMessage = Callable[[str, Kind, str, Any], None]  # session id, kind, origin process, data


class Backplane(Protocol):
    """Fan-out between the processes serving one deployment's live sessions."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def publish(self, session_id: str, kind: Kind, data: Any) -> None: ...

    def ring(self, position: int) -> None: ...

    async def subscribe(self, session_id: str) -> None: ...

    async def unsubscribe(self, session_id: str) -> None: ...


class LocalBackplane:
    """One process: every socket is in this process's rooms, so there is nobody to tell."""

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def publish(self, session_id: str, kind: Kind, data: Any) -> None:
        pass

    def ring(self, position: int) -> None:
        pass

    async def subscribe(self, session_id: str) -> None:
        pass

    async def unsubscribe(self, session_id: str) -> None:
        pass


def backplane_for(
    url: str | None,
    process_id: str,
    on_message: OnMessage,
    on_doorbell: Callable[[], None],
    secret_key: str,
    on_revoked: Callable[[Revocation], None],
) -> Backplane:
    """No URL (or memory://): this process alone; redis://, rediss:// or unix://: Redis."""
    if url is None or url == "" or url.startswith("memory://"):
        return LocalBackplane()
    return RedisBackplane(url, process_id, on_message, on_doorbell, secret_key, on_revoked)


class RedisBackplane:
    def __init__(
        self,
        url: str,
        process_id: str,
        on_message: OnMessage,
        on_doorbell: Callable[[], None],
        secret_key: str,
        on_revoked: Callable[[Revocation], None] = lambda _r: None,
    ):
        self.url, self.process_id = url, process_id
        self._aead = backplane_key(secret_key)
        self.unreadable = 0  # messages dropped because they did not open
        self.on_message, self.on_doorbell, self.on_revoked = on_message, on_doorbell, on_revoked
        self.channels: set[str] = set()
        self.up = False
        self.outages = 0
        self.attempts = 0  # connections the listener has tried
        self._outbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(OUTBOX)
        self._changes: asyncio.Queue[tuple[str, str, asyncio.Future[None]]] = asyncio.Queue()
        self._rang = False
        self._tasks: list[asyncio.Task[None]] = []
        self._first_try = asyncio.Event()  # set once the first connection attempt has ended, either way

    async def start(self) -> None:
        self._pub = aioredis.Redis.from_url(
            self.url, socket_connect_timeout=1, socket_timeout=2, health_check_interval=5
        )
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen()), loop.create_task(self._publish())]
        # Wait for the first attempt (so the first rooms subscribe before their first
        # messages), never for Redis to come back: a process started during an outage
        # serves its own sockets at once and joins the backplane when Redis returns.
        try:
            await asyncio.wait_for(self._first_try.wait(), 2.0)
        except TimeoutError:
            pass

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except BaseException:
                pass
        try:
            await self._pub.aclose()
        except Exception:
            pass

    # ------------------------------------------------------------ outgoing

    def publish(self, session_id: str, kind: Kind, data: Any) -> None:
        body = msgpack.packb({"o": self.process_id, "k": kind.value, "s": session_id, "d": data}, use_bin_type=True)
        try:
            self._outbox.put_nowait((channel(session_id), body))
        except asyncio.QueueFull:
            pass  # ephemeral; the store has every durable fact

    def ring(self, position: int) -> None:
        """Tell other processes the log grew (coalesced: one ring per publish round)."""
        if not self._rang:
            self._rang = True
            try:
                self._outbox.put_nowait((COMMITS, msgpack.packb({"o": self.process_id, "p": position})))
            except asyncio.QueueFull:
                self._rang = False

    async def _publish(self) -> None:
        while True:
            first = await self._outbox.get()
            batch = [first]
            while len(batch) < PIPELINE and not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            self._rang = False
            try:
                async with self._pub.pipeline(transaction=False) as pipe:
                    for ch, body in batch:
                        pipe.publish(ch, seal(self._aead, ch, body))
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                log.warning("redis publish failed (%s); dropping %d messages", exc, len(batch))
                await asyncio.sleep(0.5)

    # ------------------------------------------------------------ incoming

    async def subscribe(self, session_id: str, wait: float = 1.0) -> None:
        """Subscribe; wait (briefly) until Redis confirms, so the room's first messages are not missed."""
        self.channels.add(channel(session_id))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._changes.put_nowait(("+", channel(session_id), done))
        if self.up:
            try:
                await asyncio.wait_for(asyncio.shield(done), wait)
            except TimeoutError:
                pass

    async def unsubscribe(self, session_id: str) -> None:
        self.channels.discard(channel(session_id))
        self._changes.put_nowait(("-", channel(session_id), asyncio.get_running_loop().create_future()))

    async def _listen(self) -> None:
        backoff = 0.2
        while True:
            # No retries inside redis-py (by default ~2 s of them): this loop retries, and the
            # first failure must end the first attempt at once (see start()).
            client = aioredis.Redis.from_url(
                self.url, socket_connect_timeout=1, health_check_interval=5, retry=Retry(NoBackoff(), 0)
            )
            self.attempts += 1
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                covered = []
                while not self._changes.empty():
                    covered.append(self._changes.get_nowait())  # the snapshot below covers them
                await pubsub.subscribe(COMMITS, REVOKED, *self.channels)
                for _, _, fut in covered:
                    if not fut.done():
                        fut.set_result(None)
                if not self.up:
                    self.up = True
                    log.info("redis backplane up")
                    self.on_doorbell()  # catch up with whatever was committed while we were away
                self._first_try.set()
                backoff = 0.2
                while True:
                    while not self._changes.empty():
                        op, ch, fut = self._changes.get_nowait()
                        await (pubsub.subscribe(ch) if op == "+" else pubsub.unsubscribe(ch))
                        if not fut.done():
                            fut.set_result(None)
                    message = await pubsub.get_message(timeout=0.05)
                    if message is not None and message.get("type") == "message":
                        self._dispatch(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.up:
                    self.outages += 1
                    log.warning("redis backplane down: %s", exc)
                self.up = False
                self._first_try.set()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                try:
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                    await client.aclose()
                except Exception:
                    pass

    def _dispatch(self, ch: bytes, data: bytes) -> None:
        body = unseal(self._aead, ch, data)
        if body is None:
            self.unreadable += 1
            if self.unreadable == 1:  # once: a wrong key or a stranger on the channel would flood the log
                log.warning("dropped a backplane message that did not open (not sealed with this deployment's key)")
            return
        try:
            if ch == REVOKED.encode():
                self.on_revoked(Revocation.unpack(body))  # from any process, this one too
                return
            msg = msgpack.unpackb(body, raw=False)
            if ch == COMMITS.encode():
                if msg.get("o") != self.process_id:
                    self.on_doorbell()
                return
            self.on_message(msg["s"], Kind(msg["k"]), msg["o"], msg["d"])
        except Exception:
            log.exception("bad backplane message")
