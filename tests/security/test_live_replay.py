"""A reconnect from position 0 reads this session's events alone, not the whole log, and
a hello replays a bounded number of them (the rest on a new socket)."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
import websockets

from core.commands import Command
from realtime.hub import Limits
from realtime.tail import session_of
from tests.conftest import drop_pg_schema, fresh_pg_schema, make_settings
from tests.security.conftest import Raw

_ids = itertools.count()
TODAY = datetime.now(UTC).date().isoformat()


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request, tmp_path):
    if request.param == "sqlite":
        yield make_settings(tmp_path)
        return
    base = request.getfixturevalue("postgres_url")
    url, schema = fresh_pg_schema(base)
    try:
        yield make_settings(tmp_path, url)
    finally:
        drop_pg_schema(base, schema)


def _record(live, who: str, type_: str, payload: dict, session: str | None = None) -> None:
    cid = f"replay-{next(_ids):06d}"
    sid = UUID(session) if session else None
    live.tandem.record_blocking(live.actor(who), Command(type_, payload, cid, session_id=sid))


def _busy_log(live, ours: str, theirs: str) -> list[int]:
    """Many events of another session and of this SU alone, a few of this session among
    them; the positions of this session's events."""
    for i in range(150):
        _record(live, "sue", "TopicOpened", {"topic_id": "health"}, theirs)
        _record(live, "sue", "AnswerSaved", {"question_id": "recovery/hope/q1", "answer": f"theirs {i}"}, theirs)
        _record(live, "sam", "TopicOpened", {"topic_id": "me"})  # Sam alone, outside the session
        if i % 30 == 0:
            _record(live, "sam", "TopicOpened", {"topic_id": "recovery"}, ours)
            _record(
                live,
                "wendy",
                "ChartPointRecorded",
                {"tracker_id": "mood", "values": {"level": 5}, "for_date": TODAY},
                ours,
            )
    _record(live, "wendy", "SuggestionMade", {"suggestion_id": "s-1", "topic_id": "life", "section_id": None}, ours)
    every = [(pos, ev) for pos, ev in live.tandem.read(0, 100_000)]
    return [pos for pos, ev in every if session_of(ev) == ours]


class RowSpy:
    """Counts the rows the store hands out, by read."""

    def __init__(self, recorder: Any):
        self.rows: dict[str, int] = {"global": 0, "session": 0}
        self.lock = threading.Lock()
        self._undo = []
        for name, kind in (("select_notifications", "global"), ("select_session", "session")):
            original = getattr(recorder, name, None)
            if original is None:
                continue
            setattr(recorder, name, self._wrap(original, kind))
            self._undo.append((recorder, name))

    def _wrap(self, original, kind):
        def spy(*args, **kwargs):
            rows = original(*args, **kwargs)
            with self.lock:
                self.rows[kind] += len(rows)
            return rows

        return spy

    def close(self) -> None:
        for recorder, name in self._undo:
            delattr(recorder, name)


async def _replay(raw: Raw, last: int) -> tuple[list[dict], dict]:
    await raw.hello(last_position=last)
    frames = []
    while True:
        m = await raw.next(lambda m: "position" in m and m["type"] not in ("welcome", "ack"))
        if m["type"] == "resumed":
            return frames, m
        frames.append(m)


async def test_a_hello_from_zero_reads_only_this_sessions_events(live_factory, settings):
    live = live_factory(settings)
    ours, theirs = await live.start_session(), await live.start_session("walt", "sue")
    tab = await Raw.open(live, "sam", ours)  # Sam is in the session: the next socket records nothing
    try:
        await tab.hello()
        sam = str(live.ids["sam"])
        await tab.next(lambda m: m["type"] == "ParticipantJoined" and m["payload"]["user_id"] == sam)
        expected = _busy_log(live, ours, theirs)
        assert len(expected) >= 12 and live.tandem.head() > 10 * len(expected)

        spy = RowSpy(live.tandem.log.recorder)
        raw = await Raw.open(live, "sam", ours)
        try:
            frames, resumed = await _replay(raw, 0)
        finally:
            spy.close()
            await raw.close()
        assert [f["position"] for f in frames] == expected
        assert all(f["session"] == ours for f in frames)
        assert resumed["payload"] == {"replayed": len(expected)}
        # the store handed out this session's events and no others (the tail had nothing new)
        assert spy.rows == {"global": 0, "session": len(expected)}
    finally:
        await tab.close()


async def test_a_hello_replays_at_most_the_cap_and_the_client_resumes_for_the_rest(live_factory):
    live = live_factory(limits=Limits(rate=200, burst=400, kick_after=5000, replay=5))
    ours, theirs = await live.start_session(), await live.start_session("walt", "sue")
    tab = await Raw.open(live, "sam", ours)
    try:
        await tab.hello()
        sam = str(live.ids["sam"])
        await tab.next(lambda m: m["type"] == "ParticipantJoined" and m["payload"]["user_id"] == sam)
        expected = _busy_log(live, ours, theirs)
        got: list[int] = []
        last = 0
        while True:
            raw = await Raw.open(live, "sam", ours)
            frames, resumed = await _replay(raw, last)
            assert len(frames) <= 5
            got += [f["position"] for f in frames]
            if not resumed["payload"].get("more"):
                await raw.close()
                break
            assert resumed["payload"] == {"replayed": 5, "more": True}
            assert resumed["position"] == frames[-1]["position"]
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await raw.next(lambda m: False)
            assert closed.value.rcvd.code == 4008
            assert closed.value.rcvd.reason == f"too slow; resume from {resumed['position']}"
            last = resumed["position"]
        assert got == expected
    finally:
        await tab.close()
