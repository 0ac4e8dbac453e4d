"""Lookups, version snapshots and how the version hash reacts to changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from content import versions
from content.loader import load
from content.model import ContentSet, UnknownContent
from content.testing import edit_yaml, first_section


@pytest.fixture(scope="module")
def cs() -> ContentSet:
    return load()


def test_lookups(cs: ContentSet) -> None:
    s = cs.section("recovery/" + cs.topics[0].sections[0].slug)
    assert s.topic_id == "recovery" and s.order == 1
    assert cs.topic_of(s.id) is cs.topic("recovery")
    prev, nxt = cs.neighbours(s.id)
    assert prev is None and nxt is cs.topics[0].sections[1]
    assert cs.peer("amara").name == "Amara"
    assert cs.video("v-life-amara").peer_id == "amara"


@pytest.mark.parametrize("kind", ["topic", "section", "video", "question", "tracker", "worksheet", "peer"])
def test_unknown_ids_raise_unknown_content(cs: ContentSet, kind: str) -> None:
    with pytest.raises(UnknownContent) as info:
        getattr(cs, kind)("no/such/thing")
    assert isinstance(info.value, KeyError)


def test_snapshot_round_trip(cs: ContentSet, tmp_path: Path) -> None:
    versions.clear_cache()
    path = versions.remember(cs, tmp_path)
    assert path == tmp_path / f"{cs.version}.json"
    versions.clear_cache()
    again = versions.get(cs.version, tmp_path)
    assert again == cs
    assert again.tracker("mood").measures[0].labels[1] == "Very low"  # int keys survive JSON
    assert cs.version in versions.available(tmp_path)


def test_snapshot_is_written_once(cs: ContentSet, tmp_path: Path) -> None:
    path = versions.remember(cs, tmp_path)
    path.write_text(json.dumps({**cs.to_dict(), "peers": []}), encoding="utf-8")
    versions.remember(cs, tmp_path)
    assert json.loads(path.read_text(encoding="utf-8"))["peers"] == []


def test_old_versions_stay_readable(data_copy: Path, tmp_path: Path) -> None:
    store = tmp_path / "versions"
    old = load(data_copy)
    versions.remember(old, store)
    f = first_section(data_copy)
    edit_yaml(f, lambda d: d.update(title="A brand new title"))
    new = load(data_copy)
    versions.remember(new, store)
    assert old.version != new.version
    versions.clear_cache()
    sid = f"recovery/{f.stem[3:]}"
    assert versions.get(old.version, store).section(sid).title == old.section(sid).title
    assert versions.get(new.version, store).section(sid).title == "A brand new title"


def test_get_unknown_version(tmp_path: Path) -> None:
    with pytest.raises(UnknownContent):
        versions.get("0123456789abcdef", tmp_path)
    with pytest.raises(UnknownContent):
        versions.get("../../etc/passwd", tmp_path)


def test_version_ignores_formatting_but_not_media(data_copy: Path) -> None:
    before = load(data_copy).version
    peers = data_copy / "peers.yaml"
    peers.write_text("# a new comment\n" + peers.read_text(encoding="utf-8"), encoding="utf-8")
    assert load(data_copy).version == before
    vtt = data_copy / "media" / "v-me-joe.vtt"
    vtt.write_text(vtt.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert load(data_copy).version != before
