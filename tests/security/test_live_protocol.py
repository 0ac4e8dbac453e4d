"""The protocol as docs/protocol.md writes it, checked by an outside client (plain
`websockets`, JSON frames), not by realtime/client.py."""

from __future__ import annotations

import asyncio
import json

import websockets

from realtime.hub import Limits
from tests.security.conftest import Raw


async def test_hello_at_the_current_position_gets_welcome_then_resumed(live):
    sid = await live.start_session()
    first = await Raw.open(live, "sam", sid)
    try:
        await first.hello()
        sam = str(live.ids["sam"])
        await first.next(lambda m: m["type"] == "ParticipantJoined" and m["payload"]["user_id"] == sam)
        second = await Raw.open(live, "sam", sid)  # a second tab: nothing new is recorded
        position = (await second.hello())["position"]
        await second.close()

        again = await Raw.open(live, "sam", sid)
        try:
            welcome = await again.hello(last_position=position)
            assert welcome["position"] == position  # nothing was missed: a quiet session
            resumed = await again.next(lambda m: m["type"] in ("resumed", "error"))
            assert resumed["type"] == "resumed", resumed
            assert resumed["position"] == position and resumed["payload"] == {"replayed": 0}
        finally:
            await again.close()
    finally:
        await first.close()


async def test_a_ping_flood_is_closed_with_the_documented_rate_limit_code(live_factory):
    live = live_factory(limits=Limits())  # the documented defaults: 30/s, bursts of 60
    sid = await live.start_session()
    raw = await Raw.open(live, "sam", sid)
    await raw.hello()

    async def read_until_closed() -> websockets.ConnectionClosed:
        try:
            while True:
                await raw.ws.recv()  # pongs and rate_limited errors, read as any client would
        except websockets.ConnectionClosed as closed:
            return closed

    reader = asyncio.create_task(read_until_closed())
    ping = json.dumps({"type": "ping", "payload": {"t": 1.0}})
    sent = 0
    async with asyncio.timeout(120):
        try:
            while not reader.done():  # as fast as it can, until the server cuts it off
                await raw.ws.send(ping)
                sent += 1
                if sent % 100 == 0:
                    await asyncio.sleep(0)
        except websockets.ConnectionClosed:
            pass
        closed = await reader
    assert closed.rcvd is not None, f"closed without a close frame after {sent} pings: {closed}"
    assert (closed.rcvd.code, closed.rcvd.reason) == (4029, "rate limit")
    assert sent >= 660  # the burst of 60, then 600 refused before the cut
