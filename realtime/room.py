"""One joint session's room in this process: runs its `LiveSession` on the event loop.

The rules live in realtime/session.py; the room feeds it what happens (sockets, frames,
committed events, store answers, the clock) and carries out the effects it returns. It
never awaits a socket: frames go into each connection's queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from core import aggregates as A
from core.commands import Actor, Catalogue, Command, Content, Recorded
from core.errors import CommandError
from realtime import protocol as P
from realtime import session as S
from realtime.conn import Conn
from realtime.presence import Grace
from realtime.protocol import CloseCode, Frame
from realtime.store import Store
from realtime.tail import Item, read_session

log = logging.getLogger("tandem.realtime")


@dataclass(frozen=True)
class Surroundings:
    """What a room asks of the process around it (the hub)."""

    store: Store
    reveal: Callable[[str, dict[str, Any]], str | None]
    position: Callable[[], int]  # how far this process has delivered the log
    publish_ephemeral: Callable[[str, dict[str, Any]], None]
    publish_presence: Callable[[str, dict[str, dict[str, Any]]], None]
    recheck: Callable[[str, str], Coroutine[Any, Any, None]]  # session id, user id
    catalogue: Callable[[], Catalogue | Content | None]


def now() -> S.At:
    return S.At(time.monotonic(), time.time())


class Room:
    def __init__(
        self,
        around: Surroundings,
        session: A.JointSession,
        *,
        grace: Grace,
        replay: int,
        content_version: str | None,
    ):
        self.around = around
        self.live = S.LiveSession(session, grace, replay, content_version)
        self.id = self.live.id
        self.uuid = session.id
        self.worker_id, self.su_id = self.live.worker_id, self.live.su_id
        self.conns: dict[int, Conn] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.created = time.monotonic()  # young rooms are not swept: their first socket is on its way

    @property
    def location(self) -> dict[str, Any] | None:
        return self.live.location

    def empty(self) -> bool:
        return self.live.empty() and not self.conns and not self._tasks

    # ------------------------------------------------------------ inputs

    async def attach(self, conn: Conn, hello: P.Envelope) -> None:
        self.conns[conn.id] = conn
        conn.on_drop = self.detach
        conn.start()
        last = hello.payload.get("last_position")
        position = self.around.position()
        # Only a claim beyond this process's position needs the store's word (it may lag another process).
        head = await asyncio.to_thread(self.around.store.head) if last is not None and last > position else position
        self.run(self.live.arrived(conn.id, conn.user_id, conn.role, hello, position, head, now()))

    def detach(self, conn: Conn) -> None:
        if self.conns.pop(conn.id, None) is not None:
            self.run(self.live.gone(conn.id, now()))

    def handle(self, conn: Conn, env: P.Envelope) -> None:
        self.run(self.live.received(conn.id, env, now()))

    def on_event(self, item: Item) -> None:
        """A committed event of this session, from the tail, in log order."""
        assert item.frame is not None
        self.run(self.live.committed(item.position, item.event, item.frame))

    def tick(self) -> None:
        self.run(self.live.tick(now()))

    def on_remote_ephemeral(self, message: dict[str, Any]) -> None:
        self.run(self.live.remote_ephemeral(message, self.around.catalogue()))

    def on_remote_presence(self, origin: str, view: dict[str, dict[str, Any]]) -> None:
        self.run(self.live.remote_presence(origin, view, now()))

    def drop_user(self, user_id: str, code: CloseCode, reason: str) -> None:
        self.run(self.live.drop_user(user_id, code, reason, now()))

    # ------------------------------------------------------------ effects

    def run(self, effects: Sequence[S.Effect]) -> None:
        for effect in effects:
            self._do(effect)

    def _do(self, e: S.Effect) -> None:
        match e:
            case S.Send(to, frame):
                for cid in to:
                    if (conn := self.conns.get(cid)) is not None:
                        conn.send(frame)
            case S.SendDurable(to, position, frame):
                for cid in to:
                    if (conn := self.conns.get(cid)) is not None:
                        conn.send_durable(position, frame)
            case S.GoLive(cid, after):
                if (conn := self.conns.get(cid)) is not None:
                    conn.last_position = after
                    conn.finish_replay()
            case S.Replay(cid, after, upto):
                self._spawn(self._replay(cid, after, upto))
            case S.Record(cid, actor, command, ref):
                self._spawn(self._record(cid, actor, command, ref))
            case S.RecordPresence(user_id, actor, command):
                self._spawn(self._record_presence(user_id, actor, command))
            case S.Close(cid, code, reason, linger, last):
                # Kept in `conns` until its socket is done: an ack still in flight reaches it.
                conn = self.conns.get(cid)
                if conn is None:
                    return
                if last is not None:
                    conn.revoke(code, reason, last)
                else:
                    conn.close_after_flush(code, reason, linger)
            case S.PublishEphemeral(message):
                self.around.publish_ephemeral(self.id, message)
            case S.PublishPresence(view):
                self.around.publish_presence(self.id, view)
            case S.Recheck(user_id):
                self._spawn(self.around.recheck(self.id, user_id))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _replay(self, cid: int, after: int, upto: int) -> None:
        cap = self.live.replay_cap
        frames: list[tuple[int, Frame]] = []
        if after < upto:
            store, reveal = self.around.store, self.around.reveal
            frames = await asyncio.to_thread(read_session, store, self.id, after, upto, reveal, cap)
        self.run(self.live.replayed(cid, after, upto, frames))

    async def _record(self, cid: int, actor: Actor, command: Command, ref: dict[str, Any]) -> None:
        result: Recorded | Exception
        try:
            result = await self.around.store.record(actor, command)
        except CommandError as exc:
            result = exc
        except Exception as exc:  # never let one message break the socket
            log.exception("recording failed")
            result = exc
        self.run(self.live.recorded(cid, ref, result))

    async def _record_presence(self, user_id: str, actor: Actor, command: Command) -> None:
        try:
            await self.around.store.record(actor, command)
        except CommandError as exc:
            log.info("could not record %s for %s: %s", command.type, user_id, exc)
        finally:
            self.run(self.live.presence_recorded(user_id))
