"""Starting and joining over HTTP: codes are single-use, expire, and work only for the invited SU."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import httpx
import pytest

from tests.realtime.conftest import PASSWORDS
from tests.web.conftest import csrf_of


async def _token(c: httpx.AsyncClient, who: str) -> str:
    r = await c.post("/live/token", json={"username": who, "password": PASSWORDS[who]})
    assert r.status_code == 200, r.text
    return r.json()["token"]


async def test_start_and_join_by_code(live):
    async with httpx.AsyncClient(base_url=live.base) as c:
        wt, st, other = await _token(c, "wendy"), await _token(c, "sam"), await _token(c, "sue")
        bad = await c.post("/live/token", json={"username": "sam", "password": "wrong-password"})
        assert bad.status_code == 401
        # only a worker starts, only with a linked SU
        r = await c.post("/sessions", json={"su_id": str(live.ids["sue"])}, headers={"Authorization": f"Bearer {wt}"})
        assert r.status_code == 403
        r = await c.post("/sessions", json={"su_id": str(live.ids["sam"])}, headers={"Authorization": f"Bearer {st}"})
        assert r.status_code == 403
        r = await c.post("/sessions", json={"su_id": str(live.ids["sam"])}, headers={"Authorization": f"Bearer {wt}"})
        assert r.status_code == 201, r.text
        body = r.json()
        code, sid = body["code"], body["session_id"]
        assert body["link"].endswith(f"/join?code={code}")
        # only for that SU
        r = await c.post("/live/join", json={"code": code}, headers={"Authorization": f"Bearer {other}"})
        assert r.status_code == 404
        r = await c.post("/live/join", json={"code": code.lower()}, headers={"Authorization": f"Bearer {st}"})
        assert r.status_code == 200 and r.json()["session_id"] == sid
        # single use
        r = await c.post("/live/join", json={"code": code}, headers={"Authorization": f"Bearer {st}"})
        assert r.status_code == 404


async def test_codes_expire():
    from realtime.codes import MemoryCodes

    codes = MemoryCodes(ttl=0.05)
    code, _ = await codes.create("s", "su")
    await asyncio.sleep(0.1)
    assert await codes.redeem(code, "su") is None


@pytest.mark.redis
async def test_redis_codes_single_use_and_owner(redis_url):
    from realtime.codes import RedisCodes

    codes = RedisCodes(redis_url, ttl=60)
    code, _ = await codes.create("s-1", "su-1")
    assert await codes.redeem(code, "someone-else") is None
    assert (await codes.redeem(code, "su-1")).session_id == "s-1"
    assert await codes.redeem(code, "su-1") is None


async def test_tandem_join_cli_speaks_the_protocol(live):
    async with httpx.AsyncClient(base_url=live.base) as c:
        wt = await _token(c, "wendy")
        body = (
            await c.post("/sessions", json={"su_id": str(live.ids["sam"])}, headers={"Authorization": f"Bearer {wt}"})
        ).json()
    worker = await live.client("wendy", body["session_id"])
    env = {**os.environ, "TANDEM_PASSWORD": PASSWORDS["sam"]}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "web.cli",
        "join",
        body["code"],
        "--server",
        live.base,
        "--username",
        "sam",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        lines = []
        while not any('"welcome"' in x for x in lines):
            lines.append((await asyncio.wait_for(proc.stdout.readline(), 20)).decode())
        welcome = json.loads(lines[-1])
        epoch = welcome["payload"]["control"]["epoch"]
        proc.stdin.write(
            (
                json.dumps({"type": "scroll", "epoch": epoch, "payload": {"section_id": "p-1", "fraction": 0.5}}) + "\n"
            ).encode()
        )
        await proc.stdin.drain()
        m = await worker.wait_for(lambda m: m["type"] == "scroll")
        assert m["from"] == str(live.ids["sam"])
    finally:
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()


async def test_the_worker_sees_an_su_chart_only_while_it_is_on_the_shared_screen(live):
    sid, su, _worker = await live.pair()
    chart = f"/sessions/{sid}/charts/sleep"
    async with httpx.AsyncClient(base_url=live.base) as c:  # the worker's browser, logged in
        csrf = csrf_of((await c.get("/login")).text)
        r = await c.post("/login", data={"csrf": csrf, "username": "wendy", "password": PASSWORDS["wendy"]})
        assert r.status_code == 303
        assert (await c.get(chart)).status_code == 403
        assert (await su.durable("ChartShown", {"tracker_id": "sleep"}))["type"] == "ack"
        r = await c.get(chart)
        assert r.status_code == 200 and ("<svg" in r.text or "No entries yet." in r.text)
        assert (await su.durable("ChartHidden", {"tracker_id": "sleep"}))["type"] == "ack"
        assert (await c.get(chart)).status_code == 403
