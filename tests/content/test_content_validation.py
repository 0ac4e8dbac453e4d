"""One test per kind of content error, on broken copies of the shipped data."""

from __future__ import annotations

from pathlib import Path

import pytest

from content.loader import ContentError, load
from content.testing import edit_yaml, find, first_section, problems


def rel(path: Path, root: Path) -> str:
    return path.relative_to(root.parent).as_posix()  # "data/topics/01-recovery/01-x.yaml"


def test_missing_field(data_copy: Path) -> None:
    f = first_section(data_copy)
    edit_yaml(f, lambda d: d.pop("title"))
    p = find(problems(data_copy), rel(f, data_copy), "title", "is required")
    assert str(p) == f"{p.file}: field 'title': is required" and p.file.endswith(f.name)


def test_unknown_tracker_type(data_copy: Path) -> None:
    f = first_section(data_copy)
    edit_yaml(f, lambda d: d.update(trackers=["mood", "yoga"]))
    p = find(problems(data_copy), rel(f, data_copy), "trackers[1]", "unknown tracker type 'yoga'")
    assert "field 'trackers[1]'" in str(p)


def test_unknown_worksheet_type(data_copy: Path) -> None:
    f = first_section(data_copy)
    edit_yaml(f, lambda d: d.update(worksheets=["diary"]))
    find(problems(data_copy), rel(f, data_copy), "worksheets[0]", "unknown worksheet type 'diary'")


def test_unknown_tracker_in_trackers_yaml(data_copy: Path) -> None:
    f = data_copy / "trackers.yaml"
    edit_yaml(f, lambda d: d["trackers"][0].update(id="anxiety"))
    find(problems(data_copy), "data/trackers.yaml", "trackers[0].id", "unknown tracker type 'anxiety'")


def test_duplicate_peer_id(data_copy: Path) -> None:
    edit_yaml(data_copy / "peers.yaml", lambda d: d["peers"].append(dict(d["peers"][0])))
    find(problems(data_copy), "data/peers.yaml", "peers[11].id", "duplicate id 'amara'")


def test_duplicate_question_id(data_copy: Path) -> None:
    f = first_section(data_copy)
    q = [{"id": "q1", "text": "One?"}, {"id": "q1", "text": "Two?"}]
    edit_yaml(f, lambda d: d.update(questions=q))
    find(problems(data_copy), rel(f, data_copy), "questions[1].id", "duplicate question id 'q1'")


def test_duplicate_section_id(data_copy: Path) -> None:
    a, b = sorted((data_copy / "topics" / "01-recovery").glob("[0-9][0-9]-*.yaml"))[:2]
    slug = a.stem[3:]
    edit_yaml(b, lambda d: d.update(id=slug))
    b.rename(b.with_name(f"02-{slug}.yaml"))
    find(problems(data_copy), f"01-recovery/02-{slug}.yaml", "id", f"duplicate section id '{slug}'")


def test_duplicate_yaml_key(data_copy: Path) -> None:
    f = first_section(data_copy)
    f.write_text(f.read_text(encoding="utf-8") + "title: Again\n", encoding="utf-8")
    find(problems(data_copy), rel(f, data_copy), None, "duplicate key 'title'")


def test_invalid_yaml(data_copy: Path) -> None:
    f = data_copy / "worksheets.yaml"
    f.write_text("worksheets: [\n", encoding="utf-8")
    find(problems(data_copy), "data/worksheets.yaml", None, "is not valid YAML")


def test_missing_video_file(data_copy: Path) -> None:
    (data_copy / "media" / "v-stress-tom.webm").unlink()
    p = find(problems(data_copy), "data/videos.yaml", "videos[1].file", "does not exist")
    assert "v-stress-tom.webm" in p.message


def test_missing_captions_file(data_copy: Path) -> None:
    (data_copy / "media" / "v-stress-tom.vtt").unlink()
    find(problems(data_copy), "data/videos.yaml", "videos[1].captions", "v-stress-tom.vtt does not exist")


def test_video_needs_exactly_one_of_file_and_url(data_copy: Path) -> None:
    edit_yaml(data_copy / "videos.yaml", lambda d: d["videos"][0].update(url="https://example.org/a.webm"))
    find(problems(data_copy), "data/videos.yaml", "videos[0].file", "exactly one of 'file' and 'url'")


def test_video_with_unknown_peer(data_copy: Path) -> None:
    edit_yaml(data_copy / "videos.yaml", lambda d: d["videos"][0].update(peer="nobody"))
    find(problems(data_copy), "data/videos.yaml", "videos[0].peer", "unknown peer 'nobody'")


def test_section_refers_to_unknown_video(data_copy: Path) -> None:
    f = first_section(data_copy)
    edit_yaml(f, lambda d: d.update(video="v-nobody"))
    p = find(problems(data_copy), rel(f, data_copy), "video", "unknown video 'v-nobody'")
    assert str(p).endswith("field 'video': unknown video 'v-nobody' (ids are listed in content/data/videos.yaml)")


def test_wrong_section_count(data_copy: Path) -> None:
    sections = sorted((data_copy / "topics" / "01-recovery").glob("[0-9][0-9]-*.yaml"))
    sections[-1].unlink()
    p = find(problems(data_copy), "data/topics/01-recovery", "sections", "has 4 section files, needs 5")
    assert "01-recovery: field 'sections'" in str(p)


def test_missing_topic_folder(data_copy: Path) -> None:
    import shutil

    shutil.rmtree(data_copy / "topics" / "07-life")
    find(problems(data_copy), "data/topics", None, "topic folder for 'life' is missing")


@pytest.mark.parametrize(
    "words, expected", [(90, "has 90 words, needs 150-400"), (401, "has 401 words, needs 150-400")]
)
def test_summary_word_count(data_copy: Path, words: int, expected: str) -> None:
    f = first_section(data_copy)
    edit_yaml(f, lambda d: d.update(summary=" ".join(["hope"] * words)))
    p = find(problems(data_copy), rel(f, data_copy), "summary", expected)
    assert str(p) == f"{p.file}: field 'summary': {expected}"


def test_raw_html_in_summary(data_copy: Path) -> None:
    f = first_section(data_copy)
    edit_yaml(f, lambda d: d.update(summary=d["summary"] + "\n<script>alert(1)</script>\n"))
    find(problems(data_copy), rel(f, data_copy), "summary", "raw HTML")


def test_unknown_key(data_copy: Path) -> None:
    f = first_section(data_copy)
    edit_yaml(f, lambda d: d.update(colour="blue"))
    find(problems(data_copy), rel(f, data_copy), "colour", "unknown key")


def test_wrong_type(data_copy: Path) -> None:
    f = first_section(data_copy)
    edit_yaml(f, lambda d: d.update(order="first"))
    find(problems(data_copy), rel(f, data_copy), "order", "must be an integer")


def test_order_must_match_file_prefix(data_copy: Path) -> None:
    f = first_section(data_copy)
    edit_yaml(f, lambda d: d.update(order=3))
    find(problems(data_copy), rel(f, data_copy), "order", "is 3 but the file prefix is 01")


def test_id_must_match_file_name(data_copy: Path) -> None:
    f = first_section(data_copy)
    edit_yaml(f, lambda d: d.update(id="something-else"))
    find(problems(data_copy), rel(f, data_copy), "id", "is 'something-else' but the file name says")


def test_topic_order_must_match_folder_prefix(data_copy: Path) -> None:
    f = data_copy / "topics" / "02-managing-stress" / "topic.yaml"
    edit_yaml(f, lambda d: d.update(order=5))
    find(problems(data_copy), "02-managing-stress/topic.yaml", "order", "is 5 but the folder prefix is 02")


def test_all_errors_are_collected(data_copy: Path) -> None:
    f = first_section(data_copy)
    edit_yaml(f, lambda d: d.update(colour="blue", summary="Too short."))
    (data_copy / "media" / "v-life-amara.vtt").unlink()
    found = problems(data_copy)
    find(found, rel(f, data_copy), "colour", "unknown key")
    find(found, rel(f, data_copy), "summary", "has 2 words")
    find(found, "data/videos.yaml", "videos[11].captions", "does not exist")
    with pytest.raises(ContentError) as info:
        load(data_copy)
    assert all(str(p) in str(info.value) for p in found)


def test_crisis_notice_override(data_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    override = tmp_path / "crisis.yaml"
    override.write_text("title: Urgent help\nbody: Call the Harbour crisis line on 0800 000 0000.\n", encoding="utf-8")
    default = load(data_copy)
    monkeypatch.setenv("TANDEM_CRISIS_NOTICE_FILE", str(override))
    cs = load(data_copy)
    assert cs.crisis_notice.title == "Urgent help" and "Harbour" in cs.crisis_notice.body_md
    assert cs.version != default.version  # the notice is content too
    override.write_text("title: Urgent help\n", encoding="utf-8")
    find(problems(data_copy), "crisis.yaml", "body", "is required")
