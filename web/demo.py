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
    seed_study(tandem)
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


DEMO_STUDY = "tandem-pilot"
DEMO_PARTICIPANTS = 30


def seed_study(tandem: Tandem, today: Any = None, participants: int = DEMO_PARTICIPANTS) -> None:
    """A demo study with generated participants and a few weeks of activity each (idempotent).

    Rita is on it; Sam is enrolled too and decides on his consent page. The generated people
    cannot log in; their history is written straight to the log with past timestamps."""
    import random
    import secrets
    from datetime import UTC, datetime, timedelta

    from core import aggregates as A
    from core.service import check_study

    if tandem.study(A.study_id(DEMO_STUDY)) is not None:
        return
    rng = random.Random(15)
    today = today or datetime.now(UTC)
    start = (today - timedelta(days=42)).replace(hour=0, minute=0, second=0, microsecond=0)
    gen = _History(tandem, rng)
    workers = [gen.account(f"demo-worker-{i}", f"Demo Worker {i}", "worker", start) for i in range(1, 4)]
    sus = [
        gen.account(f"demo-p{i:02d}", f"Demo Participant {i}", "service_user", start)
        for i in range(1, participants + 1)
    ]
    adam = A.account_id("adam")
    for i, su in enumerate(sus):
        w = workers[i % len(workers)]
        gen.created(
            A.CaseloadLink._create(A.CaseloadLink.Linked, id=A.link_id(w, su), worker_id=w, su_id=su, by=adam), start
        )
    fields = check_study(
        DEMO_STUDY,
        "Tandem pilot: joint and solo use",
        [
            {
                "id": "therapy",
                "label": "Therapy",
                "description": "Up to eight weekly 50-minute sessions with a trained worker",
            },
            {"id": "routine", "label": "Routine service", "description": "Up to six months with the usual worker"},
        ],
        start.date().isoformat(),
        (start + timedelta(days=182)).date().isoformat(),
    )
    sid = A.study_id(DEMO_STUDY)
    study = A.Study._create(
        A.Study.Created,
        id=sid,
        **fields,
        researchers=[str(A.account_id("rita"))],
        allow_text=True,
        secret=secrets.token_hex(32),
        by=adam,
    )
    for i, su in enumerate(sus):
        study.enrol(su, "therapy" if i % 2 == 0 else "routine", adam)  # the aggregate's own rules
    study.enrol(A.account_id("sam"), "therapy", adam)
    gen.created(study, start)
    for i, su in enumerate(sus):
        if i % 10 != 9:  # most agree; a few never do
            gen.act(A.Consent.StudyConsentGiven, A.consent_id(su), start, su, study_id=sid, provision="engagement")
        gen.history(su, workers[i % len(workers)], start, today, therapy=i % 2 == 0)
    gen.flush()


class _History:
    """Builds back-dated events for generated demo people and saves them in batches."""

    def __init__(self, tandem: Tandem, rng: Any):
        from content.loader import load

        self.tandem, self.rng = tandem, rng
        content = load()
        self.topics = [t.id for t in content.topics]
        self.sections = [(s.topic_id, s.id, s.video_id) for s in content.sections()]
        self.lengths = {v.id: float(v.duration_s) for v in content.videos}
        self.buf: list[Any] = []
        self.versions: dict[Any, int] = {}

    def account(self, username: str, name: str, role: str, at: Any) -> Any:
        from core import aggregates as A

        uid = A.account_id(username)
        objs: list[Any] = [
            A.Account._create(
                A.Account.Registered,
                id=uid,
                username=username,
                display_name=name,
                role=role,
                password_hash="!",  # no password: a generated person cannot log in
                pseudonym="P-" + uid.hex[:8],
            ),
            A.AuditTrail._create(A.AuditTrail.Opened, id=A.audit_id(uid), actor_id=uid),
        ]
        if role == "service_user":
            objs.append(A.Journey._create(A.Journey.Began, id=A.journey_id(uid), su_id=uid))
            objs.append(A.Consent._create(A.Consent.Opened, id=A.consent_id(uid), su_id=uid))
        for o in objs:
            for ev in o.collect_events():
                ev.__dict__["timestamp"] = at  # frozen dataclass: back-date the creation
                self.versions[ev.originator_id] = ev.originator_version
                self.buf.append(ev)
        return uid

    def created(self, agg: Any, at: Any) -> None:
        for ev in agg.collect_events():
            ev.__dict__["timestamp"] = at  # frozen dataclass: back-date it
            self.versions[ev.originator_id] = ev.originator_version
            self.buf.append(ev)

    def act(
        self, cls: type, stream: Any, at: Any, actor: Any, role: str = "service_user", session: Any = None, **f: Any
    ) -> None:
        import uuid

        if stream not in self.versions:
            found = self.tandem.log.find(stream)
            assert found is not None, f"no stream {stream} to act on"
            self.versions[stream] = found.version
        self.versions[stream] += 1
        self.buf.append(
            cls(
                originator_id=stream,
                originator_version=self.versions[stream],
                timestamp=at,
                event_id=str(uuid.uuid4()),
                actor_id=actor,
                actor_role=role,
                device="web",
                session_id=session,
                client_time=at,
                content_version="demo",
                client_event_id=uuid.uuid4().hex,
                **f,
            )
        )

    def flush(self) -> None:
        for i in range(0, len(self.buf), 2000):
            self.tandem.log.save(*self.buf[i : i + 2000])
        self.buf = []

    def history(self, su: Any, worker: Any, start: Any, today: Any, therapy: bool) -> None:
        from datetime import timedelta

        from core import aggregates as A

        rng = self.rng
        first = start + timedelta(days=rng.randint(0, 6), hours=rng.randint(9, 17))
        weeks = rng.randint(2, 6)  # some stop early: the retention curves fall
        joint_every = 7 if therapy else 21
        for day in range(weeks * 7):
            t = first + timedelta(days=day, minutes=rng.randint(0, 240))
            if t >= today:
                break
            if day % joint_every == 0 and (not therapy or day // 7 < 8):
                self.joint(su, worker, t, 50 if therapy else 30)
            elif rng.random() < 0.45:
                self.visit(su, None, t)
                if rng.random() < 0.6:
                    self.act(
                        A.Journey.ChartPointRecorded,
                        A.journey_id(su),
                        t + timedelta(minutes=9),
                        su,
                        tracker_id="mood",
                        values={"level": float(rng.randint(1, 5))},
                        for_date=t.date().isoformat(),
                    )

    def visit(self, su: Any, session: Any, t: Any) -> Any:
        from datetime import timedelta

        from core import aggregates as A

        rng, jid = self.rng, A.journey_id(su)
        # People mostly start at the beginning and go on in order, with detours.
        topic, section, video = self.sections[min(len(self.sections) - 1, int(rng.expovariate(0.15)))]
        role = "service_user"
        self.act(A.Journey.TopicOpened, jid, t, su, role, session, topic_id=topic)
        t += timedelta(seconds=rng.randint(5, 30))
        self.act(
            A.Journey.SectionViewed,
            jid,
            t,
            su,
            role,
            session,
            section_id=section,
            seconds_on_screen=float(rng.randint(20, 240)),
        )
        if video:
            length = self.lengths.get(video, 120.0)
            t += timedelta(seconds=rng.randint(5, 60))
            self.act(A.Journey.VideoPlayed, jid, t, su, role, session, video_id=video, position_s=0.0)
            watched = rng.choice([0.3, 0.6, 1.0, 1.0])
            t += timedelta(seconds=length * watched)
            if watched == 1.0:
                self.act(A.Journey.VideoCompleted, jid, t, su, role, session, video_id=video)
            else:
                self.act(
                    A.Journey.VideoPaused,
                    jid,
                    t,
                    su,
                    role,
                    session,
                    video_id=video,
                    position_s=round(length * watched, 1),
                )
        return t

    def joint(self, su: Any, worker: Any, t: Any, minutes: int) -> None:
        import uuid
        from datetime import timedelta

        from core import aggregates as A

        sid = uuid.uuid4()
        s = A.JointSession._create(
            A.JointSession.SessionStarted,
            id=sid,
            worker_id=worker,
            su_id=su,
            same_device=False,
            started_by=worker,
            device="web",
        )
        for ev in s.collect_events():
            ev.__dict__["timestamp"] = t
            self.versions[sid] = 1
            self.buf.append(ev)
        end = t + timedelta(minutes=minutes)
        self.act(A.JointSession.ParticipantJoined, sid, t, worker, "worker", sid, user_id=worker, device_kind="desktop")
        self.act(A.JointSession.ParticipantJoined, sid, t, su, "service_user", sid, user_id=su, device_kind="tablet")
        t += timedelta(minutes=2)
        while t < end - timedelta(minutes=8):
            t = self.visit(su, sid, t) + timedelta(minutes=self.rng.randint(2, 6))
        self.act(A.JointSession.SessionEnded, sid, end, worker, "worker", sid, reason="ended by worker")
