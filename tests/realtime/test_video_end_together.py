"""Issue requirement: both players end within 0.5 s of each other after a 60 s watch.

Two real browser contexts (SU drives, worker follows) in one joint session, on the
"what-recovery-means" section with its peer video (~31 s, shipped content). The shipped
video is watched twice, back to back (~63 s of playback in all):

* Pass 1: the SU plays from 0; both players play to the end.
* Pass 2: after both have ended, the SU seeks back to 0 and plays again; 3 s in, the
  follower is knocked 1.5 s behind. It must converge, and the stall that seek can cause
  ("either side buffering pauses both") must not leave both players paused.

For each pass, each page records (window-capture listener installed before the page's
own scripts) when its player stopped at the end: the first `ended` or `pause` event with
currentTime within 0.5 s of the duration, stamped with performance.timeOrigin +
performance.now() (same wall clock for both pages: one machine). Whichever is first counts:
when the driver ends it broadcasts "not playing", which can pause a follower that is a
fraction of a second short of the end before its own `ended` fires -- that is still
"stopped at the end". Asserted per pass: both stop times within 0.5 s of each other and
both final positions within 0.5 s of each other.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.realtime.browser import ARGS, T, join_session, login, near, playing, start_session, video_state, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]
TOLERANCE = 0.5  # s

# Runs before the page's scripts, so this capture listener sees events video.js later
# stops (on the follower it stops its own player events at the window).
RECORDER = """
(() => {
  window.__stops = [];
  const now = () => performance.timeOrigin + performance.now();
  for (const type of ["ended", "pause"]) {
    window.addEventListener(type, (ev) => {
      const v = ev.target;
      if (!(v instanceof HTMLMediaElement)) return;
      window.__stops.push({type, at: now(), t: v.currentTime, d: v.duration});
    }, true);
  }
})();
"""


async def stop_at_end(page):
    """The first stop (ended/pause) within TOLERANCE of the end, or None."""
    stops = await page.evaluate("window.__stops")
    for s in stops:
        if s["d"] and s["t"] >= s["d"] - TOLERANCE:
            return s
    return None


async def watch_to_end(su, worker, duration: float):
    s_stop = await wait_until(lambda: stop_at_end(su), timeout=duration + 15, every=0.25)
    w_stop = await wait_until(lambda: stop_at_end(worker), timeout=5, every=0.1)
    return s_stop, w_stop


async def test_both_players_end_within_half_a_second_after_a_60s_watch(live, chromium_path):
    from playwright.async_api import async_playwright

    base = live.base
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path, args=ARGS)
        wctx = await browser.new_context(viewport={"width": 1024, "height": 900})
        sctx = await browser.new_context(
            viewport={"width": 390, "height": 800}, user_agent="Mozilla/5.0 (Linux; Android 14) Mobile"
        )
        for ctx in (wctx, sctx):
            await ctx.add_init_script(RECORDER)
        worker, su = await wctx.new_page(), await sctx.new_page()
        for p in (worker, su):
            p.set_default_timeout(T)
        try:
            await login(worker, base, "wendy")
            await login(su, base, "sam")

            # joint session: worker starts it, SU joins with the code
            code, sid = await start_session(worker, base)
            await join_session(su, worker, base, code, sid)

            # the SU (driver) opens the section with the peer video; the worker follows
            await su.goto(f"{base}/sessions/{sid}/topics/recovery/what-recovery-means")
            await worker.wait_for_url(f"**/sessions/{sid}/topics/recovery/what-recovery-means")
            for p in (su, worker):
                await p.wait_for_selector("#live-conn[data-state=live]")
                await p.wait_for_function("document.querySelector('video[data-video-id]').readyState >= 1")
            duration = (await video_state(su))["d"]
            assert 30 <= duration < 40, duration  # two passes = a watch of more than 60 s

            results = []
            # ---- pass 1: play from 0 to the end
            await su.eval_on_selector("video[data-video-id]", "v => v.play()")
            await wait_until(lambda: playing(worker))
            results.append(await watch_to_end(su, worker, duration))

            # ---- pass 2: both ended -> the SU seeks back to 0 and plays again
            assert (await video_state(su))["ended"]
            await su.eval_on_selector("video[data-video-id]", "v => { v.currentTime = 0; }")
            await wait_until(lambda: near(worker, 0, within=TOLERANCE))
            for p in (su, worker):
                await p.evaluate("window.__stops = []")
            await su.eval_on_selector("video[data-video-id]", "v => v.play()")
            await wait_until(lambda: playing(worker))
            # Knock the follower 1.5 s behind: it must converge (and a stall it causes
            # must not leave both players paused) and still end with the driver.
            await asyncio.sleep(3)
            await worker.eval_on_selector(
                "video[data-video-id]", "v => { v.currentTime = Math.max(0, v.currentTime - 1.5); }"
            )
            results.append(await watch_to_end(su, worker, duration))

            for n, (s_stop, w_stop) in enumerate(results, 1):
                gap = abs(s_stop["at"] - w_stop["at"]) / 1000
                pos_gap = abs(s_stop["t"] - w_stop["t"])
                print(
                    f"pass {n}: SU {s_stop['type']} at t={s_stop['t']:.3f}, worker {w_stop['type']} at t={w_stop['t']:.3f}, "
                    f"stop gap {gap:.3f} s, position gap {pos_gap:.3f} s"
                )
                assert gap < TOLERANCE, (n, s_stop, w_stop)
                assert pos_gap < TOLERANCE, (n, s_stop, w_stop)
        finally:
            await browser.close()
