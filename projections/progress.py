"""Each SU's progress through the content. Answers are sealed anyway; only "answered" is kept."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from core import aggregates as A
from projections.base import Projection, Row, Rows, handles, ids_table, iso
from projections.store import TableSpec

TOPICS = TableSpec(
    "prog_topics",
    (("su_id", "text"), ("topic_id", "text"), ("first_at", "text"), ("last_at", "text"), ("opens", "int")),
    ("su_id", "topic_id"),
)
SECTIONS = TableSpec(
    "prog_sections",
    (
        ("su_id", "text"),
        ("section_id", "text"),
        ("topic_id", "text"),
        ("first_at", "text"),
        ("last_at", "text"),
        ("views", "int"),
        ("seconds", "real"),
    ),
    ("su_id", "section_id"),
)
VIDEOS = TableSpec(
    "prog_videos",
    (
        ("su_id", "text"),
        ("video_id", "text"),
        ("topic_id", "text"),
        ("furthest_s", "real"),
        ("percent", "int"),
        ("completed", "int"),
        ("plays", "int"),
        ("last_at", "text"),
    ),
    ("su_id", "video_id"),
)
QUESTIONS = TableSpec(
    "prog_questions",
    (
        ("su_id", "text"),
        ("question_id", "text"),
        ("section_id", "text"),
        ("topic_id", "text"),
        ("first_at", "text"),
        ("last_at", "text"),
        ("saves", "int"),
    ),
    ("su_id", "question_id"),
)
WS_ITEMS = TableSpec(
    "prog_ws_items",
    (("su_id", "text"), ("worksheet_id", "text"), ("item_id", "text"), ("changed_at", "text")),
    ("su_id", "worksheet_id", "item_id"),
)

VIDEO_EVENTS = (
    A.Journey.VideoPlayed,
    A.Journey.VideoPaused,
    A.Journey.VideoSeeked,
    A.Journey.VideoProgressed,
    A.Journey.VideoCompleted,
)


def topic_of(ref: str) -> str:
    return ref.split("/", 1)[0]  # section and question ids are global: "topic/section[/q]"


class Progress(Projection):
    name = "progress"
    version = 2  # 2: forgets erased people
    tables = (TOPICS, SECTIONS, VIDEOS, QUESTIONS, WS_ITEMS, ids_table("progress"))

    def __init__(self, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        self._durations: dict[str, float | None] = {}

    @handles(A.Journey.Began)
    def _began(self, ev: Any, pos: int, rows: Rows) -> None:
        self.remember(rows, ev.originator_id, ev.su_id)

    @handles(A.Journey.TopicOpened)
    def _topic(self, ev: Any, pos: int, rows: Rows) -> None:
        self.check("topic", ev.topic_id)
        su, at = self.su_of(rows, ev.originator_id), iso(ev.timestamp)
        row = rows.get("prog_topics", su, ev.topic_id) or {
            "su_id": su,
            "topic_id": ev.topic_id,
            "first_at": at,
            "opens": 0,
        }
        row["opens"] += 1
        row["last_at"] = at
        rows.put("prog_topics", row)

    @handles(A.Journey.SectionViewed)
    def _section(self, ev: Any, pos: int, rows: Rows) -> None:
        self.check("section", ev.section_id)
        su, at = self.su_of(rows, ev.originator_id), iso(ev.timestamp)
        row = rows.get("prog_sections", su, ev.section_id) or {
            "su_id": su,
            "section_id": ev.section_id,
            "topic_id": self._topic_of_section(ev.section_id),
            "first_at": at,
            "views": 0,
            "seconds": 0.0,
        }
        row["views"] += 1
        row["seconds"] += ev.seconds_on_screen or 0.0
        row["last_at"] = at
        rows.put("prog_sections", row)

    @handles(*VIDEO_EVENTS)
    def _video(self, ev: Any, pos: int, rows: Rows) -> None:
        self.check("video", ev.video_id)
        su = self.su_of(rows, ev.originator_id)
        row = rows.get("prog_videos", su, ev.video_id) or {
            "su_id": su,
            "video_id": ev.video_id,
            "topic_id": self._topic_of_video(ev.video_id),
            "furthest_s": 0.0,
            "percent": 0,
            "completed": 0,
            "plays": 0,
        }
        reached = getattr(ev, "position_s", None) if not isinstance(ev, A.Journey.VideoSeeked) else ev.to_s
        if reached is not None:
            row["furthest_s"] = max(row["furthest_s"], reached)
        if isinstance(ev, A.Journey.VideoPlayed):
            row["plays"] += 1
        elif isinstance(ev, A.Journey.VideoProgressed):
            row["percent"] = max(row["percent"], ev.percent)
        elif isinstance(ev, A.Journey.VideoCompleted):
            row["completed"], row["percent"] = 1, 100
        duration = self._duration(ev.video_id)
        if duration:
            row["percent"] = max(row["percent"], min(100, int(100 * row["furthest_s"] / duration)))
        row["last_at"] = iso(ev.timestamp)
        rows.put("prog_videos", row)

    @handles(A.Journey.AnswerSaved)
    def _answer(self, ev: Any, pos: int, rows: Rows) -> None:
        self.check("question", ev.question_id)
        su, at = self.su_of(rows, ev.originator_id), iso(ev.timestamp)
        section = ev.question_id.rsplit("/", 1)[0]
        row = rows.get("prog_questions", su, ev.question_id) or {
            "su_id": su,
            "question_id": ev.question_id,
            "section_id": section,
            "topic_id": topic_of(section),
            "first_at": at,
            "saves": 0,
        }
        row["saves"] += 1
        row["last_at"] = at
        rows.put("prog_questions", row)

    @handles(A.Journey.WorksheetItemAdded, A.Journey.WorksheetItemChanged)
    def _ws_item(self, ev: Any, pos: int, rows: Rows) -> None:
        self.check("worksheet", ev.worksheet_id)
        su = self.su_of(rows, ev.originator_id)
        rows.put(
            "prog_ws_items",
            {"su_id": su, "worksheet_id": ev.worksheet_id, "item_id": ev.item_id, "changed_at": iso(ev.timestamp)},
        )

    @handles(A.Journey.WorksheetItemRemoved)
    def _ws_removed(self, ev: Any, pos: int, rows: Rows) -> None:
        rows.delete("prog_ws_items", self.su_of(rows, ev.originator_id), ev.worksheet_id, ev.item_id)

    def _topic_of_section(self, section_id: str) -> str:
        return topic_of(section_id)

    def _duration(self, video_id: str) -> float | None:
        if self.content is None:
            return None
        if video_id not in self._durations:
            try:
                self._durations[video_id] = float(self.content.video(video_id).duration_s) or None
            except (KeyError, AttributeError, TypeError, ValueError):
                self._durations[video_id] = None
        return self._durations[video_id]

    def _topic_of_video(self, video_id: str) -> str | None:
        if self.content is None:
            return None
        try:
            return self.content.video(video_id).topic_id
        except (KeyError, AttributeError):
            return None

    # ------------------------------------------------------------ reads

    def topic_summaries(self, su_id: UUID | str) -> list[Row]:
        su = str(su_id)
        out: dict[str, Row] = {}

        def entry(topic_id: str) -> Row:
            if topic_id not in out:
                out[topic_id] = {
                    "topic_id": topic_id,
                    "first_opened_at": None,
                    "last_opened_at": None,
                    "opens": 0,
                    "sections_viewed": 0,
                    "sections_total": None,
                    "videos_completed": 0,
                    "questions_answered": 0,
                    "last_activity_at": None,
                }
            return out[topic_id]

        if self.content is not None:
            for t in self.content.topics:
                entry(t.id)["sections_total"] = len(t.sections)

        def touch(e: Row, at: str | None) -> None:
            if at and (e["last_activity_at"] is None or at > e["last_activity_at"]):
                e["last_activity_at"] = at

        for r in self.q("SELECT topic_id, first_at, last_at, opens FROM prog_topics WHERE su_id = ?", su):
            e = entry(r["topic_id"])
            e.update(first_opened_at=r["first_at"], last_opened_at=r["last_at"], opens=r["opens"])
            touch(e, r["last_at"])
        for r in self.q(
            "SELECT topic_id, COUNT(*) AS n, MAX(last_at) AS at FROM prog_sections WHERE su_id = ? GROUP BY topic_id",
            su,
        ):
            e = entry(r["topic_id"])
            e["sections_viewed"] = r["n"]
            touch(e, r["at"])
        for r in self.q(
            "SELECT topic_id, COUNT(*) AS n, MAX(last_at) AS at FROM prog_questions WHERE su_id = ? GROUP BY topic_id",
            su,
        ):
            e = entry(r["topic_id"])
            e["questions_answered"] = r["n"]
            touch(e, r["at"])
        for r in self.q(
            "SELECT topic_id, SUM(completed) AS n FROM prog_videos WHERE su_id = ? AND topic_id IS NOT NULL GROUP BY topic_id",
            su,
        ):
            entry(r["topic_id"])["videos_completed"] = int(r["n"] or 0)
        return list(out.values())

    def section(self, su_id: UUID | str, section_id: str) -> Row | None:
        found = self.q("SELECT * FROM prog_sections WHERE su_id = ? AND section_id = ?", str(su_id), section_id)
        return _section(found[0]) if found else None

    def sections(self, su_id: UUID | str, topic_id: str | None = None) -> list[Row]:
        if topic_id is None:
            found = self.q("SELECT * FROM prog_sections WHERE su_id = ? ORDER BY section_id", str(su_id))
        else:
            found = self.q(
                "SELECT * FROM prog_sections WHERE su_id = ? AND topic_id = ? ORDER BY section_id", str(su_id), topic_id
            )
        return [_section(r) for r in found]

    def videos(self, su_id: UUID | str) -> list[Row]:
        return [_video(r) for r in self.q("SELECT * FROM prog_videos WHERE su_id = ? ORDER BY video_id", str(su_id))]

    def video(self, su_id: UUID | str, video_id: str) -> Row | None:
        found = self.q("SELECT * FROM prog_videos WHERE su_id = ? AND video_id = ?", str(su_id), video_id)
        return _video(found[0]) if found else None

    def questions(self, su_id: UUID | str, section_id: str | None = None) -> list[Row]:
        sql = (
            "SELECT * FROM prog_questions WHERE su_id = ?"
            + (" AND section_id = ?" if section_id else "")
            + " ORDER BY question_id"
        )
        found = self.q(sql, str(su_id), *([section_id] if section_id else []))
        return [
            {
                "question_id": r["question_id"],
                "section_id": r["section_id"],
                "topic_id": r["topic_id"],
                "answered": True,
                "first_answered_at": r["first_at"],
                "last_answered_at": r["last_at"],
                "saves": r["saves"],
            }
            for r in found
        ]

    def is_answered(self, su_id: UUID | str, question_id: str) -> bool:
        return bool(self.q("SELECT 1 FROM prog_questions WHERE su_id = ? AND question_id = ?", str(su_id), question_id))

    def worksheets(self, su_id: UUID | str) -> list[Row]:
        return [
            {"worksheet_id": r["worksheet_id"], "items": r["n"], "last_changed_at": r["at"]}
            for r in self.q(
                "SELECT worksheet_id, COUNT(*) AS n, MAX(changed_at) AS at FROM prog_ws_items WHERE su_id = ? GROUP BY worksheet_id ORDER BY worksheet_id",
                str(su_id),
            )
        ]


def _section(r: Row) -> Row:
    return {
        "section_id": r["section_id"],
        "topic_id": r["topic_id"],
        "first_viewed_at": r["first_at"],
        "last_viewed_at": r["last_at"],
        "views": r["views"],
        "seconds_on_screen": r["seconds"],
    }


def _video(r: Row) -> Row:
    return {
        "video_id": r["video_id"],
        "furthest_s": r["furthest_s"],
        "percent": r["percent"],
        "completed": bool(r["completed"]),
        "plays": r["plays"],
        "last_at": r["last_at"],
    }
