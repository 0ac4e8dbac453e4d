"""What a worker sees or changes in a joint session follows the SU's sharing: the live
section page shows the SU's progress and answers only where shared, and the writer
refuses a worker's answer or worksheet write into what is not shared (socket and HTTP)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from uuid import UUID

import httpx

from core import aggregates as A
from core.commands import Command
from tests.security.test_access_session import _logged_in
from web import texts

UNSHARED = "managing-stress/stress-and-mental-health"  # has video v-stress-tom
SHARED = "recovery/what-recovery-means"  # has video v-recovery-amara
WATCHED = "You have watched this video"
PRIVATE = "My own words about stress, not for my worker"


async def _record(live: Any, who: str, kind: str, payload: dict[str, Any], sid: str | None = None) -> Any:
    cmd = Command(kind, payload, f"t-{uuid.uuid4().hex}", session_id=UUID(sid) if sid else None)
    return await live.tandem.record(live.actor(who), cmd)


async def _page_when(c: httpx.AsyncClient, path: str, ready: Any) -> str:
    """The page once the projections have caught up (`ready(text)`), waiting generously."""
    text = ""
    for _ in range(300):
        r = await c.get(path)
        assert r.status_code == 200, (path, r.status_code)
        text = r.text
        if ready(text):
            return text
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} never became ready")


def _worker_journey_writes(live: Any) -> list[Any]:
    journey = A.journey_id(live.ids["sam"])
    return [
        ev
        for _, ev in live.tandem.read(0, 100_000)
        if ev.originator_id == journey and getattr(ev, "actor_id", None) == live.ids["wendy"]
    ]


async def _su_with_a_private_topic(live: Any) -> str:
    await _record(live, "sam", "ItemShared", {"scope": "topic", "ref": "recovery"})
    for video in ("v-stress-tom", "v-recovery-amara"):
        await _record(live, "sam", "VideoCompleted", {"video_id": video})
    await _record(live, "sam", "AnswerSaved", {"question_id": f"{UNSHARED}/q1", "answer": PRIVATE})
    return await live.start_session()


async def test_a_workers_live_page_of_an_unshared_topic_shows_no_progress_or_answers(live):
    sid = await _su_with_a_private_topic(live)
    su, _ = await _logged_in(live.base, "sam")
    worker, _ = await _logged_in(live.base, "wendy")
    unshared, shared = f"/sessions/{sid}/topics/{UNSHARED}", f"/sessions/{sid}/topics/{SHARED}"
    try:
        # The SU's own page shows both: the state is there to leak.
        own = await _page_when(su, unshared, lambda t: WATCHED in t)
        assert PRIVATE in own
        # In the shared topic the worker sees that the SU watched the video ...
        await _page_when(worker, shared, lambda t: WATCHED in t)
        # ... in the unshared one neither that nor the SU's answer.
        page = (await worker.get(unshared)).text
        assert WATCHED not in page and PRIVATE not in page
    finally:
        await su.aclose()
        await worker.aclose()


async def test_a_worker_cannot_write_into_what_is_not_shared(live):
    sid = await _su_with_a_private_topic(live)
    _sid, su, worker = await live.pair(sid)
    before = len(_worker_journey_writes(live))

    refused = [
        ("AnswerSaved", {"question_id": f"{UNSHARED}/q1", "answer": "overwritten by the worker"}),
        ("WorksheetItemAdded", {"worksheet_id": "warning-signs", "item_id": "w-1", "text": "by the worker"}),
    ]
    for kind, payload in refused:
        reply = await worker.durable(kind, payload)
        assert reply["type"] == "error" and reply["payload"]["code"] == "forbidden", reply
    assert worker.closed is None  # refused, not thrown out

    # Nothing stored: the SU's answer is theirs, the worker wrote nothing.
    saved = await asyncio.to_thread(texts.answers, live.tandem, live.ids["sam"], {f"{UNSHARED}/q1"})
    assert saved[f"{UNSHARED}/q1"].text == PRIVATE
    assert len(_worker_journey_writes(live)) == before

    # The same over HTTP: a 403 and nothing stored.
    http, csrf = await _logged_in(live.base, "wendy")
    try:
        r = await http.post(
            "/api/events",
            json={
                "type": "AnswerSaved",
                "payload": {"question_id": f"{UNSHARED}/q2", "answer": "by the worker"},
                "client_event_id": f"t-{uuid.uuid4().hex}",
                "session_id": sid,
            },
            headers={"x-csrf-token": csrf},
        )
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    finally:
        await http.aclose()
    assert len(_worker_journey_writes(live)) == before

    # Into a shared topic (and a worksheet once the SU shares it) the worker may write.
    ok = await worker.durable("AnswerSaved", {"question_id": f"{SHARED}/q1", "answer": "we wrote this together"})
    assert ok["type"] == "ack", ok
    await su.durable("ItemShared", {"scope": "worksheet", "ref": "warning-signs"})
    ok = await worker.durable("WorksheetItemAdded", refused[1][1])
    assert ok["type"] == "ack", ok
    writes = _worker_journey_writes(live)[before:]
    assert [type(ev) for ev in writes] == [A.Journey.AnswerSaved, A.Journey.WorksheetItemAdded]
