"""Follow the store's global log and turn committed events into live frames.

Durable messages are mirrored from here, not from the request that recorded them:
the log's order is the one order every device sees, whichever process or HTTP request
wrote the event, and a reconnecting client's replay reads the very same log. A commit by
this process's writer that follows on from the last position is handed on as it stands;
anything else (another process's writes, announced by the Redis doorbell, or a gap) wakes
the tail thread, which reads the log in order, and polls as a fallback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ConnectionPoolClosedError

from core import aggregates as A
from core.keystore import is_sealed
from realtime.protocol import Frame, to_wire

log = logging.getLogger("tandem.realtime")

ENVELOPE_ATTRS = {
    "originator_id",
    "originator_version",
    "timestamp",
    "event_id",
    "actor_id",
    "actor_role",
    "device",
    "session_id",
    "client_time",
    "content_version",
    "client_event_id",
}
SEALED = {
    "AnswerSaved": "answer",
    "WorksheetItemAdded": "text",
    "WorksheetItemChanged": "text",
    "ChartPointRecorded": "values",
}
JSON_SEALED = {"ChartPointRecorded"}  # sealed as JSON text
BATCH = 500


@dataclass(frozen=True)
class Item:
    position: int
    session_id: str | None  # the joint session the event belongs to, if any
    event: Any
    frame: Frame | None  # the live frame, for session events


def session_of(event: Any) -> str | None:
    sid = getattr(event, "session_id", None)
    if sid is not None:
        return str(sid)
    if isinstance(event, A.JointSession.Event):
        return str(event.originator_id)
    return None


def event_frame(position: int, event: Any, session_id: str, reveal: Callable[[str, dict], str | None]) -> Frame:
    name = type(event).__name__
    payload = {k: to_wire(v) for k, v in event.__dict__.items() if k not in ENVELOPE_ATTRS}
    sealed = SEALED.get(name)
    if sealed and is_sealed(event.__dict__.get(sealed)):
        # Written during the joint session, on the shared screen: both may read it.
        text = reveal(session_id, event.__dict__[sealed])
        payload[sealed] = json.loads(text) if text is not None and name in JSON_SEALED else text
    if hasattr(event, "actor_role"):
        payload["actor_role"] = event.actor_role
    message: dict[str, Any] = {"type": name, "session": session_id, "position": position, "payload": payload}
    if getattr(event, "client_event_id", None):
        message["client_event_id"] = event.client_event_id
    if getattr(event, "actor_id", None) is not None:
        message["from"] = str(event.actor_id)
    message["ts"] = event.timestamp.timestamp()
    return Frame(message)


class Tail:
    def __init__(
        self,
        tandem: Any,
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[list[Item], int], None],
        reveal: Callable[[str, dict], str | None],
        start: int,
        poll: float = 1.0,
        wanted: Callable[[str], bool] = lambda _sid: True,
    ):
        self.tandem, self.loop, self.deliver, self.reveal = tandem, loop, deliver, reveal
        self.wanted = wanted  # build frames only for sessions with a room in this process
        self.position = start
        self.poll = poll
        self._wake = threading.Event()
        self._lock = threading.Lock()  # the writer thread and the tail's own both hand items on
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="tandem-live-tail", daemon=True)

    def start(self) -> None:
        self.tandem.on_commit(self._committed)
        self._thread.start()

    def _committed(self, head: int, events: list[tuple[int, Any]]) -> None:
        """In the writer thread, right after a commit. When the commit follows on from what
        was handed on so far, its events go on from here: no read back from the store, no
        wake-up of the tail thread. Otherwise (another process wrote in between) the tail
        thread reads the log in order."""
        try:
            with self._lock:
                if events and events[0][0] == self.position + 1 and events[-1][0] == self.position + len(events):
                    self._hand_on(events)
                    return
        except Exception:
            log.exception("live tail could not hand on a commit; reading it instead")
        self._wake.set()

    def _hand_on(self, rows: list[tuple[int, Any]]) -> None:
        items = [self.item(pos, ev) for pos, ev in rows]
        self.position = rows[-1][0]
        self.loop.call_soon_threadsafe(self.deliver, items, self.position)

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(self.poll)
            self._wake.clear()
            try:
                while not self._stop:
                    rows = self.tandem.read(self.position, BATCH)
                    with self._lock:  # the writer may have handed some on meanwhile
                        new = [row for row in rows if row[0] > self.position]
                        if new:
                            self._hand_on(new)
                    if len(rows) < BATCH:
                        break
            except RuntimeError:  # the loop closed under us at shutdown
                return
            except ConnectionPoolClosedError:  # the store closed: the app is shutting down
                return
            except Exception:
                log.exception("live tail could not read the store; retrying")

    def item(self, position: int, event: Any) -> Item:
        sid = session_of(event)
        frame = event_frame(position, event, sid, self.reveal) if sid and self.wanted(sid) else None
        return Item(position, sid, event, frame)


def read_session(
    tandem: Any, session_id: str, after: int, upto: int, reveal: Callable[[str, dict], str | None], limit: int
) -> list[tuple[int, Frame]]:
    """A reconnecting client's catch-up: this session's events in (after, upto], in order,
    at most `limit`; read through the store's session index, not the whole log."""
    rows = tandem.session_events(UUID(session_id), after, upto, limit)
    return [(pos, event_frame(pos, ev, session_id, reveal)) for pos, ev in rows]
