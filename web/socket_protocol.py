"""How uvicorn runs Tandem's WebSockets: one set of options for `tandem serve`, the tests
and the benchmark, and uvicorn's own protocol made lighter for a live server's many
small frames. With the shorter paths in web/live_routes.py: server CPU 0.79 → 0.71
cores in single 300-session runs of bench/mirror.py (runs vary by a few hundredths).

- uvicorn stops reading a socket after every message and starts again once the app has
  taken it: two system calls per frame. Here the socket stops reading only when
  messages pile up unread, which bounds memory the same way.
- ASGI has only an awaitable send, so every outgoing frame cost a queue, a task
  wake-up and a chain of coroutine calls. `send_now` (in the scope under SEND_NOW)
  writes a frame at once when the socket can take it and says False when it cannot
  (not yet open, closing, or the peer is not reading): the caller then queues it and
  uses the ASGI send, which waits for the socket.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.http11 import Request

from realtime.protocol import MAX_TRANSPORT_FRAME

SEND_NOW = "tandem.send_now"
UNREAD_LIMIT = 32  # messages waiting for the app before the socket stops reading
# A new connection has this long to send its request headers, and a WebSocket as long
# again after the upgrade to send its first message (hello): idle or dribbling
# connections would otherwise hold a socket and memory for as long as the peer likes.
HANDSHAKE_TIMEOUT = 5.0
LINGER = 5.0  # after closing on a bad frame: how long to read on until the peer closes too

log = logging.getLogger("tandem.realtime")

UVICORN_OPTIONS: dict[str, Any] = {
    "http": "web.socket_protocol:LiveHttpProtocol",
    "ws": "web.socket_protocol:LiveSocketProtocol",
    "ws_per_message_deflate": False,  # compression costs memory per connection
    "ws_max_size": MAX_TRANSPORT_FRAME,  # larger frames close the socket (1009), never read into memory
}


class LiveHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol with a deadline for the first request's headers."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._headers_timer: asyncio.TimerHandle | None = self.loop.call_later(HANDSHAKE_TIMEOUT, self._too_slow)

    def on_headers_complete(self) -> None:
        self._cancel_headers_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_headers_timer()
        super().connection_lost(exc)

    def _cancel_headers_timer(self) -> None:
        if self._headers_timer is not None:
            self._headers_timer.cancel()
            self._headers_timer = None

    def _too_slow(self) -> None:
        self._headers_timer = None
        if not self.transport.is_closing():
            self.transport.close()


class LiveSocketProtocol(WebSocketsSansIOProtocol):
    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._failed = False
        self._hello_timer: asyncio.TimerHandle | None = self.loop.call_later(HANDSHAKE_TIMEOUT, self._no_hello)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_hello_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self.handshake_initiated and self.conn.handshake_exc is not None and not self._failed:
            # websockets has answered a bad upgrade (e.g. a header line over 8 KiB: 431)
            # but the parent only writes once a request parses: send it and close.
            self._failed = True
            self._cancel_hello_timer()
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.transport.close()

    def send_receive_event_to_app(self) -> None:
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:
            return  # past our close frame: read on (never pause) until the peer's reply
        self._cancel_hello_timer()
        if self.curr_msg_data_type == "text":
            try:
                message: Any = {"type": "websocket.receive", "text": data.decode()}
            except UnicodeDecodeError:
                # One close for the socket, no traceback: a bad client must not fill the log.
                self._close(1007, "text frame is not UTF-8")
                return
        else:
            message = {"type": "websocket.receive", "bytes": data}
        self.queue.put_nowait(message)
        if not self.read_paused and self.queue.qsize() >= UNREAD_LIMIT:
            self.read_paused = True
            self.transport.pause_reading()
        # The parent's receive() resumes reading once the app has emptied the queue.

    def handle_parser_exception(self) -> None:
        """A frame the parser refuses (over the size limit, bad framing): websockets has
        queued its close frame. Send it and read on, discarding, until the peer closes:
        closing at once with the rest of a large frame unread resets the connection and
        the client would see 1006 instead of the code."""
        if self._failed:
            return
        self._failed = True
        self._cancel_hello_timer()
        close = self.conn.close_sent
        code, reason = (close.code, close.reason) if close is not None else (1002, "")
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.transport.write(b"".join(self.conn.data_to_send()))
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the parser takes nothing more: tell the peer so it closes
        self.close_sent = True
        self._linger()

    def _close(self, code: int, reason: str) -> None:
        """Start a closing handshake from the server, as the app's close would."""
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.conn.send_close(code, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self._linger()

    def _linger(self) -> None:
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        if self.close_timer is None:
            self.close_timer = self.loop.call_later(LINGER, self.transport.close)

    def _cancel_hello_timer(self) -> None:
        if self._hello_timer is not None:
            self._hello_timer.cancel()
            self._hello_timer = None

    def _no_hello(self) -> None:
        self._hello_timer = None
        if self.close_sent or self.transport.is_closing():
            return
        if self.handshake_complete:
            self._close(1008, "no hello")
        else:
            self.transport.close()  # the upgrade itself is still unanswered

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if self.response.status_code == 101:
            self.scope[SEND_NOW] = self.send_now  # type: ignore[literal-required]

    def send_now(self, data: str | bytes) -> bool:
        """Write one frame without waiting, if the socket can take it now."""
        if not self.handshake_complete or self.close_sent or self.disconnected or not self.writable.is_set():
            return False
        try:
            if isinstance(data, bytes):
                self.conn.send_binary(data)
            else:
                self.conn.send_text(data.encode())
        except InvalidState:
            return False
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True
