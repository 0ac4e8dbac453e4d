"""Malformed input gets a clear 4xx (over real HTTP) or a typed error frame (over a real live
socket), changes nothing, and the server keeps serving: a 400-digit integer in a number
field, JSON nested 40,000 deep, and their msgpack twins on the socket."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest

from core.commands import Command, validate
from core.errors import InvalidField
from tests.realtime.conftest import Live
from tests.security._served import Served, live_server, served_fixture  # noqa: F401  (a fixture)

HUGE = "1" + "0" * 399  # a 400-digit integer
DEEP = "[" * 40_000 + "]" * 40_000


def spliced(obj: Any) -> str:
    """JSON text of `obj` with the strings "HUGE" and "DEEP" replaced by those raw JSON values."""
    return json.dumps(obj).replace('"HUGE"', HUGE).replace('"DEEP"', DEEP)


def event(type_: str, payload: dict[str, Any]) -> bytes:
    return spliced({"type": type_, "client_event_id": f"c-{uuid.uuid4().hex}", "payload": payload}).encode()


def post(c: httpx.Client, token: str, path: str, body: bytes) -> httpx.Response:
    return c.post(path, content=body, headers={"content-type": "application/json", "x-csrf-token": token})


def assert_refused(r: httpx.Response, statuses: tuple[int, ...] = (400, 422)) -> dict[str, Any]:
    assert r.status_code in statuses, (r.status_code, r.text[:300])
    error = r.json()["error"]
    assert error["code"] in ("malformed", "invalid_field") and error["message"], error
    return error


def test_huge_numbers_and_deep_json_get_a_4xx_over_http(served: Served) -> None:
    sam, token = served.login("sam")
    anon, anon_token = served.login(None)
    adam, adam_token = served.login("adam")  # a log-in is stored: before the head is read
    head = served.tandem.head()
    section = served.app.state.content.topics[0].sections[0]
    video = next(s.video_id for t in served.app.state.content.topics for s in t.sections if s.video_id)
    tracker = served.app.state.content.trackers[0]
    measure = tracker.measures[0].id
    bodies = [
        event("VideoProgressed", {"video_id": video, "percent": "HUGE", "position_s": 1}),
        event("VideoProgressed", {"video_id": video, "percent": 10, "position_s": "HUGE"}),
        event("ChartPointRecorded", {"tracker_id": tracker.id, "values": {measure: "HUGE"}, "for_date": "2026-01-05"}),
        event("SectionViewed", {"section_id": section.id, "extra": "DEEP"}),
        DEEP.encode(),
        b'{"":' * 25_000 + b"1" + b"}" * 25_000,  # within the body limit,
    ]
    for body in bodies:
        assert_refused(post(sam, token, "/api/events", body))
    assert_refused(post(adam, adam_token, "/api/admin/accounts", DEEP.encode()), (400,))
    login = post(anon, anon_token, "/api/login", DEEP.encode())
    assert login.status_code == 400 and login.json()["error"]["code"] == "malformed"
    # 30 digits parse (as a float) and are then out of the field's range: a typed 422 naming the field.
    thirty_digits = event("VideoProgressed", {"video_id": video, "percent": 10**29})
    error = assert_refused(post(sam, token, "/api/events", thirty_digits))
    assert error["field"] == "percent"
    assert served.tandem.head() == head, "a refused request stored something"
    assert httpx.get(served.base + "/health", timeout=30).status_code == 200
    ok = post(sam, token, "/api/events", event("VideoProgressed", {"video_id": video, "percent": 20, "position_s": 3}))
    assert ok.status_code == 201, ok.text


@pytest.mark.parametrize("value", [10**400, -(10**400), 2**64])
def test_the_command_validator_rejects_integers_beyond_any_range(value: int) -> None:
    """The core's own check, for callers that hand it Python ints (the CLI, the live hub)."""
    for type_, payload, field in (
        ("VideoProgressed", {"video_id": "v-x", "percent": value}, "percent"),
        ("VideoProgressed", {"video_id": "v-x", "percent": 5, "position_s": value}, "position_s"),
        ("ChartPointRecorded", {"tracker_id": "mood", "values": {"mood": value}, "for_date": "2026-01-05"}, "values"),
    ):
        with pytest.raises(InvalidField) as refused:
            validate(Command(type_, payload, "c-12345678"))
        assert refused.value.field == field


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    server = live_server(tmp_path)
    try:
        yield server
    finally:
        server.server.stop()


async def test_deep_and_huge_frames_get_an_error_frame_on_the_live_socket(live: Live) -> None:
    _sid, su, worker = await live.pair()
    head = live.tandem.head()
    deep_msgpack = b"\x91" * 40_000 + b"\xc0"  # a list in a list ... 40,000 deep
    frames: list[str | bytes] = [
        DEEP,
        spliced({"type": "ping", "payload": {"t": "NEST"}}).replace('"NEST"', "[" * 900 + "]" * 900),
        spliced({"type": "VideoProgressed", "client_event_id": "c-12345678", "payload": {"percent": "HUGE"}}),
        spliced({"type": "ping", "seq": "HUGE", "payload": {}}),
        deep_msgpack,
        msgpack.packb({"type": "ping", "payload": {"t": [[[[[[[[1]]]]]]]]}}),
    ]
    for frame in frames:
        mark = len(su.history)
        await su.send_raw(frame)
        e = await su.wait_for(lambda m: m["type"] == "error", since=mark)
        assert e["payload"]["code"] in ("bad_frame", "invalid_field", "too_large"), e
    assert live.tandem.head() == head
    # the socket and the room keep working
    mark = len(worker.history)
    await su.ephemeral("draft", {"question_id": "q-1", "text": "still here"})
    got = await worker.wait_for(lambda m: m["type"] == "draft", since=mark)
    assert got["payload"]["text"] == "still here"
    assert json.loads(httpx.get(live.base + "/health", timeout=30).text)["status"] == "ok"
