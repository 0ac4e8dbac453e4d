"""The research dashboard and a participant timeline in a real browser, under a strict CSP.

A real `tandem serve --demo` (the demo study: 30 generated participants) is driven by
Chromium as Rita, on a desktop and a phone viewport. The charts must draw (vega-embed with
the expression interpreter: no eval), nothing may break the policy, and screenshots go to
var/screenshots/research/.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.web.test_browser import ARGS, ROOT, SHOTS

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
STARTUP_S = 300  # seeding the demo study on a loaded shared machine can take a while


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("research-server")
    env = {
        **os.environ,
        "TANDEM_VAR_DIR": str(tmp),
        "TANDEM_SECRET_KEY": "browser-secret",
        "TANDEM_MASTER_KEY": "22" * 32,
        "PYTHONPATH": str(ROOT),
    }
    env.pop("TANDEM_DATABASE_URL", None)
    port = free_port()
    log = open(tmp / "server.log", "w")  # noqa: SIM115 (open for the server's whole life)
    proc = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--demo", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + STARTUP_S
        while True:
            try:
                if httpx.get(base + "/health", timeout=2).json()["projections_lag"] == 0:
                    break
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise AssertionError("server did not start:\n" + (tmp / "server.log").read_text())
            time.sleep(0.5)
        yield base, tmp
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_rita_reads_the_dashboard_and_a_timeline(server: tuple[str, Path], chromium_path: str, device: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)

    base, _ = server
    shots = SHOTS / "research"
    shots.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=ARGS)
        page = browser.new_page(viewport=VIEWPORTS[device])
        page.set_default_timeout(30_000)

        def strict(route):  # type: ignore[no-untyped-def]
            resp = route.fetch(max_redirects=0)
            headers = {**resp.headers, "content-security-policy": CSP}
            route.fulfill(response=resp, headers=headers)

        page.route(f"{base}/**", strict)
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

        page.goto(base + "/login")
        page.get_by_label("Username").fill("rita")
        page.get_by_label("Password").fill("rita-demo-pass")
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Your studies")
        page.get_by_role("link", name="Tandem pilot").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Tandem pilot")
        for chart in ("retention", "weekly", "topics", "videos"):
            expect(page.locator(f"#chart-{chart} svg").first).to_be_visible()
            # The data behind the drawing is there as a table too.
        expect(page.locator("table caption", has_text="Uptake")).to_be_visible()
        page.get_by_text("Retention as a table").click()
        expect(page.locator("table caption", has_text="Share still active at day N")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= VIEWPORTS[device]["width"] + 1, f"the page scrolls sideways ({width}px)"
        page.screenshot(path=str(shots / f"dashboard-{device}.png"), full_page=True)
        page.locator("#h-ret").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / f"dashboard-{device}-retention.png"))

        # Keyboard: Tab reaches a participant link; Enter opens the timeline.
        first = page.locator("ul.people a").first
        name = first.inner_text()
        first.focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", level=1)).to_contain_text(name)
        expect(page.locator("#chart-lanes svg").first).to_be_visible()
        session = page.locator("ol.sessions details").first
        session.locator("summary").click()
        expect(session.locator("table")).to_be_visible()
        page.screenshot(path=str(shots / f"timeline-{device}.png"), full_page=True)
        browser.close()
    bad = [m for m in problems if "Content Security Policy" in m or "Refused" in m or "Error" in m]
    assert not bad, bad
