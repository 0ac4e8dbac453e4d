"""Pseudonymous engagement per SU, for researchers; reads only return consenting SUs.

Active time: the gap between an SU's consecutive journey events counts when it is at most
ACTIVE_GAP (or the section's reported time on screen, if larger); a solo session is a run of
the SU's own actions outside joint sessions with no gap over SOLO_GAP.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from core import aggregates as A
from projections.base import Dead, Projection, Row, Rows, handles, ids_table, iso
from projections.store import TableSpec

ACTIVE_GAP = 600.0
SOLO_GAP = 1800.0

SUS = TableSpec(
    "eng_sus",
    (
        ("su_id", "text"),
        ("pseudonym", "text"),
        ("consented", "int"),
        ("first_at", "text"),
        ("last_at", "text"),
        ("last_ts", "real"),
        ("last_solo_ts", "real"),
        ("active_s", "real"),
        ("solo_sessions", "int"),
        ("joint_sessions", "int"),
        ("first_topic", "text"),
        ("topic_order", "text"),
        ("videos_started", "text"),
        ("videos_completed", "text"),
        ("tracker_points", "int"),
        ("trackers_used", "text"),
    ),
    ("su_id",),
    (("pseudonym",),),
)
DAILY = TableSpec(
    "eng_daily", (("su_id", "text"), ("day", "text"), ("active_s", "real"), ("events", "int")), ("su_id", "day")
)

JOURNEY_ACTIONS = tuple(c for c in vars(A.Journey).values() if isinstance(c, type) and issubclass(c, A.Action))


class Engagement(Projection):
    name = "engagement"
    version = 2  # 2: forgets erased people
    tables = (SUS, DAILY, ids_table("engagement"))

    @handles(A.Account.Registered)
    def _registered(self, ev: Any, pos: int, rows: Rows) -> None:
        if ev.role != "service_user":
            return
        rows.put(
            "eng_sus",
            {
                "su_id": str(ev.originator_id),
                "pseudonym": ev.pseudonym,
                "consented": 0,
                "first_at": None,
                "last_at": None,
                "last_ts": None,
                "last_solo_ts": None,
                "active_s": 0.0,
                "solo_sessions": 0,
                "joint_sessions": 0,
                "first_topic": None,
                "topic_order": "[]",
                "videos_started": "[]",
                "videos_completed": "[]",
                "tracker_points": 0,
                "trackers_used": "[]",
            },
        )

    @handles(A.Journey.Began, A.Consent.Opened)
    def _ids(self, ev: Any, pos: int, rows: Rows) -> None:
        self.remember(rows, ev.originator_id, ev.su_id)

    def _su(self, rows: Rows, su_id: str) -> Row:
        row = rows.get("eng_sus", su_id)
        if row is None:
            raise Dead(f"no service user account {su_id}")
        return row

    @handles(A.Consent.ConsentGiven, A.Consent.ConsentWithdrawn)
    def _consent(self, ev: Any, pos: int, rows: Rows) -> None:
        row = self._su(rows, self.su_of(rows, ev.originator_id))
        if ev.scope == "research":
            row["consented"] = int(isinstance(ev, A.Consent.ConsentGiven))
            rows.put("eng_sus", row)

    @handles(A.JointSession.SessionStarted)
    def _joint(self, ev: Any, pos: int, rows: Rows) -> None:
        row = self._su(rows, str(ev.su_id))
        row["joint_sessions"] += 1
        rows.put("eng_sus", row)

    @handles(*JOURNEY_ACTIONS)
    def _action(self, ev: Any, pos: int, rows: Rows) -> None:
        row = self._su(rows, self.su_of(rows, ev.originator_id))
        ts = ev.timestamp.timestamp()
        gap = ts - row["last_ts"] if row["last_ts"] is not None else None
        active = gap if gap is not None and 0 <= gap <= ACTIVE_GAP else 0.0
        if isinstance(ev, A.Journey.SectionViewed) and ev.seconds_on_screen:
            active = max(active, min(ev.seconds_on_screen, ACTIVE_GAP))
        row["active_s"] += active
        row["first_at"] = row["first_at"] or iso(ev.timestamp)
        row["last_at"], row["last_ts"] = iso(ev.timestamp), ts
        if ev.session_id is None:
            if row["last_solo_ts"] is None or ts - row["last_solo_ts"] > SOLO_GAP:
                row["solo_sessions"] += 1
            row["last_solo_ts"] = ts
        if isinstance(ev, A.Journey.TopicOpened):
            row["first_topic"] = row["first_topic"] or ev.topic_id
            _add(row, "topic_order", ev.topic_id)
        elif isinstance(ev, A.Journey.VideoPlayed):
            _add(row, "videos_started", ev.video_id)
        elif isinstance(ev, A.Journey.VideoCompleted):
            _add(row, "videos_started", ev.video_id)
            _add(row, "videos_completed", ev.video_id)
        elif isinstance(ev, A.Journey.ChartPointRecorded):
            row["tracker_points"] += 1
            _add(row, "trackers_used", ev.tracker_id)
        rows.put("eng_sus", row)
        day = row["last_at"][:10]  # stored times are UTC
        d = rows.get("eng_daily", row["su_id"], day) or {
            "su_id": row["su_id"],
            "day": day,
            "active_s": 0.0,
            "events": 0,
        }
        d["active_s"] += active
        d["events"] += 1
        rows.put("eng_daily", d)

    # ------------------------------------------------------------ reads

    def for_consenting(self) -> list[Row]:
        return [self._report(r) for r in self.q("SELECT * FROM eng_sus WHERE consented = 1 ORDER BY pseudonym")]

    def for_pseudonym(self, pseudonym: str) -> Row | None:
        found = self.q("SELECT * FROM eng_sus WHERE pseudonym = ? AND consented = 1", pseudonym)
        return self._report(found[0]) if found else None

    def _report(self, r: Row) -> Row:
        daily = self.q("SELECT day, active_s, events FROM eng_daily WHERE su_id = ? ORDER BY day", r["su_id"])
        weeks: dict[str, Row] = {}
        for d in daily:
            day = date.fromisoformat(d["day"])
            week = (day - timedelta(days=day.weekday())).isoformat()
            w = weeks.setdefault(week, {"week": week, "active_minutes": 0.0, "events": 0})
            w["active_minutes"] += d["active_s"] / 60
            w["events"] += d["events"]
        started, completed = json.loads(r["videos_started"]), json.loads(r["videos_completed"])
        last = datetime.fromisoformat(r["last_at"]) if r["last_at"] else None
        return {
            "pseudonym": r["pseudonym"],
            "first_activity_at": r["first_at"],
            "last_activity_at": r["last_at"],
            "days_since_last_activity": (datetime.now(UTC) - last).days if last else None,
            "active_minutes_total": r["active_s"] / 60,
            "solo_sessions": r["solo_sessions"],
            "joint_sessions": r["joint_sessions"],
            "first_topic": r["first_topic"],
            "topic_order": json.loads(r["topic_order"]),
            "videos_started": len(started),
            "videos_completed": len(completed),
            "video_completion": len(completed) / len(started) if started else 0.0,
            "tracker_points": r["tracker_points"],
            "trackers_used": json.loads(r["trackers_used"]),
            "daily": [{"day": d["day"], "active_minutes": d["active_s"] / 60, "events": d["events"]} for d in daily],
            "weekly": list(weeks.values()),
        }


def _add(row: Row, col: str, value: str) -> None:
    """Append to a JSON list of ids kept as text, without parsing it (hot path in rebuilds)."""
    item = json.dumps(value)
    text = row[col]
    if item not in text[1:-1].split(","):
        row[col] = text[:-1] + ("," if len(text) > 2 else "") + item + "]"
