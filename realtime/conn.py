"""One client socket as the hub sees it: a bounded send queue drained by its own task.

The room only ever calls `send` (never awaits a socket), so one slow or dead device can
never slow the others: when its queue is full it is dropped with a resume hint.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from realtime.protocol import Frame

log = logging.getLogger("tandem.realtime")
_ids = itertools.count(1)

SEND_QUEUE = 256  # frames; at 10 msg/s per peer that is ~25 s of backlog
CLOSE_TOO_SLOW = 4008
CLOSE_SESSION_ENDED = 4009
CLOSE_UNLINKED = 4010
CLOSE_RATE = 4029
CLOSE_REPLACED = 4000


@dataclass
class Transport:
    """What the connection needs from a socket; the endpoint adapts the ASGI server's."""

    send: Callable[[str | bytes], Awaitable[None]]
    close: Callable[[int, str], Awaitable[None]]
    # Writes a frame at once if the socket can take it, else says False (see
    # web/socket_protocol.py); without it every frame goes through the queue.
    send_now: Callable[[str | bytes], bool] | None = None


class RateLimit:
    """Token bucket: `rate` messages per second with bursts up to `burst`."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.at = burst, clock()
        self.refused = 0

    def allow(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.refused += 1
        return False


@dataclass
class Conn:
    transport: Transport
    user_id: str
    role: str
    binary: bool
    device_kind: str = "unknown"
    id: int = field(default_factory=lambda: next(_ids))
    last_position: int = 0  # the newest durable position queued to this socket
    replaying: bool = True  # until resume from the store is done, live durable frames wait in `held`
    held: list[tuple[int, Frame]] = field(default_factory=list)
    closed: bool = False
    sealed: bool = False  # access revoked: nothing more is sent to it
    close_code: int | None = None
    queue: asyncio.Queue[Frame | None] = field(default_factory=lambda: asyncio.Queue(SEND_QUEUE))
    limiter: RateLimit = field(default_factory=lambda: RateLimit(rate=30, burst=60))
    on_drop: Callable[[Conn], None] | None = None  # the room forgets the socket at once
    _writer: asyncio.Task[None] | None = None
    _sending: bool = False  # the drain task holds a frame: later ones must queue behind it
    _closer: asyncio.Task[None] | None = None  # the close under way, once one is

    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._drain())

    def send(self, frame: Frame | dict[str, Any]) -> bool:
        if self.closed or self.sealed:
            return False
        if isinstance(frame, dict):
            frame = Frame(frame)
        if self.transport.send_now is not None and not self._sending and self.queue.empty():
            data = self._encode(frame)
            if data is None:
                return False
            if self.transport.send_now(data):
                return True
        try:
            self.queue.put_nowait(frame)
            return True
        except asyncio.QueueFull:
            self.drop(CLOSE_TOO_SLOW, f"too slow; resume from {self.last_position}")
            return False

    def send_durable(self, position: int, frame: Frame) -> None:
        """Durable frames go out in position order, each once."""
        if self.replaying:
            self.held.append((position, frame))
            return
        if position <= self.last_position:
            return
        self.last_position = position
        self.send(frame)

    def finish_replay(self) -> None:
        held, self.held = self.held, []
        self.replaying = False
        for position, frame in held:
            self.send_durable(position, frame)

    def drop(self, code: int, reason: str) -> None:
        """Close without waiting for the queue: used for slow clients and revoked access."""
        if self.closed:
            return
        self.closed, self.close_code = True, code
        if self._writer is not None:
            self._writer.cancel()
        if self.on_drop is not None:
            self.on_drop(self)
        self._closer = asyncio.get_running_loop().create_task(self._close(code, reason))

    def revoke(self, code: int, reason: str, last: Frame | dict[str, Any]) -> None:
        """Access withdrawn: `last` is the last frame this socket gets (what is already
        queued goes out before it); it closes as soon as that is sent, without lingering."""
        self.send(last)
        self.sealed = True
        self.close_after_flush(code, reason, linger=0)

    def close_after_flush(self, code: int, reason: str, linger: float = 0.3) -> None:
        """Close once everything queued has been sent (session ended: the last event and any
        acks still in flight arrive first)."""
        if self.closed or self.close_code is not None:
            return
        self.close_code = code
        self._closer = asyncio.get_running_loop().create_task(self._close_later(code, reason, linger))

    async def _close_later(self, code: int, reason: str, linger: float) -> None:
        await asyncio.sleep(linger)
        try:
            self.queue.put_nowait(None)
        except asyncio.QueueFull:
            pass
        self.closed = True
        if self._writer is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._writer), 5)
            except (TimeoutError, asyncio.CancelledError, Exception):
                self._writer.cancel()
        await self._close(code, reason)

    async def _close(self, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(self.transport.close(code, reason[:120]), 10)
        except Exception:
            pass

    async def _drain(self) -> None:
        try:
            while True:
                frame = await self.queue.get()
                self._sending = True
                while frame is not None:  # send all that is queued before waiting again
                    data = self._encode(frame)
                    if data is not None:
                        await self.transport.send(data)
                    try:
                        frame = self.queue.get_nowait()
                    except asyncio.QueueEmpty:
                        break
                self._sending = False
                if frame is None:
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the socket went away; the reader notices and cleans up
            log.debug("send failed on conn %s: %s", self.id, exc)
            self.closed = True

    def _encode(self, frame: Frame) -> str | bytes | None:
        try:
            return frame.data(self.binary)
        except (TypeError, ValueError, OverflowError):  # cannot happen for validated input
            log.exception("unencodable frame skipped")
            return None

    async def closing_done(self) -> None:
        """Wait until a close under way has been sent: the endpoint returning first would
        end the socket without the close code (and the reason) the client must see."""
        if self._closer is not None:
            try:
                await asyncio.shield(self._closer)
            except Exception:
                pass

    async def stop(self) -> None:
        self.closed = True
        if self._writer is not None:
            self._writer.cancel()
            try:
                await self._writer
            except BaseException:
                pass
