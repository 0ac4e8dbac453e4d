"""Joint sessions: who took part, what was visited in order, hand-overs and suggestions."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from core import aggregates as A
from projections.base import Dead, Projection, Row, Rows, handles, iso
from projections.store import TableSpec

SESSIONS = TableSpec(
    "ses_sessions",
    (
        ("session_id", "text"),
        ("worker_id", "text"),
        ("su_id", "text"),
        ("same_device", "int"),
        ("started_at", "text"),
        ("ended_at", "text"),
        ("end_reason", "text"),
        ("duration_s", "real"),
        ("handovers", "int"),
        ("suggestions_made", "int"),
        ("suggestions_accepted", "int"),
        ("answers_saved", "int"),
        ("videos_completed", "int"),
    ),
    ("session_id",),
    (("worker_id",), ("su_id",)),
)
PARTICIPANTS = TableSpec(
    "ses_participants",
    (
        ("session_id", "text"),
        ("user_id", "text"),
        ("device_kind", "text"),
        ("first_joined_at", "text"),
        ("last_left_at", "text"),
        ("joins", "int"),
    ),
    ("session_id", "user_id"),
)
TIMELINE = TableSpec(
    "ses_timeline",
    (
        ("session_id", "text"),
        ("position", "int"),
        ("at", "text"),
        ("kind", "text"),
        ("ref", "text"),
        ("actor_id", "text"),
        ("actor_role", "text"),
    ),
    ("session_id", "position"),
)
SUGGESTIONS = TableSpec(
    "ses_suggestions",
    (
        ("session_id", "text"),
        ("suggestion_id", "text"),
        ("topic_id", "text"),
        ("section_id", "text"),
        ("status", "text"),
        ("position", "int"),
    ),
    ("session_id", "suggestion_id"),
)

J, S = A.Journey, A.JointSession
# Journey actions taken inside a session: timeline kind and the field that names what.
JOURNEY_KINDS: dict[type, tuple[str, str]] = {
    J.TopicOpened: ("topic_opened", "topic_id"),
    J.SectionViewed: ("section_viewed", "section_id"),
    J.VideoPlayed: ("video_played", "video_id"),
    J.VideoCompleted: ("video_completed", "video_id"),
    J.AnswerSaved: ("answer_saved", "question_id"),
    J.ChartPointRecorded: ("chart_point", "tracker_id"),
    J.WorksheetItemAdded: ("worksheet_item", "worksheet_id"),
    J.WorksheetItemChanged: ("worksheet_item", "worksheet_id"),
}
SESSION_KINDS: dict[type, tuple[str, str | None]] = {
    S.ParticipantJoined: ("joined", "user_id"),
    S.ParticipantLeft: ("left", "user_id"),
    S.ControlRequested: ("control_requested", None),
    S.ControlRefused: ("control_refused", None),
    S.ControlHandedOver: ("control_handed_over", "to_user"),
    S.SuggestionMade: ("suggestion_made", "suggestion_id"),
    S.SuggestionAccepted: ("suggestion_accepted", "suggestion_id"),
    S.SuggestionDismissed: ("suggestion_dismissed", "suggestion_id"),
    S.MirroringPaused: ("mirroring_paused", None),
    S.MirroringResumed: ("mirroring_resumed", None),
    S.ChartShown: ("chart_shown", "tracker_id"),
    S.ChartHidden: ("chart_hidden", "tracker_id"),
    S.SessionEnded: ("ended", None),
}


class Sessions(Projection):
    name = "sessions"
    version = 2  # 2: forgets erased people
    tables = (SESSIONS, PARTICIPANTS, TIMELINE, SUGGESTIONS)

    @handles(S.SessionStarted)
    def _started(self, ev: Any, pos: int, rows: Rows) -> None:
        rows.put(
            "ses_sessions",
            {
                "session_id": str(ev.originator_id),
                "worker_id": str(ev.worker_id),
                "su_id": str(ev.su_id),
                "same_device": int(ev.same_device),
                "started_at": iso(ev.timestamp),
                "ended_at": None,
                "end_reason": None,
                "duration_s": None,
                "handovers": 0,
                "suggestions_made": 0,
                "suggestions_accepted": 0,
                "answers_saved": 0,
                "videos_completed": 0,
            },
        )

    def _session(self, rows: Rows, session_id: UUID) -> Row:
        row = rows.get("ses_sessions", str(session_id))
        if row is None:
            raise Dead(f"unknown joint session {session_id}")
        return row

    def _timeline(self, rows: Rows, ev: Any, pos: int, session_id: str, kind: str, ref: Any) -> None:
        rows.insert(
            "ses_timeline",
            {
                "session_id": session_id,
                "position": pos,
                "at": iso(ev.timestamp),
                "kind": kind,
                "ref": None if ref is None else str(ref),
                "actor_id": str(ev.actor_id),
                "actor_role": ev.actor_role,
            },
        )

    @handles(*SESSION_KINDS)
    def _session_event(self, ev: Any, pos: int, rows: Rows) -> None:
        s = self._session(rows, ev.originator_id)
        sid_ = s["session_id"]
        kind, field = SESSION_KINDS[type(ev)]
        self._timeline(rows, ev, pos, sid_, kind, getattr(ev, field) if field else None)
        if isinstance(ev, (S.ParticipantJoined, S.ParticipantLeft)):
            p = rows.get("ses_participants", sid_, str(ev.user_id)) or {
                "session_id": sid_,
                "user_id": str(ev.user_id),
                "device_kind": None,
                "first_joined_at": None,
                "last_left_at": None,
                "joins": 0,
            }
            if isinstance(ev, S.ParticipantJoined):
                p["joins"] += 1
                p["device_kind"] = ev.device_kind
                p["first_joined_at"] = p["first_joined_at"] or iso(ev.timestamp)
            else:
                p["last_left_at"] = iso(ev.timestamp)
            rows.put("ses_participants", p)
        elif isinstance(ev, S.ControlHandedOver):
            s["handovers"] += 1
        elif isinstance(ev, S.SuggestionMade):
            s["suggestions_made"] += 1
            rows.put(
                "ses_suggestions",
                {
                    "session_id": sid_,
                    "suggestion_id": ev.suggestion_id,
                    "topic_id": ev.topic_id,
                    "section_id": ev.section_id,
                    "status": "open",
                    "position": pos,
                },
            )
        elif isinstance(ev, (S.SuggestionAccepted, S.SuggestionDismissed)):
            sug = rows.get("ses_suggestions", sid_, ev.suggestion_id)
            if sug is not None:
                sug["status"] = "accepted" if isinstance(ev, S.SuggestionAccepted) else "dismissed"
                rows.put("ses_suggestions", sug)
            if isinstance(ev, S.SuggestionAccepted):
                s["suggestions_accepted"] += 1
        elif isinstance(ev, S.SessionEnded):
            s["ended_at"], s["end_reason"] = iso(ev.timestamp), ev.reason
            s["duration_s"] = (ev.timestamp - datetime.fromisoformat(s["started_at"])).total_seconds()
        rows.put("ses_sessions", s)

    @handles(*JOURNEY_KINDS)
    def _journey_event(self, ev: Any, pos: int, rows: Rows) -> None:
        if ev.session_id is None:
            return
        s = self._session(rows, ev.session_id)
        kind, field = JOURNEY_KINDS[type(ev)]
        self._timeline(rows, ev, pos, s["session_id"], kind, getattr(ev, field))
        if isinstance(ev, J.AnswerSaved):
            s["answers_saved"] += 1
        elif isinstance(ev, J.VideoCompleted):
            s["videos_completed"] += 1
        else:
            return
        rows.put("ses_sessions", s)

    # ------------------------------------------------------------ reads

    def for_worker(self, worker_id: UUID | str) -> list[Row]:
        return [
            _summary(r)
            for r in self.q("SELECT * FROM ses_sessions WHERE worker_id = ? ORDER BY started_at DESC", str(worker_id))
        ]

    def for_su(self, su_id: UUID | str) -> list[Row]:
        return [
            _summary(r)
            for r in self.q("SELECT * FROM ses_sessions WHERE su_id = ? ORDER BY started_at DESC", str(su_id))
        ]

    def detail(self, session_id: UUID | str) -> Row | None:
        found = self.q("SELECT * FROM ses_sessions WHERE session_id = ?", str(session_id))
        if not found:
            return None
        out = _summary(found[0])
        out["participants"] = [
            {k: r[k] for k in ("user_id", "device_kind", "first_joined_at", "last_left_at", "joins")}
            for r in self.q(
                "SELECT * FROM ses_participants WHERE session_id = ? ORDER BY first_joined_at, user_id", str(session_id)
            )
        ]
        timeline = [
            {k: r[k] for k in ("position", "at", "kind", "ref", "actor_id", "actor_role")}
            for r in self.q("SELECT * FROM ses_timeline WHERE session_id = ? ORDER BY position", str(session_id))
        ]
        out["timeline"] = timeline
        out["topics"] = _first_seen(t["ref"] for t in timeline if t["kind"] == "topic_opened")
        out["sections"] = _first_seen(t["ref"] for t in timeline if t["kind"] == "section_viewed")
        out["videos"] = _first_seen(t["ref"] for t in timeline if t["kind"] == "video_played")
        out["suggestions"] = [
            {k: r[k] for k in ("suggestion_id", "topic_id", "section_id", "status")}
            for r in self.q("SELECT * FROM ses_suggestions WHERE session_id = ? ORDER BY position", str(session_id))
        ]
        return out


def _first_seen(refs: Any) -> list[str]:
    return list(dict.fromkeys(refs))


def _summary(r: Row) -> Row:
    out = {k: r[k] for k in SESSIONS.col_names}
    out["same_device"] = bool(r["same_device"])
    return out
