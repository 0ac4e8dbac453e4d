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

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.http11 import Request

from realtime.protocol import MAX_TRANSPORT_FRAME

SEND_NOW = "tandem.send_now"
UNREAD_LIMIT = 32  # messages waiting for the app before the socket stops reading

UVICORN_OPTIONS: dict[str, Any] = {
    "ws": "web.socket_protocol:LiveSocketProtocol",
    "ws_per_message_deflate": False,  # compression costs memory per connection
    "ws_max_size": MAX_TRANSPORT_FRAME,  # larger frames close the socket (1009), never read into memory
}


class LiveSocketProtocol(WebSocketsSansIOProtocol):
    def send_receive_event_to_app(self) -> None:
        if self.close_sent:
            # Past our close frame the parent drops what arrives and must read on until the
            # peer's reply; pausing here would leave it unread and the close would end in a reset.
            super().send_receive_event_to_app()
            return
        paused = self.read_paused
        self.read_paused = True  # the parent pauses reading unless it believes it already has
        super().send_receive_event_to_app()
        self.read_paused = paused
        if not paused and self.queue.qsize() >= UNREAD_LIMIT:
            self.read_paused = True
            self.transport.pause_reading()
        # The parent's receive() resumes reading once the app has emptied the queue.

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
