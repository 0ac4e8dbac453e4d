"""Session rules a client sees on a real server: id spaces kept apart, duplicate acks, resume claims."""

from __future__ import annotations

import asyncio
from uuid import UUID

import pytest

SERVER_ID_PREFIX = "srv-"  # literal, so this file also runs against code without the constant
POLICY = 1008


async def test_a_client_id_in_the_servers_reserved_space_is_refused_and_stores_nothing(live):
    sid, su, _worker = await live.pair()
    head = await asyncio.to_thread(live.tandem.head)
    cid = f"{SERVER_ID_PREFIX}ParticipantJoined-1-1700000000000"
    answer = await su.durable("ChartShown", {"tracker_id": "mood"}, client_event_id=cid)
    assert answer["type"] == "error"
    assert (answer["payload"]["code"], answer["payload"]["field"]) == ("invalid_field", "client_event_id")
    assert answer["client_event_id"] == cid
    assert await asyncio.to_thread(live.tandem.head) == head
    assert "mood" not in live.tandem.session(UUID(sid)).shown_charts


async def test_a_duplicate_ack_names_the_type_stored_under_that_id(live):
    _sid, su, _worker = await live.pair()
    first = await su.durable("ChartShown", {"tracker_id": "mood"}, client_event_id="retry-0001")
    assert first["type"] == "ack" and first["payload"]["of"] == "ChartShown"
    again = await su.durable("ChartHidden", {"tracker_id": "mood"}, client_event_id="retry-0001")
    assert again["type"] == "ack" and again["payload"]["duplicate"] is True
    assert again["position"] == first["position"]
    assert again["payload"]["of"] == "ChartShown"


async def test_a_last_position_beyond_the_servers_is_refused_and_the_socket_closed(live):
    sid = await live.start_session()
    head = await asyncio.to_thread(live.tandem.head)
    c = await live.client("sam", sid, connect=False)
    c.last_position = head + 1000
    with pytest.raises((ConnectionError, TimeoutError)):
        await c.connect(timeout=10)
    for _ in range(200):
        if c.closed:
            break
        await asyncio.sleep(0.05)
    errors = [m for m in c.history if m["type"] == "error"]
    assert [(e["payload"]["code"], e["payload"]["field"]) for e in errors] == [("invalid_field", "last_position")]
    assert not [m for m in c.history if m["type"] in ("welcome", "resumed")]
    assert c.closed and c.closed[0] == POLICY
    # an honest claim is still resumed
    honest = await live.client("sam", sid, connect=False)
    honest.last_position = head
    assert (await honest.connect())["type"] == "welcome"
