"""The WebSocket upgrade: bad upgrades answered at once, slow or idle connections closed."""

from __future__ import annotations

import asyncio
import base64
import os

from tests.protocol.conftest import Peer


def upgrade_request(path: str, token: str, extra: str = "") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n{extra}\r\n"
    ).encode()


async def connect(live) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", live.server.port)


async def read_until_closed(reader: asyncio.StreamReader, timeout: float = 60) -> bytes:
    """Everything the server sends until it closes the connection."""
    async with asyncio.timeout(timeout):
        return await reader.read(-1)


async def test_header_line_over_8_kib_gets_431_and_the_connection_closes(live):
    sid = await live.start_session()
    reader, writer = await connect(live)
    writer.write(upgrade_request(f"/ws/sessions/{sid}", live.token("sam"), f"X-Long: {'a' * 9000}\r\n"))
    await writer.drain()
    answer = await read_until_closed(reader)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:80]
    writer.close()


async def test_idle_connection_is_closed_without_an_answer(live):
    reader, writer = await connect(live)
    assert await read_until_closed(reader) == b""
    writer.close()


async def test_dribbled_upgrade_is_closed_before_it_completes(live):
    sid = await live.start_session()
    request = upgrade_request(f"/ws/sessions/{sid}", live.token("sam"))
    reader, writer = await connect(live)
    closed = asyncio.ensure_future(read_until_closed(reader, timeout=120))
    sent = 0
    while not closed.done() and sent < len(request):  # one byte every 0.2 s: minutes for the whole request
        try:
            writer.write(request[sent : sent + 1])
            await writer.drain()
        except ConnectionError:
            break
        sent += 1
        await asyncio.sleep(0.2)
    assert await closed == b""
    assert sent < len(request)  # the server gave up first
    writer.close()


async def test_upgraded_socket_without_hello_is_closed_1008(live):
    sid = await live.start_session()
    peer = await Peer.open(live, "sam", sid)
    code, reason = await peer.closed(timeout=60)
    assert (code, reason) == (1008, "no hello")


async def test_a_normal_upgrade_and_http_request_still_work(live):
    sid = await live.start_session()
    peer = await Peer.open(live, "sam", sid)
    welcome = await peer.hello()
    assert welcome["payload"]["role"] == "service_user"
    reader, writer = await connect(live)
    writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert (await read_until_closed(reader)).startswith(b"HTTP/1.1 200")
    writer.close()
