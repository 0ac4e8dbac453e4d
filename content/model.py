"""Immutable content model. Everything here is plain data, so a ContentSet can be
snapshotted to JSON (content.versions) and rebuilt exactly."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, TypeVar

T = TypeVar("T")


class UnknownContent(KeyError):
    """Raised by ContentSet lookups for an id that does not exist."""


@dataclass(frozen=True)
class Peer:
    id: str
    name: str
    bio: str
    note: str  # says the peer is a composite character


@dataclass(frozen=True)
class Video:
    id: str
    peer_id: str
    topic_id: str
    title: str
    duration_s: float
    file: str | None  # relative to content/data/media; exactly one of file/url
    url: str | None  # external recording for deployments that have real ones
    captions: str  # WebVTT file name in content/data/media
    transcript: str


@dataclass(frozen=True)
class Question:
    id: str  # global: "topic/section/qid"
    text: str


@dataclass(frozen=True)
class Measure:
    id: str
    label: str
    unit: str
    min: float
    max: float
    step: float
    labels: dict[int, str] = field(default_factory=dict)  # value -> words, e.g. {1: "Very low"}


@dataclass(frozen=True)
class Tracker:
    id: str
    title: str
    description: str
    measures: tuple[Measure, ...]  # sleep has two (hours, quality); the others one


@dataclass(frozen=True)
class Worksheet:
    id: str
    title: str
    prompt: str
    examples: tuple[str, ...]


@dataclass(frozen=True)
class Section:
    id: str  # global: "topic/slug"
    slug: str
    topic_id: str
    title: str
    order: int
    summary_md: str
    video_id: str | None
    questions: tuple[Question, ...]
    trackers: tuple[str, ...]  # tracker ids; resolve with ContentSet.tracker()
    worksheets: tuple[str, ...]  # worksheet ids; resolve with ContentSet.worksheet()


@dataclass(frozen=True)
class Topic:
    id: str
    title: str
    order: int
    intro: str
    sections: tuple[Section, ...]


@dataclass(frozen=True)
class CrisisNotice:
    title: str
    body_md: str


@dataclass(frozen=True)
class ContentSet:
    version: str
    topics: tuple[Topic, ...]
    peers: tuple[Peer, ...]
    videos: tuple[Video, ...]
    trackers: tuple[Tracker, ...]
    worksheets: tuple[Worksheet, ...]
    crisis_notice: CrisisNotice

    # -- lookups (indexes are built on first use; cached_property bypasses frozen) --
    @cached_property
    def _topics(self) -> dict[str, Topic]:
        return {t.id: t for t in self.topics}

    @cached_property
    def _sections(self) -> dict[str, Section]:
        return {s.id: s for s in self.sections()}

    @cached_property
    def _questions(self) -> dict[str, Question]:
        return {q.id: q for q in self.questions()}

    @cached_property
    def _peers(self) -> dict[str, Peer]:
        return {p.id: p for p in self.peers}

    @cached_property
    def _videos(self) -> dict[str, Video]:
        return {v.id: v for v in self.videos}

    @cached_property
    def _trackers(self) -> dict[str, Tracker]:
        return {t.id: t for t in self.trackers}

    @cached_property
    def _worksheets(self) -> dict[str, Worksheet]:
        return {w.id: w for w in self.worksheets}

    def _get(self, table: dict[str, T], kind: str, id: str) -> T:
        try:
            return table[id]
        except KeyError:
            raise UnknownContent(f"unknown {kind} {id!r} in content version {self.version}") from None

    def knows(self, kind: str, id: str) -> bool:
        """Does this content set have an item of `kind` (topic, section, video, question, tracker, worksheet)?"""
        try:
            getattr(self, kind)(id)
        except KeyError:
            return False
        return True

    def scale(self, tracker_id: str) -> dict[str, tuple[float, float, float]]:
        """A tracker's measures: id -> (lowest, highest, step); empty for an unknown tracker."""
        tracker = self._trackers.get(tracker_id)
        return {m.id: (m.min, m.max, m.step) for m in tracker.measures} if tracker else {}

    def topic(self, id: str) -> Topic:
        return self._get(self._topics, "topic", id)

    def section(self, id: str) -> Section:
        """By global id "topic/section"."""
        return self._get(self._sections, "section", id)

    def question(self, id: str) -> Question:
        """By global id "topic/section/qid"."""
        return self._get(self._questions, "question", id)

    def peer(self, id: str) -> Peer:
        return self._get(self._peers, "peer", id)

    def video(self, id: str) -> Video:
        return self._get(self._videos, "video", id)

    def tracker(self, id: str) -> Tracker:
        return self._get(self._trackers, "tracker", id)

    def worksheet(self, id: str) -> Worksheet:
        return self._get(self._worksheets, "worksheet", id)

    # -- iteration helpers --
    def sections(self) -> Iterator[Section]:
        for t in self.topics:
            yield from t.sections

    def questions(self) -> Iterator[Question]:
        for s in self.sections():
            yield from s.questions

    def videos_for_topic(self, topic_id: str) -> tuple[Video, ...]:
        return tuple(v for v in self.videos if v.topic_id == topic_id)

    def topic_of(self, section_id: str) -> Topic:
        return self.topic(self.section(section_id).topic_id)

    def neighbours(self, section_id: str) -> tuple[Section | None, Section | None]:
        """(previous, next) section within the same topic."""
        s = self.section(section_id)
        secs = self.topic(s.topic_id).sections
        i = secs.index(s)
        return (secs[i - 1] if i > 0 else None, secs[i + 1] if i + 1 < len(secs) else None)

    # -- JSON round trip (used by content.versions) --
    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "topics": [asdict(t) for t in self.topics],
            "peers": [asdict(p) for p in self.peers],
            "videos": [asdict(v) for v in self.videos],
            "trackers": [asdict(t) for t in self.trackers],
            "worksheets": [asdict(w) for w in self.worksheets],
            "crisis_notice": asdict(self.crisis_notice),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ContentSet:
        def section(s: dict[str, Any]) -> Section:
            return Section(
                **{
                    **s,
                    "questions": tuple(Question(**q) for q in s["questions"]),
                    "trackers": tuple(s["trackers"]),
                    "worksheets": tuple(s["worksheets"]),
                }
            )

        def measure(m: dict[str, Any]) -> Measure:
            # JSON object keys are strings; labels are keyed by int values.
            return Measure(**{**m, "labels": {int(k): v for k, v in m["labels"].items()}})

        return cls(
            version=d["version"],
            topics=tuple(Topic(**{**t, "sections": tuple(section(s) for s in t["sections"])}) for t in d["topics"]),
            peers=tuple(Peer(**p) for p in d["peers"]),
            videos=tuple(Video(**v) for v in d["videos"]),
            trackers=tuple(
                Tracker(**{**t, "measures": tuple(measure(m) for m in t["measures"])}) for t in d["trackers"]
            ),
            worksheets=tuple(Worksheet(**{**w, "examples": tuple(w["examples"])}) for w in d["worksheets"]),
            crisis_notice=CrisisNotice(**d["crisis_notice"]),
        )
