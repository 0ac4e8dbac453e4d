"""The process-wide live hub: rooms by session, the store tail, the backplane to other processes.

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
from realtime.backplane import Backplane, Kind, LocalBackplane, backplane_for
from realtime.conn import Conn, RateLimit, Transport
from realtime.presence import Grace
from realtime.protocol import CloseCode
from realtime.revocation import Revocation, revocation_of
from realtime.room import Room, Surroundings
from realtime.store import Store
from realtime.tail import Item, Tail, event_frame

log = logging.getLogger("tandem.realtime")
HELLO_TIMEOUT = 10.0
ROOM_MIN_AGE = 10.0  # seconds a room is kept, empty, for the socket that asked for it


@dataclass(frozen=True)
class Limits:
    rate: float = 30.0  # messages per second per socket ...
    burst: float = 60.0  # ... with bursts of this many
    kick_after: int = 600  # refused messages before the socket is closed
    replay: int = 1000  # durable events replayed per hello; past it the client resumes on a new socket


class Hub:
    def __init__(
        self,
        tandem: Store,
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
        self.backplane: Backplane = LocalBackplane()  # until start() picks the one the URL names
        self.started = False
        self._ready = asyncio.Event()
        self._surroundings = Surroundings(
            store=tandem,
            reveal=self.reveal,
            position=lambda: self.delivered,
            publish_ephemeral=self.publish_ephemeral,
            publish_presence=self.publish_presence,
            recheck=self.recheck,
            catalogue=lambda: self.tandem.catalogue,
        )

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
        backplane = self.backplane = backplane_for(
            self.redis_url,
            self.process_id,
            self.on_remote,
            self._tail.wake,
            self.tandem.settings.secret_key,
            on_revoked=self.revoke,
        )
        await backplane.start()

        def ring(position: int, _events: list[tuple[int, Any]]) -> None:
            loop.call_soon_threadsafe(backplane.ring, position)

        self.tandem.on_commit(ring)
        self._sweeper = loop.create_task(self._sweep())
        self._ready.set()

    async def stop(self) -> None:
        if self._sweeper:
            self._sweeper.cancel()
        for room in list(self.rooms.values()):
            for conn in list(room.conns.values()):
                conn.drop(CloseCode.GOING_AWAY, "server shutting down")
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
                room = Room(
                    self._surroundings,
                    session,
                    grace=self.grace,
                    replay=self.limits.replay,
                    content_version=self.content_version,
                )
                self._su[session_id] = room.su_id
                self.rooms[session_id] = room
                await self.backplane.subscribe(session_id)
        return room

    def reveal(self, session_id: str, sealed: dict[str, Any]) -> str | None:
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
                    room.drop_user(room.worker_id, CloseCode.UNLINKED, "no longer linked to this service user")
            elif revocation.user_id is not None:
                room.drop_user(revocation.user_id, CloseCode.REVOKED, "signed out")

    async def recheck(self, session_id: str, user_id: str) -> None:
        """The store refused someone in a session: close their sockets if they lost access."""
        standing = await asyncio.to_thread(self.tandem.session_access, UUID(user_id), UUID(session_id))
        room = self.rooms.get(session_id)
        if standing.refusal() is not None and room is not None:
            room.drop_user(user_id, CloseCode.UNLINKED, "no longer allowed in this session")

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
            await transport.close(CloseCode.NO_SESSION, "no such session")
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
                        conn.drop(CloseCode.RATE_LIMITED, "rate limit")
                    continue
                try:
                    env = P.parse(data, session_id, self.tandem.catalogue)
                except P.ProtocolError as exc:
                    conn.send(P.error(exc.code, exc.message, exc.field, exc.ref))
                    continue
                room.handle(conn, env)
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
        await transport.close(CloseCode.POLICY, "no hello")
        return None

    # ------------------------------------------------------------ other processes

    def publish_ephemeral(self, session_id: str, message: dict[str, Any]) -> None:
        self.backplane.publish(session_id, Kind.EPHEMERAL, message)

    def publish_presence(self, session_id: str, view: dict[str, dict[str, Any]]) -> None:
        self.backplane.publish(session_id, Kind.PRESENCE, view)

    def on_remote(self, session_id: str, kind: Kind, origin: str, data: Any) -> None:
        room = self.rooms.get(session_id)
        if room is None or origin == self.process_id:
            return
        match kind:
            case Kind.EPHEMERAL:
                try:
                    room.on_remote_ephemeral(data)
                except P.ProtocolError:
                    log.warning("dropped a nav from process %s that names no content location", origin)
            case Kind.PRESENCE:
                room.on_remote_presence(origin, data)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            now = time.monotonic()
            for sid, room in list(self.rooms.items()):
                try:
                    room.tick()
                    if room.empty() and now - room.created > ROOM_MIN_AGE:
                        del self.rooms[sid]
                        await self.backplane.unsubscribe(sid)
                except Exception:
                    log.exception("sweeping room %s failed", sid)
