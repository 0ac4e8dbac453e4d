"""Group commit: one thread drains a queue of pending writes into batched saves.

The eventsourcing library has no asyncio API and its saves block, so no save ever
runs on the event loop. Callers submit work and wait on a future; whatever arrives
while one transaction commits goes into the next one. A caller is answered only
after the transaction holding its events has committed.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from operator import itemgetter
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from core.commands import Pending, Recorded
from core.errors import CommandError, Conflict, StoreUnavailable
from core.recorders import Receipt, SessionMark

log = logging.getLogger("tandem.writer")

MAX_BATCH = 500
MAX_RETRIES = 3
CACHE_SIZE = 20_000  # aggregates kept between batches (sessions, links, accounts, consents)


class WriteContext:
    """What a pending write may read while it builds its events.

    Aggregates changed earlier in the same batch are seen with those changes, so
    two hand-overs of control in one batch get consecutive epochs. Reads share the
    writer's cached aggregate; it is copied only when something changes it (`edit`,
    or a new event for it in `apply`), so a failed batch never leaves a half-applied
    change in the cache and the common case, checking a session or a link, copies
    nothing (copying the session on every write was a tenth of the server's time).
    """

    def __init__(self, writer: GroupCommitWriter):
        self._w = writer
        self._read: dict[UUID, Any] = {}  # shared with the cache: never mutate
        self._overlay: dict[UUID, Any] = {}  # this batch's own copies
        self._versions: dict[UUID, int] = {}
        self._built: list[Any] = []  # this batch's events so far, not yet committed

    def get(self, aggregate_id: UUID) -> Any | None:
        """The aggregate as this batch sees it, for reading only."""
        if aggregate_id in self._overlay:
            return self._overlay[aggregate_id]
        if aggregate_id not in self._read:
            agg = self._w.load(aggregate_id)
            if agg is None:
                return None
            self._read[aggregate_id] = agg
        return self._read[aggregate_id]

    def edit(self, aggregate_id: UUID) -> Any | None:
        """A private copy to trigger events on."""
        if aggregate_id not in self._overlay:
            agg = self.get(aggregate_id)
            if agg is None:
                return None
            self._overlay[aggregate_id] = copy.deepcopy(agg)
        return self._overlay[aggregate_id]

    def next_version(self, stream_id: UUID) -> int:
        """The version for a new event on a stream that is appended to without loading it."""
        if stream_id in self._overlay or stream_id in self._read:
            return self.get(stream_id).version + 1
        if stream_id not in self._versions:
            self._versions[stream_id] = self._w.last_version(stream_id)
        self._versions[stream_id] += 1
        return self._versions[stream_id]

    def built(self, stream_id: UUID) -> list[Any]:
        """Events for this stream built earlier in this batch (they commit with it)."""
        return [ev for ev in self._built if ev.originator_id == stream_id]

    def apply(self, event: Any) -> None:
        self._built.append(event)
        if event.originator_id not in self._read and event.originator_id not in self._overlay:
            return
        agg = self.edit(event.originator_id)
        # Events made with trigger_event() have already been applied to the copy.
        if agg.version < event.originator_version:
            event.mutate(agg)

    def commit(self) -> None:
        self._w.versions.update(self._versions)
        for agg_id, agg in self._overlay.items():
            self._w.versions[agg_id] = agg.version
            self._w.remember(agg)


class GroupCommitWriter:
    def __init__(self, app: Any, on_commit: Callable[[int, list[tuple[int, Any]]], None]):
        self.app = app
        self.on_commit = on_commit
        self.versions: dict[UUID, int] = {}  # last known version of streams we append to
        # Aggregates read by earlier batches, true as of log position `_seen`. Before each
        # batch the log's head is compared with `_seen`: anything another process wrote
        # in between is read and its aggregates forgotten, so a link revoked elsewhere is
        # never judged from a stale copy.
        self._cache: dict[UUID, Any] = {}
        self._seen = app.head()
        self._q: queue.SimpleQueue[tuple[Pending, Future[Recorded]] | None] = queue.SimpleQueue()
        # asyncio callers, answered with one wake-up per event loop per batch
        self._waiters: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[Recorded]]] = {}
        self._thread = threading.Thread(target=self._run, name="tandem-writer", daemon=True)
        self._thread.start()
        self.batches = 0
        self.events_written = 0

    def submit(self, pending: Pending) -> Future[Recorded]:
        fut: Future[Recorded] = Future()
        self._q.put((pending, fut))
        return fut

    def submit_async(self, pending: Pending) -> asyncio.Future[Recorded]:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Recorded] = loop.create_future()
        fut: Future[Recorded] = Future()
        self._waiters[id(fut)] = (loop, waiter)
        self._q.put((pending, fut))
        return waiter

    def close(self) -> None:
        self._q.put(None)
        self._thread.join(timeout=10)

    # -- reads used by WriteContext

    def load(self, aggregate_id: UUID) -> Any | None:
        """The aggregate as committed (do not change it: WriteContext works on a copy)."""
        agg = self._cache.get(aggregate_id)
        if agg is None:
            agg = self.app.find(aggregate_id)
            if agg is not None:
                self.remember(agg)
        return agg

    def remember(self, agg: Any) -> None:
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[agg.id] = agg

    def forget(self, aggregate_ids: Any) -> None:
        for agg_id in aggregate_ids:
            self._cache.pop(agg_id, None)
            self.versions.pop(agg_id, None)

    def _catch_up(self) -> None:
        """Forget cached state of aggregates that others changed since we last looked."""
        head = self.app.head()
        if head == self._seen:
            return
        if head - self._seen > 1000:
            self._cache.clear()
            self.versions.clear()
        else:
            changed = self.app.recorder.select_notifications(self._seen + 1, head - self._seen, stop=head)
            self.forget({n.originator_id for n in changed})
        self._seen = head

    def last_version(self, stream_id: UUID) -> int:
        if stream_id in self.versions:
            return self.versions[stream_id]
        return self.app.recorder.last_version(stream_id)

    # -- the loop

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._q.put(None)
                    break
                batch.append(nxt)
            try:
                self._catch_up()
                self._process(batch, attempt=0)
            except Exception as exc:  # never let the writer die: fail the batch instead
                log.exception("writer batch failed")
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(StoreUnavailable(f"the store could not save: {exc}"))
            self._answer_async(batch)

    def _answer_async(self, batch: list[tuple[Pending, Future[Recorded]]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Recorded], Future[Recorded]]]] = {}
        for _, fut in batch:
            waiter = self._waiters.pop(id(fut), None)
            if waiter is not None:
                by_loop.setdefault(waiter[0], []).append((waiter[1], fut))
        for loop, pairs in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, pairs)
            except RuntimeError:  # that loop has closed: nobody is waiting any more
                pass

    def _process(self, batch: list[tuple[Pending, Future[Recorded]]], attempt: int, check_keys: bool = False) -> None:
        # 1. Idempotency. The receipts table's primary key rejects a key that is
        # already recorded, so the common case (every key new) costs no lookup: only
        # after a conflict are the keys looked up and the originals answered.
        acks = {}
        if check_keys:
            keys = [p.key for p, _ in batch if p.key is not None]
            acks = self.app.recorder.find_acks(keys) if keys else {}
        todo: list[tuple[Pending, Future[Recorded]]] = []
        first_with_key: dict[tuple[str, str], Future[Recorded]] = {}
        for p, fut in batch:
            if p.key in acks:
                ack = acks[p.key]
                fut.set_result(Recorded(ack.position, ack.event_id, duplicate=True))
            elif p.key is not None and p.key in first_with_key:
                _chain_duplicate(first_with_key[p.key], fut)
            else:
                if p.key is not None:
                    first_with_key[p.key] = fut
                todo.append((p, fut))
        if not todo:
            return

        # 2. Build every write's events against one consistent view.
        ctx = WriteContext(self)
        events: list[Any] = []
        receipts: list[Receipt] = []
        built: list[tuple[Pending, Future[Recorded], list[Any]]] = []
        for p, fut in todo:
            try:
                evs = p.build(ctx)
            except CommandError as e:
                fut.set_exception(e)
                continue
            except Exception as e:
                log.exception("building events failed")
                fut.set_exception(StoreUnavailable(f"could not build the events: {e}"))
                continue
            for ev in evs:
                ctx.apply(ev)
            events.extend(evs)
            main = evs[0]
            if p.key is not None:
                receipts.append(
                    Receipt(p.key[0], p.key[1], main.originator_id, main.originator_version, _event_id(main))
                )
            built.append((p, fut, evs))
        if not built:
            return

        # 3. One transaction for all of them.
        try:
            # events.put is Application.save without its per-object protocol checks.
            recordings = self.app.events.put(events, receipts=receipts, sessions=_session_marks(events))
        except IntegrityError:
            # A key already recorded, or someone else (another process) appended to
            # the same aggregate first. Forget what we assumed, answer recorded keys
            # with their first acknowledgement and retry the rest each on its own.
            self.forget({ev.originator_id for ev in events})
            if not check_keys:
                self._process([(p, fut) for p, fut, _ in built], attempt, check_keys=True)
            elif len(built) > 1:
                for p, fut, _ in built:
                    self._process([(p, fut)], attempt, check_keys=True)
            elif attempt < MAX_RETRIES:
                p, fut, _ = built[0]
                self._process([(p, fut)], attempt + 1, check_keys=True)
            else:
                built[0][1].set_exception(Conflict("another change to the same record won; please retry"))
            return
        except Exception as e:
            self.forget({ev.originator_id for ev in events})
            for _, fut, _ in built:
                fut.set_exception(StoreUnavailable(f"the store could not save: {e}"))
            return

        position = {id(r.domain_event): r.notification.id for r in recordings}
        ctx.commit()
        if min(position.values()) == self._seen + 1:  # nobody else wrote in between
            self._seen = max(position.values())
        self.batches += 1
        self.events_written += len(events)
        # Listeners first: whoever learns of a write from its acknowledgement can rely on
        # every listener (the live tail, the revocation announcer) having seen it.
        try:
            self.on_commit(
                max(position.values()),
                sorted(((r.notification.id, r.domain_event) for r in recordings), key=itemgetter(0)),
            )
        except Exception:
            log.exception("commit listener failed")
        for _, fut, evs in built:
            main = evs[0]
            fut.set_result(Recorded(position[id(main)], _event_id(main)))


def _session_marks(events: list[Any]) -> list[SessionMark]:
    """The events done inside a joint session other than the session's own (those are
    found by the session's id already)."""
    marks = []
    for i, ev in enumerate(events):
        sid = getattr(ev, "session_id", None)
        if sid is not None and sid != ev.originator_id:
            marks.append(SessionMark(i, sid))
    return marks


def _event_id(event: Any) -> str:
    return getattr(event, "event_id", None) or f"{event.originator_id}:{event.originator_version}"


def _chain_duplicate(first: Future[Recorded], dup: Future[Recorded]) -> None:
    def done(f: Future[Recorded]) -> None:
        if f.exception() is not None:
            dup.set_exception(f.exception())  # type: ignore[arg-type]
        else:
            r = f.result()
            dup.set_result(Recorded(r.position, r.event_id, duplicate=True))

    first.add_done_callback(done)


def _settle(pairs: list[tuple[asyncio.Future[Recorded], Future[Recorded]]]) -> None:
    """Runs on the caller's event loop: hand each finished write to its awaiting task."""
    for waiter, fut in pairs:
        if waiter.cancelled():
            continue
        exc = fut.exception()
        if exc is not None:
            waiter.set_exception(exc)
        else:
            waiter.set_result(fut.result())
