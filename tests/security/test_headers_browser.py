"""The strict Content-Security-Policy in a real browser: the main pages and a joint session load
with no violation reported, and still work (styles apply, a chart draws, the live page
connects, an answer saved live names its session). Screenshots go to the test's tmp_path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.realtime.browser import ARGS, T, join_session, start_session
from tests.security._served import PASSWORDS, Served, served_fixture  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Reports every violation to the page, whichever directive and whether or not it was logged.
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI + " " + (e.sourceFile || "")));
"""
CHART_SECTION = "recovery/small-steps-and-setbacks"  # has the mood tracker's chart
SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}


class Watched:
    """A page whose console and CSP reports are collected."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.console: list[str] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    async def violations(self) -> list[str]:
        reported: list[str] = await self.page.evaluate("window.__csp || []")
        logged = [m for m in self.console if "Content Security Policy" in m or "Refused to" in m]
        return reported + logged

    async def visit(self, url: str) -> None:
        await self.page.goto(url)
        await self.page.wait_for_load_state("networkidle")
        assert await self.violations() == [], f"{url}: {await self.violations()}"
        assert [m for m in self.console if m.startswith("pageerror")] == [], self.console


async def styled(page: Any) -> None:
    """The stylesheet applied: the skip link is moved off screen and the header has its bar."""
    left = await page.eval_on_selector(".skip", "e => e.getBoundingClientRect().left")
    assert left < 0, "tandem.css did not apply"


async def log_in(page: Any, base: str, who: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill("#username", who)
    await page.fill("#password", PASSWORDS[who])
    await page.click("form[action='/login'] button[type=submit]")
    await page.wait_for_load_state("networkidle")


async def test_pages_and_a_joint_session_run_under_the_policy(
    served: Served, chromium_path: str, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    base = served.base
    shots = tmp_path / "screenshots"
    shots.mkdir()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path, args=ARGS)
        try:
            contexts = {}
            for name, size in SIZES.items():
                contexts[name] = await browser.new_context(viewport=size)
                await contexts[name].add_init_script(WATCH_CSP)
            su, worker = Watched(await contexts["phone"].new_page()), Watched(await contexts["desktop"].new_page())
            for w in (su, worker):
                w.page.set_default_timeout(T)

            await su.visit(f"{base}/login")
            await styled(su.page)
            await su.page.screenshot(path=str(shots / "login-phone.png"), full_page=True)
            await log_in(su.page, base, "sam")
            await su.visit(f"{base}/")
            await styled(su.page)
            await su.visit(f"{base}/topics/recovery")
            await su.visit(f"{base}/topics/{CHART_SECTION}")
            chart = su.page.locator("section.tracker svg").first
            await chart.wait_for()
            box = await chart.bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 50
            await su.page.screenshot(path=str(shots / "section-phone.png"), full_page=True)

            await log_in(worker.page, base, "wendy")
            await worker.visit(f"{base}/caseload")
            code, sid = await start_session(worker.page, base)
            await join_session(su.page, worker.page, base, code, sid)
            for w in (su, worker):
                assert await w.violations() == [], await w.violations()
            await worker.page.screenshot(path=str(shots / "lobby-desktop.png"), full_page=True)

            live_section = f"{base}/sessions/{sid}/topics/{CHART_SECTION}"
            await su.page.goto(live_section)
            await worker.page.wait_for_url(live_section)
            for w in (su, worker):
                await w.page.wait_for_selector("#live-conn[data-state=live]")
            # The session id reaches the API from the live bar, not from an inline script.
            await su.page.fill("#answer-1", "A small step today.")
            async with su.page.expect_request("**/api/events") as sent:
                await su.page.click("#q-1 button[type=submit]")
            assert (await sent.value).post_data_json["session_id"] == sid
            await su.page.wait_for_selector("#status-1:has-text('Saved')")
            # A chart shown into the joint session (HTML fetched and inserted by live.js).
            await su.page.select_option("#live-chart-tracker", index=0)
            await su.page.click("#live-chart-form button[type=submit]")
            await worker.page.wait_for_selector("#live-charts svg")
            await worker.page.screenshot(path=str(shots / "live-section-desktop.png"), full_page=True)
            await su.page.screenshot(path=str(shots / "live-section-phone.png"), full_page=True)
            for w in (su, worker):
                assert await w.violations() == [], await w.violations()
                await styled(w.page)
            print(f"screenshots in {shots}")
        finally:
            await browser.close()
