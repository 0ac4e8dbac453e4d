"""Counts and invariants of the content we ship (fails until every section is written)."""

from __future__ import annotations

import re

import pytest
import yaml

from content.loader import DATA_ROOT, TOPIC_SECTIONS, count_words, load
from content.model import ContentSet

VIDEO_TABLE = {  # docs/content-format.md
    "v-recovery-amara": ("amara", "recovery"),
    "v-stress-tom": ("tom", "managing-stress"),
    "v-health-priya": ("priya", "health"),
    "v-health-daniel": ("daniel", "health"),
    "v-me-joe": ("joe", "me"),
    "v-me-grace": ("grace", "me"),
    "v-relationships-sam": ("sam", "relationships"),
    "v-relationships-mei": ("mei", "relationships"),
    "v-empowerment-kwame": ("kwame", "empowerment"),
    "v-empowerment-rosa": ("rosa", "empowerment"),
    "v-life-hannah": ("hannah", "life"),
    "v-life-amara": ("amara", "life"),
}


@pytest.fixture(scope="module")
def shipped() -> ContentSet:
    return load()


def test_topic_and_section_counts(shipped: ContentSet) -> None:
    assert [t.id for t in shipped.topics] == list(TOPIC_SECTIONS)
    assert {t.id: len(t.sections) for t in shipped.topics} == TOPIC_SECTIONS
    assert sum(1 for _ in shipped.sections()) == 55


def test_peers(shipped: ContentSet) -> None:
    ids = [p.id for p in shipped.peers]
    assert ids == ["amara", "tom", "priya", "daniel", "joe", "grace", "sam", "mei", "kwame", "rosa", "hannah"]
    for p in shipped.peers:
        assert "composite" in p.note and 2 <= len(re.findall(r"[.!?](\s|$)", p.bio)) <= 3


def test_videos_match_the_table(shipped: ContentSet) -> None:
    assert {v.id: (v.peer_id, v.topic_id) for v in shipped.videos} == VIDEO_TABLE
    for t in shipped.topics:
        assert shipped.videos_for_topic(t.id), f"topic {t.id} has no video"
    for v in shipped.videos:
        assert 60 <= len(v.transcript.split()) <= 110, v.id
        assert 20 <= v.duration_s <= 50, v.id
        assert v.file == f"{v.id}.webm" and v.url is None and v.captions == f"{v.id}.vtt"


def test_questions_trackers_worksheets(shipped: ContentSet) -> None:
    questions = list(shipped.questions())
    assert len(questions) >= 20
    assert all(q.id.count("/") == 2 and shipped.question(q.id) is q for q in questions)
    assert [t.id for t in shipped.trackers] == ["stress", "sleep", "mood", "diet", "exercise"]
    assert [w.id for w in shipped.worksheets] == ["strengths", "stressors", "coping", "warning-signs", "values-goals"]
    assert [m.id for m in shipped.tracker("sleep").measures] == ["hours", "quality"]
    hours = shipped.tracker("sleep").measures[0]
    assert (hours.min, hours.max, hours.step) == (0, 14, 0.5)
    assert all(len(w.examples) == 3 for w in shipped.worksheets)


def test_every_summary_has_150_to_400_words(shipped: ContentSet) -> None:
    bad = {s.id: count_words(s.summary_md) for s in shipped.sections() if not 150 <= count_words(s.summary_md) <= 400}
    assert not bad


def test_sections_refer_to_existing_things(shipped: ContentSet) -> None:
    for s in shipped.sections():
        if s.video_id:
            shipped.video(s.video_id)
        for t in s.trackers:
            shipped.tracker(t)
        for w in s.worksheets:
            shipped.worksheet(w)


def test_crisis_notice_default(shipped: ContentSet) -> None:
    body = shipped.crisis_notice.body_md
    assert "999" in body and "116 123" in body and "85258" in body
    # It promises nothing no screen does: no worker page edits this notice.
    assert "can add the numbers" not in body


def test_version_is_stable_short_hash(shipped: ContentSet) -> None:
    assert re.fullmatch(r"[0-9a-f]{16}", shipped.version)
    assert load().version == shipped.version


def test_media_sizes_and_captions() -> None:
    videos = yaml.safe_load((DATA_ROOT / "videos.yaml").read_text(encoding="utf-8"))["videos"]
    for v in videos:
        assert (DATA_ROOT / "media" / v["file"]).stat().st_size < 300_000
        vtt = (DATA_ROOT / "media" / v["captions"]).read_text(encoding="utf-8")
        assert vtt.startswith("WEBVTT\n")
        ends = re.findall(r"--> (\d\d):(\d\d):(\d\d\.\d\d\d)", vtt)
        h, m, s = ends[-1]
        assert abs(int(h) * 3600 + int(m) * 60 + float(s) - v["duration"]) < 1.0, v["id"]
