"""Bad input gets a typed error to that client only; nothing stored; the room keeps working."""

from __future__ import annotations

import asyncio
import json

import msgpack
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime import protocol as P


async def _error(c, data, code):
    mark = len(c.history)
    await c.send_raw(data)
    e = await c.wait_for(lambda m: m["type"] == "error", since=mark)
    assert e["payload"]["code"] == code, e
    return e


async def test_each_bad_frame_gets_its_code(live):
    _sid, su, worker = await live.pair()
    head = live.tandem.head()
    await _error(su, "{not json", "bad_frame")
    await _error(su, b"\xc1\xc1\xc1", "bad_frame")
    await _error(su, "[1,2]", "bad_frame")
    await _error(su, json.dumps({"type": "Teleported", "payload": {}}), "unknown_type")
    await _error(su, json.dumps({"payload": {}}), "missing_field")
    await _error(
        su, json.dumps({"type": "TopicOpened", "epoch": 1, "payload": {"topic_id": "recovery"}}), "missing_field"
    )
    await _error(
        su,
        json.dumps({"type": "TopicOpened", "client_event_id": "c-12345678", "epoch": 1, "payload": {}}),
        "invalid_field",
    )
    await _error(
        su,
        json.dumps(
            {"type": "TopicOpened", "client_event_id": "c-12345679", "epoch": 1, "payload": {"topic_id": "nope"}}
        ),
        "invalid_field",
    )
    await _error(
        su,
        json.dumps(
            {
                "type": "scroll",
                "session": "00000000-0000-0000-0000-000000000000",
                "epoch": 1,
                "payload": {"section_id": "p", "fraction": 0.1},
            }
        ),
        "wrong_session",
    )
    await _error(
        su, json.dumps({"type": "scroll", "epoch": 1, "payload": {"section_id": "p", "fraction": 7}}), "invalid_field"
    )
    await _error(su, "x" * (P.MAX_FRAME + 10), "too_large")
    await _error(su, msgpack.packb({"type": "draft", "payload": {"question_id": 5, "text": "x"}}), "invalid_field")
    await _error(
        worker,
        json.dumps({"type": "scroll", "epoch": 1, "payload": {"section_id": "p", "fraction": 0.1}}),
        "not_driver",
    )
    await _error(
        worker, json.dumps({"type": "MirroringPaused", "client_event_id": "c-123456789", "payload": {}}), "forbidden"
    )
    e = await _error(
        su,
        json.dumps({"type": "SessionEnded", "seq": 7, "client_event_id": "c-1234567890", "payload": {}}),
        "forbidden",
    )
    assert e["seq"] == 7 and e["client_event_id"] == "c-1234567890"
    # errors went to the sender only, nothing was stored, and the room still mirrors
    assert not [
        m for m in worker.history if m["type"] == "error" and m["payload"]["code"] not in ("not_driver", "forbidden")
    ]
    assert live.tandem.head() == head
    await su.ephemeral("scroll", {"section_id": "p-3", "fraction": 0.5}, drive=True)
    await worker.wait_for(lambda m: m["type"] == "scroll")


async def test_oversized_transport_frame_closes_only_that_socket(live):
    _sid, su, worker = await live.pair()
    try:
        await su.send_raw("x" * (P.MAX_TRANSPORT_FRAME + 1))
    except websockets.ConnectionClosed:
        pass
    for _ in range(40):
        if su.closed:
            break
        await asyncio.sleep(0.05)
    assert su.closed and su.closed[0] == 1009
    ack = await worker.durable("ControlRequested", {})
    assert ack["type"] == "ack"


async def test_rate_limit_drops_excess_messages(live_factory):
    from realtime.hub import Limits

    live = live_factory(limits=Limits(rate=5, burst=10, kick_after=10_000))
    _sid, su, worker = await live.pair()
    for i in range(40):
        await su.ephemeral("pointer", {"x": i, "y": 0})
    e = await su.wait_for(lambda m: m["type"] == "error")
    assert e["payload"]["code"] == "rate_limited"
    await asyncio.sleep(0.3)
    got = [m for m in worker.history if m["type"] == "pointer"]
    assert 5 <= len(got) <= 20


async def test_origin_and_auth_checked_on_handshake(live):
    sid = await live.start_session()
    bad = await live.client("sam", sid, connect=False, origin="https://evil.example")
    with pytest.raises(websockets.InvalidStatus):
        await bad.connect()
    anon = await live.client("sam", sid, connect=False)
    anon.token = "forged"
    with pytest.raises(websockets.InvalidStatus):
        await anon.connect()
    stranger = await live.client("sue", sid, connect=False)  # not in this session
    with pytest.raises(websockets.InvalidStatus):
        await stranger.connect()
    other_worker = await live.client("walt", sid, connect=False)
    with pytest.raises(websockets.InvalidStatus):
        await other_worker.connect()
    ok = await live.client("sam", sid, origin=live.base)  # same-origin browser-like client
    assert ok.me == str(live.ids["sam"])


N = 3000


async def test_slow_client_is_dropped_with_resume_hint_and_room_keeps_going(live_factory):
    import realtime.conn as conn_mod
    from realtime.hub import Limits

    live = live_factory(limits=Limits(rate=1e6, burst=1e6, kick_after=10**9))
    sid, su, worker = await live.pair()
    old = conn_mod.SEND_QUEUE
    # a reader that never reads: its TCP buffers fill, then its queue, then it is dropped
    slow = await live.client("wendy", sid)
    slow.ws.transport.pause_reading() if hasattr(slow.ws, "transport") else None
    pad = "y" * 9_000
    try:
        for i in range(N):
            await su.ephemeral("bench", {"n": i, "t": 0.0, "pad": pad})
            if i % 20 == 0:
                await asyncio.sleep(0.002)  # a fast sender, but one the healthy reader keeps up with
    finally:
        conn_mod.SEND_QUEUE = old
    got = await worker.wait_for(lambda m: m["type"] == "bench" and m["payload"]["n"] == N - 1, timeout=30)
    assert got
    hub = live.app.state.live_hub
    room = hub.rooms[sid]
    assert len(room.conns) == 2  # the slow one is gone, the others stay
    slow.ws.transport.resume_reading()
    for _ in range(200):
        if slow.closed:
            break
        await asyncio.sleep(0.05)
    assert slow.closed and slow.closed[0] == 4008 and "resume from" in slow.closed[1]
    await slow.connect()  # and it can resume
    await su.ephemeral("scroll", {"section_id": "p-1", "fraction": 0.1}, drive=True)
    await slow.wait_for(lambda m: m["type"] == "scroll")


Frames = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300),
    st.builds(
        lambda t, p, extra: json.dumps({"type": t, "payload": p, **extra}),
        st.sampled_from([*sorted(P.CLIENT_DURABLE | set(P.EPHEMERAL) | set(P.CONTROL)), "x", ""]),
        st.dictionaries(
            st.text(max_size=12),
            st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20), st.booleans()),
            max_size=4,
        ),
        st.fixed_dictionaries(
            {},
            optional={
                "epoch": st.integers(-2, 5),
                "seq": st.integers(-1, 2**60),
                "client_event_id": st.text(max_size=120),
                "session": st.text(max_size=40),
            },
        ),
    ),
    st.builds(
        lambda d: msgpack.packb(d),
        st.dictionaries(
            st.sampled_from(["type", "payload", "epoch", "seq", "session"]),
            st.one_of(
                st.integers(-(2**63), 2**64 - 1),
                st.text(max_size=10),
                st.none(),
                st.lists(st.integers(-(2**63), 2**63 - 1), max_size=3),
            ),
            max_size=5,
        ),
    ),
)


@pytest.mark.slow
async def test_random_frames_never_break_the_room(live):
    sid, su, worker = await live.pair()
    fuzzer = await live.client("sam", sid)
    sent = []

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(frame=Frames)
    def throw(frame):
        sent.append(frame)

    throw()
    for f in sent:
        await fuzzer.send_raw(f)
    # the room still mirrors both ways, durable and ephemeral, in order
    await su.ephemeral("scroll", {"section_id": "p-9", "fraction": 0.9}, drive=True)
    await worker.wait_for(lambda m: m["type"] == "scroll" and m["payload"]["section_id"] == "p-9", timeout=20)
    ack = await su.durable("TopicOpened", {"topic_id": "me"}, drive=True)
    assert ack["type"] == "ack"
    await worker.wait_for(lambda m: m["type"] == "TopicOpened" and m["payload"]["topic_id"] == "me", timeout=20)
    await worker.durable("ControlRequested", {})
    await su.wait_for(lambda m: m["type"] == "ControlRequested")
    assert len(worker.positions) == len(set(worker.positions)) and worker.positions == sorted(worker.positions)
    assert not any(m["type"] == "error" for m in worker.history)
