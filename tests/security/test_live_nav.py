"""Live navigation carries a content location, never a URL: a hostile `nav` is refused
with an error frame and never reaches the other device, in the page or on the wire."""

from __future__ import annotations

import json

import pytest

from tests.realtime.browser import ARGS, T, join_session, login, start_session
from tests.security.conftest import Raw

SECTION = {"topic_id": "recovery", "section_id": "recovery/what-recovery-means"}
HOSTILE = [
    {"url": "javascript:window.__pwned=1"},
    {"url": "https://evil.example/phish", "topic_id": "recovery"},
    {"topic_id": "nope"},
    {"topic_id": "recovery", "section_id": "health/body-and-mind"},  # a section of another topic
    {"topic_id": "recovery", "section_id": "recovery/../../logout"},
    {"topic_id": "javascript:alert(1)"},
]


async def _refused(raw: Raw, payload: dict, seq: int) -> dict:
    await raw.send({"type": "nav", "seq": seq, "epoch": 1, "payload": payload})
    e = await raw.next(lambda m: m["type"] == "error" and m.get("seq") == seq)
    assert e["payload"]["code"] in ("invalid_field", "missing_field"), e
    return e


async def test_hostile_nav_is_refused_and_a_content_nav_reaches_the_follower(live):
    sid = await live.start_session()
    su, worker = await Raw.open(live, "sam", sid), await Raw.open(live, "wendy", sid)
    try:
        welcome = await su.hello(device_kind="phone")
        assert welcome["payload"]["control"] == {"holder": str(live.ids["sam"]), "epoch": 1}
        await worker.hello(device_kind="tablet")
        for seq, payload in enumerate(HOSTILE, 1):
            e = await _refused(su, payload, seq)
            assert e["payload"]["code"] == "invalid_field", e

        await su.send({"type": "nav", "seq": 99, "epoch": 1, "payload": SECTION})
        nav = await worker.next(lambda m: m["type"] == "nav")
        assert nav["payload"] == SECTION  # the first nav the follower gets is the valid one
        assert nav["from"] == str(live.ids["sam"])
        assert not [m for m in worker.seen if m["type"] == "nav"]

        # the worker's device reloads: it is sent to the validated location, and only that
        again = await Raw.open(live, "wendy", sid)
        try:
            location = (await again.hello(device_kind="tablet"))["payload"]["location"]
        finally:
            await again.close()
        assert location == {**SECTION, "by": str(live.ids["sam"]), "epoch": 1}
    finally:
        await su.close()
        await worker.close()


async def test_nav_relayed_from_another_process_is_checked_the_same_way(live):
    """A nav published over Redis by another (perhaps older) process: a URL is dropped, not
    kept as the room's location, not fanned out."""
    sid = await live.start_session()
    worker = await Raw.open(live, "wendy", sid)
    try:
        await worker.hello()
        hub = live.app.state.live_hub
        server_loop = hub._tail.loop  # the server runs in a thread of this process, on its own loop
        sam = str(live.ids["sam"])
        for payload in ({"url": "javascript:window.__pwned=1"}, {"url": "/x", "topic_id": "recovery"}, SECTION):
            message = {"type": "nav", "session": sid, "from": sam, "epoch": 1, "payload": payload}
            server_loop.call_soon_threadsafe(hub.on_remote, sid, "eph", "other-process", message)
        nav = await worker.next(lambda m: m["type"] == "nav")
        assert nav["payload"] == SECTION  # the first nav the follower gets is the valid one
        assert hub.rooms[sid].location == {**SECTION, "by": sam, "epoch": 1}
    finally:
        await worker.close()


@pytest.mark.browser
@pytest.mark.slow
async def test_hostile_nav_never_reaches_the_follower_page(live, chromium_path):
    from playwright.async_api import async_playwright

    base = live.base
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            wctx, sctx = await browser.new_context(), await browser.new_context()
            worker, su = await wctx.new_page(), await sctx.new_page()
            for p in (worker, su):
                p.set_default_timeout(T)
            frames: list[dict] = []  # every frame the worker's pages receive, across page loads
            worker.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(json.loads(f))))
            await login(worker, base, "wendy")
            await login(su, base, "sam")
            code, sid = await start_session(worker, base)
            await join_session(su, worker, base, code, sid)
            lobby = worker.url

            # the SU drives; an attacker with the SU's token sends hostile navs on a raw socket
            raw = await Raw.open(live, "sam", sid)
            try:
                await raw.hello()
                for seq, payload in enumerate(HOSTILE, 1):
                    e = await _refused(raw, payload, seq)
                    assert e["payload"]["code"] == "invalid_field", e
                assert worker.url == lobby
                assert await worker.evaluate("typeof window.__pwned") == "undefined"

                # a valid nav on the same socket arrives after them: the follower moves there
                await raw.send({"type": "nav", "seq": 99, "epoch": 1, "payload": SECTION})
                await worker.wait_for_url(f"**/sessions/{sid}/topics/recovery/what-recovery-means")
            finally:
                await raw.close()
            navs = [f for f in frames if f.get("type") == "nav"]
            assert [n["payload"] for n in navs] == [SECTION]
            assert not [f for f in frames if "url" in json.dumps(f.get("payload", {}))]

            # the page itself ignores a URL in whatever it is sent (a location kept from before)
            await worker.wait_for_selector("#live-conn[data-state=live]")
            here = worker.url
            await worker.evaluate(
                """() => {
                  const s = window.tandemLive.socket;
                  const m = (detail) => s.dispatchEvent(new CustomEvent("message", { detail }));
                  m({ type: "nav", payload: { url: "javascript:window.__pwned=1", topic_id: "recovery",
                                              section_id: "recovery/what-recovery-means" } });
                  m({ type: "nav", payload: { url: "https://evil.example/", topic_id: "recovery",
                                              section_id: "recovery/what-recovery-means" } });
                  m({ type: "nav", payload: { topic_id: "javascript:window.__pwned=2" } });
                }"""
            )
            await worker.wait_for_timeout(500)  # a navigation would have started by now
            assert worker.url == here
            assert await worker.evaluate("typeof window.__pwned") == "undefined"
        finally:
            await browser.close()
