"""Demo accounts for `make run`: a service user, their worker, a researcher and an admin."""

from __future__ import annotations

from typing import Any

from core.errors import Conflict
from core.service import Tandem

DEMO = [
    # username, display name, role, password
    ("sam", "Sam Taylor", "service_user", "sam-demo-pass"),
    ("wendy", "Wendy Clarke", "worker", "wendy-demo-pass"),
    ("rita", "Rita Osei", "researcher", "rita-demo-pass"),
    ("adam", "Adam Hughes", "admin", "adam-demo-pass"),
]


def seed(tandem: Tandem) -> list[tuple[str, str, str]]:
    """Create the demo accounts and link Wendy to Sam. Safe to run again."""
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
    return [(u, r, p) for u, _, r, p in DEMO]


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
