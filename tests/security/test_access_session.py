"""One session-access rule on every path: a worker unlinked from the SU loses the open
session's HTTP routes (chart, lobby, join codes, live pages, leave/end) and its socket,
each refusal audited, while the SU keeps their own session."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from uuid import UUID

import httpx
import websockets

from core import aggregates as A
from core.commands import Command
from tests.realtime.conftest import PASSWORDS
from tests.web.conftest import csrf_of


async def _logged_in(base: str, who: str) -> tuple[httpx.AsyncClient, str]:
    c = httpx.AsyncClient(base_url=base, follow_redirects=False, timeout=30)
    token = csrf_of((await c.get("/login")).text)
    r = await c.post("/login", data={"csrf": token, "username": who, "password": PASSWORDS[who]})
    assert r.status_code == 303, r.text
    return c, csrf_of((await c.get("/account")).text)


def _refusals(live: Any, who: str, after: int) -> list[Any]:
    trail = A.audit_id(live.ids[who])
    return [
        ev
        for _, ev in live.tandem.read(after, 10_000)
        if isinstance(ev, A.AuditTrail.DataAccessed) and ev.originator_id == trail and not ev.allowed
    ]


async def _record(live: Any, who: str, kind: str, payload: dict[str, Any], sid: str | None = None) -> int:
    cmd = Command(kind, payload, f"t-{uuid.uuid4().hex}", session_id=UUID(sid) if sid else None)
    return (await live.tandem.record(live.actor(who), cmd)).position


async def test_an_unlinked_worker_loses_every_route_of_the_open_session(live):
    sid = await live.start_session()
    await _record(
        live, "sam", "ChartPointRecorded", {"tracker_id": "sleep", "values": {"hours": 7}, "for_date": "2026-11-20"}
    )
    await _record(live, "sam", "ChartShown", {"tracker_id": "sleep"}, sid)
    worker, wcsrf = await _logged_in(live.base, "wendy")
    su, _ = await _logged_in(live.base, "sam")
    section = f"/sessions/{sid}/topics/recovery/what-recovery-means"
    try:
        # While linked, each route works: the test would prove nothing otherwise.
        assert (await worker.get(f"/sessions/{sid}")).status_code == 200
        chart = await worker.get(f"/sessions/{sid}/charts/sleep")
        assert chart.status_code == 200 and "<svg" in chart.text
        code = await worker.post(f"/sessions/{sid}/code", headers={"x-csrf-token": wcsrf})
        assert code.status_code == 200 and "/join?code=" in code.text
        assert (await worker.get(section)).status_code == 200

        unlinked = (
            await asyncio.to_thread(live.tandem.unlink, live.ids["wendy"], live.ids["sam"], live.ids["sam"])
        ).position

        gets = [f"/sessions/{sid}", f"/sessions/{sid}/charts/sleep", f"/sessions/{sid}/topics/recovery", section]
        for path in gets:
            r = await worker.get(path)
            assert r.status_code == 403, (path, r.status_code)
            assert "<svg" not in r.text
        posts = [f"/sessions/{sid}/code", f"/sessions/{sid}/leave", f"/sessions/{sid}/end"]
        for path in posts:
            r = await worker.post(path, headers={"x-csrf-token": wcsrf, "accept": "application/json"})
            assert r.status_code == 403, (path, r.status_code)
            assert "/join?code=" not in r.text and '"code":"forbidden"' in r.text.replace(" ", "")
        try:
            ws = await websockets.connect(
                live.ws + f"/ws/sessions/{sid}", additional_headers={"Authorization": f"Bearer {live.token('wendy')}"}
            )
            await ws.close()
            raise AssertionError("the unlinked worker's handshake must be refused")
        except websockets.InvalidStatus as exc:
            assert exc.response.status_code == 403

        refused = _refusals(live, "wendy", unlinked)
        assert len(refused) == len(gets) + len(posts)
        assert all(ev.resource == f"session:{sid}" and ev.subject_id == live.ids["sam"] for ev in refused)
        assert all("not linked" in ev.reason for ev in refused)
        # Nothing the refused calls asked for happened: the session is still open.
        assert live.tandem.session(UUID(sid)).ended is False

        # The SU keeps their own session and chart.
        assert (await su.get(f"/sessions/{sid}")).status_code == 200
        assert "<svg" in (await su.get(f"/sessions/{sid}/charts/sleep")).text
    finally:
        await worker.aclose()
        await su.aclose()


async def test_someone_elses_session_is_not_found_and_audited(live):
    sid = await live.start_session()
    walt, wcsrf = await _logged_in(live.base, "walt")
    head = live.tandem.head()
    try:
        for path in (f"/sessions/{sid}", f"/sessions/{sid}/charts/sleep"):
            assert (await walt.get(path)).status_code == 404
        r = await walt.post(f"/sessions/{sid}/code", headers={"x-csrf-token": wcsrf})
        assert r.status_code == 404 and "/join?code=" not in r.text
        refused = _refusals(live, "walt", head)
        assert len(refused) == 3 and all("not a participant" in ev.reason for ev in refused)
    finally:
        await walt.aclose()
