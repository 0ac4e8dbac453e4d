"""ProjectionSet: follows the log, applies batches exactly once, rebuilds and reports lag.

One thread applies every projection: each batch is read once and offered to each
projection after its own position, and all of them commit rows and positions in one
transaction. The positions are re-read (and on PostgreSQL row-locked) at the start of each
batch, so another process (a `rebuild` swap, a second server) moving them is noticed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.keystore import KeyStore
from core.log import EventLog, open_log
from core.settings import Settings
from projections.base import Dead, Projection, Rows
from projections.directory import Directory
from projections.engagement import Engagement
from projections.journey import Journeys
from projections.progress import Progress
from projections.research import Research
from projections.sessions import Sessions
from projections.store import DEAD_LETTERS, TRACKING, Conn, RebuildBusy, ViewStore
from projections.trackers import Trackers

log = logging.getLogger("tandem.projections")

ALL: tuple[type[Projection], ...] = (Directory, Progress, Trackers, Sessions, Engagement, Research, Journeys)
NEW = "__new"  # suffix of the tables (and tracking row) a rebuild writes into


@dataclass
class Runtime:
    proj: Projection
    tracking: str
    rows: Rows
    position: int = 0


def _now() -> str:
    return datetime.now(UTC).isoformat()


class ProjectionSet:
    directory: Directory
    progress: Progress
    trackers: Trackers
    sessions: Sessions
    engagement: Engagement
    research: Research
    journey: Journeys

    def __init__(
        self,
        settings: Settings,
        tandem: Any = None,
        content: Any = None,
        names: Iterable[str] | None = None,
        batch_size: int | None = None,
        poll_s: float = 1.0,
    ):
        self.settings = settings
        self.store = ViewStore(settings)
        self.log: EventLog = open_log(settings)
        wanted = set(names) if names is not None else None
        self._own_keys = tandem is None
        self.keys = KeyStore(settings) if tandem is None else tandem.keys
        self.projections: dict[str, Projection] = {
            c.name: c(self.store, content, self.keys) for c in ALL if wanted is None or c.name in wanted
        }
        for name, p in self.projections.items():
            setattr(self, name, p)
        self.batch_size = batch_size or settings.projection_batch
        self.poll_s = poll_s
        self._live = {
            n: Runtime(p, n, Rows(p.tables, "", authoritative=False), -1) for n, p in self.projections.items()
        }
        self._positions: dict[str, int] = {}  # committed and current-version only
        self._cond = threading.Condition()
        self._wake = threading.Event()
        self._hurry = threading.Event()  # someone is waiting in wait_for: no gathering pause
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._subscription: Any = None
        self._conn: Conn | None = None
        self.rebuilding: set[str] = set()
        if tandem is not None:
            tandem.on_commit(lambda _position, _events: self._wake.set())

    # ------------------------------------------------------------ lifecycle

    def prepare(self) -> list[str]:
        """Create missing tables; return the projections whose stored version is not the code's."""
        stale = []
        with self.store.ddl_lock(), self.store.connect() as conn:
            tracked = {r["name"]: r for r in conn.query(f"SELECT name, version FROM {TRACKING}")}
            for name, p in self.projections.items():
                if name not in tracked:
                    conn.begin()
                    for spec in p.tables:
                        self.store.create_table(conn, spec)
                    conn.execute(
                        f"INSERT INTO {TRACKING} (name, position, version, updated_at) VALUES (?, 0, ?, ?) ON CONFLICT (name) DO NOTHING",
                        (name, p.version, _now()),
                    )
                    conn.commit()
                elif int(tracked[name]["version"]) != p.version:
                    stale.append(name)
        return stale

    def start(self) -> None:
        """Rebuild stale projections in the background (old tables keep serving), follow the log."""
        stale = self.prepare()
        self._stop.clear()
        if stale:
            log.warning("projections %s changed version: rebuilding", ", ".join(stale))
            self._spawn(lambda: self._background_rebuild(stale), "tandem-projections-rebuild")
        self._spawn(self._follow, "tandem-projections")
        if self.settings.backend == "postgres":
            self._spawn(self._listen, "tandem-projections-listen")

    def _background_rebuild(self, names: list[str]) -> None:
        try:
            self.rebuild(names, progress=False)
        except RebuildBusy:
            log.warning("another process is rebuilding %s; following once it has swapped", ", ".join(names))
        except Exception:
            log.exception("rebuilding %s failed; the old tables keep serving", ", ".join(names))

    def stop(self) -> None:
        self._stop.set()
        self._hurry.set()
        if self._subscription is not None:
            try:
                self._subscription.stop()
            except Exception:
                pass
        self._wake.set()
        for t in self._threads:
            t.join(timeout=30)
        self._threads = []
        self._drop_conn()

    def close(self) -> None:
        self.stop()
        self.store.close()
        self.log.close()
        if self._own_keys:
            self.keys.close()

    def _spawn(self, target: Any, name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _follow(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            self._hurry.clear()
            try:
                n = self.step()
            except Exception:
                log.exception("projection batch failed; retrying in a second")
                self._drop_conn()
                self._stop.wait(1.0)
                continue
            if n < self.batch_size:
                self._wake.wait(self.poll_s)  # the commit signal or NOTIFY wakes us; polling is the fallback
                self._hurry.wait(self.settings.projection_coalesce_s)  # unless someone waits in wait_for

    def _listen(self) -> None:
        """PostgreSQL: the library's LISTEN/NOTIFY subscription is our wake-up call."""
        while not self._stop.is_set():
            try:
                with self.log.recorder.subscribe(gt=self.log.head()) as sub:
                    self._subscription = sub
                    if self._stop.is_set():
                        return
                    for _ in sub:
                        self._wake.set()
                        if self._stop.is_set():
                            return
            except Exception:
                if not self._stop.is_set():
                    log.exception("log subscription failed; resubscribing")
                    self._stop.wait(1.0)

    def _drop_conn(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
        self._conn = None
        for rt in self._live.values():
            rt.rows.forget()
            rt.position = -1

    # ------------------------------------------------------------ applying

    def catch_up(self, timeout: float = 300) -> int:
        """Apply batches until the head (as seen now) is reached. Returns the position."""
        head, deadline = self.log.head(), time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.step()
            if all(self._positions.get(n, -1) >= head for n in self.projections if n not in self.rebuilding):
                return head
        raise TimeoutError("projections did not catch up")

    def step(self) -> int:
        """Apply one batch to the live projections. Returns how many events were read."""
        if self._conn is None:
            self._conn = self.store._open()
        conn = self._conn
        conn.begin()
        try:
            tracked = conn.lock_tracking(list(self._live))
            active = []
            for name, rt in self._live.items():
                pos, version = tracked.get(name, (0, -1))
                if version != rt.proj.version:
                    continue  # being rebuilt to the new version: not ours to touch
                if pos != rt.position:  # someone else wrote: our cached rows may be stale
                    rt.rows.forget()
                    rt.position = pos
                active.append(rt)
            events = self.log.read(min(rt.position for rt in active), self.batch_size) if active else []
            if events:
                self._apply(conn, active, events)
            conn.commit()
        except BaseException:
            conn.rollback()
            for rt in self._live.values():
                rt.rows.forget()
                rt.position = -1
            raise
        if events:
            for rt in active:
                rt.position = max(rt.position, events[-1][0])
        self._publish({rt.proj.name: rt.position for rt in active})
        return len(events)

    def _apply(self, conn: Conn, runtimes: Sequence[Runtime], events: Sequence[tuple[int, Any]]) -> None:
        now = _now()
        for rt in runtimes:
            rt.rows.conn = conn
        dispatch: dict[type, list[tuple[Runtime, Any]]] = {}  # event class -> who handles it
        for pos, ev in events:
            targets = dispatch.get(type(ev))
            if targets is None:
                key = type(ev).__qualname__
                targets = dispatch[type(ev)] = [
                    (rt, h) for rt in runtimes if (h := rt.proj.handlers.get(key)) is not None
                ]
            for rt, handler in targets:
                if pos <= rt.position:
                    continue
                rows = rt.rows
                try:
                    handler(ev, pos, rows)
                    rows.end_event()
                except Dead as d:
                    rows.undo_event()
                    rows.dead.append((pos, type(ev).__qualname__, str(d), now))
                except Exception as e:  # a bug or bad data must not stop the projection
                    rows.undo_event()
                    log.exception("projection %s failed on event %s at %s", rt.proj.name, type(ev).__qualname__, pos)
                    rows.dead.append((pos, type(ev).__qualname__, f"{type(e).__name__}: {e}", now))
        last = events[-1][0]
        for rt in runtimes:
            rt.rows.flush(conn, rt.tracking)
            conn.execute(
                f"UPDATE {TRACKING} SET position = ?, updated_at = ? WHERE name = ?",
                (max(rt.position, last), now, rt.tracking),
            )

    def _publish(self, positions: dict[str, int]) -> None:
        with self._cond:
            self._positions.update(positions)
            self._cond.notify_all()

    # ------------------------------------------------------------ rebuild

    def rebuild(self, names: Iterable[str] | None = None, progress: bool = True) -> int:
        """Rebuild into fresh tables from position 0, then swap them in in one transaction."""
        names = list(names or self.projections)
        projs = [self.projections[n] for n in names]
        self.prepare()
        self.rebuilding.update(names)
        try:
            with self.store.connect() as conn, self.store.rebuild_lock(conn):
                return self._rebuild(conn, projs, progress)
        finally:
            self.rebuilding.difference_update(names)

    def _rebuild(self, conn: Conn, projs: list[Projection], progress: bool) -> int:
        conn.begin()
        for p in projs:
            for spec in p.tables:
                conn.execute(f"DROP TABLE IF EXISTS {spec.name}{NEW}")
                self.store.create_table(conn, spec, NEW, with_indexes=False)  # indexes after the swap: faster load
            conn.execute(f"DELETE FROM {TRACKING} WHERE name = ?", (p.name + NEW,))
            conn.execute(
                f"INSERT INTO {TRACKING} (name, position, version, updated_at) VALUES (?, 0, ?, ?)",
                (p.name + NEW, p.version, _now()),
            )
            conn.execute(f"DELETE FROM {DEAD_LETTERS} WHERE projection = ?", (p.name + NEW,))
        conn.commit()
        rts = [Runtime(p, p.name + NEW, Rows(p.tables, NEW, authoritative=True), 0) for p in projs]
        head = self.log.head()
        bar = _bar(
            head, "+".join(p.name for p in projs) if len(projs) < len(self.projections) else "all projections", progress
        )
        position, started = 0, time.monotonic()
        try:
            for events in self._prefetch(position, head):  # batches, each committed with its position
                conn.begin()
                self._apply(conn, rts, events)
                conn.commit()
                position = events[-1][0]
                for rt in rts:
                    rt.position = position
                bar.update(len(events))
            # The swap: lock the live rows, apply whatever arrived meanwhile, rename, move the position.
            conn.begin()
            conn.lock_tracking([p.name for p in projs])
            while events := self.log.read(position, self.settings.projection_rebuild_batch):
                self._apply(conn, rts, events)
                position = events[-1][0]
                for rt in rts:
                    rt.position = position
                bar.total = max(bar.total or 0, position)
                bar.update(len(events))
            for p in projs:
                for spec in p.tables:
                    self.store.swap_table(conn, spec, NEW)
                conn.execute(f"DELETE FROM {DEAD_LETTERS} WHERE projection = ?", (p.name,))
                conn.execute(f"UPDATE {DEAD_LETTERS} SET projection = ? WHERE projection = ?", (p.name, p.name + NEW))
                conn.execute(f"DELETE FROM {TRACKING} WHERE name = ?", (p.name + NEW,))
                conn.execute(
                    f"UPDATE {TRACKING} SET position = ?, version = ?, updated_at = ? WHERE name = ?",
                    (position, p.version, _now(), p.name),
                )
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            bar.close()
        self.rebuild_seconds = time.monotonic() - started
        self._publish({p.name: position for p in projs})
        self._wake.set()
        return position

    def _prefetch(self, position: int, head: int) -> Iterator[list[tuple[int, Any]]]:
        """Batches up to `head`, read one ahead in a thread: the database's I/O overlaps our applying."""
        q: queue.Queue[Any] = queue.Queue(maxsize=2)
        stop = threading.Event()

        def read() -> None:
            pos = position
            try:
                while pos < head and not stop.is_set():
                    events = self.log.read(pos, self.settings.projection_rebuild_batch)
                    if not events:
                        break
                    q.put(events)
                    pos = events[-1][0]
                q.put(None)
            except BaseException as exc:  # handed to the consumer
                q.put(exc)

        reader = threading.Thread(target=read, name="tandem-projections-prefetch", daemon=True)
        reader.start()
        try:
            while (item := q.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while reader.is_alive():  # unblock a reader waiting on a full queue
                try:
                    q.get_nowait()
                except queue.Empty:
                    reader.join(0.05)

    # ------------------------------------------------------------ reading the state

    def wait_for(self, position: int, timeout: float = 2.0, names: Iterable[str] | None = None) -> bool:
        """Block until the projections (all, or `names`) have applied `position`."""
        wanted = list(names or self.projections)
        with self._cond:
            if all(self._positions.get(n, -1) >= position for n in wanted):
                return True
            self._hurry.set()
            self._wake.set()
            return self._cond.wait_for(lambda: all(self._positions.get(n, -1) >= position for n in wanted), timeout)

    def status(self) -> dict[str, dict[str, Any]]:
        head = self.log.head()
        tracked = {r["name"]: r for r in self.store.query(f"SELECT name, position, version FROM {TRACKING}")}
        dead = {
            r["projection"]: int(r["n"])
            for r in self.store.query(f"SELECT projection, COUNT(*) AS n FROM {DEAD_LETTERS} GROUP BY projection")
        }
        following = any(t.name == "tandem-projections" and t.is_alive() for t in self._threads)
        out: dict[str, dict[str, Any]] = {}
        for name, p in self.projections.items():
            row = tracked.get(name)
            position = int(row["position"]) if row else 0
            version = int(row["version"]) if row else None
            state = "rebuilding" if (name + NEW) in tracked else ("stale" if version != p.version else "current")
            out[name] = {
                "position": position,
                "head": head,
                "lag": max(0, head - position),
                "version": version,
                "code_version": p.version,
                "dead_letters": dead.get(name, 0),
                "state": state,
                "following": following,
            }
            if (name + NEW) in tracked:
                out[name]["rebuild_position"] = int(tracked[name + NEW]["position"])
        return out

    def max_lag(self) -> int:
        return max((s["lag"] for s in self.status().values()), default=0)

    def dead_letters(self, name: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        if name:
            return self.store.query(
                f"SELECT * FROM {DEAD_LETTERS} WHERE projection = ? ORDER BY position LIMIT ?", (name, limit)
            )
        return self.store.query(f"SELECT * FROM {DEAD_LETTERS} ORDER BY position LIMIT ?", (limit,))


def _bar(total: int, desc: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=f"rebuild {desc}",
        unit="ev",
        unit_scale=True,
        smoothing=0.1,
        disable=not enabled,
        mininterval=0.5,
    )
