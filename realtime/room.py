"""One joint session's room in this process: its sockets, presence, control lease and fan-out.

Everything here runs on the event loop and never awaits a socket. Durable messages are
recorded through the core and reach the room again from the store's tail (in log
order, with their position); ephemeral ones are fanned out at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any
from uuid import UUID

from core import aggregates as A
from core.commands import Actor, Command
from core.errors import CommandError
from realtime import protocol as P
from realtime.conn import CLOSE_SESSION_ENDED, CLOSE_TOO_SLOW, Conn
from realtime.presence import Presence
from realtime.tail import Item, read_session

if TYPE_CHECKING:
    from realtime.hub import Hub

log = logging.getLogger("tandem.realtime")
MAX_IN_FLIGHT = 32  # durable messages per socket awaiting commit


class Room:
    def __init__(self, hub: Hub, session: A.JointSession):
        self.hub = hub
        self.id = str(session.id)
        self.uuid = session.id
        self.worker_id = str(session.worker_id)
        self.su_id = str(session.su_id)
        # The session's durable state (control, mirroring, who is present, suggestions,
        # charts shown): loaded from the store and moved on by each committed event, so
        # a restart or a second process sees the same.
        self.session = session
        self.conns: dict[int, Conn] = {}
        self.presence = Presence(hub.grace)
        self._joining: set[str] = set()
        self._in_flight: dict[int, int] = {}
        self._last_view: list[dict[str, Any]] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.created = time.monotonic()  # young rooms are not swept: their first socket is on its way
        self.remote_seen: dict[str, float] = {}
        self.location: dict[str, Any] | None = None  # the driver's page: where a follower (re)joins

    # ------------------------------------------------------------ state

    @property
    def holder(self) -> str:
        return str(self.session.control_holder)

    @property
    def epoch(self) -> int:
        return self.session.control_epoch

    @property
    def ended(self) -> bool:
        return self.session.ended

    @property
    def present(self) -> set[str]:
        return {str(u) for u in self.session.present}

    @property
    def shown_charts(self) -> set[str]:
        return self.session.shown_charts

    def state(self) -> dict[str, Any]:
        return {
            "worker_id": self.worker_id,
            "su_id": self.su_id,
            "control": {"holder": self.holder, "epoch": self.epoch},
            "mirroring": self.session.mirroring,
            "ended": self.ended,
            "location": self.location,
            "shown_charts": sorted(self.shown_charts),
            "suggestions": [
                {"suggestion_id": sid, "topic_id": topic, "section_id": section}
                for sid, (topic, section) in self.session.suggested.items()
            ],
            "control_requested": self.session.control_requested,
            "participants": self.presence.view(),
        }

    def empty(self) -> bool:
        return not self.conns and all(v["state"] == "gone" for v in self.presence.view())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ joining and leaving

    async def attach(self, conn: Conn, hello: P.Envelope) -> None:
        self.conns[conn.id] = conn
        conn.on_drop = self.detach
        conn.start()
        conn.device_kind = str(hello.payload.get("device_kind") or "unknown")[:20]
        if conn.device_kind not in ("phone", "tablet", "desktop"):
            conn.device_kind = "unknown"
        self.presence.connect(conn.id, conn.user_id, conn.role, conn.device_kind)
        last = hello.payload.get("last_position")
        upto = self.hub.delivered
        welcome = {
            "type": "welcome",
            "session": self.id,
            "position": upto,
            "ts": time.time(),
            "payload": {"you": conn.user_id, "role": conn.role, **self.state()},
        }
        conn.send(welcome)
        if last is None:
            conn.last_position = upto
            conn.replaying = False
        else:
            # Always replayed and closed by `resumed`, even when nothing was missed: a client
            # may wait for it before it re-sends what was not acknowledged.
            cap = self.hub.limits.replay
            frames = (
                await asyncio.to_thread(read_session, self.hub.tandem, self.id, last, upto, self.hub.reveal, cap)
                if last < upto
                else []
            )
            conn.last_position = last
            for position, frame in frames:
                if position > conn.last_position:
                    conn.last_position = position
                    conn.send(frame)
            more = len(frames) >= cap  # perhaps more missed than one hello replays
            if not more:
                conn.last_position = max(conn.last_position, upto)
            resumed = {"replayed": len(frames), **({"more": True} if more else {})}
            conn.send({"type": "resumed", "session": self.id, "position": conn.last_position, "payload": resumed})
            if more:
                # The rest on a new socket, from here: as after being too slow.
                conn.close_after_flush(CLOSE_TOO_SLOW, f"too slow; resume from {conn.last_position}")
            else:
                conn.finish_replay()
        if conn.user_id not in self.present and conn.user_id not in self._joining and not self.ended:
            # A real arrival (not a refresh or a second tab): recorded once.
            self._joining.add(conn.user_id)
            self._spawn(self._record_presence(conn, "ParticipantJoined", {"device_kind": conn.device_kind}))
        self.broadcast_presence()

    def detach(self, conn: Conn) -> None:
        if self.conns.pop(conn.id, None) is None:
            return
        self._in_flight.pop(conn.id, None)
        self.presence.disconnect(conn.id, conn.user_id)
        self.broadcast_presence()

    async def leave(self, conn: Conn) -> None:
        """Said goodbye on purpose. With other tabs still open only this tab goes; from the
        last tab the person is gone at once (no grace) and recorded as left."""
        others = [c for c in self.conns.values() if c.user_id == conn.user_id and c is not conn]
        self.conns.pop(conn.id, None)
        conn.close_after_flush(1000, "left")
        if others:
            self.presence.disconnect(conn.id, conn.user_id)
            self.broadcast_presence()
            return
        self.presence.disconnect(conn.id, conn.user_id, left=True)
        self.broadcast_presence()
        if conn.user_id in self.present and not self.ended:
            await self._record_presence(conn, "ParticipantLeft", {"reason": "left"})

    async def _record_presence(self, conn: Conn, kind: str, payload: dict[str, Any]) -> None:
        actor = Actor(UUID(conn.user_id), conn.role, device=f"live:{conn.device_kind}")
        cid = f"srv-{kind}-{conn.id}-{int(time.time() * 1000)}"
        try:
            await self.hub.tandem.record(actor, Command(kind, payload, cid, session_id=self.uuid))
        except CommandError as exc:
            log.info("could not record %s for %s: %s", kind, conn.user_id, exc)
        finally:
            self._joining.discard(conn.user_id)

    def record_timeouts(self) -> None:
        """Grace ran out for someone: record that they left (once)."""
        for uid in self.presence.expired():
            if uid in self.present and not self.ended:
                role = "worker" if uid == self.worker_id else "service_user"
                fake = Conn(transport=None, user_id=uid, role=role, binary=False)  # type: ignore[arg-type]
                self._spawn(self._record_presence(fake, "ParticipantLeft", {"reason": "timed out"}))

    # ------------------------------------------------------------ presence

    def broadcast_presence(self, force: bool = False) -> None:
        view = self.presence.view()
        if view == self._last_view and not force:
            return
        self._last_view = view
        self.fanout({"type": "presence", "session": self.id, "ts": time.time(), "payload": {"participants": view}})
        self.hub.publish_presence(self)

    # ------------------------------------------------------------ messages from a client

    async def handle(self, conn: Conn, env: P.Envelope) -> None:
        ref = {"seq": env.seq, "client_event_id": env.client_event_id}
        t = env.type
        if t == "ping":
            conn.send({"type": "pong", "seq": env.seq, "ts": time.time(), "payload": env.payload})
            return
        if t == "hello":
            conn.send(P.error("invalid_field", "hello was already received", "type", ref))
            return
        if t == "presence":
            self.presence.update(conn.id, conn.user_id, env.payload["visible"], env.payload.get("following"))
            self.broadcast_presence()
            return
        if t == "leave":
            await self.leave(conn)
            return
        if self.ended:
            conn.send(P.error("session_ended", "the session has ended", None, ref))
            return
        if t in P.DRIVER_ONLY:
            if env.epoch != self.epoch:
                conn.send(P.error("stale_epoch", f"control epoch is {self.epoch}", "epoch", ref))
                return
            if conn.user_id != self.holder:
                conn.send(P.error("not_driver", "only the person in control can navigate", "type", ref))
                return
        if env.durable:
            if self._in_flight.get(conn.id, 0) >= MAX_IN_FLIGHT:
                conn.send(P.error("rate_limited", "too many messages awaiting the store", None, ref))
                return
            self._in_flight[conn.id] = self._in_flight.get(conn.id, 0) + 1
            self._spawn(self._record(conn, env, ref))
            return
        # Ephemeral: mirror now, never store.
        message = {"type": t, "session": self.id, "from": conn.user_id, "ts": time.time(), "payload": env.payload}
        if env.seq is not None:
            message["seq"] = env.seq
        if env.epoch is not None:
            message["epoch"] = env.epoch
        if t == "nav":
            self.location = {**env.payload, "by": conn.user_id, "epoch": env.epoch}
        self.fanout(message, exclude=conn)
        self.hub.publish_ephemeral(self, message)

    async def _record(self, conn: Conn, env: P.Envelope, ref: dict[str, Any]) -> None:
        actor = Actor(UUID(conn.user_id), conn.role, device=f"live:{conn.device_kind}")
        command = Command(
            type=env.type,
            payload=env.payload,
            client_event_id=env.client_event_id or "",
            session_id=self.uuid,
            content_version=self.hub.content_version,
        )
        try:
            ack = await self.hub.tandem.record(actor, command)
        except CommandError as exc:
            conn.send(P.error(exc.code, exc.message, exc.field, ref))
            if exc.code in ("forbidden", "not_in_session"):
                self.hub.recheck_soon(self, conn)
            return
        except Exception as exc:  # never let one message break the socket
            log.exception("recording failed")
            conn.send(P.error("store_unavailable", f"could not record: {type(exc).__name__}", None, ref))
            return
        finally:
            self._in_flight[conn.id] = self._in_flight.get(conn.id, 1) - 1
        message = {
            "type": "ack",
            "session": self.id,
            "position": ack.position,
            "client_event_id": env.client_event_id,
            "payload": {"event_id": ack.event_id, "duplicate": ack.duplicate, "of": env.type},
        }
        if env.seq is not None:
            message["seq"] = env.seq
        conn.send(message)

    # ------------------------------------------------------------ fan-out

    def fanout(self, message: dict[str, Any] | P.Frame, exclude: Conn | None = None) -> None:
        frame = message if isinstance(message, P.Frame) else P.Frame(message)
        for conn in list(self.conns.values()):
            if conn is not exclude:
                conn.send(frame)

    def on_event(self, item: Item) -> None:
        """A committed event of this session, from the tail, in log order."""
        ev = item.event
        if isinstance(ev, A.JointSession.Event) and ev.originator_version > self.session.version:
            # Older events are already in the state the room was loaded with. Not
            # ev.mutate(): that refuses a gap, and events committed while the room was
            # loading reach it only if the tail had not yet passed them.
            ev.apply(self.session)
            self.session.version = ev.originator_version
        assert item.frame is not None
        for conn in list(self.conns.values()):
            conn.send_durable(item.position, item.frame)
        if self.ended:
            for conn in list(self.conns.values()):
                conn.close_after_flush(CLOSE_SESSION_ENDED, "session ended")
            self.conns.clear()

    def drop_user(self, user_id: str, code: int, reason: str) -> None:
        for conn in list(self.conns.values()):
            if conn.user_id == user_id:
                self.conns.pop(conn.id, None)
                self.presence.disconnect(conn.id, conn.user_id)
                conn.revoke(code, reason, P.error("forbidden", reason))
        self.broadcast_presence()
