"""An SU's journey as something to look back on: timeline entries and visits (sessions).

Each entry is one thing worth a line on the timeline ("watched a video, 80 %", "changed an
answer", "a joint session with Wendy for 42 minutes"), keyed by the SU and its log position
so that pages are keyset reads of one index. A visit groups entries: a joint session, or a
run of solo actions with no gap over VISIT_GAP. Visits remember the journey versions they
span, so a replay reads exactly their events from the store.

No free text is kept here (answers and worksheet items stay sealed in the log); an erased
person's rows go with every projection's (`Projection._forget_person`: each table has su_id).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from core import aggregates as A
from projections.base import Projection, Row, Rows, dumps, handles, ids_table, iso, sid
from projections.store import TableSpec

VISIT_GAP_S = 30 * 60
KINDS = ("videos", "answers", "charts", "worksheets", "sessions", "reading")

ENTRIES = TableSpec(
    "jrn_entries",
    (
        ("su_id", "text"),
        ("position", "int"),
        ("at", "text"),
        ("day", "text"),
        ("kind", "text"),  # one of KINDS
        ("verb", "text"),  # the event type (or "session")
        ("topic_id", "text"),
        ("ref", "text"),  # what the entry is about: video, question, tracker, worksheet, section, session id
        ("visit", "text"),
        ("joint", "int"),
        ("actor_role", "text"),
        ("content_version", "text"),
        ("detail", "text"),  # JSON: percent, values, minutes, topics, changed, worker_id
    ),
    ("su_id", "position"),
    (
        ("su_id", "kind", "position"),
        ("su_id", "topic_id", "position"),
        ("su_id", "joint", "position"),
        ("su_id", "kind", "ref", "position"),
    ),
)
VISITS = TableSpec(
    "jrn_visits",
    (
        ("visit", "text"),
        ("su_id", "text"),
        ("joint", "int"),
        ("session_id", "text"),
        ("worker_id", "text"),
        ("started_at", "text"),
        ("last_at", "text"),
        ("first_position", "int"),
        ("last_position", "int"),
        ("first_version", "int"),  # the journey's versions this visit spans
        ("last_version", "int"),
        ("ended", "int"),
        ("topics", "text"),  # JSON list, in first-seen order
        ("events", "int"),
        ("entry", "int"),  # the position of its timeline entry
    ),
    ("visit",),
    (("su_id", "first_position"),),
)
# Per SU: the solo visit going on, and what has been answered (for "changed your answer").
CURSOR = TableSpec(
    "jrn_cursor",
    (("su_id", "text"), ("solo_visit", "text"), ("solo_last", "text"), ("answered", "text"), ("videos", "text")),
    ("su_id",),
)

J, S = A.Journey, A.JointSession
VIDEO = (J.VideoPlayed, J.VideoPaused, J.VideoSeeked, J.VideoProgressed, J.VideoCompleted)
NAVIGATION = (J.TopicOpened, J.SectionViewed)
WRITING = (J.AnswerSaved, J.ChartPointRecorded, J.WorksheetItemAdded, J.WorksheetItemChanged, J.WorksheetItemRemoved)
OTHER = (J.ItemShared, J.ItemUnshared)


def topic_of(ref: str | None) -> str | None:
    return ref.split("/", 1)[0] if ref else None


class Journeys(Projection):
    name = "journey"
    version = 1
    tables = (ENTRIES, VISITS, CURSOR, ids_table("journey"))

    @handles(J.Began)
    def _began(self, ev: Any, pos: int, rows: Rows) -> None:
        self.remember(rows, ev.originator_id, ev.su_id)

    # ------------------------------------------------------------ visits

    def _cursor(self, rows: Rows, su: str) -> Row:
        return rows.get("jrn_cursor", su) or {
            "su_id": su,
            "solo_visit": None,
            "solo_last": None,
            "answered": "[]",
            "videos": "{}",
        }

    def _visit_for(self, ev: Any, pos: int, rows: Rows, su: str, cursor: Row) -> Row:
        """The visit this journey event belongs to (a joint session's, or a solo run), moved on."""
        if ev.session_id is not None:
            visit = rows.get("jrn_visits", "s:" + str(ev.session_id))
            if visit is None:  # a session started before this projection existed: start one here
                visit = self._new_visit(rows, ev, pos, su, "s:" + str(ev.session_id), joint=True)
        else:
            visit = rows.get("jrn_visits", cursor["solo_visit"]) if cursor["solo_visit"] else None
            last = datetime.fromisoformat(cursor["solo_last"]) if cursor["solo_last"] else None
            if visit is None or last is None or (ev.timestamp - last).total_seconds() > VISIT_GAP_S:
                visit = self._new_visit(rows, ev, pos, su, f"v:{su}:{pos}", joint=False)
                self._entry(rows, ev, pos, su, visit, "sessions", "visit", visit["visit"], {"minutes": 0})
                visit["entry"] = pos
            cursor["solo_visit"], cursor["solo_last"] = visit["visit"], iso(ev.timestamp)
        if visit["first_version"] is None:
            visit["first_version"] = ev.originator_version
        visit["last_version"] = ev.originator_version
        visit["last_position"], visit["last_at"] = pos, iso(ev.timestamp)
        visit["events"] += 1
        topic = self._topic(ev)
        if topic:
            topics = json.loads(visit["topics"])
            if topic not in topics:
                visit["topics"] = dumps([*topics, topic])
        return visit

    def _new_visit(self, rows: Rows, ev: Any, pos: int, su: str, key: str, joint: bool) -> Row:
        return {
            "visit": key,
            "su_id": su,
            "joint": int(joint),
            "session_id": key[2:] if joint else None,
            "worker_id": sid(getattr(ev, "worker_id", None)),
            "started_at": iso(ev.timestamp),
            "last_at": iso(ev.timestamp),
            "first_position": pos,
            "last_position": pos,
            "first_version": None,
            "last_version": None,
            "ended": 0,
            "topics": "[]",
            "events": 0,
            "entry": pos,
        }

    def _topic(self, ev: Any) -> str | None:
        if isinstance(ev, J.TopicOpened):
            return ev.topic_id
        if isinstance(ev, J.SectionViewed):
            return topic_of(ev.section_id)
        if isinstance(ev, J.AnswerSaved):
            return topic_of(ev.question_id)
        if isinstance(ev, VIDEO) and self.content is not None and self.content.knows("video", ev.video_id):
            return str(self.content.video(ev.video_id).topic_id)
        return None

    def _entry(
        self, rows: Rows, ev: Any, pos: int, su: str, visit: Row, kind: str, verb: str, ref: str | None, detail: Row
    ) -> None:
        rows.put(
            "jrn_entries",
            {
                "su_id": su,
                "position": pos,
                "at": iso(ev.timestamp),
                "day": ev.timestamp.date().isoformat(),
                "kind": kind,
                "verb": verb,
                "topic_id": None if kind == "sessions" else self._topic(ev),
                "ref": ref,
                "visit": visit["visit"],
                "joint": visit["joint"],
                "actor_role": getattr(ev, "actor_role", None),
                "content_version": getattr(ev, "content_version", None),
                "detail": dumps(detail),
            },
        )

    # ------------------------------------------------------------ joint sessions

    @handles(S.SessionStarted)
    def _started(self, ev: Any, pos: int, rows: Rows) -> None:
        su = str(ev.su_id)
        visit = self._new_visit(rows, ev, pos, su, "s:" + str(ev.originator_id), joint=True)
        self._entry(
            rows, ev, pos, su, visit, "sessions", "session", str(ev.originator_id), {"worker_id": str(ev.worker_id)}
        )
        rows.put("jrn_visits", visit)

    @handles(S.SessionEnded)
    def _ended(self, ev: Any, pos: int, rows: Rows) -> None:
        visit = rows.get("jrn_visits", "s:" + str(ev.originator_id))
        if visit is None:
            return
        visit["ended"], visit["last_at"] = 1, iso(ev.timestamp)
        visit["last_position"] = max(visit["last_position"], pos)
        rows.put("jrn_visits", visit)

    # ------------------------------------------------------------ journey actions

    @handles(*VIDEO, *NAVIGATION, *WRITING, *OTHER)
    def _action(self, ev: Any, pos: int, rows: Rows) -> None:
        su = self.su_of(rows, ev.originator_id)
        cursor = self._cursor(rows, su)
        visit = self._visit_for(ev, pos, rows, su, cursor)
        if isinstance(ev, VIDEO):
            self._video(ev, pos, rows, su, visit, cursor)
        elif isinstance(ev, J.TopicOpened):
            self._entry(rows, ev, pos, su, visit, "reading", "TopicOpened", ev.topic_id, {})
        elif isinstance(ev, J.SectionViewed):
            self._entry(rows, ev, pos, su, visit, "reading", "SectionViewed", ev.section_id, {})
        elif isinstance(ev, J.AnswerSaved):
            answered = json.loads(cursor["answered"])
            changed = ev.question_id in answered
            if not changed:
                cursor["answered"] = dumps(sorted([*answered, ev.question_id]))
            self._entry(rows, ev, pos, su, visit, "answers", "AnswerSaved", ev.question_id, {"changed": changed})
        elif isinstance(ev, J.ChartPointRecorded):
            values = self.keys.values(UUID(su), ev.values) if self.keys is not None else ev.values
            detail = {"values": values or {}, "for_date": ev.for_date}
            self._entry(rows, ev, pos, su, visit, "charts", "ChartPointRecorded", ev.tracker_id, detail)
        elif isinstance(ev, WRITING):
            item: Any = ev  # every WRITING event has the worksheet and item ids
            detail = {"item_id": item.item_id}
            self._entry(rows, ev, pos, su, visit, "worksheets", type(ev).__name__, item.worksheet_id, detail)
        rows.put("jrn_visits", visit)
        rows.put("jrn_cursor", cursor)

    def _video(self, ev: Any, pos: int, rows: Rows, su: str, visit: Row, cursor: Row) -> None:
        """One entry per video per visit, its percentage moved on by later progress."""
        videos = json.loads(cursor["videos"])
        key = f"{visit['visit']}|{ev.video_id}"
        entry = rows.get("jrn_entries", su, videos[key]) if key in videos else None
        if entry is None:
            self._entry(rows, ev, pos, su, visit, "videos", "VideoWatched", ev.video_id, {"percent": 0})
            # Only the newest video per visit is kept: older keys would grow this row forever.
            videos = {k: v for k, v in videos.items() if k.startswith(visit["visit"] + "|")}
            videos[key] = pos
            cursor["videos"] = dumps(videos)
            entry = rows.get("jrn_entries", su, pos)
            assert entry is not None
        detail = json.loads(entry["detail"])
        if isinstance(ev, J.VideoProgressed):
            detail["percent"] = max(detail["percent"], ev.percent)
        elif isinstance(ev, J.VideoCompleted):
            detail["percent"] = 100
        entry["detail"] = dumps(detail)
        rows.put("jrn_entries", entry)

    # ------------------------------------------------------------ reads

    def entries(
        self,
        su_id: UUID | str,
        *,
        before: int | None = None,
        limit: int = 50,
        kinds: tuple[str, ...] = (),
        topic: str | None = None,
        joint: bool | None = None,
        day_from: str | None = None,
        day_to: str | None = None,
        allowed: str | None = None,
        allowed_params: tuple[Any, ...] = (),
    ) -> list[Row]:
        """Newest first, keyset-paged by position (`before`). `allowed` is an SQL condition
        (with its parameters) that limits the rows to what a viewer may see."""
        where: list[str] = ["su_id = ?"]
        params: list[Any] = [str(su_id)]
        if before is not None:
            where.append("position < ?")
            params.append(before)
        if kinds:
            where.append(f"kind IN ({', '.join('?' * len(kinds))})")
            params.extend(kinds)
        if topic:
            where.append("topic_id = ?")
            params.append(topic)
        if joint is not None:
            where.append("joint = ?")
            params.append(int(joint))
        if day_from:
            where.append("day >= ?")
            params.append(day_from)
        if day_to:
            where.append("day <= ?")
            params.append(day_to)
        if allowed:
            where.append(f"({allowed})")
            params.extend(allowed_params)
        found = self.q(
            f"SELECT * FROM jrn_entries WHERE {' AND '.join(where)} ORDER BY position DESC LIMIT ?", *params, limit
        )
        return [_entry_row(r) for r in found]

    def entry(self, su_id: UUID | str, position: int) -> Row | None:
        found = self.q("SELECT * FROM jrn_entries WHERE su_id = ? AND position = ?", str(su_id), position)
        return _entry_row(found[0]) if found else None

    def last_answers_before(self, su_id: UUID | str, question_ids: list[str], position: int) -> dict[str, int]:
        """question id -> the position of its newest answer before `position`."""
        if not question_ids:
            return {}
        found = self.q(
            "SELECT ref, MAX(position) AS p FROM jrn_entries WHERE su_id = ? AND kind = 'answers' AND position < ? "
            f"AND ref IN ({', '.join('?' * len(question_ids))}) GROUP BY ref",
            str(su_id),
            position,
            *question_ids,
        )
        return {r["ref"]: int(r["p"]) for r in found}

    def points_before(
        self, su_id: UUID | str, trackers: list[str], position: int, keep: int
    ) -> tuple[dict[str, list[tuple[str, dict[str, float]]]], dict[str, int]]:
        """Each tracker's last `keep` points before `position` (oldest first) and how many came before those."""
        points: dict[str, list[tuple[str, dict[str, float]]]] = {}
        earlier: dict[str, int] = {}
        for t in trackers:
            rows = self.q(
                "SELECT position, detail FROM jrn_entries WHERE su_id = ? AND kind = 'charts' AND ref = ? "
                "AND position < ? ORDER BY position DESC LIMIT ?",
                str(su_id),
                t,
                position,
                keep + 1,
            )
            if not rows:
                continue
            kept = rows[:keep][::-1]
            points[t] = [(d["for_date"], d["values"]) for d in (json.loads(r["detail"]) for r in kept)]
            if len(rows) > keep:
                n = self.q(
                    "SELECT COUNT(*) AS n FROM jrn_entries WHERE su_id = ? AND kind = 'charts' AND ref = ? AND position < ?",
                    str(su_id),
                    t,
                    kept[0]["position"],
                )
                earlier[t] = int(n[0]["n"])
        return points, earlier

    def visit(self, key: str) -> Row | None:
        found = self.q("SELECT * FROM jrn_visits WHERE visit = ?", key)
        return _visit_row(found[0]) if found else None

    def visits(self, keys: list[str]) -> dict[str, Row]:
        if not keys:
            return {}
        found = self.q(f"SELECT * FROM jrn_visits WHERE visit IN ({', '.join('?' * len(keys))})", *keys)
        return {r["visit"]: _visit_row(r) for r in found}


def _entry_row(r: Row) -> Row:
    out = dict(r)
    out["detail"] = json.loads(r["detail"])
    out["joint"] = bool(r["joint"])
    return out


def _visit_row(r: Row) -> Row:
    out = dict(r)
    out["topics"] = json.loads(r["topics"])
    out["joint"] = bool(r["joint"])
    out["ended"] = bool(r["ended"])
    return out
