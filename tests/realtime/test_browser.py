"""Two real browser contexts (worker and SU, each logged in) in one joint session."""

from __future__ import annotations

import asyncio
import re
from collections import Counter

import pytest

from tests.realtime.browser import (
    ARGS,
    T,
    join_session,
    login,
    near,
    paused,
    playing,
    start_session,
    video_state,
    wait_until,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_two_browsers_in_one_joint_session(live, chromium_path):
    from playwright.async_api import async_playwright

    base = live.base
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path, args=ARGS)
        wctx = await browser.new_context(viewport={"width": 1024, "height": 900})
        sctx = await browser.new_context(
            viewport={"width": 390, "height": 800}, user_agent="Mozilla/5.0 (Linux; Android 14) Mobile"
        )
        worker, su = await wctx.new_page(), await sctx.new_page()
        for p in (worker, su):
            p.set_default_timeout(T)
        try:
            await login(worker, base, "wendy")
            await login(su, base, "sam")

            # the worker starts a session from the caseload and gets a code + QR + link
            code, sid = await start_session(worker, base)
            assert re.fullmatch(r"[A-Z2-9]{6}", code)
            assert await worker.locator(".qr svg").count() == 1

            # the SU joins with the code on their own device
            await join_session(su, worker, base, code, sid)

            # SU navigates -> the worker's page follows
            await su.click(f"a[href='/sessions/{sid}/topics/recovery']")
            await worker.wait_for_url(f"**/sessions/{sid}/topics/recovery")

            # worker suggests -> SU accepts -> both move
            await worker.wait_for_selector("#live-conn[data-state=live]")
            await worker.select_option("#live-suggest-topic", "health")
            await worker.click("#live-suggest-form button[type=submit]")
            await su.click("#live-suggestions .live-accept")
            await su.wait_for_url(f"**/sessions/{sid}/topics/health")
            await worker.wait_for_url(f"**/sessions/{sid}/topics/health")

            # control handed to the worker and back
            await worker.wait_for_selector("#live-conn[data-state=live]")
            await worker.click("#live-request-control")
            await su.click("#live-grant")
            await worker.wait_for_selector("#live-return-control:not([hidden])")
            await worker.click("#topic a[data-section-id]")  # the worker drives now
            await su.wait_for_url(re.compile(rf".*/sessions/{sid}/topics/health/.+"))
            await worker.wait_for_selector("#live-conn[data-state=live]")
            await worker.click("#live-return-control")
            await su.wait_for_selector("#live-give-control:not([hidden])")

            # SU plays the video -> worker's plays; pause and seek follow
            await su.goto(f"{base}/sessions/{sid}/topics/recovery/what-recovery-means")
            await worker.wait_for_url(f"**/sessions/{sid}/topics/recovery/what-recovery-means")
            for p in (su, worker):
                await p.wait_for_selector("#live-conn[data-state=live]")
                await p.wait_for_function("document.querySelector('video').readyState >= 1")
            await su.eval_on_selector("video", "v => v.play()")
            await wait_until(lambda: playing(worker))
            await asyncio.sleep(2)
            await su.eval_on_selector("video", "v => v.pause()")
            await wait_until(lambda: paused(worker))
            s_state, w_state = await video_state(su), await video_state(worker)
            assert abs(s_state["t"] - w_state["t"]) < 0.5, (s_state, w_state)
            await su.eval_on_selector("video", "v => { v.currentTime = 20; }")
            await wait_until(lambda: near(worker, 20, within=1.0))

            # SU saves an answer -> the worker sees it saved
            await su.fill(
                "form.answer[data-question-id='recovery/what-recovery-means/q1'] textarea", "Hope, and my dog."
            )
            await su.click("form.answer[data-question-id='recovery/what-recovery-means/q1'] button[type=submit]")
            await worker.wait_for_selector("#live-shared li[data-type=AnswerSaved]:has-text('Hope, and my dog.')")

            # the SU's network drops for 5 s while the worker records a chart point
            await su.goto(f"{base}/sessions/{sid}/topics/recovery/small-steps-and-setbacks")
            await worker.wait_for_url(f"**/sessions/{sid}/topics/recovery/small-steps-and-setbacks")
            await worker.wait_for_selector("form.tracker-entry[data-tracker-id=mood]")
            await su.wait_for_selector("#live-conn[data-state=live]")
            await sctx.set_offline(True)
            await su.evaluate("window.tandemLive.socket.ws.close()")  # what a real network drop does to the socket
            await worker.check("form.tracker-entry[data-tracker-id=mood] input[name=level][value='6']", force=True)
            await worker.click("form.tracker-entry[data-tracker-id=mood] button[type=submit]")
            await worker.wait_for_selector("#live-shared li[data-type=ChartPointRecorded]")
            await asyncio.sleep(5)
            assert await su.locator("#live-shared li[data-type=ChartPointRecorded]").count() == 0
            await sctx.set_offline(False)
            await su.wait_for_selector("#live-shared li[data-type=ChartPointRecorded]", timeout=20_000)
            await su.wait_for_selector("#live-conn[data-state=live]")

            # the store holds each event once
            names = Counter(type(e).__name__ for _, e in live.tandem.read(0, 10_000))
            assert names["ChartPointRecorded"] == 1 and names["AnswerSaved"] == 1
            assert names["SuggestionMade"] == 1 and names["SuggestionAccepted"] == 1
            assert names["ControlHandedOver"] == 2
        finally:
            await browser.close()
