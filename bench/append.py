"""How fast durable actions are committed and acknowledged.

Appends the same number of actions from 1, 10 and 100 concurrent writers (each a
different service user) through Tandem's group-commit writer, and in the same run
through a plain eventsourcing Application saving one event per transaction. Prints
events/s, p50/p99 acknowledgement latency and the ratio to the plain save.

    .venv/bin/python bench/append.py                 # SQLite and PostgreSQL
    .venv/bin/python bench/append.py --store sqlite --count 20000
    .venv/bin/python bench/append.py --parts          # also each side of the 100-writer run alone
    .venv/bin/python bench/append.py --unsealed       # also each group-commit run without audit-chain links
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from core import settings as settings_mod
from core.commands import Actor, Command, Recorded
from core.log import open_log
from core.service import Tandem

PG = "postgresql://postgres@127.0.0.1:5432/test"


class Counter(Aggregate):
    class Ticked(Aggregate.Event):
        section_id: str

    def tick(self, section_id: str) -> None:
        self.trigger_event(self.Ticked, section_id=section_id)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def fresh_settings(store: str, tmp: Path) -> settings_mod.Settings:
    url = (
        f"sqlite:///{tmp / f'{uuid.uuid4().hex}.sqlite'}"
        if store == "sqlite"
        else f"{PG}?schema=bench_{uuid.uuid4().hex[:8]}"
    )
    return settings_mod.load(tandem_var_dir=str(tmp), tandem_database_url=url, tandem_master_key="22" * 32)


def drop(settings: settings_mod.Settings) -> None:
    if settings.backend == "postgres":
        import psycopg

        with psycopg.connect(PG, autocommit=True) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{settings.postgres_schema}" CASCADE')
            c.execute(f'DROP SCHEMA IF EXISTS "{settings.postgres_schema}_keys" CASCADE')


def plain(store: str, tmp: Path, count: int) -> tuple[float, list[float]]:
    """One event per transaction through a plain Application: the baseline."""
    s = fresh_settings(store, tmp)
    open_log(s).close()  # creates the schema
    env = {k: v for k, v in s.eventsourcing_env().items() if k != "APPLICATION_RECORDER_TOPIC"}
    app = Application(env=env)
    counter = Counter()
    app.save(counter)
    lat = []
    t0 = time.perf_counter()
    for _ in range(count):
        t = time.perf_counter()
        counter.tick("recovery/hope")
        app.save(counter)
        lat.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - t0
    app.close()
    drop(s)
    return count / elapsed, lat


last_sealing_share = 0.0  # of the last grouped() run's wall time, spent computing and inserting links


def _time_sealing(recorder: object) -> list[float]:
    """Wrap the recorder's sealing with a clock (disk time at commit is not included)."""
    spent = [0.0]
    seal = recorder._seal  # type: ignore[attr-defined]

    def timed(c: object, rows: object) -> None:
        t = time.perf_counter()
        seal(c, rows)
        spent[0] += time.perf_counter() - t

    recorder._seal = timed  # type: ignore[attr-defined]
    return spent


async def grouped(
    store: str, tmp: Path, count: int, writers: int, sealed: bool = True
) -> tuple[float, list[float], float]:
    s = fresh_settings(store, tmp)
    tandem = Tandem(s)
    tandem.log.recorder.sealing = sealed  # off only here, to measure what the chain's links cost
    sealing_time = _time_sealing(tandem.log.recorder)
    actors = [
        Actor(tandem.register(f"su{i}", f"SU {i}", "service_user", "bench-password"), "service_user")
        for i in range(writers)
    ]
    per_writer = count // writers
    lat: list[float] = []
    batches0 = tandem.writer.batches
    sealed_before = sealing_time[0]

    async def writer(actor: Actor) -> None:
        for i in range(per_writer):
            cmd = Command(
                "SectionViewed",
                {"section_id": "recovery/hope", "seconds_on_screen": 12.5},
                f"{actor.user_id.hex[:8]}-{i:07d}",
            )
            t = time.perf_counter()
            await tandem.record(actor, cmd)
            lat.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(writer(a) for a in actors))
    elapsed = time.perf_counter() - t0
    mean_batch = len(lat) / max(1, tandem.writer.batches - batches0)
    global last_sealing_share
    last_sealing_share = (sealing_time[0] - sealed_before) / elapsed
    tandem.close()
    drop(s)
    return len(lat) / elapsed, lat, mean_batch


def writer_only(store: str, tmp: Path, count: int) -> float:
    """The writer's side alone: a thread submits bursts of 100 actions and waits for each
    burst, so no event loop shares the process. An upper bound for the 100-writer row."""
    s = fresh_settings(store, tmp)
    tandem = Tandem(s)
    actors = [
        Actor(tandem.register(f"su{i}", f"SU {i}", "service_user", "bench-password"), "service_user")
        for i in range(100)
    ]
    commands = [
        Command("SectionViewed", {"section_id": "recovery/hope", "seconds_on_screen": 12.5}, f"w-{i:08d}")
        for i in range(count)
    ]
    t0 = time.perf_counter()
    for start in range(0, count, 100):
        futures = [tandem.submit(actors[i % 100], commands[i]) for i in range(start, min(count, start + 100))]
        for f in futures:
            f.result()
    elapsed = time.perf_counter() - t0
    tandem.close()
    drop(s)
    return count / elapsed


async def callers_only(store: str, tmp: Path, count: int) -> float:
    """The callers' side alone: 100 asyncio writers through `Tandem.record` (validation,
    futures, wake-ups) with the writer replaced by one that answers at once, no store.
    The other upper bound for the 100-writer row."""
    s = fresh_settings(store, tmp)
    tandem = Tandem(s)
    actors = [Actor(uuid.uuid4(), "service_user") for _ in range(100)]
    loop = asyncio.get_running_loop()

    def answer_at_once(_pending: object) -> asyncio.Future[Recorded]:
        fut: asyncio.Future[Recorded] = loop.create_future()
        loop.call_soon(fut.set_result, Recorded(1, "bench"))
        return fut

    real_submit = tandem.writer.submit_async
    tandem.writer.submit_async = answer_at_once  # type: ignore[method-assign]

    async def writer(actor: Actor) -> None:
        for i in range(count // 100):
            await tandem.record(
                actor,
                Command(
                    "SectionViewed",
                    {"section_id": "recovery/hope", "seconds_on_screen": 12.5},
                    f"{actor.user_id.hex[:8]}-{i:07d}",
                ),
            )

    t0 = time.perf_counter()
    await asyncio.gather(*(writer(a) for a in actors))
    elapsed = time.perf_counter() - t0
    tandem.writer.submit_async = real_submit  # type: ignore[method-assign]
    tandem.close()
    drop(s)
    return count // 100 * 100 / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--count", type=int, default=10_000, help="actions per configuration")
    parser.add_argument("--writers", default="1,10,100")
    parser.add_argument(
        "--parts",
        action="store_true",
        help="also time the writer's side and the callers' side of the 100-writer run apart",
    )
    parser.add_argument(
        "--unsealed",
        action="store_true",
        help="also run each group-commit configuration with the audit chain's links off (sealed / unsealed ratio)",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="with --unsealed: this many sealed and unsealed runs each, medians"
    )
    args = parser.parse_args()
    stores = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        print(f"{'store':<9}{'mode':<22}{'events/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'x plain':>9}{'batch':>8}")
        for store in stores:
            base, lat = plain(store, tmp, args.count)
            print(
                f"{store:<9}{'plain, 1 per txn':<22}{base:>10.0f}{percentile(lat, 50) * 1e3:>9.2f}{percentile(lat, 99) * 1e3:>9.2f}{1:>9.1f}{1:>8}",
                flush=True,
            )
            for n in (int(w) for w in args.writers.split(",")):
                rate, lat, batch = asyncio.run(grouped(store, tmp, args.count, n))
                print(
                    f"{store:<9}{f'group, {n} writers':<22}{rate:>10.0f}{percentile(lat, 50) * 1e3:>9.2f}{percentile(lat, 99) * 1e3:>9.2f}{rate / base:>9.1f}{batch:>8.1f}"
                    + (f"   sealing {last_sealing_share:.1%} of the time" if args.unsealed else ""),
                    flush=True,
                )
                if args.unsealed:
                    off, lat, batch = asyncio.run(grouped(store, tmp, args.count, n, sealed=False))
                    print(
                        f"{store:<9}{'  same, unsealed':<22}{off:>10.0f}{percentile(lat, 50) * 1e3:>9.2f}{percentile(lat, 99) * 1e3:>9.2f}{off / base:>9.1f}{batch:>8.1f}"
                        f"   sealed/unsealed {rate / off:.2f}",
                        flush=True,
                    )
                    if args.rounds > 1:
                        on_rates, off_rates = [rate], [off]
                        for r in range(1, args.rounds):
                            # Alternate which goes first, so a change in the machine's load hits both alike.
                            for sealed in (False, True) if r % 2 else (True, False):
                                got = asyncio.run(grouped(store, tmp, args.count, n, sealed=sealed))[0]
                                (on_rates if sealed else off_rates).append(got)
                                print(
                                    f"{store:<9}{f'  round {r + 1}':<22}{got:>10.0f}  {'sealed' if sealed else 'unsealed'}",
                                    flush=True,
                                )
                        on, off = statistics.median(on_rates), statistics.median(off_rates)
                        print(
                            f"{store:<9}{f'  median of {args.rounds}':<22}sealed {on:.0f}, unsealed {off:.0f}, "
                            f"sealed/unsealed {on / off:.2f}",
                            flush=True,
                        )
            if args.parts:
                rate = writer_only(store, tmp, args.count)
                print(f"{store:<9}{'writer side only':<22}{rate:>10.0f}{'':>9}{'':>9}{rate / base:>9.1f}", flush=True)
                rate = asyncio.run(callers_only(store, tmp, args.count))
                print(
                    f"{store:<9}{'callers only, no store':<22}{rate:>10.0f}{'':>9}{'':>9}{rate / base:>9.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
