"""The process-wide live hub: rooms by session, the store tail, the optional Redis backplane.

`serve()` runs one socket from hello to close; the web endpoint authenticates the
handshake and adapts its WebSocket to a receive callable and a `Transport`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from core import aggregates as A
from core.commands import Actor
from realtime import protocol as P
from realtime.conn import CLOSE_RATE, CLOSE_UNLINKED, Conn, RateLimit, Transport
from realtime.presence import Grace
from realtime.revocation import Revocation, revocation_of
from realtime.room import Room
from realtime.tail import Item, Tail, event_frame

log = logging.getLogger("tandem.realtime")
HELLO_TIMEOUT = 10.0
CLOSE_REVOKED = 4001


@dataclass(frozen=True)
class Limits:
    rate: float = 30.0  # messages per second per socket ...
    burst: float = 60.0  # ... with bursts of this many
    kick_after: int = 600  # refused messages before the socket is closed
    replay: int = 1000  # durable events replayed per hello; past it the client resumes on a new socket


class Hub:
    def __init__(
        self,
        tandem: Any,
        *,
        content_version: str | None = None,
        grace: Grace = Grace(),  # noqa: B008 (frozen dataclass: a shared default is safe)
        limits: Limits = Limits(),
        redis_url: str | None = None,
        poll: float = 1.0,
        tick: float = 1.0,
    ):
        self.tandem = tandem
        self.content_version = content_version
        self.grace, self.limits, self.redis_url, self.poll, self.tick = grace, limits, redis_url, poll, tick
        self.process_id = uuid.uuid4().hex[:12]
        self.rooms: dict[str, Room] = {}
        self.delivered = 0  # the log position the rooms have been given events up to
        self._su: dict[str, str] = {}
        self._room_lock = asyncio.Lock()
        self._tail: Tail | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.backplane: Any = None
        self.started = False
        self._ready = asyncio.Event()

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start once; concurrent callers wait until the tail and backplane are up, so no
        room is ever created unsubscribed."""
        if self.started:
            await self._ready.wait()
            return
        self.started = True
        loop = asyncio.get_running_loop()
        self.delivered = await asyncio.to_thread(self.tandem.head)
        self._tail = Tail(
            self.tandem,
            loop,
            self.deliver,
            self.reveal,
            start=self.delivered,
            poll=self.poll,
            wanted=self.rooms.__contains__,
        )
        self._tail.start()
        if self.redis_url:
            from realtime.backplane import Backplane

            self.backplane = Backplane(
                self.redis_url,
                self.process_id,
                self.on_remote,
                self._tail.wake,
                self.tandem.settings.secret_key,
                on_revoked=self.revoke,
            )
            await self.backplane.start()
            self.tandem.on_commit(lambda pos, _events: loop.call_soon_threadsafe(self.backplane.ring, pos))
        self._sweeper = loop.create_task(self._sweep())
        self._ready.set()

    async def stop(self) -> None:
        if self._sweeper:
            self._sweeper.cancel()
        for room in list(self.rooms.values()):
            for conn in list(room.conns.values()):
                conn.drop(1001, "server shutting down")
        if self.backplane:
            await self.backplane.stop()
        if self._tail:
            await asyncio.to_thread(self._tail.stop)

    # ------------------------------------------------------------ rooms

    async def room_for(self, session_id: str) -> Room | None:
        room = self.rooms.get(session_id)
        if room is not None:
            return room
        async with self._room_lock:
            room = self.rooms.get(session_id)
            if room is None:
                session = await asyncio.to_thread(self.tandem.session, UUID(session_id))
                if session is None:
                    return None
                room = Room(self, session)
                self._su[session_id] = room.su_id
                self.rooms[session_id] = room
                if self.backplane:
                    await self.backplane.subscribe(session_id)
        return room

    def reveal(self, session_id: str, sealed: dict) -> str | None:
        su = self._su.get(session_id)
        if su is None:
            s = self.tandem.session(UUID(session_id))
            if s is None:
                return None
            su = self._su[session_id] = str(s.su_id)
        try:
            return self.tandem.reveal(UUID(su), sealed)
        except Exception:
            return None

    # ------------------------------------------------------------ committed events (from the tail)

    def deliver(self, items: list[Item], position: int) -> None:
        for item in items:
            if item.position <= self.delivered:
                continue
            if item.session_id is not None:
                room = self.rooms.get(item.session_id)
                if room is not None:
                    if item.frame is None:  # the room appeared after the tail read this event
                        item = Item(
                            item.position,
                            item.session_id,
                            item.event,
                            event_frame(item.position, item.event, item.session_id, self.reveal),
                        )
                    room.on_event(item)
            else:
                self._access_changed(item.event)
            self.delivered = item.position
        self.delivered = max(self.delivered, position)

    def _access_changed(self, ev: Any) -> None:
        revocation = revocation_of(ev)
        if revocation is not None:
            self.revoke(revocation)

    def revoke(self, revocation: Revocation) -> None:
        """Close the sockets whose access was withdrawn: unlinked, deactivated, logged out,
        erased (from the tail, or at once from Redis when another process wrote it)."""
        for room in list(self.rooms.values()):
            if revocation.link_id is not None:
                if str(A.link_id(UUID(room.worker_id), UUID(room.su_id))) == revocation.link_id:
                    room.drop_user(room.worker_id, CLOSE_UNLINKED, "no longer linked to this service user")
            elif revocation.user_id is not None:
                room.drop_user(revocation.user_id, CLOSE_REVOKED, "signed out")

    def recheck_soon(self, room: Room, conn: Conn) -> None:
        async def recheck() -> None:
            standing = await asyncio.to_thread(self.tandem.session_access, UUID(conn.user_id), room.uuid)
            if standing.refusal() is not None:
                room.drop_user(conn.user_id, CLOSE_UNLINKED, "no longer allowed in this session")

        asyncio.get_running_loop().create_task(recheck())

    # ------------------------------------------------------------ one socket

    async def serve(
        self,
        receive: Callable[[], Awaitable[str | bytes | None]],
        transport: Transport,
        actor: Actor,
        session_id: str,
        binary: bool,
    ) -> None:
        hello = await self._await_hello(receive, transport, session_id)
        if hello is None:
            return
        # Only now look the room up: the sweeper may retire an empty room while we wait for hello.
        room = await self.room_for(session_id)
        while room is not None and self.rooms.get(session_id) is not room:
            room = await self.room_for(session_id)  # it was retired meanwhile: never join an orphan
        if room is None:
            await transport.close(4004, "no such session")
            return
        conn = Conn(
            transport, str(actor.user_id), actor.role, binary, limiter=RateLimit(self.limits.rate, self.limits.burst)
        )
        await room.attach(conn, hello)  # registers the socket before its first await
        try:
            while not conn.closed:
                data = await receive()
                if data is None or conn.closed:
                    break
                if conn.close_code is not None:
                    continue  # closing (access revoked, session ended, left): not heard any more
                if not conn.limiter.allow():
                    if conn.limiter.refused % 50 == 1:
                        conn.send(P.error("rate_limited", P.ERROR_CODES["rate_limited"]))
                    if conn.limiter.refused > self.limits.kick_after:
                        conn.drop(CLOSE_RATE, "rate limit")
                    continue
                try:
                    env = P.parse(data, session_id, self.tandem.catalogue)
                except P.ProtocolError as exc:
                    conn.send(P.error(exc.code, exc.message, exc.field, exc.ref))
                    continue
                await room.handle(conn, env)
        finally:
            room.detach(conn)
            if conn.close_code is None:
                await conn.stop()
            else:
                await conn.closing_done()

    async def _await_hello(
        self, receive: Callable[[], Awaitable[str | bytes | None]], transport: Transport, session_id: str
    ) -> P.Envelope | None:
        deadline = time.monotonic() + HELLO_TIMEOUT
        for _ in range(5):
            try:
                data = await asyncio.wait_for(receive(), max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                break
            if data is None:
                return None
            try:
                env = P.parse(data, session_id)
            except P.ProtocolError as exc:
                await transport.send(
                    P.encode(P.error(exc.code, exc.message, exc.field, exc.ref), isinstance(data, bytes))
                )
                continue
            if env.type == "hello":
                return env
            await transport.send(
                P.encode(P.error("hello_first", P.ERROR_CODES["hello_first"], "type"), isinstance(data, bytes))
            )
        await transport.close(1008, "no hello")
        return None

    # ------------------------------------------------------------ other processes

    def publish_ephemeral(self, room: Room, message: dict[str, Any]) -> None:
        if self.backplane:
            self.backplane.publish(room.id, "eph", message)

    def publish_presence(self, room: Room) -> None:
        if self.backplane:
            self.backplane.publish(room.id, "presence", room.presence.local_view())

    def on_remote(self, session_id: str, kind: str, origin: str, data: Any) -> None:
        room = self.rooms.get(session_id)
        if room is None or origin == self.process_id:
            return
        if kind == "eph":
            if data.get("type") == "nav":
                try:  # another process (perhaps an older version) checked it; check it the same way here
                    data = {**data, "payload": P.check_location(data.get("payload") or {}, self.tandem.catalogue)}
                except P.ProtocolError:
                    log.warning("dropped a nav from process %s that names no content location", origin)
                    return
                room.location = {**data["payload"], "by": data.get("from"), "epoch": data.get("epoch")}
            room.fanout(data)
        elif kind == "presence":
            room.presence.remote[origin] = data
            room.remote_seen[origin] = time.monotonic()
            room.broadcast_presence()

    async def _sweep(self) -> None:
        beat = 0
        while True:
            await asyncio.sleep(self.tick)
            beat += 1
            now = time.monotonic()
            for sid, room in list(self.rooms.items()):
                try:
                    for origin, seen in list(room.remote_seen.items()):
                        if now - seen > 15:  # that process died or lost Redis
                            room.presence.remote.pop(origin, None)
                            room.remote_seen.pop(origin, None)
                    room.record_timeouts()
                    room.broadcast_presence()
                    if beat % 5 == 0:
                        self.publish_presence(room)
                    if room.empty() and not room._tasks and now - room.created > 10:
                        del self.rooms[sid]
                        if self.backplane:
                            await self.backplane.unsubscribe(sid)
                except Exception:
                    log.exception("sweeping room %s failed", sid)
