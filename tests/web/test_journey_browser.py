"""My journey in a real browser, as the demo SU, on a phone and on a desktop, against a real
`tandem serve --demo` server (which seeds Sam's four weeks of history).

Open the timeline, filter to videos, open a joint session's replay, scrub to the middle by
keyboard and see the section, passage and video position of that moment, play at 16x, open an
answer's history, download the export and find the events in it. Screenshots of each step go
to var/screenshots/journey/ (not committed)."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.test_browser import ARGS, ROOT, _fits, demo_server

SHOTS = ROOT / "var" / "screenshots" / "journey"
DEVICES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with demo_server(tmp_path) as running:  # with Sam's demo history
        yield running


def _no_inline_code(html: str) -> None:
    """What a strict Content-Security-Policy would block: inline scripts, styles, handlers."""
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert not re.search(r"\sstyle=", html), "style= attribute"
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_sam_looks_back_at_the_journey(server: tuple[str, Path], chromium_path: str, device: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, _var = server
    SHOTS.mkdir(parents=True, exist_ok=True)
    size = DEVICES[device]

    def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
        page.screenshot(path=str(SHOTS / f"{name}-{device}.png"), full_page=True)
        page.screenshot(path=str(SHOTS / f"{name}-{device}-screen.png"))  # what is seen without scrolling

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=ARGS)
        context = browser.new_context(viewport=size, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        page.goto(base + "/login")
        page.get_by_label("Username").fill("sam")
        page.get_by_label("Password").fill("sam-demo-pass")
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Hello, Sam")

        # The timeline, from the home page.
        page.get_by_role("link", name="Look back at my journey").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("My journey")
        expect(page.locator(".jgroup.joint").first).to_be_visible()
        expect(
            page.locator(".jsummary", has_text=re.compile(r"You and Wendy looked at .+ together for \d+ minutes")).first
        ).to_be_visible()
        _no_inline_code(page.content())
        _fits(page, size["width"])
        shot(page, "1-timeline")

        # Filter to videos (keyboard-reachable form controls, a real submit).
        page.locator(".jfilters summary").click()
        page.get_by_label("Videos").check()
        page.get_by_role("button", name="Show").click()
        expect(page).to_have_url(re.compile(r"kind=videos"))
        kinds = page.locator(".jline").evaluate_all("els => els.map(e => e.dataset.kind)")
        assert kinds and set(kinds) == {"videos"}, kinds
        expect(page.locator(".jline").first).to_contain_text("watched")
        shot(page, "2-videos")

        # A joint session's replay.
        page.goto(base + "/journey?kind=sessions&together=together")
        page.locator(".jgroup.joint").first.get_by_role("link", name=re.compile("Replay")).click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Replay")
        expect(page.locator("#replay")).to_have_attribute("data-ready", "1")
        _no_inline_code(page.content())
        steps = page.locator(".jsteps a")
        n = steps.count()
        assert n > 10
        mid = n // 2
        mid_position = steps.nth(mid).get_attribute("data-position")
        # Scrub to the middle by keyboard.
        scrub = page.locator("#scrub")
        scrub.focus()
        page.keyboard.press("Home")
        for _ in range(mid):
            page.keyboard.press("ArrowRight")
        expect(page.locator("#replay")).to_have_attribute("data-position", mid_position)
        api = page.locator("#replay").get_attribute("data-api")
        state = page.request.get(f"{base}{api}?position={mid_position}&events=0").json()["state"]
        assert state["section"], state
        expect(page.locator("#s-section")).to_have_text(state["section"]["title"])
        expect(page.locator("#s-topic")).to_have_text(state["topic"]["title"])
        expect(page.locator("#s-passage")).to_have_text(state["passage"])
        if state["video"]:
            expect(page.locator("#s-video")).to_contain_text(f"at {state['video']['clock']}")
        expect(page.locator(f'.jsteps a[data-position="{mid_position}"]')).to_have_attribute("aria-current", "step")
        _fits(page, size["width"])
        shot(page, "3-replay-middle")

        # Play at 16x: it moves on by itself, and pauses.
        page.get_by_role("button", name="16×").click()
        page.get_by_role("button", name="Play").click()
        page.wait_for_function(f"() => Number(document.getElementById('scrub').value) > {mid}", timeout=30_000)
        page.get_by_role("button", name="Pause").click()
        expect(page.get_by_role("button", name="Play")).to_have_attribute("aria-pressed", "false")

        # Then and now: an answer changed over the weeks.
        page.goto(base + "/journey?kind=answers")
        page.locator(".jline a", has_text="changed your answer").first.click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Then and now")
        versions = page.locator(".jversion")
        assert versions.count() >= 2
        expect(versions.last).to_contain_text("Current version")
        shot(page, "4-then-and-now")

        # Charts across the journey, three-month zoom.
        page.goto(base + "/journey/charts")
        page.get_by_role("link", name="Three months").click()
        expect(page.locator("svg.jchart").first).to_be_visible()
        _no_inline_code(page.content())
        _fits(page, size["width"])
        shot(page, "5-charts")

        # Take your data.
        page.goto(base + "/journey")
        with page.expect_download() as got:
            page.get_by_role("button", name="Download all my data (ZIP)").click()
        data = Path(got.value.path()).read_bytes()
        z = zipfile.ZipFile(io.BytesIO(data))
        events = json.loads(z.read("events.json"))
        types = {e["type"] for e in events}
        assert {"AnswerSaved", "VideoProgressed", "SessionStarted", "ChartPointRecorded"} <= types
        assert any(e["type"] == "AnswerSaved" and "sister" in e["answer"] for e in events)
        report = z.read("report.html").decode()
        opened = SHOTS / f"report-{device}.html"  # opened from disk, as a person would: offline, no server CSP
        opened.write_text(report, encoding="utf-8")
        page.goto(opened.as_uri())
        expect(page.get_by_role("heading", name="Your journey in Tandem")).to_be_visible()
        shot(page, "6-export-report")

        assert not errors, errors
        browser.close()
