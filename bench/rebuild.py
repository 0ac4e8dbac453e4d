"""Seed a realistic log, then compare raw log read speed with rebuilding all projections.

    .venv/bin/python bench/rebuild.py --store sqlite   --events 1000000
    .venv/bin/python bench/rebuild.py --store postgres --events 1000000   # TANDEM_TEST_POSTGRES or 127.0.0.1/test

100 service users (10 workers, 10 SUs each) over six months: solo visits most days
(topics, sections, videos with progress events, answers, worksheets, daily charts) and
up to 8 weekly 50-minute joint sessions each. Events are built directly and saved with
`EventLog.save` in transactions of 5,000 (seeding is not what is measured).
Target: rebuild events/s >= 1/4 of raw read (read + decode) events/s.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tqdm import tqdm

from core import aggregates as A
from core import settings as settings_mod
from core.log import EventLog, open_log

SUS, WORKERS, DAYS, SAVE_BATCH = 100, 10, 182, 5000


def content_ids() -> dict[str, list[Any]]:
    try:
        from content.loader import load

        c = load()
        return {
            "sections": [(s.topic_id, s.id, s.video_id, [q.id for q in s.questions]) for s in c.sections()],
            "trackers": [(t.id, [m.id for m in t.measures]) for t in c.trackers],
            "worksheets": [w.id for w in c.worksheets],
        }
    except Exception as exc:  # content is being written: fall back to made-up ids
        print(f"(content not loaded: {exc}; using synthetic ids)", file=sys.stderr)
        secs = [
            (f"t{t}", f"t{t}/s{s}", f"v-t{t}-s{s}", [f"t{t}/s{s}/q{q}" for q in range(3)])
            for t in range(7)
            for s in range(6)
        ]
        return {
            "sections": secs,
            "trackers": [("mood", ["level"]), ("sleep", ["hours", "quality"]), ("stress", ["level"])],
            "worksheets": ["ws1", "ws2"],
        }


class Seeder:
    def __init__(self, log: EventLog, total: int, rng: random.Random):
        self.log, self.total, self.rng = log, total, rng
        self.ids = content_ids()
        self.buf: list[Any] = []
        self.versions: dict[uuid.UUID, int] = {}
        self.written = 0
        self.bar = tqdm(total=total, desc="seeding", unit="ev", unit_scale=True)

    def add(self, ev: Any) -> None:
        self.buf.append(ev)
        if len(self.buf) >= SAVE_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.log.save(*self.buf)
            self.written += len(self.buf)
            self.bar.update(len(self.buf))
            self.buf = []

    def full(self) -> bool:
        return self.written + len(self.buf) >= self.total

    def created(self, agg: Any, at: datetime | None = None) -> None:
        for ev in agg.collect_events():
            if at is not None:
                ev.__dict__["timestamp"] = at  # frozen dataclass: back-date the seeded creation
            self.versions[ev.originator_id] = ev.originator_version
            self.add(ev)

    def act(
        self,
        cls: type,
        stream: uuid.UUID,
        at: datetime,
        actor: uuid.UUID,
        role: str,
        session: uuid.UUID | None = None,
        **fields: Any,
    ) -> None:
        v = self.versions[stream] = self.versions.get(stream, 0) + 1
        self.add(
            cls(
                originator_id=stream,
                originator_version=v,
                timestamp=at,
                event_id=str(uuid.uuid4()),
                actor_id=actor,
                actor_role=role,
                device="web",
                session_id=session,
                client_time=at,
                content_version="bench",
                client_event_id=uuid.uuid4().hex,
                **fields,
            )
        )

    def run(self) -> None:
        rng = self.rng
        start = datetime.now(UTC) - timedelta(days=DAYS)
        workers = [A.account_id(f"bench-worker-{w}") for w in range(WORKERS)]
        sus = [A.account_id(f"bench-su-{s}") for s in range(SUS)]
        for i, wid in enumerate(workers):
            self.created(
                A.Account._create(
                    A.Account.Registered,
                    id=wid,
                    username=f"bench-worker-{i}",
                    display_name=f"Worker {i}",
                    role="worker",
                    password_hash="x",
                    pseudonym=f"P-w{i:03d}",
                ),
                start,
            )
        for i, su in enumerate(sus):
            self.created(
                A.Account._create(
                    A.Account.Registered,
                    id=su,
                    username=f"bench-su-{i}",
                    display_name=f"Service user {i}",
                    role="service_user",
                    password_hash="x",
                    pseudonym=f"P-{i:04d}",
                ),
                start,
            )
            self.created(A.Journey._create(A.Journey.Began, id=A.journey_id(su), su_id=su), start)
            self.created(A.Consent._create(A.Consent.Opened, id=A.consent_id(su), su_id=su), start)
            w = workers[i % WORKERS]
            self.created(
                A.CaseloadLink._create(A.CaseloadLink.Linked, id=A.link_id(w, su), worker_id=w, su_id=su, by=w), start
            )
            if rng.random() < 0.6:
                self.act(A.Consent.ConsentGiven, A.consent_id(su), start, su, "service_user", scope="research")
        per_su_day = max(1, (self.total - self.written - len(self.buf)) // (SUS * DAYS))
        for day in range(DAYS):
            for i, su in enumerate(sus):
                if self.full():
                    break
                t = start + timedelta(days=day, hours=rng.uniform(8, 20))
                if day % 7 == i % 7 and day // 7 < 8:  # up to 8 weekly joint sessions early on
                    t = self.joint_session(workers[i % WORKERS], su, t)
                quota = rng.randint(per_su_day // 2, per_su_day * 3 // 2 + 1)
                self.solo_day(su, t, quota)
            if self.full():
                break
        self.flush()
        self.bar.close()

    def solo_day(self, su: uuid.UUID, t: datetime, quota: int) -> None:
        rng, jid = self.rng, A.journey_id(su)
        done = 0
        for tracker, measures in self.ids["trackers"]:
            self.act(
                A.Journey.ChartPointRecorded,
                jid,
                t,
                su,
                "service_user",
                tracker_id=tracker,
                values={m: float(rng.randint(1, 10)) for m in measures},
                for_date=t.date().isoformat(),
            )
            done += 1
        while done < quota and not self.full():
            t += timedelta(minutes=rng.uniform(0.5, 45))
            done += self.visit(jid, su, "service_user", None, t)

    def visit(self, jid: uuid.UUID, actor: uuid.UUID, role: str, session: uuid.UUID | None, t: datetime) -> int:
        """One look at a section: open the topic, view, watch the video, answer, maybe a worksheet."""
        rng = self.rng
        topic, section, video, questions = rng.choice(self.ids["sections"])
        n = 0

        def act(cls: type, **f: Any) -> None:
            nonlocal t, n
            t += timedelta(seconds=rng.uniform(3, 40))
            self.act(cls, jid, t, actor, role, session, **f)
            n += 1

        act(A.Journey.TopicOpened, topic_id=topic)
        act(A.Journey.SectionViewed, section_id=section, seconds_on_screen=rng.uniform(5, 300))
        if video:
            act(A.Journey.VideoPlayed, video_id=video, position_s=0.0)
            watched = rng.choice([30, 60, 100, 100])
            for pct in range(10, watched + 1, 10):
                act(A.Journey.VideoProgressed, video_id=video, percent=pct, position_s=pct * 3.0)
            if watched == 100:
                act(A.Journey.VideoCompleted, video_id=video)
            else:
                act(A.Journey.VideoPaused, video_id=video, position_s=watched * 3.0)
        for q in questions[: rng.randint(0, len(questions))]:
            act(
                A.Journey.AnswerSaved,
                question_id=q,
                answer={"k": "bench", "n": "bm9uY2Vub25jZQ==", "c": "Y2lwaGVydGV4dA==" * 8},
            )
        if self.ids["worksheets"] and rng.random() < 0.2:
            act(
                A.Journey.WorksheetItemAdded,
                worksheet_id=rng.choice(self.ids["worksheets"]),
                item_id=uuid.uuid4().hex[:12],
                text={"k": "bench", "n": "x", "c": "y" * 60},
            )
        return n

    def joint_session(self, worker: uuid.UUID, su: uuid.UUID, t: datetime) -> datetime:
        rng, sid = self.rng, uuid.uuid4()
        s = A.JointSession._create(
            A.JointSession.SessionStarted,
            id=sid,
            worker_id=worker,
            su_id=su,
            same_device=False,
            started_by=worker,
            device="web",
        )
        self.created(s, t)
        end = t + timedelta(minutes=50)
        self.act(A.JointSession.ParticipantJoined, sid, t, worker, "worker", sid, user_id=worker, device_kind="desktop")
        self.act(A.JointSession.ParticipantJoined, sid, t, su, "service_user", sid, user_id=su, device_kind="tablet")
        jid = A.journey_id(su)
        while t < end - timedelta(minutes=10):
            sug = uuid.uuid4().hex[:10]
            topic, section, _, _ = rng.choice(self.ids["sections"])
            self.act(
                A.JointSession.SuggestionMade,
                sid,
                t,
                worker,
                "worker",
                sid,
                suggestion_id=sug,
                topic_id=topic,
                section_id=section,
            )
            self.act(A.JointSession.SuggestionAccepted, sid, t, su, "service_user", sid, suggestion_id=sug)
            t += timedelta(minutes=1)
            t = t + timedelta(minutes=rng.uniform(2, 8))
            self.visit(jid, su, "service_user", sid, t)
            if rng.random() < 0.3:
                self.act(A.JointSession.ControlHandedOver, sid, t, su, "service_user", sid, to_user=worker, epoch=2)
                self.act(A.JointSession.ControlHandedOver, sid, t, su, "service_user", sid, to_user=su, epoch=3)
        self.act(A.JointSession.ParticipantLeft, sid, end, su, "service_user", sid, user_id=su, reason="left")
        self.act(A.JointSession.SessionEnded, sid, end, worker, "worker", sid, reason="ended by worker")
        return end


def read_speed(log: EventLog, batch: int) -> tuple[int, float]:
    head, position, n = log.head(), 0, 0
    started = time.monotonic()
    with tqdm(total=head, desc="raw read+decode", unit="ev", unit_scale=True) as bar:
        while events := log.read(position, batch):
            position = events[-1][0]
            n += len(events)
            bar.update(len(events))
    return n, time.monotonic() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--keep", action="store_true", help="keep the seeded store (prints where)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    from core.settings import PROJECTION_REBUILD_BATCH
    from projections import ProjectionSet

    var = Path(tempfile.mkdtemp(prefix="tandem-bench-"))
    schema = None
    url = None
    if args.store == "postgres":
        base = os.environ.get("TANDEM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
        schema = "bench_" + uuid.uuid4().hex[:8]
        url = f"{base}?schema={schema}"
    overrides = {"tandem_var_dir": str(var), "tandem_secret_key": "bench", "tandem_master_key": "22" * 32}
    if url:
        overrides["tandem_database_url"] = url
    settings = settings_mod.load(**overrides)
    log = open_log(settings)
    try:
        t0 = time.monotonic()
        Seeder(log, args.events, random.Random(args.seed)).run()
        head = log.head()
        print(f"seeded {head:,} events in {time.monotonic() - t0:.0f}s ({args.store})")

        n, secs = read_speed(log, PROJECTION_REBUILD_BATCH)
        raw = n / secs
        views = ProjectionSet(settings, content=_content())
        views.rebuild(progress=True)
        rebuild = head / views.rebuild_seconds
        dead = sum(s["dead_letters"] for s in views.status().values())
        views.close()
        print(f"\nstore:                 {args.store}")
        print(f"events:                {head:,}")
        print(f"raw read + decode:     {raw:,.0f} events/s ({secs:.1f}s)")
        print(f"rebuild, all 5:        {rebuild:,.0f} events/s ({views.rebuild_seconds:.1f}s), dead letters {dead}")
        print(
            f"ratio:                 {rebuild / raw:.2f} of raw read (target >= 0.25) -> {'OK' if rebuild * 4 >= raw else 'BELOW TARGET'}"
        )
    finally:
        log.close()
        if args.keep:
            print(f"kept: {settings.database_url}")
        else:
            shutil.rmtree(var, ignore_errors=True)
            if schema:
                import psycopg

                with psycopg.connect(base, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}_views" CASCADE')
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}_keys" CASCADE')
    return 0


def _content() -> Any:
    try:
        from content.loader import load

        return load()
    except Exception:
        return None


if __name__ == "__main__":
    sys.exit(main())
