"""The demo SU's own-time use in a real browser against a real uvicorn server.

Logs in as sam, opens a topic, plays a video past 10 %, saves an answer, records a
mood point, adds a strength, reloads and sees it all; then checks the stored events.
Screenshots of the section page go to var/screenshots/ (not committed).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, make_settings

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "var" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
ANSWER = "Hope, and that it is not a straight line."
STRENGTH = "I am a good listener."


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    # Sam starts with no history here: this test checks what a first visit records.
    with demo_server(tmp_path, TANDEM_DEMO_HISTORY="0") as running:
        yield running


@contextlib.contextmanager
def demo_server(tmp_path: Path, **extra_env: str) -> Iterator[tuple[str, Path]]:
    """`tandem serve --demo` on a free port, with its store in tmp_path."""
    env = {
        **os.environ,
        "TANDEM_VAR_DIR": str(tmp_path),
        "TANDEM_SECRET_KEY": "browser-secret",
        "TANDEM_MASTER_KEY": "22" * 32,
        "PYTHONPATH": str(ROOT),
        **extra_env,
    }
    env.pop("TANDEM_DATABASE_URL", None)
    port = free_port()
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 (open for the server's whole life)
    proc = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--demo", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise AssertionError("server did not start:\n" + (tmp_path / "server.log").read_text())
            time.sleep(0.2)
        yield base, tmp_path
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.mark.browser
@pytest.mark.slow
def test_sam_uses_tandem_alone(server: tuple[str, Path], chromium_path: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, var_dir = server
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(15_000)

        # Log in.
        page.goto(base + "/")
        expect(page).to_have_url(base + "/login")
        # Keyboard only: the username field has focus; type, Tab, type, Enter.
        expect(page.get_by_label("Username")).to_be_focused()
        page.keyboard.type("sam")
        page.keyboard.press("Tab")
        page.keyboard.type("sam-demo-pass")
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Hello, Sam")
        _fits(page, 360)
        expect(page.locator(".cards > li")).to_have_count(7)

        # Open a topic, then its first section.
        page.get_by_role("link", name="Recovery").first.click()
        expect(page.locator("#topic")).to_have_attribute("data-topic-id", "recovery")
        # The section counts as viewed once its summary has been on screen for two seconds.
        with page.expect_request(lambda r: r.method == "POST" and "SectionViewed" in (r.post_data or "")):
            page.get_by_role("link", name="What recovery means").click()
            expect(page.locator("#section")).to_have_attribute("data-section-id", "recovery/what-recovery-means")

        # Play the video past 10 % (muted, faster, so the test is quick).
        video = page.locator("video[data-video-id]")
        page.evaluate(
            "() => { const v = document.querySelector('video'); v.muted = true; v.playbackRate = 4; return v.play(); }"
        )
        page.wait_for_function(
            "() => { const v = document.querySelector('video'); return v.duration && v.currentTime / v.duration > 0.14; }",
            timeout=60_000,
        )
        page.evaluate("() => document.querySelector('video').pause()")
        expect(video).to_have_attribute("data-video-id", "v-recovery-amara")

        # Transcript toggle is a real button.
        page.get_by_role("button", name="Show transcript").click()
        expect(page.locator("#transcript-v-recovery-amara")).to_be_visible()

        # Save an answer: "Saved" only after the server confirms.
        first = page.locator("form.answer").first
        first.locator("textarea").fill(ANSWER)
        expect(first.locator(".status")).to_contain_text("Draft kept on this device")
        first.get_by_role("button", name="Save answer").click()
        expect(first.locator(".status")).to_contain_text("Saved at")

        _fits(page, 360)
        page.set_viewport_size({"width": 1280, "height": 800})
        page.screenshot(path=str(SHOTS / "section-1280x800.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(SHOTS / "section-390x844.png"), full_page=True)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(SHOTS / "section-390x844-top.png"))
        page.set_viewport_size({"width": 1280, "height": 800})

        # Record a mood point.
        page.goto(base + "/topics/recovery/small-steps-and-setbacks")
        tracker = page.locator('section.tracker[data-tracker-id="mood"]')
        tracker.locator("label.pill", has_text="7").first.click()
        tracker.get_by_role("button", name="Save today's mood").click()
        expect(page.locator('section.tracker[data-tracker-id="mood"] .tracker-entry .status')).to_contain_text(
            "Saved at"
        )
        page.locator('section.tracker[data-tracker-id="mood"]').screenshot(path=str(SHOTS / "tracker-1280x800.png"))

        # Add a strength.
        page.goto(base + "/topics/recovery/hope")
        ws = page.locator('section.worksheet[data-worksheet-id="strengths"]')
        ws.get_by_label("Add to “My strengths”").fill(STRENGTH)
        ws.get_by_role("button", name="Add").click()
        expect(page.locator('section.worksheet[data-worksheet-id="strengths"] .items')).to_contain_text(STRENGTH)

        # Reload everything and see it all.
        page.goto(base + "/topics/recovery/what-recovery-means")
        expect(page.locator("form.answer").first.locator("textarea")).to_have_value(ANSWER)
        expect(page.locator("form.answer").first.locator(".status")).to_contain_text("Saved")
        page.goto(base + "/topics/recovery/small-steps-and-setbacks")
        day = date.today().strftime("%a")
        expect(page.locator('section.tracker[data-tracker-id="mood"] svg.chart desc').first).to_contain_text(f"{day} 7")
        expect(page.locator('section.tracker[data-tracker-id="mood"] svg.chart circle')).to_have_count(1)
        page.goto(base + "/topics/recovery/hope")
        expect(page.locator('section.worksheet[data-worksheet-id="strengths"] .items')).to_contain_text(STRENGTH)
        page.goto(base + "/")
        seen = page.locator("#prog-recovery").inner_text()
        progress = page.evaluate("() => fetch('/api/progress').then(r => r.json())")
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(SHOTS / "home-390x844.png"), full_page=True)

        # Wendy, Sam's worker, sees him on her caseload with a button to start a joint session.
        worker = browser.new_page(viewport={"width": 1280, "height": 800})
        worker.goto(base + "/login")
        worker.get_by_label("Username").fill("wendy")
        worker.get_by_label("Password").fill("wendy-demo-pass")
        worker.get_by_role("button", name="Log in").click()
        expect(worker.get_by_role("heading", level=1)).to_have_text("My caseload")
        expect(worker.locator('form[action="/sessions"] button')).to_contain_text("Start joint session")
        worker.screenshot(path=str(SHOTS / "caseload-1280x800.png"), full_page=True)

        # Wendy changes her password; Sam's browser is untouched, hers stays logged in.
        worker.goto(base + "/account")
        worker.get_by_label("Current password").fill("wendy-demo-pass")
        worker.get_by_label("New password (at least 8 characters)").fill("wendys-own-pass")
        worker.get_by_label("New password again").fill("wendys-own-pass")
        worker.get_by_role("button", name="Change password").click()
        expect(worker.get_by_role("status")).to_contain_text("Your password is changed")
        worker.goto(base + "/caseload")
        expect(worker.get_by_role("heading", level=1)).to_have_text("My caseload")
        browser.close()

    _check_store(var_dir)
    assert not seen.startswith("0 of"), seen  # the section view counts on the home page
    amara = [v for v in progress["videos"] if v["video_id"] == "v-recovery-amara"]
    assert amara and amara[0]["percent"] >= 10, progress


def _fits(page, width: int) -> None:  # type: ignore[no-untyped-def]
    """At `width` px nothing forces sideways scrolling."""
    size = page.viewport_size
    page.set_viewport_size({"width": width, "height": 800})
    overflow = page.evaluate("() => document.documentElement.scrollWidth")
    page.set_viewport_size(size)
    assert overflow <= width, f"page is {overflow}px wide at {width}px"


def _check_store(var_dir: Path) -> None:
    from core import aggregates as A
    from core.aggregates import account_id
    from core.service import Tandem

    t = Tandem(make_settings(var_dir) if False else _settings(var_dir))
    try:
        events = [e for _, e in t.read(0, 10_000)]
        sam = account_id("sam")
        mine = [e for e in events if isinstance(e, A.Action) and e.actor_id == sam]

        def one(cls: type, **fields: object) -> object:
            found = [e for e in mine if isinstance(e, cls) and all(getattr(e, k) == v for k, v in fields.items())]
            assert found, f"no {cls.__qualname__} with {fields}"
            return found[-1]

        for e in mine:
            assert e.actor_role == "service_user" and e.device.startswith("web:")
            assert e.session_id is None and e.content_version and len(e.client_event_id) >= 8
            assert e.client_time is not None
        one(A.Journey.TopicOpened, topic_id="recovery")
        viewed = one(A.Journey.SectionViewed, section_id="recovery/what-recovery-means")
        assert viewed.seconds_on_screen >= 2  # type: ignore[attr-defined]
        one(A.Journey.VideoPlayed, video_id="v-recovery-amara")
        one(A.Journey.VideoProgressed, video_id="v-recovery-amara", percent=10)
        answer = one(A.Journey.AnswerSaved, question_id="recovery/what-recovery-means/q1")
        assert t.reveal(sam, answer.answer) == ANSWER  # type: ignore[attr-defined]
        assert ANSWER not in str(answer.answer)  # stored sealed  # type: ignore[attr-defined]
        point = one(A.Journey.ChartPointRecorded, tracker_id="mood", for_date=date.today().isoformat())
        assert t.reveal_values(sam, point.values) == {"level": 7.0}  # type: ignore[attr-defined]
        item = one(A.Journey.WorksheetItemAdded, worksheet_id="strengths")
        assert t.reveal(sam, item.text) == STRENGTH  # type: ignore[attr-defined]
    finally:
        t.close()


def _settings(var_dir: Path):  # the server's own settings (same keys)
    from core import settings as settings_mod

    return settings_mod.load(
        tandem_var_dir=str(var_dir), tandem_secret_key="browser-secret", tandem_master_key="22" * 32
    )
