"""Research dashboard views and exports on the bench data set, beside the raw log read.

    .venv/bin/python bench/research.py --events 200000      # --events 1000000 on a quiet machine

bench/rebuild.py's generator (with 250 service users instead of 100, over six months),
then one study of all 250 (two arms, all consenting), the research projection rebuilt,
then each view and export timed once warm (the median of --repeat runs) with events/s.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import rebuild as gen

from core import aggregates as A
from core import settings as settings_mod
from core.log import open_log

PARTICIPANTS = 250


def seed_study(log: Any, start: Any) -> A.Study:
    """One study of every bench SU: therapy and routine arms alternately, all consenting."""
    import secrets
    import uuid

    from core.service import check_study

    fields = check_study(
        "bench-study",
        "Bench study",
        [{"id": "therapy", "label": "Therapy"}, {"id": "routine", "label": "Routine"}],
        start.date().isoformat(),
        (start + gen.timedelta(days=gen.DAYS)).date().isoformat(),
    )
    rita = A.account_id("bench-researcher")
    study = A.Study._create(
        A.Study.Created,
        id=A.study_id("bench-study"),
        **fields,
        researchers=[str(rita)],
        allow_text=False,
        secret=secrets.token_hex(32),
        by=rita,
    )
    events = []
    for i in range(PARTICIPANTS):
        su = A.account_id(f"bench-su-{i}")
        study.enrol(su, "therapy" if i % 2 == 0 else "routine", rita)
        consent = log.find(A.consent_id(su))
        events.append(
            A.Consent.StudyConsentGiven(
                originator_id=consent.id,
                originator_version=consent.version + 1,
                timestamp=start,
                event_id=str(uuid.uuid4()),
                actor_id=su,
                actor_role="service_user",
                device="bench",
                session_id=None,
                client_time=None,
                content_version=None,
                client_event_id=uuid.uuid4().hex,
                study_id=study.id,
                provision="engagement",
            )
        )
    log.save(*study.collect_events(), *events)
    return study


def timed(fn: Any, repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the seeded store and print where")
    ap.add_argument("--reuse", help="a store kept by --keep: skip seeding and the rebuild")
    ap.add_argument(
        "--formats", default=",".join(["events.csv", "sessions.csv", "events.jsonl", "xapi.jsonl", "parquet.zip"])
    )
    args = ap.parse_args()

    from content.loader import load
    from projections import ProjectionSet
    from projections.runner import REBUILD_BATCH
    from web.usecases import exports
    from web.usecases import research as uc

    gen.SUS = PARTICIPANTS
    var = Path(args.reuse or tempfile.mkdtemp(prefix="tandem-bench-research-"))
    settings = settings_mod.load(tandem_var_dir=str(var), tandem_secret_key="bench", tandem_master_key="22" * 32)
    log = open_log(settings)
    try:
        if not args.reuse:
            gen.Seeder(log, args.events, random.Random(7)).run()
            seed_study(log, gen.datetime.now(gen.UTC) - gen.timedelta(days=gen.DAYS))
        head = log.head()
        n, secs = gen.read_speed(log, REBUILD_BATCH)
        raw = n / secs
        content = load()
        views = ProjectionSet(settings, content=content, names=["research"])
        if args.reuse:
            views.start()
            assert views.wait_for(head, 600)
            rb = float("nan")
        else:
            views.rebuild(progress=True)
            rb = views.rebuild_seconds
        row = views.research.study(str(A.study_id("bench-study")))
        study = uc.Study(
            study_id=row["study_id"],
            code=row["code"],
            name=row["name"],
            arms=row["arms"],
            start=row["start_date"],
            end=row["end_date"],
            allow_text=row["allow_text"],
            secret=row["secret"],
        )
        people = uc.participants(views, study)
        in_study = sum(1 for p in people for _ in views.research.events(p.su_id, study.start, study.end_excl))
        state = type("State", (), {"projections": views, "tandem": _NoKeys(), "content": content})()
        print(f"\nlog: {head:,} events; study: {len(people)} participants, {in_study:,} journey events in the period")
        print(f"raw read + decode:        {raw:>10,.0f} events/s ({secs:.1f} s)")
        print(f"research projection:      {head / rb:>10,.0f} events/s rebuild ({rb:.1f} s)")
        rows = [
            ("view: participants", lambda: uc.participants(views, study)),
            ("view: dashboard metrics", lambda: uc.metrics(views, content, study, uc.participants(views, study))),
            ("view: timeline (1 person)", lambda: uc.timeline(views, study, people[0])),
        ]
        for label, fn in rows:
            s, _ = timed(fn, args.repeat)
            print(f"{label:<26}{s * 1000:>10.0f} ms")
        for name in args.formats.split(","):

            def run(name: str = name) -> int:
                _m, chunks = exports.export_stream(state, study, name, uc.ExportOptions(shift_dates=True))
                return sum(len(c) for c in chunks)

            s, size = timed(run, 1)
            print(f"export {name:<19}{s:>10.1f} s  {in_study / s:>10,.0f} events/s  {size / 1e6:>7.1f} MB")
        views.close()
    finally:
        log.close()
        if args.keep or args.reuse:
            print(f"kept: --reuse {var}")
        else:
            shutil.rmtree(var, ignore_errors=True)
    return 0


class _NoKeys:
    """Exports without answer text never reveal anything."""

    def reveal(self, su_id: Any, sealed: dict) -> None:
        return None


if __name__ == "__main__":
    sys.exit(main())
