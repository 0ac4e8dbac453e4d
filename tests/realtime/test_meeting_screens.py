"""The meeting as two people see it: a worker on a 1280x800 desktop, an SU on a 390x844 phone.

Checked by element geometry (bounding boxes against the viewport and the pinned bar), with a
screenshot of both screens at every step, under tmp_path/meeting and /work/shots/meeting.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.realtime.browser import ARGS, T, join_session, login, start_session, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PHONE_UA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Mobile Safari/537.36"
SECTION = "recovery/what-recovery-means"
LEAD_SHOTS = Path("/work/shots/meeting")

# What part of the screen the pinned bar leaves free: (top, bottom) of the visible page.
FREE = """() => {
  const bar = document.getElementById('live-bar');
  const pinned = ['sticky', 'fixed'].includes(getComputedStyle(bar).position);
  return [pinned ? Math.max(0, bar.getBoundingClientRect().bottom) : 0, innerHeight];
}"""
BOX = "el => { const r = el.getBoundingClientRect(); return [r.top, r.bottom, r.left, r.right]; }"


class Shots:
    def __init__(self, folder: Path, worker, su):
        self.folder, self.worker, self.su, self.n = folder, worker, su, 0
        folder.mkdir(parents=True, exist_ok=True)

    async def take(self, step: str) -> None:
        self.n += 1
        for who, page in (("worker", self.worker), ("su", self.su)):
            await page.screenshot(path=str(self.folder / f"{self.n:02d}-{step}-{who}.png"))


async def unobstructed(page, selector: str) -> bool:
    """The element's top is on screen below whatever is pinned, and it is not covered there."""
    top, bottom = await page.evaluate(FREE)
    box = await page.eval_on_selector(selector, BOX)
    if not (top <= box[0] < bottom):
        return False
    hit = await page.eval_on_selector(
        selector,
        "el => { const r = el.getBoundingClientRect();"
        " const at = document.elementFromPoint(r.left + Math.min(20, r.width / 2), r.top + 2);"
        " return !!at && (el.contains(at) || at.contains(el)); }",
    )
    return bool(hit)


async def fully_visible(page, selector: str) -> bool:
    top, bottom = await page.evaluate(FREE)
    box = await page.eval_on_selector(selector, BOX)
    width = await page.evaluate("innerWidth")
    return top <= box[0] and box[1] <= bottom and box[2] >= 0 and box[3] <= width


async def test_worker_desktop_and_su_phone_see_the_same_meeting(live, chromium_path, tmp_path):
    from playwright.async_api import async_playwright

    base = live.base
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path, args=ARGS)
        wctx = await browser.new_context(viewport=DESKTOP)
        sctx = await browser.new_context(viewport=PHONE, user_agent=PHONE_UA, is_mobile=True, has_touch=True)
        worker, su = await wctx.new_page(), await sctx.new_page()
        for p in (worker, su):
            p.set_default_timeout(T)
        shots = Shots(tmp_path / "meeting", worker, su)
        try:
            await login(worker, base, "wendy")
            await login(su, base, "sam")
            # Sam shares the Recovery topic, so Wendy sees its questions and answers.
            await su.goto(f"{base}/sharing")
            await su.click("form:has(input[name=scope][value=topic]):has(input[name=ref][value=recovery]) button")
            await su.wait_for_url("**/sharing?saved=1")
            code, sid = await start_session(worker, base)
            # The code on the invite page is large enough to read out across a table.
            size = await worker.eval_on_selector("#join-code", "el => parseFloat(getComputedStyle(el).fontSize)")
            assert size >= 36, size
            # The SU finds "Join" from their home page.
            await su.goto(f"{base}/")
            assert await su.locator("#home-join[href='/join']").is_visible()
            assert await su.locator("nav[aria-label=Main] a[href='/join']").count() == 1
            await join_session(su, worker, base, code, sid)

            await su.goto(f"{base}/sessions/{sid}/topics/{SECTION}")
            await worker.wait_for_url(f"**/sessions/{sid}/topics/{SECTION}")
            for p in (su, worker):
                await p.wait_for_selector("#live-conn[data-state=live]")
            await shots.take("section-opened")

            # The worker's bar is one compact line, not a wall over the page.
            bar_h = await worker.eval_on_selector("#live-bar", "el => el.getBoundingClientRect().height")
            assert bar_h <= 0.15 * DESKTOP["height"], bar_h

            # The SU scrolls to the second question: the worker sees it, below the pinned bar.
            await su.eval_on_selector("#q-2", "el => el.scrollIntoView({block: 'start', behavior: 'instant'})")
            await wait_until(lambda: unobstructed(worker, "#q-2 .question-text"))
            await shots.take("su-scrolled-to-question")

            # The SU types: the worker sees the whole answer box with the words in it.
            await su.fill("#answer-2", "Seeing my sister again.")
            await worker.wait_for_function(
                "() => document.querySelector('#answer-2').value === 'Seeing my sister again.'"
            )
            await wait_until(lambda: fully_visible(worker, "#answer-2"))
            await shots.take("su-typing")
            await su.click("#q-2 button[type=submit]")
            await su.wait_for_selector("#status-2:has-text('Saved')")

            # The SU scrolls to the end of the page; the worker suggests a topic.
            await su.evaluate("window.scrollTo({top: document.body.scrollHeight, behavior: 'instant'})")
            await su.wait_for_function("() => scrollY > 500")
            await worker.select_option("#live-suggest-topic", "health")
            await worker.click("#live-suggest-form button[type=submit]")
            notice = "#live-suggestions li"
            await su.wait_for_selector(notice)
            assert await fully_visible(su, notice), await su.eval_on_selector(notice, BOX)
            assert await su.evaluate("scrollY > 500")  # still where they were
            text = await su.text_content(notice)
            assert "Health" in text and "health" not in text.replace("Health", ""), text
            assert await su.eval_on_selector(notice, "el => !!el.closest('[aria-live]')")
            await shots.take("suggestion-on-phone")
            await su.click(f"{notice} .live-dismiss")
            await su.wait_for_selector(notice, state="detached")

            # The worker asks to drive: the request, with both buttons, is on the SU's screen.
            await worker.click("#live-request-control")
            await su.wait_for_selector("#live-grant")
            for sel in ("#live-requests p", "#live-grant", "#live-refuse"):
                assert await fully_visible(su, sel), sel
            assert await su.eval_on_selector("#live-requests", "el => el.getAttribute('aria-live')") == "assertive"
            await shots.take("control-request-on-phone")
            await su.click("#live-grant")
            await worker.wait_for_selector("#live-return-control:not([hidden])")
            await su.wait_for_function(
                "() => document.querySelector('#live-control').textContent === 'Wendy is driving.'"
            )
            await worker.click("#live-return-control")
            await su.wait_for_selector("#live-give-control:not([hidden])")
            said = await su.locator("#live-shared li[data-type=control]").all_text_contents()
            assert "You are driving now." in said and not any("You is" in s for s in said), said

            # The SU shows their sleep chart: it is in the worker's page, the bar stays compact.
            await su.evaluate("window.scrollTo({top: 0, behavior: 'instant'})")
            await su.select_option("#live-chart-tracker", "sleep")
            await su.click("#live-chart-form button[type=submit]")
            await worker.wait_for_selector("#live-charts svg")
            assert await worker.eval_on_selector("#live-charts", "el => !el.closest('#live-bar')")
            bar_h = await worker.eval_on_selector("#live-bar", "el => el.getBoundingClientRect().height")
            assert bar_h <= 0.15 * DESKTOP["height"], bar_h
            chart = await worker.eval_on_selector("#live-charts", BOX)
            assert chart[3] <= DESKTOP["width"], chart
            await shots.take("chart-shown")
            # ...and the page under it still reads: the SU scrolls, the worker sees the passage.
            await su.eval_on_selector("#q-3", "el => el.scrollIntoView({block: 'start', behavior: 'instant'})")
            await wait_until(lambda: unobstructed(worker, "#q-3 .question-text"))
            await shots.take("chart-shown-then-scrolled")

            # A past day chosen: the save button says which day it saves.
            await su.goto(f"{base}/sessions/{sid}/topics/health/sleep")
            await worker.wait_for_url(f"**/sessions/{sid}/topics/health/sleep")
            save = "form.tracker-entry[data-tracker-id=sleep] button[type=submit]"
            assert (await su.text_content(save)).strip() == "Save today's sleep"
            past = (date.today() - timedelta(days=3)).isoformat()
            await su.fill("#date-sleep", past)
            label = (await su.text_content(save)).strip()
            assert label.startswith("Save sleep for ") and "today" not in label, label

            # The SU's network drops: their own line no longer says they are online.
            await su.wait_for_selector("#live-conn[data-state=live]")
            await sctx.set_offline(True)
            await su.evaluate("window.tandemLive.socket.ws.close()")
            await su.wait_for_selector("#live-people li[data-state=offline]:has-text('You')")
            assert await su.locator("#live-people li[data-state=online]:has-text('You')").count() == 0
            await shots.take("su-network-dropped")
            await sctx.set_offline(False)
            await su.wait_for_selector("#live-conn[data-state=live]", timeout=30_000)

            # The worker ends the session: each lands on a summary of what it covered.
            await worker.wait_for_selector("#live-conn[data-state=live]")
            await worker.click("#live-end")
            await worker.wait_for_url(f"**/caseload/{live.ids['sam']}?ended={sid}")
            await su.wait_for_url(f"**/?ended={sid}")
            for page in (worker, su):
                summary = await page.text_content("#session-summary")
                assert "Recovery" in summary and "What recovery means" in summary, summary
                saved = await page.text_content("#session-summary dt:has-text('Saved') + dd")
                assert saved.strip() == "1 answer", saved
            await shots.take("session-ended")
        finally:
            await browser.close()
            LEAD_SHOTS.mkdir(parents=True, exist_ok=True)
            for f in sorted(shots.folder.glob("*.png")):
                shutil.copy(f, LEAD_SHOTS / f.name)
