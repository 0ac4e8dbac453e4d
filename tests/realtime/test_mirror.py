"""Mirroring over real sockets: durable after commit with positions, ephemeral at once."""

from __future__ import annotations

import asyncio

from realtime import protocol as P


async def test_durable_is_acked_with_position_and_mirrored_after_commit(live):
    _sid, su, worker = await live.pair()
    ack = await su.durable("TopicOpened", {"topic_id": "recovery"}, drive=True)
    assert ack["type"] == "ack", ack
    pos = ack["position"]
    assert pos > 0
    # the store has it at that position, before anyone saw it
    got = await worker.wait_for(lambda m: m["type"] == "TopicOpened")
    assert got["position"] == pos and got["payload"]["topic_id"] == "recovery"
    assert got["from"] == str(live.ids["sam"])
    rows = await asyncio.to_thread(live.tandem.read, pos - 1, 1)
    assert type(rows[0][1]).__name__ == "TopicOpened"
    # the sender also gets the event (its resume position moves on)
    await su.wait_for(lambda m: m["type"] == "TopicOpened")


async def test_ephemeral_is_mirrored_to_the_other_side_only(live):
    _sid, su, worker = await live.pair()
    head = live.tandem.head()
    await su.ephemeral("scroll", {"section_id": "p-2", "fraction": 0.25}, drive=True)
    m = await worker.wait_for(lambda m: m["type"] == "scroll")
    assert m["payload"] == {"section_id": "p-2", "fraction": 0.25} and "position" not in m
    await asyncio.sleep(0.2)
    assert not [x for x in su.history if x["type"] == "scroll"]
    # ephemeral: nothing stored (only the joins were recorded)
    names = [type(e).__name__ for _, e in live.tandem.read(head, 100)]
    assert "scroll" not in names and all(n == "ParticipantJoined" for n in names)


async def test_msgpack_and_json_clients_in_one_room(live):
    _sid, su, worker = await live.pair(binary_su=True)
    assert su.ws.subprotocol == P.SUBPROTOCOL and worker.ws.subprotocol is None
    await worker.ephemeral("draft", {"question_id": "recovery/hope/q1", "text": "hel"})
    m = await su.wait_for(lambda m: m["type"] == "draft")
    assert m["payload"]["text"] == "hel"
    ack = await su.durable("AnswerSaved", {"question_id": "recovery/hope/q1", "answer": "hello there"})
    assert ack["type"] == "ack"
    saved = await worker.wait_for(lambda m: m["type"] == "AnswerSaved")
    assert saved["payload"]["answer"] == "hello there"  # on the shared screen: readable to both


async def test_presence_one_participant_per_person_across_tabs_and_refresh(live):
    sid, su, worker = await live.pair()
    tab2 = await live.client("sam", sid, device_kind="phone")

    def sam(c):
        return [p for p in c.participants if p["user_id"] == str(live.ids["sam"])]

    await worker.wait_for(
        lambda m: m["type"] == "presence" and any(p["connections"] == 2 for p in m["payload"]["participants"])
    )
    assert len(sam(worker)) == 1
    await tab2.close()
    await su.reconnect()  # a refresh
    await asyncio.sleep(0.3)
    assert len(sam(worker)) == 1 and sam(worker)[0]["state"] == "online"
    # ParticipantJoined recorded once per person, not per tab or refresh
    s = live.tandem.session(__import__("uuid").UUID(sid))
    joined = [
        e
        for _, e in live.tandem.read(0, 1000)
        if type(e).__name__ == "ParticipantJoined" and str(e.originator_id) == sid
    ]
    assert len(joined) == 2 and s.present == {live.ids["sam"], live.ids["wendy"]}


async def test_backgrounded_then_away_then_gone(live):
    _sid, su, worker = await live.pair()
    await su.ephemeral("presence", {"visible": False})

    def state(c):
        return next(p["state"] for p in c.participants if p["user_id"] == str(live.ids["sam"]))

    await worker.wait_for(lambda m: m["type"] == "presence" and state(worker) == "backgrounded")
    await su.close()  # the phone's OS kills the socket: still not gone
    await asyncio.sleep(0.3)
    assert state(worker) == "backgrounded"
    await worker.wait_for(lambda m: m["type"] == "presence" and state(worker) == "away", timeout=5)
    await worker.wait_for(lambda m: m["type"] == "presence" and state(worker) == "gone", timeout=5)
    left = await worker.wait_for(lambda m: m["type"] == "ParticipantLeft")
    assert left["payload"]["reason"] == "timed out"
    # coming back is a fresh join, and presence is online again
    await su.connect()
    await worker.wait_for(lambda m: m["type"] == "presence" and state(worker) == "online")


async def test_resume_after_disconnect_gets_missed_events_once(live):
    _sid, su, worker = await live.pair()
    await su.durable("TopicOpened", {"topic_id": "recovery"}, drive=True)
    await su.wait_for(lambda m: m["type"] == "TopicOpened")
    await su.close()
    for day in ("2026-11-01", "2026-11-02", "2026-11-03"):
        ack = await worker.durable(
            "ChartPointRecorded", {"tracker_id": "mood", "values": {"level": 6}, "for_date": day}
        )
        assert ack["type"] == "ack", ack
    await su.connect()  # resume from its last position
    await su.wait_for(lambda m: m["type"] == "resumed")
    await su.durable("SectionViewed", {"section_id": "recovery/hope"}, drive=True)
    await su.wait_for(lambda m: m["type"] == "SectionViewed")
    assert len(su.positions) == len(set(su.positions)) and su.positions == sorted(su.positions)
    days = [m["payload"]["for_date"] for m in su.durable_messages() if m["type"] == "ChartPointRecorded"]
    assert days == ["2026-11-01", "2026-11-02", "2026-11-03"]


async def test_replayed_client_event_id_is_recorded_once(live):
    _sid, su, worker = await live.pair()
    first = await su.durable(
        "AnswerSaved", {"question_id": "recovery/hope/q1", "answer": "x1"}, client_event_id="cid-12345678"
    )
    again = await su.durable(
        "AnswerSaved", {"question_id": "recovery/hope/q1", "answer": "x1"}, client_event_id="cid-12345678"
    )
    assert again["type"] == "ack" and again["payload"]["duplicate"] is True and again["position"] == first["position"]
    await asyncio.sleep(0.3)
    assert len([m for m in worker.history if m["type"] == "AnswerSaved"]) == 1


async def test_leave_from_one_tab_keeps_the_other_and_last_tab_records_left(live):
    sid, su, worker = await live.pair()
    tab2 = await live.client("sam", sid)
    await tab2.send("leave", {})
    await asyncio.sleep(0.6)
    assert tab2.closed and tab2.closed[0] == 1000 and su.closed is None
    await su.send("leave", {})
    left = await worker.wait_for(lambda m: m["type"] == "ParticipantLeft")
    assert left["payload"]["reason"] == "left"
    sam = next(p for p in worker.participants if p["user_id"] == str(live.ids["sam"]))
    assert sam["state"] == "gone"
