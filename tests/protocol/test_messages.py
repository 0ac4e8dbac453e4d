"""Every message type, error code and close code of docs/protocol.md, and the resume
rules, as an outside client sees them."""

from __future__ import annotations

import asyncio
import json

import pytest

from realtime.hub import Limits
from tests.protocol.conftest import Peer, cid


async def pair(live, *, binary_su: bool = False) -> tuple[str, Peer, Peer]:
    sid = await live.start_session()
    su = await Peer.open(live, "sam", sid, binary=binary_su)
    await su.hello(device_kind="phone")
    worker = await Peer.open(live, "wendy", sid)
    await worker.hello(device_kind="tablet")
    wendy = str(live.ids["wendy"])
    await su.next(lambda m: m["type"] == "ParticipantJoined" and m["payload"]["user_id"] == wendy)
    return sid, su, worker


async def durable(peer: Peer, kind: str, payload: dict, **env) -> tuple[dict, list[dict]]:
    """Send a durable message; its ack, and the frames that came before the ack."""
    c = env.pop("client_event_id", None) or cid()
    await peer.send({"type": kind, "client_event_id": c, "payload": payload, **env})
    before = len(peer.seen)
    ack = await peer.next(lambda m: m["type"] in ("ack", "error") and m.get("client_event_id") == c)
    return ack, peer.seen[before:]


@pytest.mark.parametrize("binary", [False, True])
async def test_control_messages_and_relay(live, binary):
    _sid, su, worker = await pair(live, binary_su=binary)
    await su.send({"type": "ping", "seq": 5, "payload": {"t": 1.5}})
    pong = await su.of_type("pong")
    assert (pong["seq"], pong["payload"]) == (5, {"t": 1.5}) and isinstance(pong["ts"], float)
    await su.send({"type": "presence", "payload": {"visible": False, "following": True}})
    await worker.next(
        lambda m: m["type"] == "presence" and any(p["state"] == "backgrounded" for p in m["payload"]["participants"])
    )
    epoch = 1
    relayed = [
        ("nav", {"topic_id": "recovery", "section_id": "recovery/hope"}, True),
        ("scroll", {"section_id": "p-3", "fraction": 0.42}, True),
        ("video", {"video_id": "v-recovery-amara", "playing": True, "position_s": 12.5, "rate": 1.0}, True),
        ("buffering", {"video_id": "v-recovery-amara", "buffering": True}, False),
        ("draft", {"question_id": "recovery/hope/q1", "text": "My sis"}, False),
        ("pointer", {"x": 0.4, "y": 0.7}, False),
    ]
    for kind, payload, drive in relayed:
        await su.send({"type": kind, "payload": payload, **({"epoch": epoch} if drive else {})})
        got = await worker.of_type(kind)
        assert got["payload"] == payload and got["from"] == str(live.ids["sam"]) and "ts" in got
    await su.send({"type": "leave", "payload": {}})
    assert (await su.closed())[0] == 1000
    left = await worker.of_type("ParticipantLeft")
    assert left["payload"]["user_id"] == str(live.ids["sam"])


async def test_durable_event_reaches_the_sender_before_its_ack(live):
    _sid, su, worker = await pair(live)
    ack, before = await durable(su, "TopicOpened", {"topic_id": "recovery"}, epoch=1, seq=7)
    assert ack["type"] == "ack" and ack["seq"] == 7 and ack["payload"]["of"] == "TopicOpened"
    mine = [m for m in before if m["type"] == "TopicOpened"]
    assert mine and mine[0]["position"] == ack["position"]
    got = await worker.of_type("TopicOpened")
    assert got["payload"]["actor_role"] == "service_user" and got["position"] == ack["position"]


async def test_retry_is_recorded_once_and_idempotency_is_per_person(live):
    _sid, su, worker = await pair(live)
    payload = {"tracker_id": "mood", "values": {"level": 6}, "for_date": "2026-11-29"}
    first, _ = await durable(su, "ChartPointRecorded", payload, client_event_id="same-id-123")
    again, _ = await durable(su, "ChartPointRecorded", payload, client_event_id="same-id-123")
    assert again["payload"]["duplicate"] is True and again["position"] == first["position"]
    assert again["payload"]["event_id"] == first["payload"]["event_id"]
    other, _ = await durable(worker, "ChartPointRecorded", payload, client_event_id="same-id-123")
    assert other["type"] == "ack" and other["payload"]["duplicate"] is False
    assert other["position"] > first["position"]


async def test_duplicate_ack_names_the_stored_events_type(live):
    _sid, su, _worker = await pair(live)
    _first, _ = await durable(su, "VideoCompleted", {"video_id": "v-recovery-amara"}, client_event_id="dup-of-1234")
    again, _ = await durable(su, "ChartShown", {"tracker_id": "sleep"}, client_event_id="dup-of-1234")
    assert again["payload"]["duplicate"] is True and again["payload"]["of"] == "VideoCompleted"


async def test_client_event_id_may_not_use_the_servers_prefix(live):
    _sid, su, _worker = await pair(live)
    err, _ = await durable(su, "VideoCompleted", {"video_id": "v-recovery-amara"}, client_event_id="srv-mine-12345")
    assert (err["type"], err["payload"]["code"], err["payload"]["field"]) == (
        "error",
        "invalid_field",
        "client_event_id",
    )


async def test_last_position_beyond_the_servers_is_refused_and_closed(live):
    sid = await live.start_session()
    su = await Peer.open(live, "sam", sid)
    await su.send({"type": "hello", "payload": {"last_position": 10**12}})
    err = await su.error()
    assert (err["code"], err["field"]) == ("invalid_field", "last_position")
    await su.closed()


async def test_resume_replays_what_was_missed_then_resumed(live):
    sid, su, worker = await pair(live)
    first, _ = await durable(su, "VideoCompleted", {"video_id": "v-recovery-amara"})
    await worker.close()
    missed = [(await durable(su, "ChartShown", {"tracker_id": t}))[0]["position"] for t in ("sleep", "mood")]
    again = await Peer.open(live, "wendy", sid)
    welcome = await again.hello(last_position=first["position"])
    resumed = await again.of_type("resumed")
    replayed = [m for m in again.seen if m.get("position") and m["type"] not in ("welcome", "resumed")]
    positions = [m["position"] for m in replayed]
    assert positions == sorted(positions) and set(missed) <= set(positions)
    assert all(first["position"] < p <= welcome["position"] for p in positions)  # the server's position
    assert resumed["payload"]["replayed"] == len(replayed) and resumed["position"] >= max(positions)
    # Nothing missed: still a resumed, with 0.
    third = await Peer.open(live, "wendy", sid)
    await third.hello(last_position=resumed["position"])
    assert (await third.of_type("resumed"))["payload"] == {"replayed": 0}


async def test_replay_cap_closes_4008_with_the_resume_point(live_factory):
    live = live_factory(limits=Limits(rate=200, burst=400, kick_after=5000, replay=2))
    sid, su, _worker = await pair(live)
    start = (await durable(su, "VideoCompleted", {"video_id": "v-recovery-amara"}))[0]["position"]
    for t in ("sleep", "mood", "stress"):
        await durable(su, "ChartShown", {"tracker_id": t})
    again = await Peer.open(live, "wendy", sid)
    await again.hello(last_position=start)
    resumed = await again.of_type("resumed")
    assert resumed["payload"] == {"replayed": 2, "more": True}
    assert await again.closed() == (4008, f"too slow; resume from {resumed['position']}")


async def test_error_codes_in_check_order(live):
    _sid, su, worker = await pair(live)
    other = await live.start_session("walt", "sue")
    long = "x" * 10_001
    cases = [
        ("[1, 2]", "bad_frame", None),
        ('{"type": "pointer", "payload": {"x": NaN, "y": 0}}', "bad_frame", None),
        (json.dumps({"payload": {}}), "missing_field", "type"),
        (json.dumps({"type": 3}), "invalid_field", "type"),
        (json.dumps({"type": "teleport"}), "unknown_type", "type"),
        (json.dumps({"type": "ping", "url": "x"}), "invalid_field", "url"),
        (json.dumps({"type": "ping", "session": other}), "wrong_session", "session"),
        (json.dumps({"type": "ping", "seq": 2**53}), "invalid_field", "seq"),
        (json.dumps({"type": "nav", "epoch": -1, "payload": {}}), "invalid_field", "epoch"),
        (json.dumps({"type": "ping", "payload": []}), "invalid_field", "payload"),
        (
            json.dumps({"type": "TopicOpened", "epoch": 1, "payload": {"topic_id": "health"}}),
            "missing_field",
            "client_event_id",
        ),
        (
            json.dumps({"type": "TopicOpened", "epoch": 1, "client_event_id": "short", "payload": {}}),
            "invalid_field",
            "client_event_id",
        ),
        (json.dumps({"type": "pointer", "payload": {"x": 1}}), "missing_field", "y"),
        (json.dumps({"type": "pointer", "payload": {"x": 1, "y": 1, "z": 1}}), "invalid_field", "z"),
        (json.dumps({"type": "pointer", "payload": {"x": "1", "y": 1}}), "invalid_field", "x"),
        (json.dumps({"type": "pointer", "payload": {"x": 2**54, "y": 1}}), "invalid_field", "x"),
        (json.dumps({"type": "bench", "payload": {"n": 1, "t": 1, "pad": long}}), "invalid_field", "pad"),
        (json.dumps({"type": "draft", "payload": {"question_id": "q", "text": long}}), "invalid_field", "text"),
        (json.dumps({"type": "scroll", "payload": {"section_id": "p-1", "fraction": 0.5}}), "missing_field", "epoch"),
        (
            json.dumps({"type": "scroll", "epoch": 1, "payload": {"section_id": "p-1", "fraction": 2}}),
            "invalid_field",
            "fraction",
        ),
        (json.dumps({"type": "nav", "epoch": 1, "payload": {"url": "https://evil"}}), "invalid_field", "url"),
        (json.dumps({"type": "nav", "epoch": 1, "payload": {"topic_id": "nope"}}), "invalid_field", "topic_id"),
        (json.dumps({"type": "hello", "payload": {}}), "invalid_field", "type"),
        (
            json.dumps({"type": "scroll", "epoch": 7, "payload": {"section_id": "p-1", "fraction": 0.5}}),
            "stale_epoch",
            "epoch",
        ),
        (
            json.dumps({"type": "ControlHandedOver", "client_event_id": cid(), "payload": {}}),
            "invalid_field",
            "to_user",
        ),
        (json.dumps({"type": "MirroringPaused", "client_event_id": cid(), "payload": {}}), "forbidden", "type"),
    ]
    for _seq, (frame, code, field) in enumerate(cases, 1):
        target = worker if code == "forbidden" else su
        await target.raw(frame)
        err = await target.error()
        assert (err["code"], err["field"]) == (code, field), frame[:80]
    await worker.send({"type": "scroll", "epoch": 1, "payload": {"section_id": "p-1", "fraction": 0.5}})
    assert (await worker.error())["code"] == "not_driver"
    await su.send({"type": "ping", "payload": {"t": 1}})
    await su.of_type("pong")  # the socket kept working through all of it


async def test_before_hello(live):
    sid = await live.start_session()
    peer = await Peer.open(live, "sam", sid)
    await peer.send({"type": "teleport"})
    assert (await peer.error())["code"] == "unknown_type"  # the frame's own check comes first
    await peer.send({"type": "ping", "payload": {}})
    err = await peer.error()
    assert (err["code"], err["field"]) == ("hello_first", "type")
    assert (await peer.hello())["type"] == "welcome"


async def test_session_ended_closes_4009_and_then_refuses(live):
    _sid, su, worker = await pair(live)
    ack, _ = await durable(worker, "SessionEnded", {"reason": None})
    assert ack["type"] == "ack"
    assert (await su.closed())[0] == 4009


async def test_rate_limited_then_closed_4029(live_factory):
    live = live_factory(limits=Limits(rate=1, burst=2, kick_after=60))
    sid = await live.start_session()
    peer = await Peer.open(live, "sam", sid)
    await peer.hello()
    for _ in range(100):
        await peer.send({"type": "pointer", "payload": {"x": 0, "y": 0}})
    assert (await peer.error())["code"] == "rate_limited"
    assert await peer.closed() == (4029, "rate limit")


async def test_logout_everywhere_closes_4001_after_a_forbidden_frame(live):
    _sid, su, _worker = await pair(live)
    await asyncio.to_thread(live.tandem.log_out_everywhere, live.ids["sam"])
    assert (await su.error())["code"] == "forbidden"
    assert (await su.closed())[0] == 4001
