"""Demo accounts for `make run`: a service user, their worker, a researcher and an admin.

Sam also gets four weeks of history, so a newcomer sees a full timeline and can replay a
session: solo visits, a weekly joint session with Wendy, answers changed over the weeks and
tracker points. It goes through the real command API (validation, access checks, sealing),
with server times in the past set by `Tandem.submit_backdated` and `start_session(at=...)`,
the seeding path the core keeps for this. It is written once: a journey that already has
actions is left alone.
"""

from __future__ import annotations

from concurrent.futures import Future
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from core import aggregates as A
from core.commands import Actor, Command
from core.errors import Conflict
from core.service import Tandem

DEMO = [
    # username, display name, role, password
    ("sam", "Sam Taylor", "service_user", "sam-demo-pass"),
    ("wendy", "Wendy Clarke", "worker", "wendy-demo-pass"),
    ("rita", "Rita Osei", "researcher", "rita-demo-pass"),
    ("adam", "Adam Hughes", "admin", "adam-demo-pass"),
]
WEEKS = 4
Q_RECOVERY = "recovery/what-recovery-means/q1"
Q_STRESS = "managing-stress/stress-and-mental-health/q1"
RECOVERY_ANSWERS = [
    "Getting back to how I was before.",
    "Not being in hospital again. Maybe going back to work one day.",
    "Having a life I want, with the illness as one part of it.",
    "A life I want: seeing my sister, walking, maybe volunteering. Bad weeks are part of the road.",
]
STRESS_ANSWERS = [
    "Money letters and loud places.",
    "Money letters, loud places, and not sleeping. I notice my jaw is tight first.",
]


def seed(tandem: Tandem, history: bool = False) -> list[tuple[str, str, str]]:
    """Create the demo accounts, link Wendy to Sam and (`history`) give Sam a past. Safe to run again."""
    ids = {}
    for username, name, role, password in DEMO:
        try:
            ids[username] = tandem.register(username, name, role, password)
        except Conflict:
            from core.aggregates import account_id

            ids[username] = account_id(username)
    if not tandem.is_linked(ids["wendy"], ids["sam"]):
        try:
            tandem.link(ids["wendy"], ids["sam"], by=ids["adam"])
        except Conflict:
            pass  # still linked, to Sam erased: nothing to redo
    if history:
        seed_history(tandem, ids["sam"], ids["wendy"])
    return [(u, r, p) for u, _, r, p in DEMO]


class _Script:
    """Actions at a moving clock; submitted together so the writer commits them in batches."""

    def __init__(self, tandem: Tandem, at: datetime, content_version: str | None):
        self.tandem, self.at, self.version = tandem, at, content_version
        self.pending: list[Future[Any]] = []
        self.n = 0

    def wait(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)

    def act(self, actor: Actor, type_: str, payload: dict[str, Any], session: UUID | None = None) -> None:
        self.n += 1
        cid = f"demo-{self.at:%Y%m%d%H%M%S}-{self.n:04d}"
        command = Command(type_, payload, cid, session_id=session, content_version=self.version)
        self.pending.append(self.tandem.submit_backdated(actor, command, self.at))
        self.wait(7)

    def flush(self) -> None:
        for f in self.pending:
            f.result(30)
        self.pending.clear()


def _version() -> str | None:
    try:
        from content.loader import load

        return load().version
    except Exception:
        return None


def seed_history(tandem: Tandem, sam_id: UUID, wendy_id: UUID, today: date | None = None) -> bool:
    """Sam's last four weeks; False when Sam's journey already has actions."""
    journey = tandem.log.find(A.journey_id(sam_id))
    if journey is None or journey.version > 1:
        return False
    sam, wendy = Actor(sam_id, "service_user", "phone"), Actor(wendy_id, "worker", "tablet")
    today = today or datetime.now(UTC).date()
    first_monday = today - timedelta(days=today.weekday() + 7 * WEEKS)
    s = _Script(tandem, datetime.combine(first_monday, time(9), UTC), _version())
    for week in range(WEEKS):
        monday = first_monday + timedelta(weeks=week)
        for offset in range(7):
            day = monday + timedelta(days=offset)
            if day >= today:
                break
            s.at = datetime.combine(day, time(8, 30 + offset), UTC)
            _mood_and_sleep(s, sam, day, week, offset)
            if offset in (0, 4):
                _solo(s, sam, week, offset)
            if offset == 2:
                _joint(s, tandem, sam, wendy, day, week)
        s.flush()
    s.flush()
    return True


def _mood_and_sleep(s: _Script, sam: Actor, day: date, week: int, offset: int) -> None:
    wobble = (offset * 5 + week * 3) % 4 - 1.5
    s.act(
        sam,
        "ChartPointRecorded",
        {"tracker_id": "mood", "values": {"level": round(4 + week + wobble)}, "for_date": day.isoformat()},
    )
    s.act(
        sam,
        "ChartPointRecorded",
        {
            "tracker_id": "sleep",
            "values": {"hours": 5.5 + week * 0.5 + (offset % 3) * 0.5, "quality": min(5, 2 + week)},
            "for_date": day.isoformat(),
        },
    )
    if offset % 2 == 0:
        s.act(
            sam,
            "ChartPointRecorded",
            {
                "tracker_id": "stress",
                "values": {"level": max(1, 8 - week * 2 + offset % 3)},
                "for_date": day.isoformat(),
            },
        )


def _solo(s: _Script, sam: Actor, week: int, offset: int) -> None:
    s.wait(3600 * 10)  # the evening
    if week == 0 and offset == 0:
        s.act(sam, "TopicOpened", {"topic_id": "recovery"})
        s.act(sam, "SectionViewed", {"section_id": "recovery/what-recovery-means", "seconds_on_screen": 40})
        _watch(s, sam, "v-recovery-amara", 31.4, 80)
        s.act(sam, "AnswerSaved", {"question_id": Q_RECOVERY, "answer": RECOVERY_ANSWERS[0]})
        return
    if offset == 0:
        s.act(sam, "TopicOpened", {"topic_id": "recovery"})
        s.act(sam, "SectionViewed", {"section_id": "recovery/hope", "seconds_on_screen": 60})
        s.act(sam, "SectionViewed", {"section_id": "recovery/what-recovery-means", "seconds_on_screen": 30})
        s.act(sam, "AnswerSaved", {"question_id": Q_RECOVERY, "answer": RECOVERY_ANSWERS[min(week, 3)]})
    else:
        s.act(sam, "TopicOpened", {"topic_id": "health"})
        s.act(sam, "SectionViewed", {"section_id": "health/body-and-mind", "seconds_on_screen": 50})
        _watch(s, sam, "v-health-priya", 31.2, 100 if week % 2 else 50)
        s.act(sam, "SectionViewed", {"section_id": "health/moving-more", "seconds_on_screen": 35})


def _watch(s: _Script, actor: Actor, video: str, duration: float, upto: int, session: UUID | None = None) -> None:
    s.act(actor, "VideoPlayed", {"video_id": video, "position_s": 0}, session)
    for pct in (10, 25, 50, 80, 90):
        if pct > upto:
            break
        s.wait(duration * 0.15)
        s.act(
            actor,
            "VideoProgressed",
            {"video_id": video, "percent": pct, "position_s": round(duration * pct / 100, 1)},
            session,
        )
    if upto >= 100:
        s.act(actor, "VideoCompleted", {"video_id": video}, session)
    else:
        s.act(actor, "VideoPaused", {"video_id": video, "position_s": round(duration * upto / 100, 1)}, session)


def _joint(s: _Script, tandem: Tandem, sam: Actor, wendy: Actor, day: date, week: int) -> None:
    s.flush()
    s.at = datetime.combine(day, time(14), UTC)
    sid = tandem.start_session(wendy, sam.user_id, at=s.at)
    s.wait(30)
    s.act(wendy, "ParticipantJoined", {"device_kind": "tablet"}, sid)
    s.act(sam, "ParticipantJoined", {"device_kind": "phone"}, sid)
    s.act(sam, "TopicOpened", {"topic_id": "managing-stress"}, sid)
    s.act(
        sam, "SectionViewed", {"section_id": "managing-stress/stress-and-mental-health", "seconds_on_screen": 90}, sid
    )
    s.wait(120)
    _watch(s, sam, "v-stress-tom", 29.6, 100, sid)
    s.wait(300)
    if week in (0, 2):
        s.act(sam, "AnswerSaved", {"question_id": Q_STRESS, "answer": STRESS_ANSWERS[week // 2]}, sid)
    s.act(sam, "ChartShown", {"tracker_id": "mood"}, sid)
    s.wait(240)
    s.act(sam, "ChartHidden", {"tracker_id": "mood"}, sid)
    s.act(sam, "ControlHandedOver", {"to_user": str(wendy.user_id)}, sid)
    s.flush()  # the hand-over is checked against the session as stored
    s.act(wendy, "SectionViewed", {"section_id": "managing-stress/noticing-your-signs", "seconds_on_screen": 120}, sid)
    s.wait(600)
    s.act(
        sam,
        "ChartPointRecorded",
        {"tracker_id": "stress", "values": {"level": max(2, 7 - week * 2)}, "for_date": day.isoformat()},
        sid,
    )
    s.act(
        wendy,
        "SuggestionMade",
        {"suggestion_id": f"s-{week}", "topic_id": "health", "section_id": "health/moving-more"},
        sid,
    )
    s.flush()
    s.wait(300)
    s.act(sam, "SuggestionAccepted", {"suggestion_id": f"s-{week}"}, sid)
    s.act(sam, "ControlHandedOver", {"to_user": str(sam.user_id)}, sid)
    s.flush()
    s.wait(900)
    s.act(wendy, "SessionEnded", {"reason": "ended by worker"}, sid)
    s.flush()
