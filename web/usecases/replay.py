"""Time travel over the log: what a session's screen showed at any position.

`state_at(start, steps, position)` is pure: the state before the session (`Start`) and the
session's events in log order (`Step`, already decrypted and reduced to plain fields) in,
the screen at that position out. The replay page, its API and the correctness test all
use this one function; `web.usecases.journey.replay_steps` turns stored events into steps.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Step:
    position: int
    at: float  # epoch seconds, server time
    type: str
    actor_id: str
    fields: dict[str, Any]


START_POINTS = 14  # chart points kept from before the session, per tracker (the rest are counted)


@dataclass(frozen=True)
class Start:
    """What was already true when the session began."""

    driver: str | None  # the SU drives at the start of a joint session; None when alone
    answers: dict[str, str] = field(default_factory=dict)  # question id -> newest saved text
    points: dict[str, list[tuple[str, dict[str, float]]]] = field(default_factory=dict)  # tracker -> (day, values)
    earlier_points: dict[str, int] = field(default_factory=dict)  # tracker -> points older than `points`


@dataclass
class Video:
    video_id: str
    position_s: float = 0.0
    playing: bool = False
    percent: int = 0


@dataclass
class Screen:
    position: int | None = None  # the last event applied (None: before the first)
    at: float | None = None
    topic_id: str | None = None
    section_id: str | None = None
    video: Video | None = None
    answers: dict[str, str] = field(default_factory=dict)
    points: dict[str, list[tuple[str, dict[str, float]]]] = field(default_factory=dict)
    worksheets: dict[str, dict[str, str]] = field(default_factory=dict)  # worksheet -> item -> text
    driver: str | None = None
    epoch: int = 1
    mirroring: bool = True
    shown_charts: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    suggestions: dict[str, str] = field(default_factory=dict)  # id -> open/accepted/dismissed
    ended: bool = False
    last_type: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "at": self.at,
            "topic_id": self.topic_id,
            "section_id": self.section_id,
            "video": None if self.video is None else dict(vars(self.video)),
            "answers": dict(self.answers),
            "points": {t: [[d, v] for d, v in ps] for t, ps in self.points.items()},
            "worksheets": {w: dict(items) for w, items in self.worksheets.items()},
            "driver": self.driver,
            "epoch": self.epoch,
            "mirroring": self.mirroring,
            "shown_charts": list(self.shown_charts),
            "present": list(self.present),
            "suggestions": dict(self.suggestions),
            "ended": self.ended,
            "last_type": self.last_type,
        }


def initial(start: Start) -> Screen:
    return Screen(
        answers=dict(start.answers),
        points={t: list(ps) for t, ps in start.points.items()},
        driver=start.driver,
    )


def apply(s: Screen, step: Step) -> None:
    """Move the screen on by one event (the same order the live room saw them in)."""
    f, t = step.fields, step.type
    s.position, s.at, s.last_type = step.position, step.at, t
    if t == "TopicOpened":
        s.topic_id, s.section_id = f["topic_id"], None
    elif t == "SectionViewed":
        s.section_id = f["section_id"]
        s.topic_id = f["section_id"].split("/", 1)[0]
    elif t in ("VideoPlayed", "VideoPaused", "VideoSeeked", "VideoProgressed", "VideoCompleted"):
        _video(s, t, f)
    elif t == "AnswerSaved":
        s.answers[f["question_id"]] = f["answer"]
    elif t == "ChartPointRecorded":
        s.points.setdefault(f["tracker_id"], []).append((f["for_date"], dict(f["values"])))
    elif t in ("WorksheetItemAdded", "WorksheetItemChanged"):
        s.worksheets.setdefault(f["worksheet_id"], {})[f["item_id"]] = f["text"]
    elif t == "WorksheetItemRemoved":
        s.worksheets.get(f["worksheet_id"], {}).pop(f["item_id"], None)
    elif t == "ControlHandedOver":
        s.driver, s.epoch = str(f["to_user"]), int(f["epoch"])
    elif t in ("MirroringPaused", "MirroringResumed"):
        s.mirroring = t == "MirroringResumed"
    elif t == "ChartShown" and f["tracker_id"] not in s.shown_charts:
        s.shown_charts.append(f["tracker_id"])
    elif t == "ChartHidden" and f["tracker_id"] in s.shown_charts:
        s.shown_charts.remove(f["tracker_id"])
    elif t == "ParticipantJoined" and str(f["user_id"]) not in s.present:
        s.present.append(str(f["user_id"]))
    elif t == "ParticipantLeft" and str(f["user_id"]) in s.present:
        s.present.remove(str(f["user_id"]))
    elif t == "SuggestionMade":
        s.suggestions[f["suggestion_id"]] = "open"
    elif t in ("SuggestionAccepted", "SuggestionDismissed"):
        s.suggestions[f["suggestion_id"]] = "accepted" if t == "SuggestionAccepted" else "dismissed"
    elif t == "SessionEnded":
        s.ended, s.present = True, []


def _video(s: Screen, t: str, f: dict[str, Any]) -> None:
    if s.video is None or s.video.video_id != f["video_id"]:
        s.video = Video(f["video_id"])
    v = s.video
    if t == "VideoPlayed":
        v.position_s, v.playing = float(f["position_s"]), True
    elif t == "VideoPaused":
        v.position_s, v.playing = float(f["position_s"]), False
    elif t == "VideoSeeked":
        v.position_s = float(f["to_s"])
    elif t == "VideoProgressed":
        v.position_s, v.percent = float(f["position_s"]), max(v.percent, int(f["percent"]))
    else:
        v.percent, v.playing = 100, False


def state_at(start: Start, steps: list[Step], position: int) -> Screen:
    """The screen once every step at or before `position` has been applied."""
    s = initial(start)
    end = bisect_right([st.position for st in steps], position)
    for step in steps[:end]:
        apply(s, step)
    return s
