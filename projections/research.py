"""Studies, who is enrolled and consenting, and each SU's engagement split solo vs joint.

Built for the research dashboard and exports (web/usecases/research.py); definitions in
docs/metrics.md. Reads here never check permissions or consent: the use-case layer does.

Active time: the gap between an SU's consecutive journey events counts when it is at most
ACTIVE_GAP (or the section's reported time on screen, if larger) and goes to the mode of the
later event (joint when it carries a session id). A solo session is a run of the SU's own
actions outside joint sessions with no gap over SOLO_GAP; a joint session runs from its start
to its end.
"""

from __future__ import annotations

import json
from typing import Any

from core import aggregates as A
from projections.base import Dead, Projection, Row, Rows, handles, ids_table, iso
from projections.store import TableSpec

ACTIVE_GAP = 600.0
SOLO_GAP = 1800.0
J, S = A.Journey, A.JointSession

STUDIES = TableSpec(
    "rs_studies",
    (
        ("study_id", "text"),
        ("code", "text"),
        ("name", "text"),
        ("arms", "text"),
        ("start_date", "text"),
        ("end_date", "text"),
        ("researchers", "text"),
        ("allow_text", "int"),
        ("secret", "text"),
        ("created_at", "text"),
    ),
    ("study_id",),
)
MEMBERS = TableSpec(
    "rs_members",
    (
        ("study_id", "text"),
        ("su_id", "text"),
        ("arm", "text"),
        ("enrolled_at", "text"),
        ("engagement", "int"),
        ("answer_text", "int"),
    ),
    ("study_id", "su_id"),
    (("su_id",),),
)
PEOPLE = TableSpec(
    "rs_people",
    (
        ("su_id", "text"),
        ("erased", "int"),
        ("last_ts", "real"),
        ("solo_n", "int"),
        ("solo_start", "text"),
        ("solo_last_ts", "real"),
    ),
    ("su_id",),
)
EVENTS = TableSpec(
    "rs_events",
    (
        ("su_id", "text"),
        ("position", "int"),
        ("at", "text"),
        ("kind", "text"),
        ("ref", "text"),
        ("session_id", "text"),
        ("num", "real"),
        ("num2", "real"),
        ("sealed", "text"),  # answer text, still sealed with the SU's key
    ),
    ("su_id", "position"),
)
DAILY = TableSpec(
    "rs_daily",
    (
        ("su_id", "text"),
        ("day", "text"),
        ("mode", "text"),
        ("active_s", "real"),
        ("events", "int"),
        ("points", "int"),
    ),
    ("su_id", "day", "mode"),
)
SESSIONS = TableSpec(
    "rs_sessions",
    (
        ("su_id", "text"),
        ("key", "text"),
        ("mode", "text"),
        ("started_at", "text"),
        ("ended_at", "text"),
        ("start_ts", "real"),
        ("end_ts", "real"),
        ("events", "int"),
        ("worker_id", "text"),  # joint sessions: the worker, for xAPI's context.team (pseudonymised)
    ),
    ("su_id", "key"),
)
FIRSTS = TableSpec(
    "rs_firsts",
    (("su_id", "text"), ("kind", "text"), ("ref", "text"), ("first_at", "text"), ("position", "int"), ("mode", "text")),
    ("su_id", "kind", "ref"),
)
SEGMENTS = TableSpec(
    "rs_segments",
    (
        ("su_id", "text"),
        ("video_id", "text"),
        ("mode", "text"),
        ("open_from", "real"),
        ("segments", "text"),  # JSON [[from_s, to_s], ...]; to_s -1: to the end (completed)
        ("completed", "int"),
    ),
    ("su_id", "video_id", "mode"),
)

# Journey event -> (kind in exports, the field naming what, a number, a second number).
KINDS: dict[type, tuple[str, str | None, str | None, str | None]] = {
    J.TopicOpened: ("topic_opened", "topic_id", None, None),
    J.SectionViewed: ("section_viewed", "section_id", "seconds_on_screen", None),
    J.VideoPlayed: ("video_played", "video_id", "position_s", None),
    J.VideoPaused: ("video_paused", "video_id", "position_s", None),
    J.VideoSeeked: ("video_seeked", "video_id", "from_s", "to_s"),
    J.VideoProgressed: ("video_progressed", "video_id", "position_s", "percent"),
    J.VideoCompleted: ("video_completed", "video_id", None, None),
    J.AnswerSaved: ("answer_saved", "question_id", None, None),
    J.ChartPointRecorded: ("chart_point", "tracker_id", None, None),
    J.WorksheetItemAdded: ("worksheet_item_added", "worksheet_id", None, None),
    J.WorksheetItemChanged: ("worksheet_item_changed", "worksheet_id", None, None),
    J.WorksheetItemRemoved: ("worksheet_item_removed", "worksheet_id", None, None),
    J.ItemShared: ("item_shared", "scope", None, None),
    J.ItemUnshared: ("item_unshared", "scope", None, None),
}
FIRST_KINDS = {J.TopicOpened: "topic", J.SectionViewed: "section", J.VideoCompleted: "video_completed"}


class Research(Projection):
    name = "research"
    version = 1
    tables = (STUDIES, MEMBERS, PEOPLE, EVENTS, DAILY, SESSIONS, FIRSTS, SEGMENTS, ids_table("research"))

    # ------------------------------------------------------------ studies and consent

    @handles(A.Study.Created)
    def _study(self, ev: Any, pos: int, rows: Rows) -> None:
        rows.put(
            "rs_studies",
            {
                "study_id": str(ev.originator_id),
                "code": ev.code,
                "name": ev.name,
                "arms": json.dumps(ev.arms),
                "start_date": ev.start,
                "end_date": ev.end,
                "researchers": json.dumps(sorted(ev.researchers)),
                "allow_text": int(ev.allow_text),
                "secret": ev.secret,
                "created_at": iso(ev.timestamp),
            },
        )

    @handles(A.Study.ResearchersChanged)
    def _researchers(self, ev: Any, pos: int, rows: Rows) -> None:
        row = rows.get("rs_studies", str(ev.originator_id))
        if row is None:
            raise Dead(f"unknown study {ev.originator_id}")
        row["researchers"] = json.dumps(sorted(ev.researchers))
        rows.put("rs_studies", row)

    @handles(A.Study.ParticipantEnrolled)
    def _enrolled(self, ev: Any, pos: int, rows: Rows) -> None:
        rows.put(
            "rs_members",
            {
                "study_id": str(ev.originator_id),
                "su_id": str(ev.su_id),
                "arm": ev.arm,
                "enrolled_at": iso(ev.timestamp),
                "engagement": 0,
                "answer_text": 0,
            },
        )

    @handles(A.Consent.StudyConsentGiven, A.Consent.StudyConsentWithdrawn)
    def _consent(self, ev: Any, pos: int, rows: Rows) -> None:
        su = self.su_of(rows, ev.originator_id)
        row = rows.get("rs_members", str(ev.study_id), su)
        if row is None:
            raise Dead(f"consent for a study {ev.study_id} the SU is not enrolled in")
        given = int(isinstance(ev, A.Consent.StudyConsentGiven))
        row[ev.provision] = given
        if ev.provision == "engagement" and not given:
            row["answer_text"] = 0
        rows.put("rs_members", row)

    @handles(A.Account.Registered)
    def _registered(self, ev: Any, pos: int, rows: Rows) -> None:
        if ev.role == "service_user":
            rows.put(
                "rs_people",
                {
                    "su_id": str(ev.originator_id),
                    "erased": 0,
                    "last_ts": None,
                    "solo_n": 0,
                    "solo_start": None,
                    "solo_last_ts": None,
                },
            )

    @handles(A.Journey.Began, A.Consent.Opened)
    def _ids(self, ev: Any, pos: int, rows: Rows) -> None:
        self.remember(rows, ev.originator_id, ev.su_id)

    # ------------------------------------------------------------ joint sessions

    @handles(S.SessionStarted)
    def _joint_started(self, ev: Any, pos: int, rows: Rows) -> None:
        ts = ev.timestamp.timestamp()
        rows.put(
            "rs_sessions",
            {
                "su_id": str(ev.su_id),
                "key": str(ev.originator_id),
                "mode": "joint",
                "started_at": iso(ev.timestamp),
                "ended_at": None,
                "start_ts": ts,
                "end_ts": None,
                "events": 0,
                "worker_id": str(ev.worker_id),
            },
        )
        self.remember(rows, ev.originator_id, ev.su_id)

    @handles(S.SessionEnded)
    def _joint_ended(self, ev: Any, pos: int, rows: Rows) -> None:
        su = self.su_of(rows, ev.originator_id)
        row = rows.get("rs_sessions", su, str(ev.originator_id))
        if row is None:
            raise Dead(f"unknown joint session {ev.originator_id}")
        row["ended_at"], row["end_ts"] = iso(ev.timestamp), ev.timestamp.timestamp()
        rows.put("rs_sessions", row)

    # ------------------------------------------------------------ journey actions

    @handles(*KINDS)
    def _action(self, ev: Any, pos: int, rows: Rows) -> None:
        su = self.su_of(rows, ev.originator_id)
        person = rows.get("rs_people", su)
        if person is None:
            raise Dead(f"no service user account {su}")
        kind, ref_f, n1, n2 = KINDS[type(ev)]
        ts, at = ev.timestamp.timestamp(), iso(ev.timestamp)
        assert at is not None  # every stored event has its timestamp
        mode = "solo" if ev.session_id is None else "joint"
        gap = ts - person["last_ts"] if person["last_ts"] is not None else None
        active = gap if gap is not None and 0 <= gap <= ACTIVE_GAP else 0.0
        if isinstance(ev, J.SectionViewed) and ev.seconds_on_screen:
            active = max(active, min(ev.seconds_on_screen, ACTIVE_GAP))
        person["last_ts"] = ts
        if mode == "solo":
            self._solo_session(rows, person, su, ts, at)
        else:
            joint = rows.get("rs_sessions", su, str(ev.session_id))
            if joint is not None:
                joint["events"] += 1
                rows.put("rs_sessions", joint)
        rows.put("rs_people", person)
        rows.insert(
            "rs_events",
            {
                "su_id": su,
                "position": pos,
                "at": at,
                "kind": kind,
                "ref": getattr(ev, ref_f) if ref_f else None,
                "session_id": None if ev.session_id is None else str(ev.session_id),
                "num": getattr(ev, n1) if n1 else None,
                "num2": getattr(ev, n2) if n2 else None,
                "sealed": json.dumps(ev.answer) if isinstance(ev, J.AnswerSaved) else None,
            },
        )
        day = at[:10]  # stored times are UTC
        d = rows.get("rs_daily", su, day, mode) or {
            "su_id": su,
            "day": day,
            "mode": mode,
            "active_s": 0.0,
            "events": 0,
            "points": 0,
        }
        d["active_s"] += active
        d["events"] += 1
        d["points"] += isinstance(ev, J.ChartPointRecorded)
        rows.put("rs_daily", d)
        first = FIRST_KINDS.get(type(ev))
        if first and rows.peek("rs_firsts", su, first, getattr(ev, ref_f)) is None:  # type: ignore[arg-type]
            rows.put(
                "rs_firsts",
                {"su_id": su, "kind": first, "ref": getattr(ev, ref_f), "first_at": at, "position": pos, "mode": mode},  # type: ignore[arg-type]
            )
        if kind.startswith("video_"):
            self._segment(rows, su, ev, mode)

    def _solo_session(self, rows: Rows, person: Row, su: str, ts: float, at: str | None) -> None:
        if person["solo_last_ts"] is None or ts - person["solo_last_ts"] > SOLO_GAP:
            person["solo_n"] += 1
            person["solo_start"] = at
        key = f"solo-{person['solo_n']}"
        row = rows.get("rs_sessions", su, key) or {
            "su_id": su,
            "key": key,
            "mode": "solo",
            "started_at": at,
            "ended_at": at,
            "start_ts": ts,
            "end_ts": ts,
            "events": 0,
            "worker_id": None,
        }
        row["ended_at"], row["end_ts"] = at, ts
        row["events"] += 1
        rows.put("rs_sessions", row)
        person["solo_last_ts"] = ts

    def _segment(self, rows: Rows, su: str, ev: Any, mode: str) -> None:
        """Played segments: from a play (or a seek's target) to the next pause, progress or end."""
        row = rows.get("rs_segments", su, ev.video_id, mode) or {
            "su_id": su,
            "video_id": ev.video_id,
            "mode": mode,
            "open_from": None,
            "segments": "[]",
            "completed": 0,
        }
        segs: list[list[float]] = json.loads(row["segments"])
        start = row["open_from"]
        if isinstance(ev, J.VideoPlayed):
            row["open_from"] = ev.position_s
        elif isinstance(ev, J.VideoSeeked):
            if start is not None and ev.from_s > start:
                segs.append([start, ev.from_s])
            row["open_from"] = ev.to_s if start is not None else None
        elif isinstance(ev, (J.VideoPaused, J.VideoProgressed)):
            if start is not None and ev.position_s > start:
                segs.append([start, ev.position_s])
            row["open_from"] = ev.position_s if isinstance(ev, J.VideoProgressed) and start is not None else None
        elif isinstance(ev, J.VideoCompleted):
            if start is not None:
                segs.append([start, -1.0])
            row["open_from"] = None
            row["completed"] = 1
        row["segments"] = json.dumps(_merge(segs))
        rows.put("rs_segments", row)

    # ------------------------------------------------------------ reads (no access checks here)

    def studies(self) -> list[Row]:
        return [_study_row(r) for r in self.q("SELECT * FROM rs_studies ORDER BY code")]

    def study(self, study_id: str) -> Row | None:
        found = self.q("SELECT * FROM rs_studies WHERE study_id = ?", study_id)
        return _study_row(found[0]) if found else None

    def members(self, study_id: str) -> list[Row]:
        """Every enrolled SU with their consent and whether they were erased."""
        return self.q(
            "SELECT m.su_id, m.arm, m.enrolled_at, m.engagement, m.answer_text, COALESCE(p.erased, 0) AS erased "
            "FROM rs_members m LEFT JOIN rs_people p ON p.su_id = m.su_id WHERE m.study_id = ? ORDER BY m.su_id",
            study_id,
        )

    def member(self, study_id: str, su_id: str) -> Row | None:
        found = self.q(
            "SELECT m.su_id, m.arm, m.enrolled_at, m.engagement, m.answer_text, COALESCE(p.erased, 0) AS erased "
            "FROM rs_members m LEFT JOIN rs_people p ON p.su_id = m.su_id WHERE m.study_id = ? AND m.su_id = ?",
            study_id,
            su_id,
        )
        return found[0] if found else None

    def studies_of(self, su_id: str) -> list[Row]:
        return self.q(
            "SELECT s.study_id, s.code, s.name, s.allow_text, m.arm, m.engagement, m.answer_text "
            "FROM rs_members m JOIN rs_studies s ON s.study_id = m.study_id WHERE m.su_id = ? ORDER BY s.code",
            su_id,
        )

    def _in(self, table: str, cols: str, su_ids: list[str], where: str = "", *params: Any) -> list[Row]:
        out: list[Row] = []
        for i in range(0, len(su_ids), 500):  # keep the placeholder count small on SQLite
            chunk = su_ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            out += self.q(f"SELECT {cols} FROM {table} WHERE su_id IN ({marks}){where}", *chunk, *params)
        return out

    def cohort(self, table: str, cols: str, study_id: str, where: str = "", *params: Any) -> list[Row]:
        """Rows of everyone enrolled in the study who consents to engagement now (erasure is
        checked by the caller); one query, the membership as a subquery."""
        return self.q(f"SELECT {cols} FROM {table} WHERE su_id IN ({_COHORT}){where}", study_id, *params)

    def cohort_totals(self, study_id: str, first_day: str, last_day: str) -> list[Row]:
        """Per consenting SU and scope (all, solo, joint): active seconds, points, days, first and last day."""
        common = "SUM(active_s) AS active_s, SUM(points) AS points, MIN(day) AS first_day, MAX(day) AS last_day"
        where = f"WHERE su_id IN ({_COHORT}) AND day >= ? AND day <= ?"
        return self.q(
            f"SELECT su_id, mode AS scope, COUNT(*) AS days, {common} FROM rs_daily {where} GROUP BY su_id, mode "
            f"UNION ALL SELECT su_id, 'all' AS scope, COUNT(DISTINCT day) AS days, {common} FROM rs_daily {where} "
            "GROUP BY su_id",
            study_id,
            first_day,
            last_day,
            study_id,
            first_day,
            last_day,
        )

    def cohort_sessions(self, study_id: str, start: str, end: str) -> tuple[list[Row], list[Row]]:
        """Per SU and mode: ended sessions and the first start; and every ended session's minutes by arm."""
        where = f"WHERE s.su_id IN ({_COHORT}) AND s.started_at >= ? AND s.started_at < ?"
        stats = self.q(
            f"SELECT s.su_id, s.mode, COUNT(s.end_ts) AS n, MIN(s.started_at) AS first_at FROM rs_sessions s {where} "
            "GROUP BY s.su_id, s.mode",
            study_id,
            start,
            end,
        )
        minutes = self.q(
            "SELECT m.arm, s.mode, (s.end_ts - s.start_ts) / 60.0 AS minutes FROM rs_sessions s "
            f"JOIN rs_members m ON m.su_id = s.su_id AND m.study_id = ? {where} AND s.end_ts IS NOT NULL",
            study_id,
            study_id,
            start,
            end,
        )
        return stats, minutes

    def cohort_sections(self, study_id: str, start: str, end: str, sections: list[str]) -> list[Row]:
        """Per SU and the mode of the first view: content sections first viewed, and whether the first one was."""
        marks = ",".join("?" * len(sections)) or "NULL"
        return self.q(
            f"SELECT su_id, mode, COUNT(*) AS n, SUM(CASE WHEN ref = ? THEN 1 ELSE 0 END) AS first_one "
            f"FROM rs_firsts WHERE su_id IN ({_COHORT}) AND kind = 'section' AND first_at >= ? AND first_at < ? "
            f"AND ref IN ({marks}) GROUP BY su_id, mode",
            sections[0] if sections else None,
            study_id,
            start,
            end,
            *sections,
        )

    def cohort_weeks(self, study_id: str, first_day: str, last_day: str) -> list[Row]:
        """Per arm, scope and study week (0 = the seven days from the start): active seconds and points."""
        if self.store.backend == "sqlite":
            week = "CAST((julianday(d.day) - julianday(?)) / 7 AS INTEGER)"
        else:
            week = "((CAST(d.day AS date) - CAST(? AS date)) / 7)"
        base = (
            f"FROM rs_daily d JOIN rs_members m ON m.su_id = d.su_id AND m.study_id = ? "
            f"WHERE d.su_id IN ({_COHORT}) AND d.day >= ? AND d.day <= ?"
        )
        sums = "SUM(d.active_s) AS active_s, SUM(d.points) AS points"
        args = (first_day, study_id, study_id, first_day, last_day)
        return self.q(  # GROUP BY positions: the week expression holds a parameter
            f"SELECT m.arm, d.mode AS scope, {week} AS week, {sums} {base} GROUP BY 1, 2, 3 "
            f"UNION ALL SELECT m.arm, 'all' AS scope, {week} AS week, {sums} {base} GROUP BY 1, 2, 3",
            *args,
            *args,
        )

    def sessions(self, su_ids: list[str], start: str, end: str) -> list[Row]:
        return self._in(
            "rs_sessions",
            "su_id, key, mode, started_at, ended_at, start_ts, end_ts, events, worker_id",
            su_ids,
            " AND started_at >= ? AND started_at < ? ORDER BY su_id, start_ts",
            start,
            end,
        )

    def events(self, su_id: str, start: str, end: str, batch: int = 5000) -> Any:
        """One SU's journey events in the period, oldest first, fetched a batch at a time."""
        after = -1
        while True:
            got = self.q(
                "SELECT position, at, kind, ref, session_id, num, num2, sealed FROM rs_events "
                "WHERE su_id = ? AND position > ? AND at >= ? AND at < ? ORDER BY position LIMIT ?",
                su_id,
                after,
                start,
                end,
                batch,
            )
            yield from got
            if len(got) < batch:
                return
            after = got[-1]["position"]


# Who a study's aggregate reads cover: enrolled, consenting to engagement now, not erased.
_COHORT = (
    "SELECT su_id FROM rs_members WHERE study_id = ? AND engagement = 1 "
    "AND su_id NOT IN (SELECT su_id FROM rs_people WHERE erased = 1)"
)


def _study_row(r: Row) -> Row:
    return {
        **r,
        "arms": json.loads(r["arms"]),
        "researchers": json.loads(r["researchers"]),
        "allow_text": bool(r["allow_text"]),
    }


def _merge(segs: list[list[float]]) -> list[list[float]]:
    """Overlapping or touching segments become one; a segment to the end (-1) absorbs what follows it."""
    out: list[list[float]] = []
    for a, b in sorted(segs, key=lambda s: s[0]):
        if out and (out[-1][1] == -1 or a <= out[-1][1]):
            if out[-1][1] != -1 and (b == -1 or b > out[-1][1]):
                out[-1][1] = b
        else:
            out.append([a, b])
    return out
