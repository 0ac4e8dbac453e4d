"""My journey's reads on a big store: the timeline's first screen, a further page, and the
state at a random moment of a two-hour joint session, each beside reading the same events
straight from the store in the same run.

    .venv/bin/python bench/replay.py --events 200000          # background events (1000000 for the full size)

The HTTP floor row is a trivial GET through the same client and log-in check, for comparison.

The store gets `--events` background events from bench/rebuild.py's generator (100 SUs over
six months), then one SU with `--journey` events (default 20,000) over two years, solo most
days and with a weekly joint session, one of them two hours long. The read models are rebuilt,
and each read is timed `--tries` times (default 200) through the real app (Starlette, in process)
as that SU: GET /api/journey, GET /api/journey?before=<a random entry> (keyset paging at any
depth), GET /api/journey/sessions/<the two-hour session>?position=<random>&events=0.
"Store read" is EventLog.span of the same events (the journey versions the page covers; the
session's journey and session events) with no projection, HTTP or rendering.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.rebuild import Seeder
from core import aggregates as A
from core import settings as settings_mod
from core.log import open_log

warnings.filterwarnings("ignore", message=".*httpx2.*")
PASSWORD = "bench-password-1"


def seed_journey(seeder: Seeder, su: uuid.UUID, worker: uuid.UUID, count: int, keys: Any) -> uuid.UUID:
    """`count` events for one SU over two years; returns the two-hour session's id (half-way through)."""
    start = datetime.now(UTC) - timedelta(days=730)
    per_day = max(1, count // 730 - 5)
    begun = seeder.written + len(seeder.buf)
    target = begun + count
    long_session: uuid.UUID | None = None
    plain_act = seeder.act

    def act(
        cls: type, stream: uuid.UUID, at: datetime, actor: uuid.UUID, role: str, session: Any = None, **f: Any
    ) -> None:
        # This SU's free text is really sealed, so the app can decrypt it as it would.
        for name in ("answer", "text"):
            if name in f:
                f[name] = keys.seal(su, f"Written on {at:%d %b %Y}: {uuid.uuid4().hex[:12]}")
        plain_act(cls, stream, at, actor, role, session, **f)

    seeder.act = act  # type: ignore[method-assign]
    for day in range(730):
        t = start + timedelta(days=day, hours=9)
        if day % 7 == 3:
            halfway = seeder.written + len(seeder.buf) - begun > count // 2
            minutes = 120 if long_session is None and halfway else 50
            sid = _session(seeder, worker, su, t, minutes)
            if minutes == 120:
                long_session = sid
            t += timedelta(minutes=minutes + 30)
        seeder.solo_day(su, t, per_day)
        if seeder.written + len(seeder.buf) >= target:
            break
    seeder.flush()
    assert long_session is not None
    return long_session


def _session(seeder: Seeder, worker: uuid.UUID, su: uuid.UUID, t: datetime, minutes: int) -> uuid.UUID:
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
    seeder.created(s, t)
    end = t + timedelta(minutes=minutes)
    seeder.act(A.JointSession.ParticipantJoined, sid, t, worker, "worker", sid, user_id=worker, device_kind="desktop")
    seeder.act(A.JointSession.ParticipantJoined, sid, t, su, "service_user", sid, user_id=su, device_kind="tablet")
    while t < end - timedelta(minutes=5):
        t += timedelta(minutes=seeder.rng.uniform(1, 4))
        seeder.visit(A.journey_id(su), su, "service_user", sid, t)
    seeder.act(A.JointSession.SessionEnded, sid, end, worker, "worker", sid, reason="ended by worker")
    return sid


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def row(label: str, app_ms: list[float], store_ms: list[float]) -> str:
    return (
        f"{label:<34} {statistics.median(app_ms):8.2f} {pct(app_ms, 0.99):8.2f}"
        f"   {statistics.median(store_ms):8.2f} {pct(store_ms, 0.99):8.2f}"
        f"   {'OK' if pct(app_ms, 0.99) < 50 else 'ABOVE 50 ms'}"
    )


def timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000, help="background events (other people)")
    ap.add_argument("--journey", type=int, default=20_000, help="events in the measured SU's journey")
    ap.add_argument("--tries", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    from starlette.testclient import TestClient

    from core.service import Tandem
    from projections import ProjectionSet
    from web.app import create_app

    var = Path(tempfile.mkdtemp(prefix="tandem-bench-replay-"))
    settings = settings_mod.load(tandem_var_dir=str(var), tandem_secret_key="bench", tandem_master_key="22" * 32)
    try:
        t = Tandem(settings)
        su = t.register("bench-me", "Bench Me", "service_user", PASSWORD)
        worker = t.register("bench-my-worker", "Wendy Bench", "worker", PASSWORD)
        t.link(worker, su, by=worker)
        t.close()
        log = open_log(settings)
        t0 = time.monotonic()
        seeder = Seeder(log, args.events + args.journey, random.Random(args.seed))
        seeder.versions[A.journey_id(su)] = log.recorder.last_version(A.journey_id(su))
        seeder.total = args.events
        seeder.run()  # the background: 100 other SUs
        seeder.total = args.events + args.journey
        from core.keystore import KeyStore

        keys = KeyStore(settings)
        long_session = seed_journey(seeder, su, worker, args.journey, keys)
        keys.close()
        head = log.head()
        log.close()
        print(f"seeded {head:,} events in {time.monotonic() - t0:.0f}s")
        views = ProjectionSet(settings, names=["directory", "trackers", "sessions", "journey"])
        views.rebuild(progress=True)
        views.close()

        app = create_app(settings)
        with TestClient(app) as c:
            page = c.get("/login")
            import re

            token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            assert c.post("/login", data={"csrf": token, "username": "bench-me", "password": PASSWORD}).status_code in (
                200,
                303,
            )
            tandem = app.state.tandem
            jid = A.journey_id(su)
            journey = tandem.log.span(jid)
            version_at = {pos: ev.originator_version for pos, ev in journey}
            print(f"journey: {len(journey):,} events; store head {tandem.head():,}")
            entries = app.state.projections.journey.entries(su, limit=1_000_000)
            rng = random.Random(args.seed)

            def store_read(positions: list[int]) -> None:
                vs = [version_at[p] for p in positions if p in version_at]
                tandem.log.span(jid, min(vs), max(vs))

            first_ms, first_store, next_ms, next_store = [], [], [], []
            for _ in range(args.tries):
                holder: dict[str, Any] = {}
                first_ms.append(timed(lambda h=holder: h.update(r=c.get("/api/journey").json())))
                shown = [e["position"] for d in holder["r"]["days"] for g in d["groups"] for e in g["entries"]]
                first_store.append(timed(lambda s=shown: store_read(s)))
                before = rng.choice(entries[30:])["position"]
                next_ms.append(timed(lambda b=before, h=holder: h.update(r=c.get(f"/api/journey?before={b}").json())))
                shown = [e["position"] for d in holder["r"]["days"] for g in d["groups"] for e in g["entries"]]
                next_store.append(timed(lambda s=shown: store_read(s)))

            floor = [timed(lambda: c.get("/api/links").json()) for _ in range(args.tries)]
            visit = app.state.projections.journey.visit(f"s:{long_session}")
            session_events = c.get(f"/api/journey/sessions/{long_session}").json()["events"]
            state_ms, state_store = [], []
            for _ in range(args.tries):
                p = rng.choice(session_events)["position"]
                state_ms.append(
                    timed(lambda p=p: c.get(f"/api/journey/sessions/{long_session}?position={p}&events=0").json())
                )
                state_store.append(
                    timed(
                        lambda: (
                            tandem.log.span(jid, visit["first_version"], visit["last_version"]),
                            tandem.log.span(long_session),
                        )
                    )
                )
        print(
            f"\nSQLite; {head:,} events in the store, this journey {len(journey):,}; the 2-hour session has {len(session_events)} events; {args.tries} tries each"
        )
        print(f"{'':<34} {'app p50':>8} {'p99 ms':>8}   {'store p50':>8} {'p99 ms':>8}   target p99 < 50 ms")
        print(row("timeline, first screen", first_ms, first_store))
        print(row("timeline, a further page", next_ms, next_store))
        print(row("replay, state at a random moment", state_ms, state_store))
        print(
            f"{'HTTP floor (GET /api/links)':<34} {statistics.median(floor):8.2f} {pct(floor, 0.99):8.2f}"
            "   (the same client, log-in check and JSON for a trivial answer)"
        )
    finally:
        shutil.rmtree(var, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
