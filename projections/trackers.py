"""Chart points per SU and tracker, with weekly aggregates for the week-to-week view."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from core import aggregates as A
from projections.base import Projection, Row, Rows, dumps, handles, ids_table, iso, sid
from projections.store import TableSpec

POINTS = TableSpec(
    "trk_points",
    (
        ("su_id", "text"),
        ("tracker_id", "text"),
        ("position", "int"),
        ("for_date", "text"),
        ("recorded_at", "text"),
        ("vals", "text"),
        ("session_id", "text"),
    ),
    ("su_id", "tracker_id", "position"),
)
WEEKLY = TableSpec(
    "trk_weekly",
    (
        ("su_id", "text"),
        ("tracker_id", "text"),
        ("week", "text"),
        ("measure", "text"),
        ("n", "int"),
        ("total", "real"),
        ("lo", "real"),
        ("hi", "real"),
    ),
    ("su_id", "tracker_id", "week", "measure"),
)


def week_of(for_date: str) -> str:
    d = date.fromisoformat(for_date)
    return (d - timedelta(days=d.weekday())).isoformat()


class Trackers(Projection):
    name = "trackers"
    version = 2  # 2: forgets erased people
    tables = (POINTS, WEEKLY, ids_table("trackers"))

    @handles(A.Journey.Began)
    def _began(self, ev: Any, pos: int, rows: Rows) -> None:
        self.remember(rows, ev.originator_id, ev.su_id)

    @handles(A.Journey.ChartPointRecorded)
    def _point(self, ev: Any, pos: int, rows: Rows) -> None:
        self.check("tracker", ev.tracker_id)
        su = self.su_of(rows, ev.originator_id)
        values = self.keys.values(UUID(su), ev.values)
        if values is None:
            return  # the person was erased: nothing of this point is kept
        week = week_of(ev.for_date)
        rows.insert(
            "trk_points",
            {
                "su_id": su,
                "tracker_id": ev.tracker_id,
                "position": pos,
                "for_date": ev.for_date,
                "recorded_at": iso(ev.timestamp),
                "vals": dumps(values),
                "session_id": sid(ev.session_id),
            },
        )
        for measure, value in sorted(values.items()):
            row = rows.get("trk_weekly", su, ev.tracker_id, week, measure)
            if row is None:
                row = {
                    "su_id": su,
                    "tracker_id": ev.tracker_id,
                    "week": week,
                    "measure": measure,
                    "n": 0,
                    "total": 0.0,
                    "lo": value,
                    "hi": value,
                }
            row["n"] += 1
            row["total"] += value
            row["lo"], row["hi"] = min(row["lo"], value), max(row["hi"], value)
            rows.put("trk_weekly", row)

    # ------------------------------------------------------------ reads

    def series(self, su_id: UUID | str, tracker_id: str) -> list[Row]:
        found = self.q(
            "SELECT * FROM trk_points WHERE su_id = ? AND tracker_id = ? ORDER BY for_date, position",
            str(su_id),
            tracker_id,
        )
        return [
            {
                "position": r["position"],
                "for_date": r["for_date"],
                "recorded_at": r["recorded_at"],
                "values": json.loads(r["vals"]),
                "session_id": r["session_id"],
                "joint": r["session_id"] is not None,
            }
            for r in found
        ]

    def weekly(self, su_id: UUID | str, tracker_id: str) -> list[Row]:
        found = self.q(
            "SELECT * FROM trk_weekly WHERE su_id = ? AND tracker_id = ? ORDER BY week, measure", str(su_id), tracker_id
        )
        return [
            {
                "week": r["week"],
                "measure": r["measure"],
                "count": r["n"],
                "mean": r["total"] / r["n"],
                "min": r["lo"],
                "max": r["hi"],
            }
            for r in found
        ]

    def trackers_used(self, su_id: UUID | str) -> list[Row]:
        found = self.q(
            "SELECT tracker_id, COUNT(*) AS n, MAX(for_date) AS last FROM trk_points WHERE su_id = ? GROUP BY tracker_id ORDER BY tracker_id",
            str(su_id),
        )
        return [{"tracker_id": r["tracker_id"], "points": r["n"], "last_for_date": r["last"]} for r in found]
