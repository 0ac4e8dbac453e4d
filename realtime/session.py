"""One joint session's live rules, with no I/O: inputs in, effects out.

`LiveSession` is fed what happened (a socket arrived, a frame was decoded, an event was
committed, a command was recorded, the clock moved, a socket went, another process
spoke, access was withdrawn) and answers with effects for its runner (realtime/room.py)
to carry out. It never awaits, reads a clock, or touches a socket or the store, so every
rule here is tested by feeding it inputs (tests/realtime/test_session_unit.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from core import aggregates as A
from core.commands import Actor, Command, Recorded
from core.errors import CommandError
from realtime import protocol as P
from realtime.presence import Grace, Presence
from realtime.protocol import CloseCode, Frame

MAX_IN_FLIGHT = 32  # durable messages per socket awaiting commit
REMOTE_STALE = 15.0  # seconds without a presence beat before another process counts as gone
PRESENCE_BEATS = 5  # ticks between presence announcements to the other processes
DEVICE_KINDS = ("phone", "tablet", "desktop")
SERVER_ID_PREFIX = P.SERVER_ID_PREFIX
Message = dict[str, Any]


@dataclass(frozen=True)
class At:
    """A clock reading: `mono` orders timers (presence grace), `wall` stamps frames."""

    mono: float
    wall: float


# ------------------------------------------------------------------ effects


@dataclass(frozen=True)
class Send:
    """Send a frame to these sockets now (outside the durable order)."""

    to: tuple[int, ...]
    frame: Frame


@dataclass(frozen=True)
class SendDurable:
    """A committed event's frame: each socket gets it once, in position order."""

    to: tuple[int, ...]
    position: int
    frame: Frame


@dataclass(frozen=True)
class Replay:
    """Read this session's events in (after, upto] from the store; answer with `replayed`."""

    conn: int
    after: int
    upto: int


@dataclass(frozen=True)
class GoLive:
    """Replay is done: durable frames above `after` now flow to this socket."""

    conn: int
    after: int


@dataclass(frozen=True)
class Record:
    """Record a client's durable command; answer with `recorded`."""

    conn: int
    actor: Actor
    command: Command
    ref: Message


@dataclass(frozen=True)
class RecordPresence:
    """Record a join or leave the server saw; answer with `presence_recorded`."""

    user_id: str
    actor: Actor
    command: Command


@dataclass(frozen=True)
class Close:
    """Close a socket: after `linger` seconds once its queue is sent; with `last`, that
    frame is the last one it gets and nothing queued after it is sent (access withdrawn)."""

    conn: int
    code: CloseCode
    reason: str
    linger: float = 0.3
    last: Frame | None = None


@dataclass(frozen=True)
class PublishEphemeral:
    message: Message


@dataclass(frozen=True)
class PublishPresence:
    view: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Recheck:
    """The store refused this person: check their standing again (they may be unlinked)."""

    user_id: str


Effect = (
    Send
    | SendDurable
    | Replay
    | GoLive
    | Record
    | RecordPresence
    | Close
    | PublishEphemeral
    | PublishPresence
    | Recheck
)


@dataclass
class Socket:
    user_id: str
    role: str
    device_kind: str
    in_flight: int = 0


@dataclass
class _Clock:
    """Presence reads the time through this: the last reading the session was given."""

    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class LiveSession:
    session: A.JointSession
    grace: Grace = field(default_factory=Grace)
    replay_cap: int = 1000
    content_version: str | None = None

    def __post_init__(self) -> None:
        self.id = str(self.session.id)
        self.worker_id = str(self.session.worker_id)
        self.su_id = str(self.session.su_id)
        self.sockets: dict[int, Socket] = {}
        self._clock = _Clock()
        self.presence = Presence(self.grace, clock=self._clock)
        self.location: Message | None = None  # the driver's page: where a follower (re)joins
        self._joining: set[str] = set()  # joins being recorded: each arrival once
        self._last_view: list[dict[str, Any]] | None = None
        self._remote_seen: dict[str, float] = {}
        self._beat = 0

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

    def state(self) -> Message:
        return {
            "worker_id": self.worker_id,
            "su_id": self.su_id,
            "control": {"holder": self.holder, "epoch": self.epoch},
            "mirroring": self.session.mirroring,
            "ended": self.ended,
            "location": self.location,
            "shown_charts": sorted(self.session.shown_charts),
            "suggestions": [
                {"suggestion_id": sid, "topic_id": topic, "section_id": section}
                for sid, (topic, section) in self.session.suggested.items()
            ],
            "control_requested": self.session.control_requested,
            "participants": self.presence.view(),
        }

    def empty(self) -> bool:
        return not self.sockets and all(v["state"] == "gone" for v in self.presence.view())

    def busy(self) -> bool:
        """Something is still being recorded for this session."""
        return bool(self._joining) or any(s.in_flight for s in self.sockets.values())

    # ------------------------------------------------------------ inputs: sockets

    def arrived(
        self, conn: int, user_id: str, role: str, hello: P.Envelope, position: int, head: int, at: At
    ) -> list[Effect]:
        """A socket said hello. `position` is how far this process has delivered the log,
        `head` how far the store has committed (this process may lag another one)."""
        self._clock.now = at.mono
        kind = str(hello.payload.get("device_kind") or "unknown")[:20]
        kind = kind if kind in DEVICE_KINDS else "unknown"
        last = hello.payload.get("last_position")
        if last is not None and last > max(position, head):
            # A client that claims more than the store has would silently skip events up to its claim.
            error = P.error("invalid_field", f"last_position is beyond the server's position {head}", "last_position")
            return [
                Send((conn,), Frame(error)),
                Close(conn, CloseCode.POLICY, "last_position beyond the server's position"),
            ]
        self.sockets[conn] = Socket(user_id, role, kind)
        self.presence.connect(conn, user_id, role, kind)
        you = {"you": user_id, "role": role, **self.state()}
        welcome = {"type": "welcome", "session": self.id, "position": position, "ts": at.wall, "payload": you}
        out: list[Effect] = [Send((conn,), Frame(welcome))]
        if last is None:
            out.append(GoLive(conn, position))
        else:
            # Always replayed and closed by `resumed`, even when nothing was missed: a client
            # may wait for it before it re-sends what was not acknowledged.
            out.append(Replay(conn, last, position))
        if user_id not in self.present and user_id not in self._joining and not self.ended:
            # A real arrival (not a refresh or a second tab): recorded once.
            self._joining.add(user_id)
            out.append(
                self._presence_command(conn, user_id, role, kind, "ParticipantJoined", {"device_kind": kind}, at)
            )
        out += self._broadcast_presence(at)
        return out

    def replayed(self, conn: int, after: int, upto: int, frames: Sequence[tuple[int, Frame]]) -> list[Effect]:
        """The store's answer to `Replay`: at most `replay_cap` frames above `after`."""
        if conn not in self.sockets:
            return []
        last = after
        out: list[Effect] = []
        for position, frame in frames:
            if position > last:
                last = position
                out.append(Send((conn,), frame))
        more = len(frames) >= self.replay_cap  # perhaps more missed than one hello replays
        if not more:
            last = max(last, upto)
        payload: Message = {"replayed": len(frames), **({"more": True} if more else {})}
        out.append(Send((conn,), Frame({"type": "resumed", "session": self.id, "position": last, "payload": payload})))
        if more:
            # The rest on a new socket, from here: as after being too slow.
            socket = self.sockets.pop(conn)
            self.presence.disconnect(conn, socket.user_id)
            out.append(Close(conn, CloseCode.TOO_SLOW, f"too slow; resume from {last}"))
        else:
            out.append(GoLive(conn, last))
        return out

    def gone(self, conn: int, at: At) -> list[Effect]:
        """A socket closed or was dropped."""
        self._clock.now = at.mono
        socket = self.sockets.pop(conn, None)
        if socket is None:
            return []
        self.presence.disconnect(conn, socket.user_id)
        return self._broadcast_presence(at)

    def received(self, conn: int, env: P.Envelope, at: At) -> list[Effect]:
        """A decoded, validated frame from a socket after its hello."""
        self._clock.now = at.mono
        socket = self.sockets.get(conn)
        if socket is None:
            return []
        ref = {"seq": env.seq, "client_event_id": env.client_event_id}
        t = env.type
        if t == "ping":
            return [Send((conn,), Frame({"type": "pong", "seq": env.seq, "ts": at.wall, "payload": env.payload}))]
        if t == "hello":
            return self._refuse(conn, "invalid_field", "hello was already received", "type", ref)
        if t == "presence":
            self.presence.update(conn, socket.user_id, env.payload["visible"], env.payload.get("following"))
            return self._broadcast_presence(at)
        if t == "leave":
            return self._leave(conn, socket, at)
        if self.ended:
            return self._refuse(conn, "session_ended", "the session has ended", None, ref)
        if t in P.DRIVER_ONLY:
            if env.epoch != self.epoch:
                return self._refuse(conn, "stale_epoch", f"control epoch is {self.epoch}", "epoch", ref)
            if socket.user_id != self.holder:
                return self._refuse(conn, "not_driver", "only the person in control can navigate", "type", ref)
        if env.durable:
            if socket.in_flight >= MAX_IN_FLIGHT:
                return self._refuse(conn, "rate_limited", "too many messages awaiting the store", None, ref)
            socket.in_flight += 1
            command = Command(
                type=t,
                payload=env.payload,
                client_event_id=env.client_event_id or "",
                session_id=self.session.id,
                content_version=self.content_version,
            )
            return [Record(conn, self._actor(socket.user_id, socket.role, socket.device_kind), command, ref)]
        # Ephemeral: mirror now, never store.
        message: Message = {
            "type": t,
            "session": self.id,
            "from": socket.user_id,
            "ts": at.wall,
            "payload": env.payload,
        }
        if env.seq is not None:
            message["seq"] = env.seq
        if env.epoch is not None:
            message["epoch"] = env.epoch
        if t == "nav":
            self.location = {**env.payload, "by": socket.user_id, "epoch": env.epoch}
        return [Send(self._others(conn), Frame(message)), PublishEphemeral(message)]

    # ------------------------------------------------------------ inputs: the store

    def recorded(self, conn: int, ref: Message, result: Recorded | CommandError | Exception) -> list[Effect]:
        """The outcome of a `Record`: an ack, a refusal, or a store failure."""
        socket = self.sockets.get(conn)
        if socket is not None:
            socket.in_flight = max(0, socket.in_flight - 1)
        if isinstance(result, CommandError):
            out: list[Effect] = self._refuse(conn, result.code, result.message, result.field, ref)
            if result.code in ("forbidden", "not_in_session") and socket is not None:
                out.append(Recheck(socket.user_id))
            return out
        if isinstance(result, Exception):
            reason = f"could not record: {type(result).__name__}"
            return self._refuse(conn, "store_unavailable", reason, None, ref)
        message: Message = {
            "type": "ack",
            "session": self.id,
            "position": result.position,
            "client_event_id": ref.get("client_event_id"),
            # `of` names what is stored under this id: on a retry, the first frame's type.
            "payload": {"event_id": result.event_id, "duplicate": result.duplicate, "of": result.type},
        }
        if ref.get("seq") is not None:
            message["seq"] = ref["seq"]
        return [Send((conn,), Frame(message))]

    def presence_recorded(self, user_id: str) -> list[Effect]:
        self._joining.discard(user_id)
        return []

    def committed(self, position: int, event: Any, frame: Frame) -> list[Effect]:
        """A committed event of this session, in log order."""
        if isinstance(event, A.JointSession.Event) and event.originator_version > self.session.version:
            # Older events are already in the state the session was loaded with. Not
            # mutate(): that refuses a gap, and events committed while the session was
            # loading arrive only if the tail had not yet passed them.
            event.apply(self.session)
            self.session.version = event.originator_version
        out: list[Effect] = [SendDurable(tuple(self.sockets), position, frame)]
        if self.ended:
            out += [Close(conn, CloseCode.SESSION_ENDED, "session ended") for conn in self.sockets]
            self.sockets.clear()
        return out

    # ------------------------------------------------------------ inputs: time, other processes, access

    def tick(self, at: At) -> list[Effect]:
        """The sweeper's beat: forget silent processes, record who timed out, re-announce."""
        self._clock.now = at.mono
        self._beat += 1
        for origin, seen in list(self._remote_seen.items()):
            if at.mono - seen > REMOTE_STALE:  # that process died or lost Redis
                self.presence.remote.pop(origin, None)
                self._remote_seen.pop(origin, None)
        out: list[Effect] = []
        for uid in self.presence.expired():
            if uid in self.present and not self.ended:
                role = "worker" if uid == self.worker_id else "service_user"
                out.append(
                    self._presence_command(None, uid, role, "unknown", "ParticipantLeft", {"reason": "timed out"}, at)
                )
        out += self._broadcast_presence(at)
        if self._beat % PRESENCE_BEATS == 0:
            out.append(PublishPresence(self.presence.local_view()))
        return out

    def remote_ephemeral(self, message: Message, catalogue: Any = None) -> list[Effect]:
        """An ephemeral message another process checked and mirrored to us."""
        if message.get("type") == "nav":
            # Another process (perhaps an older version) checked it; check it the same way here.
            message = {**message, "payload": P.check_location(message.get("payload") or {}, catalogue)}
            self.location = {**message["payload"], "by": message.get("from"), "epoch": message.get("epoch")}
        return [Send(tuple(self.sockets), Frame(message))]

    def remote_presence(self, origin: str, view: dict[str, dict[str, Any]], at: At) -> list[Effect]:
        self._clock.now = at.mono
        self.presence.remote[origin] = view
        self._remote_seen[origin] = at.mono
        return self._broadcast_presence(at)

    def drop_user(self, user_id: str, code: CloseCode, reason: str, at: At) -> list[Effect]:
        """Access withdrawn: this person's sockets get one `forbidden` error and close."""
        self._clock.now = at.mono
        last = Frame(P.error("forbidden", reason))
        out: list[Effect] = []
        for conn, socket in list(self.sockets.items()):
            if socket.user_id == user_id:
                del self.sockets[conn]
                self.presence.disconnect(conn, user_id)
                out.append(Close(conn, code, reason, linger=0, last=last))
        return out + self._broadcast_presence(at)

    # ------------------------------------------------------------ helpers

    def _leave(self, conn: int, socket: Socket, at: At) -> list[Effect]:
        """Said goodbye on purpose. With other tabs still open only this tab goes; from the
        last tab the person is gone at once (no grace) and recorded as left."""
        del self.sockets[conn]
        out: list[Effect] = [Close(conn, CloseCode.NORMAL, "left")]
        others = any(s.user_id == socket.user_id for s in self.sockets.values())
        self.presence.disconnect(conn, socket.user_id, left=not others)
        out += self._broadcast_presence(at)
        if not others and socket.user_id in self.present and not self.ended:
            kind = socket.device_kind
            out.append(
                self._presence_command(
                    conn, socket.user_id, socket.role, kind, "ParticipantLeft", {"reason": "left"}, at
                )
            )
        return out

    def _presence_command(
        self, conn: int | None, user_id: str, role: str, kind: str, type_: str, payload: Message, at: At
    ) -> RecordPresence:
        # Clients may not use the server's prefix (protocol.parse refuses it), so these ids never collide with theirs.
        cid = f"{SERVER_ID_PREFIX}{type_}-{conn if conn is not None else 0}-{int(at.wall * 1000)}"
        command = Command(type_, payload, cid, session_id=self.session.id)
        return RecordPresence(user_id, self._actor(user_id, role, kind), command)

    def _actor(self, user_id: str, role: str, device_kind: str) -> Actor:
        return Actor(UUID(user_id), role, device=f"live:{device_kind}")

    def _broadcast_presence(self, at: At, force: bool = False) -> list[Effect]:
        view = self.presence.view()
        if view == self._last_view and not force:
            return []
        self._last_view = view
        frame = Frame({"type": "presence", "session": self.id, "ts": at.wall, "payload": {"participants": view}})
        return [Send(tuple(self.sockets), frame), PublishPresence(self.presence.local_view())]

    def _others(self, conn: int) -> tuple[int, ...]:
        return tuple(c for c in self.sockets if c != conn)

    def _refuse(self, conn: int, code: str, message: str, field: str | None, ref: Message) -> list[Effect]:
        return [Send((conn,), Frame(P.error(code, message, field, ref)))]
