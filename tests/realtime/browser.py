"""Shared steps for the two-browser joint-session tests (Playwright + Debian chromium)."""

from __future__ import annotations

import asyncio

from tests.realtime.conftest import PASSWORDS

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
T = 15_000  # ms, Playwright's default wait in these tests


async def login(page, base: str, who: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill("#username", who)
    await page.fill("#password", PASSWORDS[who])
    await page.click("form[action='/login'] button[type=submit]")
    await page.wait_for_load_state("networkidle")


async def start_session(worker, base: str) -> tuple[str, str]:
    """The worker starts a joint session from the caseload: (join code, session id)."""
    await worker.goto(f"{base}/caseload")
    await worker.click("form[action='/sessions'] button[type=submit]")
    code = (await worker.text_content("#join-code")).strip()
    sid = (await worker.get_attribute("#open-session", "href")).rsplit("/", 1)[-1]
    return code, sid


async def join_session(su, worker, base: str, code: str, sid: str) -> None:
    """The SU joins with the code on their own device; both end up live and online."""
    await su.goto(f"{base}/join")
    await su.fill("#code", code.lower())
    await su.click("#join-submit")
    await su.wait_for_url(f"**/sessions/{sid}")
    await worker.click("#open-session")
    await worker.wait_for_url(f"**/sessions/{sid}")
    for p in (su, worker):
        await p.wait_for_selector("#live-conn[data-state=live]")
    await worker.wait_for_function("document.querySelectorAll('#live-people li[data-state=online]').length === 2")


async def video_state(page) -> dict:
    return await page.eval_on_selector(
        "video[data-video-id]",
        "v => ({paused: v.paused, ended: v.ended, t: v.currentTime, d: v.duration, rate: v.playbackRate})",
    )


async def wait_until(fn, timeout: float = 15, every: float = 0.1):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await fn()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(every)


async def playing(page) -> bool:
    return not (await video_state(page))["paused"]


async def paused(page) -> bool:
    return (await video_state(page))["paused"]


async def near(page, t: float, within: float) -> bool:
    return abs((await video_state(page))["t"] - t) < within
