"""What a researcher may see of a study, and the reads the dashboard, the API and exports share.

The access rule lives here, for every path (pages, JSON, downloads, the command line):
- only a researcher on the study sees it (anyone else: 403, audited);
- only participants enrolled in it who currently consent to engagement, and were not
  erased, exist for it: a withdrawal counts from the very next read;
- each appears under a per-study pseudonym (an HMAC of their id with the study's secret);
  raw ids are refused (403, audited);
- answer text only where the study collects it and the participant agreed to it.
Every allowed look is audited too. Metric definitions: docs/metrics.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import statistics
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from core.commands import Actor

MODES = ("solo", "joint")
RETENTION_DAYS = (7, 15, 30, 60, 90, 180)
COMPLETION_THRESHOLD = 0.9  # a video counts as completed once 90 % of it was played (or it ended)
HEATMAP_BINS = 10
_UUIDISH = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)
PSEUDONYM = re.compile(r"^p-[0-9a-f]{12}$")


class Refused(Exception):
    """A researcher asked for something they may not have: status, reason, and what it was."""

    def __init__(self, status: int, message: str, resource: str, subject: UUID | None = None):
        super().__init__(message)
        self.status, self.message, self.resource, self.subject = status, message, resource, subject


AuditFn = Callable[[UUID | None, str, bool, str], Awaitable[Any]]


@dataclass(frozen=True)
class Study:
    study_id: str
    code: str
    name: str
    arms: list[dict[str, str]]
    start: str
    end: str  # inclusive
    allow_text: bool
    secret: str

    @property
    def end_excl(self) -> str:
        return (date.fromisoformat(self.end) + timedelta(days=1)).isoformat()

    def arm_label(self, arm: str) -> str:
        return next((a["label"] for a in self.arms if a["id"] == arm), arm)


@dataclass(frozen=True)
class Participant:
    su_id: str  # internal only: never rendered or exported
    pseudonym: str
    arm: str
    shift_days: int
    answer_text: bool


def _mac(secret: str, what: str) -> str:
    return hmac.new(bytes.fromhex(secret), what.encode(), hashlib.sha256).hexdigest()


def pseudonym(secret: str, su_id: str) -> str:
    return "p-" + _mac(secret, "participant:" + su_id)[:12]


def shift_days(secret: str, su_id: str) -> int:
    """A per-participant offset of -60..+60 days (never 0), the same for all their dates."""
    n = int(_mac(secret, "shift:" + su_id)[:8], 16) % 120
    return n - 60 if n < 60 else n - 59


def session_ref(secret: str, su_id: str, key: str) -> str:
    return "s-" + _mac(secret, f"session:{su_id}:{key}")[:12]


# ------------------------------------------------------------------ access


async def open_study(views: Any, actor: Actor, study_ref: str, audit: AuditFn, what: str) -> Study:
    """The study, if `actor` is a researcher on it; else Refused (after auditing the attempt)."""
    resource = f"research:{study_ref[:60]}:{what}"
    try:
        sid = str(UUID(study_ref))
    except ValueError:
        sid = ""
    row = views.research.study(sid) if sid else None
    if row is None:
        await audit(None, resource, False, "no such study")
        raise Refused(404, "There is no such study.", resource)
    if actor.role != "researcher" or str(actor.user_id) not in row["researchers"]:
        await audit(None, resource, False, "not a researcher on this study")
        raise Refused(403, "You are not on this study, so you cannot see its data.", resource)
    return Study(
        study_id=row["study_id"],
        code=row["code"],
        name=row["name"],
        arms=row["arms"],
        start=row["start_date"],
        end=row["end_date"],
        allow_text=row["allow_text"],
        secret=row["secret"],
    )


def participants(views: Any, study: Study) -> list[Participant]:
    """Enrolled, consenting to engagement right now, not erased; by pseudonym."""
    out = [
        Participant(
            su_id=m["su_id"],
            pseudonym=pseudonym(study.secret, m["su_id"]),
            arm=m["arm"],
            shift_days=shift_days(study.secret, m["su_id"]),
            answer_text=bool(m["answer_text"]),
        )
        for m in views.research.members(study.study_id)
        if m["engagement"] and not m["erased"]
    ]
    return sorted(out, key=lambda p: p.pseudonym)


async def participant(views: Any, study: Study, ref: str, audit: AuditFn) -> Participant:
    """One participant by their study pseudonym; raw ids and anyone not consenting are refused."""
    resource = f"research:{study.code}:participant:{ref[:60]}"
    if _UUIDISH.search(ref) or not PSEUDONYM.match(ref):
        await audit(None, resource, False, "asked by a raw id or not a pseudonym")
        raise Refused(403, "Participants are only reachable by their study pseudonym (p- and 12 hex digits).", resource)
    found = next((p for p in participants(views, study) if p.pseudonym == ref), None)
    if found is None:
        await audit(None, resource, False, "no consenting participant with that pseudonym")
        raise Refused(
            403,
            "No consenting participant has that pseudonym in this study "
            "(they may never have consented, or have withdrawn).",
            resource,
        )
    await audit(UUID(found.su_id), resource, True, "researcher on the study; participant consents")
    return found


async def require_text(study: Study, audit: AuditFn, resource: str) -> None:
    if not study.allow_text:
        await audit(None, resource, False, "answer text asked for; the study does not collect it")
        raise Refused(403, "This study does not collect answer text.", resource)


# ------------------------------------------------------------------ metrics


def _weeks_between(start: str, day: str) -> int:
    return (date.fromisoformat(day) - date.fromisoformat(start)).days // 7


def _mean(xs: list[float]) -> float | None:
    return round(sum(xs) / len(xs), 3) if xs else None


def _median(xs: list[float]) -> float | None:
    return round(statistics.median(xs), 3) if xs else None


def _share(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


@dataclass(frozen=True)
class _Acc:
    """One participant's activity in one scope (all, solo or joint); days counted from the start."""

    active_s: float
    points: int
    days: int
    first: int
    last: int


def metrics(views: Any, content: Any, study: Study, people: list[Participant]) -> dict[str, Any]:
    """Every metric of docs/metrics.md, split by arm and by solo vs joint."""
    rs, sid, ids = views.research, study.study_id, {p.su_id for p in people}
    sections = [s.id for s in content.sections()]
    stats, minutes = rs.cohort_sessions(sid, study.start, study.end_excl)
    topics = rs.cohort(
        "rs_firsts",
        "su_id, ref, mode, position",
        sid,
        " AND kind = 'topic' AND first_at >= ? AND first_at < ? ORDER BY position",
        study.start,
        study.end_excl,
    )
    return compute(
        study,
        people,
        totals=[r for r in rs.cohort_totals(sid, study.start, study.end) if r["su_id"] in ids],
        weeks=rs.cohort_weeks(sid, study.start, study.end),
        session_stats=[r for r in stats if r["su_id"] in ids],
        session_minutes=minutes,
        section_stats=[r for r in rs.cohort_sections(sid, study.start, study.end_excl, sections) if r["su_id"] in ids],
        topic_firsts=[r for r in topics if r["su_id"] in ids],
        segments=[
            r for r in rs.cohort("rs_segments", "su_id, video_id, mode, segments, completed", sid) if r["su_id"] in ids
        ],
        sections=sections,
        topics=[t.id for t in content.topics],
        durations={v.id: v.duration_s for v in content.videos} if hasattr(content, "videos") else {},
    )


def compute(
    study: Study,
    people: list[Participant],
    totals: list[dict[str, Any]],
    weeks: list[dict[str, Any]],
    session_stats: list[dict[str, Any]],
    session_minutes: list[dict[str, Any]],
    section_stats: list[dict[str, Any]],
    topic_firsts: list[dict[str, Any]],
    segments: list[dict[str, Any]],
    sections: list[str],
    topics: list[str],
    durations: dict[str, float],
) -> dict[str, Any]:
    arms = [a["id"] for a in study.arms]
    n_arm = {a: sum(1 for p in people if p.arm == a) for a in arms}
    scopes = ("all", *MODES)

    # Per (participant, scope) totals, and per (arm, scope, week) sums, both added up by the store.
    n_weeks = _weeks_between(study.start, study.end) + 1
    start_day = date.fromisoformat(study.start)
    acc: dict[tuple[str, str], _Acc] = {}
    for t in totals:
        acc[(t["su_id"], t["scope"])] = _Acc(
            t["active_s"] or 0.0,
            int(t["points"] or 0),
            int(t["days"]),
            (date.fromisoformat(t["first_day"]) - start_day).days,
            (date.fromisoformat(t["last_day"]) - start_day).days,
        )
    week_sums: dict[tuple[str, str, int], tuple[float, float]] = {
        (w["arm"], w["scope"], int(w["week"])): (w["active_s"] or 0.0, float(w["points"] or 0)) for w in weeks
    }
    took_up = {su for (su, scope) in acc if scope == "all"}
    empty = _Acc(0.0, 0, 0, 10**9, -1)

    per_arm: dict[str, Any] = {}
    weekly: list[dict[str, Any]] = []
    retention: list[dict[str, Any]] = []
    for arm in arms:
        members = [p.su_id for p in people if p.arm == arm]
        up = [su for su in members if su in took_up]
        row: dict[str, Any] = {
            "arm": arm,
            "label": study.arm_label(arm),
            "participants": len(members),
            "took_up": len(up),
            "uptake": _share(len(up), len(members)),
        }
        for scope in scopes:
            mine = [acc.get((su, scope), empty) for su in up]
            row[scope] = {
                "active_minutes_mean": _mean([a.active_s / 60 for a in mine]),
                "active_minutes_per_active_day_mean": _mean([a.active_s / 60 / a.days for a in mine if a.days]),
                "days_active_mean": _mean([float(a.days) for a in mine]),
                "tracker_points_per_week_mean": _mean([a.points / n_weeks for a in mine]),
            }
            for w in range(n_weeks):
                secs, pts = week_sums.get((arm, scope, w), (0.0, 0.0))
                weekly.append(
                    {
                        "arm": study.arm_label(arm),
                        "mode": scope,
                        "week": w + 1,
                        "active_minutes_mean": round(secs / 60 / len(up), 3) if up else 0.0,
                        "tracker_points_mean": round(pts / len(up), 3) if up else 0.0,
                    }
                )
            # Still active at day N: some activity (of this mode) N or more days after the first of any kind.
            reach = [(a.last - acc[(su, "all")].first) if a.days else -1 for su, a in zip(up, mine, strict=True)]
            for horizon in range(0, 181):
                if horizon in RETENTION_DAYS or horizon % 3 == 0:
                    still = sum(1 for r in reach if r >= horizon)
                    retention.append(
                        {"arm": study.arm_label(arm), "mode": scope, "day": horizon, "retained": _share(still, len(up))}
                    )
        per_arm[arm] = row

    # Sessions, solo and joint, with durations.
    n_ses: dict[tuple[str, str], int] = {}
    first_joint: dict[str, str] = {}
    for r in session_stats:
        n_ses[(r["su_id"], r["mode"])] = int(r["n"])
        if r["mode"] == "joint":
            first_joint[r["su_id"]] = r["first_at"]
    lengths: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in session_minutes:
        lengths[(r["arm"], r["mode"])].append(r["minutes"])
    for arm in arms:
        up = [p.su_id for p in people if p.arm == arm and p.su_id in took_up]
        for mode in MODES:
            per_arm[arm][mode]["sessions_mean"] = _mean([float(n_ses.get((su, mode), 0)) for su in up])
            per_arm[arm][mode]["session_minutes_median"] = _median(lengths[(arm, mode)]) if up else None
        waits = [
            float((date.fromisoformat(first_joint[su][:10]) - start_day).days - acc[(su, "all")].first)
            for su in up
            if su in first_joint
        ]
        per_arm[arm]["days_to_first_joint_session_median"] = _median([max(0.0, w) for w in waits])
        per_arm[arm]["had_a_joint_session"] = _share(sum(1 for su in up if su in first_joint), len(up))

    # Sections (by the mode of each one's first view), topics.
    sec: dict[tuple[str, str], tuple[int, int]] = defaultdict(lambda: (0, 0))
    for r in section_stats:
        for scope in ("all", r["mode"]):
            n, first = sec[(r["su_id"], scope)]
            sec[(r["su_id"], scope)] = (n + int(r["n"]), first + int(r["first_one"] or 0))
    topic_order: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for f in topic_firsts:
        topic_order[f["su_id"]].append((f["ref"], f["mode"]))
    order_cells: dict[tuple[str, int, str], int] = defaultdict(int)
    first_topics: dict[tuple[str, str, str], int] = defaultdict(int)
    for arm in arms:
        up = [p.su_id for p in people if p.arm == arm and p.su_id in took_up]
        for scope in scopes:
            per_arm[arm][scope]["completed_first_section"] = _share(sum(1 for su in up if sec[(su, scope)][1]), len(up))
            per_arm[arm][scope]["sections_viewed_share_mean"] = _mean(
                [sec[(su, scope)][0] / len(sections) for su in up] if sections else []
            )
        for su in up:
            order = topic_order.get(su, [])
            if order:
                first_topics[(arm, order[0][0], order[0][1])] += 1
            for i, (topic, _mode) in enumerate(order):
                order_cells[(arm, i + 1, topic)] += 1
    topic_flow = [
        {"arm": study.arm_label(a), "step": i, "topic": t, "participants": n}
        for (a, i, t), n in sorted(order_cells.items())
    ]
    first_topic = [
        {"arm": study.arm_label(a), "topic": t, "mode": m, "participants": n}
        for (a, t, m), n in sorted(first_topics.items())
    ]

    # Videos: completion at the threshold, and the played-segment heatmap.
    videos: dict[tuple[str, str], dict[str, Any]] = {}
    for seg in segments:
        if seg["su_id"] not in took_up:
            continue
        length = durations.get(seg["video_id"])
        spans = [(a, length if b == -1 else b) for a, b in json.loads(seg["segments"]) if length or b != -1]
        for scope in ("all", seg["mode"]):
            v = videos.setdefault(
                (seg["video_id"], scope),
                {
                    "video_id": seg["video_id"],
                    "mode": scope,
                    "started": set(),
                    "completed": set(),
                    "bins": defaultdict(set),
                },
            )
            v["started"].add(seg["su_id"])
            covered = sum(b - a for a, b in spans if b is not None)
            if seg["completed"] or (length and covered / length >= COMPLETION_THRESHOLD):
                v["completed"].add(seg["su_id"])
            if length:
                for a, b in spans:
                    if b is None:
                        continue
                    for k in range(HEATMAP_BINS):
                        lo, hi = length * k / HEATMAP_BINS, length * (k + 1) / HEATMAP_BINS
                        if a < hi and b > lo:
                            v["bins"][k].add(seg["su_id"])
    video_rows = []
    heat = []
    for (vid, scope), v in sorted(videos.items()):
        n = len(v["started"])
        video_rows.append({"video_id": vid, "mode": scope, "started": n, "completion": _share(len(v["completed"]), n)})
        for k in range(HEATMAP_BINS):
            heat.append(
                {
                    "video_id": vid,
                    "mode": scope,
                    "segment": f"{k * 100 // HEATMAP_BINS}-{(k + 1) * 100 // HEATMAP_BINS}%",
                    "share_played": _share(len(v["bins"][k]), n),
                }
            )
    return {
        "study": {"code": study.code, "name": study.name, "start": study.start, "end": study.end},
        "participants": len(people),
        "arms": [per_arm[a] for a in arms],
        "weekly": weekly,
        "retention": retention,
        "retention_days": list(RETENTION_DAYS),
        "topic_flow": topic_flow,
        "first_topic": first_topic,
        "videos": video_rows,
        "video_heatmap": heat,
        "completion_threshold": COMPLETION_THRESHOLD,
        "n_arm": n_arm,
        "topics": topics,
    }


# ------------------------------------------------------------------ one participant's timeline


def timeline(views: Any, study: Study, p: Participant) -> dict[str, Any]:
    """Solo and joint sessions over the study period, each with its events (no free text)."""
    rs = views.research
    sessions = rs.sessions([p.su_id], study.start, study.end_excl)
    events = list(rs.events(p.su_id, study.start, study.end_excl))
    by_joint: dict[str, list[dict[str, Any]]] = defaultdict(list)
    solo: list[dict[str, Any]] = []
    for e in events:
        item = {"at": e["at"], "kind": e["kind"], "ref": e["ref"]}
        if e["session_id"]:
            by_joint[e["session_id"]].append(item)
        else:
            solo.append(item)
    out = []
    for s in sessions:
        if s["mode"] == "joint":
            evs = by_joint.get(s["key"], [])
        else:
            evs = [e for e in solo if s["started_at"] <= e["at"] <= (s["ended_at"] or s["started_at"])]
        end = s["ended_at"] or s["started_at"]
        out.append(
            {
                "session": session_ref(study.secret, p.su_id, s["key"]),
                "mode": s["mode"],
                "start": s["started_at"],
                "end": end,
                "minutes": round(((s["end_ts"] or s["start_ts"]) - s["start_ts"]) / 60, 1),
                "events": evs,
            }
        )
    return {"pseudonym": p.pseudonym, "arm": study.arm_label(p.arm), "sessions": out}


# ------------------------------------------------------------------ exports

CSV_EVENT_COLUMNS = (
    "study",
    "participant",
    "arm",
    "at",
    "study_day",
    "mode",
    "session",
    "kind",
    "ref",
    "value",
    "value2",
)
CSV_SESSION_COLUMNS = ("study", "participant", "arm", "session", "mode", "start", "end", "minutes", "events")
_FORMULA = ("=", "+", "-", "@", "\t", "\r", "|", "%")


def csv_cell(v: Any) -> str:
    """A CSV field that a spreadsheet will not run as a formula (OWASP CSV injection)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v) if isinstance(v, float) else str(v)
    s = str(v)
    if s.startswith(_FORMULA):
        s = "'" + s
    if any(c in s for c in ',"\n\r'):
        s = '"' + s.replace('"', '""') + '"'
    return s


def csv_line(values: Iterable[Any]) -> str:
    return ",".join(csv_cell(v) for v in values) + "\r\n"


def _shift(at: str | None, days: int) -> str | None:
    if at is None or days == 0:
        return at
    return (datetime.fromisoformat(at) + timedelta(days=days)).isoformat()


@dataclass(frozen=True)
class ExportOptions:
    shift_dates: bool = False
    text: bool = False  # include answer text where the participant agreed (study must allow it)


def event_records(
    views: Any,
    study: Study,
    people: Iterable[Participant],
    opts: ExportOptions,
    reveal: Callable[[UUID, dict[str, str]], str | None],
) -> Iterator[tuple[Participant, dict[str, Any]]]:
    """Every journey event of every participant in the period, pseudonymised, one at a time."""
    rs = views.research
    start = date.fromisoformat(study.start)
    for p in people:
        days = p.shift_days if opts.shift_dates else 0
        for e in rs.events(p.su_id, study.start, study.end_excl):
            rec: dict[str, Any] = {
                "study": study.code,
                "participant": p.pseudonym,
                "arm": p.arm,
                "at": _shift(e["at"], days),
                "study_day": (date.fromisoformat(e["at"][:10]) - start).days,
                "mode": "joint" if e["session_id"] else "solo",
                "session": session_ref(study.secret, p.su_id, e["session_id"]) if e["session_id"] else None,
                "kind": e["kind"],
                "ref": e["ref"],
                "value": e["num"],
                "value2": e["num2"],
            }
            if opts.text and p.answer_text and e["sealed"]:
                rec["answer_text"] = reveal(UUID(p.su_id), json.loads(e["sealed"]))
            yield p, rec


def session_records(
    views: Any, study: Study, people: Iterable[Participant], opts: ExportOptions
) -> Iterator[dict[str, Any]]:
    rs = views.research
    for p in people:
        days = p.shift_days if opts.shift_dates else 0
        for s in rs.sessions([p.su_id], study.start, study.end_excl):
            yield {
                "study": study.code,
                "participant": p.pseudonym,
                "arm": p.arm,
                "session": session_ref(study.secret, p.su_id, s["key"]),
                "mode": s["mode"],
                "start": _shift(s["started_at"], days),
                "end": _shift(s["ended_at"], days),
                "minutes": round(((s["end_ts"] or s["start_ts"]) - s["start_ts"]) / 60, 2) if s["ended_at"] else None,
                "events": s["events"],
            }


# ------------------------------------------------------------------ the web's way in


def auditor(request: Any, actor: Actor) -> AuditFn:
    from web.access import printable

    async def audit(subject: UUID | None, resource: str, allowed: bool, reason: str) -> Any:
        return await request.app.state.tandem.audit(
            actor, subject, printable(resource), allowed=allowed, reason=printable(reason)
        )

    return audit


def as_web_error(e: Refused) -> Exception:
    from web import errors

    return errors.WebError(e.status, "forbidden" if e.status == 403 else "not_found", e.message)


async def study_for(request: Any, actor: Actor, what: str) -> Study:
    """The study named in the path, for a researcher on it (audited either way)."""
    audit = auditor(request, actor)
    try:
        study = await open_study(request.app.state.projections, actor, request.path_params["study_id"], audit, what)
    except Refused as e:
        raise as_web_error(e) from None
    await audit(None, f"research:{study.code}:{what}", True, "researcher on the study")
    return study


async def participant_for(request: Any, actor: Actor, study: Study) -> Participant:
    try:
        return await participant(
            request.app.state.projections, study, request.path_params["pseudonym"], auditor(request, actor)
        )
    except Refused as e:
        raise as_web_error(e) from None


def my_studies(views: Any, actor: Actor) -> list[dict[str, Any]]:
    return [
        {
            **s,
            "participants": sum(
                1 for m in views.research.members(s["study_id"]) if m["engagement"] and not m["erased"]
            ),
        }
        for s in views.research.studies()
        if str(actor.user_id) in s["researchers"]
    ]


def consent_choices(views: Any, su_id: UUID) -> list[dict[str, Any]]:
    """The studies an SU is enrolled in, with what they have agreed to (for their consent page)."""
    return [
        {
            "study_id": s["study_id"],
            "name": s["name"],
            "allow_text": bool(s["allow_text"]),
            "engagement": bool(s["engagement"]),
            "answer_text": bool(s["answer_text"]),
        }
        for s in views.research.studies_of(str(su_id))
    ]


def parse_study_form(data: dict[str, Any]) -> dict[str, Any]:
    """An admin's new study from a form or JSON: arms as a list or as "id: label" lines."""
    from web import errors

    arms = data.get("arms")
    if isinstance(arms, str):
        parsed = []
        for line in arms.splitlines():
            if line.strip():
                arm_id, _, label = line.partition(":")
                parsed.append({"id": arm_id.strip(), "label": (label or arm_id).strip()})
        arms = parsed
    researchers = data.get("researchers", [])
    if isinstance(researchers, str):
        researchers = [researchers]
    if not isinstance(researchers, list):
        raise errors.WebError(422, "invalid_field", "must be a list of researcher ids", "researchers")
    try:
        rids = [UUID(str(r)) for r in researchers]
    except ValueError:
        raise errors.WebError(422, "invalid_field", "must be researcher account ids", "researchers") from None
    allow = data.get("allow_text", False)
    if isinstance(allow, str):
        allow = allow in ("1", "true", "on")
    if not isinstance(allow, bool):
        raise errors.WebError(422, "invalid_field", "must be true or false", "allow_text")
    return {
        "code": data.get("code", ""),
        "name": data.get("name", ""),
        "arms": arms,
        "start": data.get("start", ""),
        "end": data.get("end", ""),
        "researchers": rids,
        "allow_text": allow,
    }
