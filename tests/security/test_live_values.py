"""Every field of a durable action is checked against the content set and the tracker's
scale before anything is stored, the same way over the live socket and over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.realtime.conftest import PASSWORDS
from tests.security.conftest import Raw
from tests.web.conftest import csrf_of

TODAY = datetime.now(UTC).date()


def _point(values: dict, for_date: str = TODAY.isoformat(), tracker: str = "stress") -> dict:
    return {"tracker_id": tracker, "values": values, "for_date": for_date}


# (type, payload, the field the error names): each one was acknowledged and stored before.
JOURNEY_BAD = [
    ("ChartPointRecorded", _point({"level": 11}), "values"),  # stress is 0..10
    ("ChartPointRecorded", _point({"level": -1}), "values"),
    ("ChartPointRecorded", _point({"level": 6.5}), "values"),  # in steps of 1
    ("ChartPointRecorded", _point({"hours": 7}), "values"),  # a measure of sleep, not of stress
    ("ChartPointRecorded", _point({"hours": 15}, tracker="sleep"), "values"),  # 0..14
    ("ChartPointRecorded", _point({"level": 5}, "9999-12-31"), "for_date"),
    ("ChartPointRecorded", _point({"level": 5}, (TODAY + timedelta(days=2)).isoformat()), "for_date"),
    ("ChartPointRecorded", _point({"level": 5}, "1999-12-31"), "for_date"),
    ("ItemShared", {"scope": "tracker", "ref": "nope"}, "ref"),
    ("ItemShared", {"scope": "answer", "ref": "recovery"}, "ref"),  # a topic is not a question
    ("ItemShared", {"scope": "worksheet", "ref": "mood"}, "ref"),  # a tracker is not a worksheet
    ("ItemUnshared", {"scope": "topic", "ref": "nope"}, "ref"),
]
SESSION_BAD = [
    ("SuggestionMade", {"suggestion_id": "s/../x", "topic_id": "health", "section_id": None}, "suggestion_id"),
    ("SuggestionMade", {"suggestion_id": "s:1.2", "topic_id": "health", "section_id": None}, "suggestion_id"),
    ("SuggestionMade", {"suggestion_id": "s" * 65, "topic_id": "health", "section_id": None}, "suggestion_id"),
    ("SuggestionMade", {"suggestion_id": "s-1", "topic_id": "health", "section_id": "recovery/hope"}, "section_id"),
]
GOOD = [
    ("ChartPointRecorded", _point({"level": 10}, (TODAY + timedelta(days=1)).isoformat())),
    ("ChartPointRecorded", _point({"hours": 7.5, "quality": 4}, "2000-01-01", tracker="sleep")),
    ("ItemShared", {"scope": "tracker", "ref": "mood"}),
    ("ItemShared", {"scope": "answer", "ref": "recovery/hope/q1"}),
]


async def _refused(raw: Raw, n: int, type_: str, payload: dict, field: str) -> None:
    cid = f"bad-value-{n:04d}"
    await raw.send({"type": type_, "seq": n, "client_event_id": cid, "payload": payload})
    m = await raw.next(lambda m: m.get("client_event_id") == cid and m["type"] in ("error", "ack"))
    assert m["type"] == "error", (type_, payload, m)
    assert (m["payload"]["code"], m["payload"]["field"]) == ("invalid_field", field), (type_, payload, m)


async def test_bad_values_over_the_socket_get_invalid_field_and_store_nothing(live):
    sid = await live.start_session()
    su, worker = await Raw.open(live, "sam", sid), await Raw.open(live, "wendy", sid)
    try:
        await su.hello()
        await worker.hello()
        for who in ("sam", "wendy"):  # their arrivals are recorded: wait so the head stays put
            uid = str(live.ids[who])
            await su.next(lambda m, uid=uid: m["type"] == "ParticipantJoined" and m["payload"]["user_id"] == uid)
        head = live.tandem.head()
        for n, (type_, payload, field) in enumerate(JOURNEY_BAD):
            await _refused(su, n, type_, payload, field)
        for n, (type_, payload, field) in enumerate(SESSION_BAD, 100):
            await _refused(worker, n, type_, payload, field)
        assert live.tandem.head() == head

        for n, (type_, payload) in enumerate(GOOD, 200):  # the edges of the scales are fine
            cid = f"good-value-{n:04d}"
            await su.send({"type": type_, "client_event_id": cid, "payload": payload})
            ack = await su.next(lambda m, cid=cid: m.get("client_event_id") == cid and m["type"] in ("error", "ack"))
            assert ack["type"] == "ack", ack
    finally:
        await su.close()
        await worker.close()


async def test_bad_values_over_http_get_a_4xx_and_store_nothing(live):
    async with httpx.AsyncClient(base_url=live.base) as c:
        csrf = csrf_of((await c.get("/login")).text)
        r = await c.post(
            "/api/login", json={"username": "sam", "password": PASSWORDS["sam"]}, headers={"X-CSRF-Token": csrf}
        )
        assert r.status_code == 200, r.text
        headers = {"X-CSRF-Token": r.json()["csrf"]}
        head = live.tandem.head()
        for n, (type_, payload, field) in enumerate(JOURNEY_BAD):
            body = {"type": type_, "payload": payload, "client_event_id": f"http-bad-{n:04d}"}
            r = await c.post("/api/events", json=body, headers=headers)
            assert r.status_code == 422, (type_, payload, r.status_code, r.text)
            assert r.json()["error"]["field"] == field, r.text
        assert live.tandem.head() == head
        for n, (type_, payload) in enumerate(GOOD):
            body = {"type": type_, "payload": payload, "client_event_id": f"http-good-{n:04d}"}
            r = await c.post("/api/events", json=body, headers=headers)
            assert r.status_code == 201, r.text
