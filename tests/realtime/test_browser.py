"""Two real browser contexts (worker and SU, each logged in) in one joint session."""

from __future__ import annotations

import asyncio
import re
from collections import Counter

import pytest

from tests.realtime.conftest import PASSWORDS

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]
T = 15_000  # ms


async def login(page, base: str, who: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill("#username", who)
    await page.fill("#password", PASSWORDS[who])
    await page.click("form[action='/login'] button[type=submit]")
    await page.wait_for_load_state("networkidle")


async def video_state(page):
    return await page.eval_on_selector("video[data-video-id]", "v => ({paused: v.paused, t: v.currentTime, rate: v.playbackRate})")


async def wait_until(fn, timeout: float = 15, every: float = 0.1):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await fn()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(every)


async def test_two_browsers_in_one_joint_session(live, chromium_path):
    from playwright.async_api import async_playwright

    base = live.base
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path, args=ARGS)
        wctx = await browser.new_context(viewport={"width": 1024, "height": 900})
        sctx = await browser.new_context(viewport={"width": 390, "height": 800}, user_agent="Mozilla/5.0 (Linux; Android 14) Mobile")
        worker, su = await wctx.new_page(), await sctx.new_page()
        for p in (worker, su):
            p.set_default_timeout(T)
        try:
            await login(worker, base, "wendy")
            await login(su, base, "sam")

            # the worker starts a session from the caseload and gets a code + QR + link
            await worker.goto(f"{base}/caseload")
            await worker.click("form[action='/sessions'] button[type=submit]")
            code = (await worker.text_content("#join-code")).strip()
            assert re.fullmatch(r"[A-Z2-9]{6}", code)
            assert await worker.locator(".qr svg").count() == 1
            sid = (await worker.get_attribute("#open-session", "href")).rsplit("/", 1)[-1]

            # the SU joins with the code on their own device
            await su.goto(f"{base}/join")
            await su.fill("#code", code.lower())
            await su.click("#join-submit")
            await su.wait_for_url(f"**/sessions/{sid}")
            await worker.click("#open-session")
            await worker.wait_for_url(f"**/sessions/{sid}")
            for p in (su, worker):
                await p.wait_for_selector("#live-conn[data-state=live]")
            await worker.wait_for_function("document.querySelectorAll('#live-people li[data-state=online]').length === 2")

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
            await wait_until(lambda: _playing(worker))
            await asyncio.sleep(2)
            await su.eval_on_selector("video", "v => v.pause()")
            await wait_until(lambda: _paused(worker))
            s_state, w_state = await video_state(su), await video_state(worker)
            assert abs(s_state["t"] - w_state["t"]) < 0.5, (s_state, w_state)
            await su.eval_on_selector("video", "v => { v.currentTime = 20; }")
            await wait_until(lambda: _near(worker, 20))

            # SU saves an answer -> the worker sees it saved
            await su.fill("form.answer[data-question-id='recovery/what-recovery-means/q1'] textarea", "Hope, and my dog.")
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


async def _playing(page):
    s = await video_state(page)
    return not s["paused"]


async def _paused(page):
    s = await video_state(page)
    return s["paused"]


async def _near(page, t):
    s = await video_state(page)
    return abs(s["t"] - t) < 1.0
