"""The media tool's pure parts, and the shipped files against their declared durations."""

from __future__ import annotations

import itertools
import re
import shutil

import pytest

from content.loader import load
from content.media_tool import make_vtt, probe_duration, write_duration
from tests.conftest import unavailable


def test_vtt_cues_cover_the_narration() -> None:
    vtt = make_vtt("One two three. Four five six seven eight nine ten eleven, twelve.", 10.0)
    assert vtt.startswith("WEBVTT\n\n1\n00:00:00.000 --> ")
    times = re.findall(r"(\d\d:\d\d:\d\d\.\d\d\d) --> (\d\d:\d\d:\d\d\.\d\d\d)", vtt)
    assert times[-1][1] == "00:00:10.000"
    assert all(a[1] == b[0] for a, b in itertools.pairwise(times))  # contiguous
    texts = [line for line in vtt.splitlines()[2:] if line and "-->" not in line and not line.isdigit()]
    assert " ".join(texts) == "One two three. Four five six seven eight nine ten eleven, twelve."
    assert all(len(t.split()) <= 7 for t in texts)


def test_write_duration_keeps_layout() -> None:
    text = "# comment\nvideos:\n  - id: a\n    duration: 0  # set by make-media\n    title: A\n  - id: b\n    title: B\n    duration: 1\n"
    out = write_duration(write_duration(text, "b", 31.5), "a", 12.25)
    assert out == text.replace("duration: 0 ", "duration: 12.25 ").replace("duration: 1\n", "duration: 31.5\n")
    with pytest.raises(RuntimeError):
        write_duration(text, "missing", 1.0)


def test_declared_durations_match_the_files() -> None:
    if shutil.which("ffprobe") is None:
        unavailable("ffprobe is not installed (apt-get install ffmpeg)")
    cs = load()
    from content.loader import DATA_ROOT

    for v in cs.videos:
        assert v.file is not None
        assert abs(probe_duration(DATA_ROOT / "media" / v.file) - v.duration_s) < 0.1, v.id
