"""The control lease: the SU drives by default, epochs reject stale navigation."""

from __future__ import annotations

import asyncio

from realtime import tokens
from realtime.client import LiveClient
from tests.conftest import free_port
from tests.realtime.conftest import ServerThread, build_app


async def test_control_handover_and_stale_epoch(live):
    _sid, su, worker = await live.pair()
    sam, wendy = str(live.ids["sam"]), str(live.ids["wendy"])
    assert worker.holder == sam and worker.epoch == 1
    # the follower cannot navigate
    err = await worker.durable("TopicOpened", {"topic_id": "recovery"}, drive=True)
    assert err["type"] == "error" and err["payload"]["code"] == "not_driver"
    # worker asks, SU grants
    assert (await worker.durable("ControlRequested", {}))["type"] == "ack"
    await su.wait_for(lambda m: m["type"] == "ControlRequested")
    assert (await su.durable("ControlHandedOver", {"to_user": wendy}))["type"] == "ack"
    await worker.wait_for(lambda m: m["type"] == "ControlHandedOver")
    await su.wait_for(lambda m: m["type"] == "ControlHandedOver")
    assert worker.holder == wendy and worker.epoch == 2 and su.epoch == 2
    # the SU's stale device still thinks epoch 1: rejected, not fought over
    su_stale_epoch = 1
    mark = len(su.history)
    await su.send("scroll", {"section_id": "p-1", "fraction": 0.5}, epoch=su_stale_epoch)
    e = await su.wait_for(lambda m: m["type"] == "error", since=mark)
    assert e["payload"]["code"] == "stale_epoch"
    # the worker drives now
    ok = await worker.durable("TopicOpened", {"topic_id": "health"}, drive=True)
    assert ok["type"] == "ack"
    await su.wait_for(lambda m: m["type"] == "TopicOpened" and m["payload"]["topic_id"] == "health")
    # the SU takes control back at any time
    assert (await su.durable("ControlHandedOver", {"to_user": sam}))["type"] == "ack"
    await worker.wait_for(lambda m: m["type"] == "ControlHandedOver" and m["payload"]["epoch"] == 3)
    err = await worker.durable("TopicOpened", {"topic_id": "recovery"}, drive=True)
    assert err["payload"]["code"] in ("not_driver", "stale_epoch")


async def test_suggestion_accept_and_dismiss_and_mirroring_pause(live):
    _sid, su, worker = await live.pair()
    a = await worker.durable("SuggestionMade", {"suggestion_id": "s-1", "topic_id": "health", "section_id": None})
    assert a["type"] == "ack"
    await su.wait_for(lambda m: m["type"] == "SuggestionMade")
    # the worker cannot accept their own suggestion
    e = await worker.durable("SuggestionAccepted", {"suggestion_id": "s-1"})
    assert e["type"] == "error" and e["payload"]["code"] == "forbidden"
    assert (await su.durable("SuggestionAccepted", {"suggestion_id": "s-1"}))["type"] == "ack"
    assert (await su.durable("TopicOpened", {"topic_id": "health"}, drive=True))["type"] == "ack"
    await worker.wait_for(lambda m: m["type"] == "TopicOpened" and m["payload"]["topic_id"] == "health")
    await worker.durable("SuggestionMade", {"suggestion_id": "s-2", "topic_id": "me", "section_id": None})
    assert (await su.durable("SuggestionDismissed", {"suggestion_id": "s-2"}))["type"] == "ack"
    again = await su.durable("SuggestionAccepted", {"suggestion_id": "s-2"})
    assert again["type"] == "error" and again["payload"]["code"] == "invalid_field"
    assert (await su.durable("MirroringPaused", {}))["type"] == "ack"
    await worker.wait_for(lambda m: m["type"] == "MirroringPaused")
    assert worker.mirroring is False
    await su.durable("MirroringResumed", {})
    await worker.wait_for(lambda m: m["type"] == "MirroringResumed")
    assert worker.mirroring is True


async def test_session_end_closes_both_and_refuses_new_handshakes(live):
    sid, su, worker = await live.pair()
    assert (await worker.durable("SessionEnded", {"reason": None}))["type"] == "ack"
    await su.wait_for(lambda m: m["type"] == "SessionEnded")
    for c in (su, worker):
        for _ in range(50):
            if c.closed:
                break
            await asyncio.sleep(0.05)
        assert c.closed and c.closed[0] == 4009
    import websockets

    late = await live.client("sam", sid, connect=False)
    try:
        await late.connect()
        raise AssertionError("an ended session must refuse the handshake")
    except websockets.InvalidStatus as exc:
        assert exc.response.status_code == 403


async def test_unlinking_drops_the_worker(live):
    _sid, su, worker = await live.pair()
    await asyncio.to_thread(live.tandem.unlink, live.ids["wendy"], live.ids["sam"], live.ids["wendy"])
    for _ in range(60):
        if worker.closed:
            break
        await asyncio.sleep(0.05)
    assert worker.closed and worker.closed[0] == 4010
    assert su.closed is None  # the SU stays in their own session


async def test_open_suggestions_shown_charts_and_a_control_request_survive_a_server_restart(live):
    sid, su, worker = await live.pair()
    await worker.durable("SuggestionMade", {"suggestion_id": "s-open", "topic_id": "health", "section_id": None})
    await worker.durable("SuggestionMade", {"suggestion_id": "s-gone", "topic_id": "me", "section_id": None})
    assert (await su.durable("SuggestionDismissed", {"suggestion_id": "s-gone"}))["type"] == "ack"
    assert (await su.durable("ChartShown", {"tracker_id": "sleep"}))["type"] == "ack"
    assert (await worker.durable("ControlRequested", {}))["type"] == "ack"
    await su.close()
    await worker.close()
    live.server.stop()

    app = build_app(live.settings)
    server = ServerThread(app, free_port())
    server.start()
    try:
        login = app.state.tandem.open_session(live.ids["sam"])  # the first server's store is closed
        token = tokens.issue(live.settings.secret_key, live.ids["sam"], "service_user", login)
        back = LiveClient(f"ws://127.0.0.1:{server.port}", sid, token=token)
        welcome = await back.connect()
        state = welcome["payload"]
        assert state["suggestions"] == [{"suggestion_id": "s-open", "topic_id": "health", "section_id": None}]
        assert state["shown_charts"] == ["sleep"]
        assert state["control_requested"] is True
        await back.close()
    finally:
        server.stop()
