"""Load and validate content/data into a ContentSet.

Validation is hand-written and collects every problem before raising, so a writer
sees all mistakes at once: `ContentError.errors` is a tuple of ContentProblem whose
str() reads "content/data/topics/01-recovery/02-x.yaml: field 'summary': has 90 words, needs 150-400".
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from content.model import (
    ContentSet,
    CrisisNotice,
    Measure,
    Peer,
    Question,
    Section,
    Topic,
    Tracker,
    Video,
    Worksheet,
)
from core.settings import content_env

DATA_ROOT = Path(__file__).resolve().parent / "data"

# topic id -> number of sections it must have (docs/content-format.md)
TOPIC_SECTIONS: dict[str, int] = {
    "recovery": 5,
    "managing-stress": 6,
    "health": 9,
    "me": 11,
    "relationships": 7,
    "empowerment": 8,
    "life": 9,
}
TRACKER_IDS = ("stress", "sleep", "mood", "diet", "exercise")
WORKSHEET_IDS = ("strengths", "stressors", "coping", "warning-signs", "values-goals")
SUMMARY_WORDS = (150, 400)

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
TOPIC_DIR = re.compile(r"^(\d\d)-(.+)$")
SECTION_FILE = re.compile(r"^(\d\d)-(.+)\.yaml$")
WORD = re.compile(r"\w[\w'’-]*")
RAW_HTML = re.compile(r"<(?:[A-Za-z][A-Za-z0-9-]*|/[A-Za-z]|!--)")


@dataclass(frozen=True)
class ContentProblem:
    file: str
    field: str | None
    message: str

    def __str__(self) -> str:
        if self.field:
            return f"{self.file}: field '{self.field}': {self.message}"
        return f"{self.file}: {self.message}"


class ContentError(ValueError):
    def __init__(self, errors: list[ContentProblem]) -> None:
        self.errors = tuple(errors)
        super().__init__(f"{len(self.errors)} content problem(s):\n" + "\n".join(map(str, self.errors)))


# --- YAML reading: safe loader that rejects duplicate keys (PyYAML silently keeps the last) ---


class _StrictLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


# --- field specs: key -> (checker, required) ---

Check = Callable[[Any], str | None]  # returns an error message, or None when fine


def _text(v: Any) -> str | None:
    return None if isinstance(v, str) and v.strip() else "must be a non-empty string"


def _line(v: Any) -> str | None:
    if (err := _text(v)) is not None:
        return err
    return "must be a single line" if "\n" in v.strip() else None


def _slug(v: Any) -> str | None:
    if not isinstance(v, str) or not SLUG.match(v):
        return "must be a lowercase slug like 'where-to-start'"
    return None


def _int(v: Any) -> str | None:
    return None if isinstance(v, int) and not isinstance(v, bool) else "must be an integer"


def _num(v: Any) -> str | None:
    return None if isinstance(v, (int, float)) and not isinstance(v, bool) else "must be a number"


def _list(v: Any) -> str | None:
    return None if isinstance(v, list) else "must be a list"


def _dict(v: Any) -> str | None:
    return None if isinstance(v, dict) else "must be a mapping"


def _rel_path(v: Any) -> str | None:
    if (err := _line(v)) is not None:
        return err
    p = Path(v)
    return "must be a relative path inside content/data/media" if p.is_absolute() or ".." in p.parts else None


def _url(v: Any) -> str | None:
    ok = isinstance(v, str) and re.match(r"^https?://\S+$", v)
    return None if ok else "must be an http(s) URL"


Spec = dict[str, tuple[Check, bool]]

PEER: Spec = {"id": (_slug, True), "name": (_line, True), "bio": (_text, True), "note": (_text, True)}
VIDEO: Spec = {
    "id": (_slug, True),
    "peer": (_slug, True),
    "topic": (_slug, True),
    "title": (_line, True),
    "duration": (_num, True),
    "file": (_rel_path, False),
    "url": (_url, False),
    "captions": (_rel_path, True),
    "transcript": (_text, True),
}
MEASURE: Spec = {
    "id": (_slug, True),
    "label": (_line, True),
    "unit": (_line, True),
    "min": (_num, True),
    "max": (_num, True),
    "step": (_num, True),
    "labels": (_dict, False),
}
TRACKER: Spec = {"id": (_slug, True), "title": (_line, True), "description": (_text, True), "measures": (_list, True)}
WORKSHEET: Spec = {
    "id": (_slug, True),
    "title": (_line, True),
    "prompt": (_text, True),
    "examples": (_list, True),
}
TOPIC: Spec = {"id": (_slug, True), "title": (_line, True), "order": (_int, True), "intro": (_text, True)}
SECTION: Spec = {
    "id": (_slug, True),
    "title": (_line, True),
    "order": (_int, True),
    "summary": (_text, True),
    "video": (_slug, False),
    "questions": (_list, False),
    "trackers": (_list, False),
    "worksheets": (_list, False),
}
QUESTION: Spec = {"id": (_slug, True), "text": (_text, True)}
CRISIS: Spec = {"title": (_line, True), "body": (_text, True)}


def _display(path: Path) -> str:
    """Paths in messages: relative to the working directory or the repository when possible."""
    for base in (Path.cwd(), DATA_ROOT.parents[1]):
        try:
            return str(path.resolve().relative_to(base.resolve()))
        except ValueError:
            pass
    return str(path)


def count_words(markdown: str) -> int:
    return len(WORD.findall(markdown))


class _Loader:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.media = root / "media"
        self.problems: list[ContentProblem] = []
        self.canonical: dict[str, Any] = {}  # relative path -> parsed data, hashed into the version
        # every id seen per list file, valid or not, so a broken entry causes no follow-on errors
        self.declared: dict[str, set[str]] = {}

    def problem(self, path: Path, field: str | None, message: str) -> None:
        self.problems.append(ContentProblem(_display(path), field, message))

    def read(self, path: Path, canonical_name: str | None = None) -> Any:
        if not path.is_file():
            self.problem(path, None, "file is missing")
            return None
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            self.problem(path, None, f"is not valid YAML: {' '.join(str(e).split())}")
            return None
        self.canonical[canonical_name or path.relative_to(self.root).as_posix()] = data
        return data

    def read_fields(self, path: Path, spec: Spec, canonical_name: str | None = None) -> dict[str, Any] | None:
        data = self.read(path, canonical_name)
        return None if data is None else self.fields(data, spec, path)

    def fields(self, data: Any, spec: Spec, path: Path, where: str = "") -> dict[str, Any] | None:
        """Check a mapping against a spec. Returns the mapping when every known field is present and
        well typed (unknown keys are reported but do not stop further checks), else None."""
        if not isinstance(data, dict):
            self.problem(path, where or None, "must be a mapping")
            return None
        ok = True
        for key in data:
            if key not in spec:
                self.problem(path, f"{where}{key}", f"unknown key (allowed: {', '.join(spec)})")
        for key, (check, required) in spec.items():
            if key not in data or data[key] is None:
                if required:
                    self.problem(path, f"{where}{key}", "is required")
                    ok = False
            elif (err := check(data[key])) is not None:
                self.problem(path, f"{where}{key}", err)
                ok = False
        return data if ok else None

    def items(self, path: Path, top_key: str, spec: Spec) -> list[tuple[str, dict[str, Any]]]:
        """Read a file shaped `{top_key: [mapping, ...]}`; returns (field prefix, valid item) pairs."""
        data = self.read(path)
        if data is None:
            return []
        doc = self.fields(data, {top_key: (_list, True)}, path)
        if doc is None:
            return []
        out: list[tuple[str, dict[str, Any]]] = []
        seen: set[str] = set()
        for i, raw in enumerate(doc[top_key]):
            where = f"{top_key}[{i}]."
            if isinstance(raw, dict) and isinstance(raw.get("id"), str):
                self.declared.setdefault(top_key, set()).add(raw["id"])
            item = self.fields(raw, spec, path, where)
            if item is None:
                continue
            if item["id"] in seen:
                self.problem(path, f"{where}id", f"duplicate id {item['id']!r}")
                continue
            seen.add(item["id"])
            out.append((where, item))
        return out

    def media_file(self, name: str, path: Path, field: str) -> None:
        f = self.media / name
        if not f.is_file():
            self.problem(path, field, f"media file {_display(f)} does not exist")
            return
        self.canonical[f"media/{name}"] = hashlib.sha256(f.read_bytes()).hexdigest()

    # --- per file ---

    def peers(self) -> dict[str, Peer]:
        path = self.root / "peers.yaml"
        return {
            d["id"]: Peer(d["id"], d["name"].strip(), d["bio"].strip(), d["note"].strip())
            for _, d in self.items(path, "peers", PEER)
        }

    def trackers(self) -> dict[str, Tracker]:
        path = self.root / "trackers.yaml"
        out: dict[str, Tracker] = {}
        for where, d in self.items(path, "trackers", TRACKER):
            if d["id"] not in TRACKER_IDS:
                self.problem(
                    path, f"{where}id", f"unknown tracker type {d['id']!r} (allowed: {', '.join(TRACKER_IDS)})"
                )
                continue
            measures = [self.measure(m, path, f"{where}measures[{j}].") for j, m in enumerate(d["measures"])]
            valid = [m for m in measures if m is not None]
            if not measures:
                self.problem(path, f"{where}measures", "needs at least one measure")
            elif len({m.id for m in valid}) < len(valid):
                self.problem(path, f"{where}measures", "measure ids must be unique")
            elif len(valid) == len(measures):
                out[d["id"]] = Tracker(d["id"], d["title"], d["description"].strip(), tuple(valid))
        self.require_all(path, "trackers", TRACKER_IDS, out)
        return out

    def require_all(self, path: Path, key: str, ids: tuple[str, ...], found: dict[str, Any]) -> None:
        # Only when the file is otherwise clean: a broken entry would be reported twice.
        if not any(p.file == _display(path) for p in self.problems):
            for missing in (i for i in ids if i not in found):
                self.problem(path, key, f"{key[:-1]} {missing!r} is missing")

    def measure(self, raw: Any, path: Path, where: str) -> Measure | None:
        m = self.fields(raw, MEASURE, path, where)
        if m is None:
            return None
        lo, hi, step = m["min"], m["max"], m["step"]
        if not (lo < hi and 0 < step <= hi - lo):
            self.problem(path, f"{where}step", f"needs min < max and 0 < step <= max - min (got {lo}, {hi}, {step})")
            return None
        labels: dict[int, str] = {}
        for k, v in (m.get("labels") or {}).items():
            if _int(k) or not lo <= k <= hi or _line(v):
                self.problem(
                    path, f"{where}labels", f"label keys must be integers in {lo}..{hi} with one-line text (bad: {k!r})"
                )
                return None
            labels[k] = v
        return Measure(m["id"], m["label"], m["unit"], lo, hi, step, labels)

    def worksheets(self) -> dict[str, Worksheet]:
        path = self.root / "worksheets.yaml"
        out: dict[str, Worksheet] = {}
        for where, d in self.items(path, "worksheets", WORKSHEET):
            if d["id"] not in WORKSHEET_IDS:
                self.problem(
                    path, f"{where}id", f"unknown worksheet type {d['id']!r} (allowed: {', '.join(WORKSHEET_IDS)})"
                )
                continue
            if not d["examples"] or any(_line(e) for e in d["examples"]):
                self.problem(path, f"{where}examples", "must be a non-empty list of one-line strings")
                continue
            out[d["id"]] = Worksheet(d["id"], d["title"], d["prompt"].strip(), tuple(d["examples"]))
        self.require_all(path, "worksheets", WORKSHEET_IDS, out)
        return out

    def videos(self, peers: dict[str, Peer]) -> dict[str, Video]:
        path = self.root / "videos.yaml"
        out: dict[str, Video] = {}
        for where, d in self.items(path, "videos", VIDEO):
            ok = True
            if d["peer"] not in peers:
                self.problem(path, f"{where}peer", f"unknown peer {d['peer']!r}")
                ok = False
            if d["topic"] not in TOPIC_SECTIONS:
                self.problem(path, f"{where}topic", f"unknown topic {d['topic']!r}")
                ok = False
            if d["duration"] <= 0:
                self.problem(path, f"{where}duration", "must be positive")
                ok = False
            if (d.get("file") is None) == (d.get("url") is None):
                self.problem(path, f"{where}file", "give exactly one of 'file' and 'url'")
                ok = False
            elif d.get("file") is not None:
                before = len(self.problems)
                self.media_file(d["file"], path, f"{where}file")
                ok = ok and len(self.problems) == before
            before = len(self.problems)
            self.media_file(d["captions"], path, f"{where}captions")
            if ok and len(self.problems) == before:
                out[d["id"]] = Video(
                    d["id"],
                    d["peer"],
                    d["topic"],
                    d["title"],
                    float(d["duration"]),
                    d.get("file"),
                    d.get("url"),
                    d["captions"],
                    " ".join(d["transcript"].split()),
                )
        return out

    def crisis(self) -> CrisisNotice | None:
        path = content_env().crisis_notice_file or self.root / "crisis.yaml"
        d = self.read_fields(path, CRISIS, "crisis.yaml")
        return CrisisNotice(d["title"], d["body"].strip()) if d else None

    def topics(self, videos: dict[str, Video], trackers: set[str], worksheets: set[str]) -> list[Topic]:
        tdir = self.root / "topics"
        if not tdir.is_dir():
            self.problem(tdir, None, "directory is missing")
            return []
        found: dict[str, Topic] = {}
        for d in sorted(tdir.iterdir()):
            m = TOPIC_DIR.match(d.name)
            if not d.is_dir() or not m or m.group(2) not in TOPIC_SECTIONS:
                self.problem(
                    d, None, f"unexpected entry; topic folders are NN-<topic-id> with ids {', '.join(TOPIC_SECTIONS)}"
                )
                continue
            topic = self.topic(d, int(m.group(1)), m.group(2), videos, trackers, worksheets)
            if topic is not None:
                if topic.id in found:
                    self.problem(d, "id", f"duplicate topic id {topic.id!r}")
                found[topic.id] = topic
        for tid in TOPIC_SECTIONS:
            if tid not in found and not any(TOPIC_DIR.match(d.name) and d.name[3:] == tid for d in tdir.iterdir()):
                self.problem(tdir, None, f"topic folder for {tid!r} is missing")
        orders = sorted(t.order for t in found.values())
        if len(found) == len(TOPIC_SECTIONS) and orders != list(range(1, len(orders) + 1)):
            self.problem(tdir, None, f"topic orders must run 1..{len(orders)}, got {orders}")
        for t in found.values():
            if not any(v.topic_id == t.id for v in videos.values()):
                self.problem(self.root / "videos.yaml", "videos", f"topic {t.id!r} has no video")
        return sorted(found.values(), key=lambda t: t.order)

    def topic(
        self, d: Path, prefix: int, tid: str, videos: dict[str, Video], trackers: set[str], worksheets: set[str]
    ) -> Topic | None:
        path = d / "topic.yaml"
        meta = self.read_fields(path, TOPIC)
        ok = meta is not None
        if meta is not None:
            if meta["id"] != tid:
                self.problem(path, "id", f"is {meta['id']!r} but the folder name says {tid!r}")
                ok = False
            if meta["order"] != prefix:
                self.problem(path, "order", f"is {meta['order']} but the folder prefix is {prefix:02d}")
                ok = False
        sections: list[Section] = []
        files = sorted(p for p in d.iterdir() if p.name != "topic.yaml")
        slugs: set[str] = set()
        for f in files:
            m = SECTION_FILE.match(f.name)
            if not m or not f.is_file():
                self.problem(f, None, "unexpected file; section files are NN-<section-id>.yaml")
                ok = False
                continue
            s = self.section(f, int(m.group(1)), m.group(2), tid, videos, trackers, worksheets)
            if s is None:
                ok = False
            elif s.slug in slugs:
                self.problem(f, "id", f"duplicate section id {s.slug!r} in topic {tid!r}")
                ok = False
            else:
                slugs.add(s.slug)
                sections.append(s)
        n_files = sum(1 for f in files if SECTION_FILE.match(f.name))
        if n_files != TOPIC_SECTIONS[tid]:
            self.problem(d, "sections", f"has {n_files} section files, needs {TOPIC_SECTIONS[tid]}")
            ok = False
        orders = sorted(s.order for s in sections)
        if ok and orders != list(range(1, len(orders) + 1)):
            self.problem(d, "sections", f"section orders must run 1..{len(orders)}, got {orders}")
            ok = False
        if not ok or meta is None:
            return None
        return Topic(
            tid,
            meta["title"],
            meta["order"],
            " ".join(meta["intro"].split()),
            tuple(sorted(sections, key=lambda s: s.order)),
        )

    def section(
        self,
        path: Path,
        prefix: int,
        slug: str,
        tid: str,
        videos: dict[str, Video],
        trackers: set[str],
        worksheets: set[str],
    ) -> Section | None:
        d = self.read_fields(path, SECTION)
        if d is None:
            return None
        ok = True

        def bad(field: str, message: str) -> None:
            nonlocal ok
            self.problem(path, field, message)
            ok = False

        if d["id"] != slug:
            bad("id", f"is {d['id']!r} but the file name says {slug!r}")
        if d["order"] != prefix:
            bad("order", f"is {d['order']} but the file prefix is {prefix:02d}")
        words = count_words(d["summary"])
        if not SUMMARY_WORDS[0] <= words <= SUMMARY_WORDS[1]:
            bad("summary", f"has {words} words, needs {SUMMARY_WORDS[0]}-{SUMMARY_WORDS[1]}")
        if RAW_HTML.search(d["summary"]):
            bad("summary", "contains raw HTML; use Markdown only")
        if d.get("video") is not None and d["video"] not in self.declared.get("videos", ()):
            bad("video", f"unknown video {d['video']!r} (ids are listed in content/data/videos.yaml)")
        questions: list[Question] = []
        qids: set[str] = set()
        for i, raw in enumerate(d.get("questions") or []):
            q = self.fields(raw, QUESTION, path, f"questions[{i}].")
            if q is None:
                ok = False
            elif q["id"] in qids:
                bad(f"questions[{i}].id", f"duplicate question id {q['id']!r}")
            else:
                qids.add(q["id"])
                questions.append(Question(f"{tid}/{slug}/{q['id']}", " ".join(q["text"].split())))
        for key, known in (("trackers", trackers), ("worksheets", worksheets)):
            values = d.get(key) or []
            for i, v in enumerate(values):
                if v not in known:
                    allowed = TRACKER_IDS if key == "trackers" else WORKSHEET_IDS
                    bad(f"{key}[{i}]", f"unknown {key[:-1]} type {v!r} (allowed: {', '.join(allowed)})")
            if len(set(map(str, values))) != len(values):
                bad(key, "lists an id twice")
        if not ok:
            return None
        return Section(
            f"{tid}/{slug}",
            slug,
            tid,
            d["title"],
            d["order"],
            d["summary"].strip() + "\n",
            d.get("video"),
            tuple(questions),
            tuple(d.get("trackers") or ()),
            tuple(d.get("worksheets") or ()),
        )


def load(root: Path | None = None) -> ContentSet:
    """Load and validate all content under root (default content/data); raises ContentError."""
    ld = _Loader(Path(root) if root is not None else DATA_ROOT)
    peers = ld.peers()
    trackers = ld.trackers()
    worksheets = ld.worksheets()
    videos = ld.videos(peers)
    crisis = ld.crisis()
    # Sections may name any tracker/worksheet type; if the shared file itself is broken we still
    # accept the known ids here so the section files are not flooded with follow-on errors.
    topics = ld.topics(videos, set(TRACKER_IDS), set(WORKSHEET_IDS))
    if ld.problems or crisis is None:
        raise ContentError(ld.problems)
    blob = json.dumps(ld.canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    version = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return ContentSet(
        version,
        tuple(topics),
        tuple(peers.values()),
        tuple(videos.values()),
        tuple(trackers[t] for t in TRACKER_IDS),
        tuple(worksheets[w] for w in WORKSHEET_IDS),
        crisis,
    )
