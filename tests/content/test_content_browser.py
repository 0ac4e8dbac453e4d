"""Every shipped video plays in a real browser with the declared duration and loadable captions."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from content.loader import DATA_ROOT, load

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

LOAD_VIDEO = """async ([src, captions]) => {
  const v = document.createElement('video');
  v.preload = 'auto';
  v.muted = true;
  const track = document.createElement('track');
  track.kind = 'captions'; track.srclang = 'en'; track.default = true; track.src = captions;
  v.appendChild(track);
  document.body.appendChild(v);
  const ready = (target, ok, what) => new Promise((resolve, reject) => {
    target.addEventListener(ok, resolve, {once: true});
    target.addEventListener('error', () => reject(new Error(what + ' failed to load')), {once: true});
    setTimeout(() => reject(new Error(what + ' timed out')), 20000);
  });
  const playable = ready(v, 'canplay', src);
  const cues = ready(track, 'load', captions);
  v.src = src;
  await Promise.all([playable, cues]);
  const result = {duration: v.duration, cues: track.track.cues.length};
  v.remove();
  return result;
}"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def media_server() -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(DATA_ROOT / "media"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.browser
def test_videos_play_with_declared_duration(media_server: str, chromium_path: str) -> None:
    from playwright.sync_api import sync_playwright

    videos = [v for v in load().videos if v.file]
    assert videos
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=ARGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(media_server + "/")  # same origin as the media, so the captions track may load
            for v in videos:
                got = page.evaluate(LOAD_VIDEO, [f"{media_server}/{v.file}", f"{media_server}/{v.captions}"])
                assert abs(got["duration"] - v.duration_s) <= 1.0, (v.id, got, v.duration_s)
                assert got["cues"] > 3, (v.id, got)
        finally:
            browser.close()
