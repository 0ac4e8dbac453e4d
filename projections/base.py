"""The projection base class and the per-batch row cache every projection writes through.

Handlers never issue SQL: they read and change rows in a cache, and the runner writes the
dirty rows (one statement per table on PostgreSQL, one `executemany` on SQLite) when it
commits the batch with the new position. That is what makes batches of 1000 events cheap,
and a rebuild into empty tables needs no reads at all (the cache is authoritative there).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar
from uuid import UUID

from core import aggregates as A
from projections.store import DEAD_LETTERS, Conn, TableSpec, ViewStore

Key = tuple[Any, ...]
Row = dict[str, Any]
_MISSING: Any = object()


class Dead(Exception):
    """A handler cannot apply this event. Raise it *before* changing any row."""


def handles(*event_classes: type) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def mark(fn: Callable[..., None]) -> Callable[..., None]:
        fn._handles = tuple(c.__qualname__ for c in event_classes)  # type: ignore[attr-defined]
        return fn

    return mark


def ids_table(prefix: str) -> TableSpec:
    """Journey and consent ids are hashes of the SU id: projections remember the way back."""
    return TableSpec(f"{prefix}_ids", (("id", "text"), ("su_id", "text")), ("id",))


_last_iso: list[Any] = [None, None]


def iso(dt: Any) -> str | None:
    # Every projection formats the same event's timestamp: remember the last one.
    if dt is _last_iso[0]:
        return _last_iso[1]
    text = dt.isoformat() if dt is not None else None
    _last_iso[0], _last_iso[1] = dt, text
    return text


def sid(u: UUID | str | None) -> str | None:
    return None if u is None else str(u)


def dumps(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"), sort_keys=True)


# Columns that may hold a person's id: on erasure their rows go.
PERSON_COLUMNS = ("user_id", "su_id", "actor_id", "ref")


class Projection:
    name: ClassVar[str]
    version: ClassVar[int]
    tables: ClassVar[tuple[TableSpec, ...]]
    # (table, column) pairs whose rows stay on erasure, with the person's id blanked out.
    keep_blanked: ClassVar[frozenset[tuple[str, str]]] = frozenset()
    _handler_names: ClassVar[dict[str, str]]

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        found: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            for attr, fn in vars(klass).items():
                for qualname in getattr(fn, "_handles", ()):
                    found[qualname] = attr
        cls._handler_names = found

    def __init__(self, store: ViewStore, content: Any = None, keys: Any = None):
        self.store = store
        self.content = content
        self.keys = keys  # the KeyStore, for projections that need sealed values
        self._known: dict[tuple[str, str], str | None] = {}
        self._su_ids: dict[UUID, str] = {}
        self.handlers: dict[str, Callable[[Any, int, Rows], None]] = {
            q: getattr(self, a) for q, a in self._handler_names.items()
        }

    # ------------------------------------------------------------ helpers for handlers

    def check(self, kind: str, ref: str) -> None:
        """Dead-letter an event that names content the current content set does not have."""
        if self.content is None:
            return
        key = (kind, ref)
        if key not in self._known:
            try:
                getattr(self.content, kind)(ref)
                self._known[key] = None
            except KeyError:
                self._known[key] = f"unknown {kind} {ref!r} in content {getattr(self.content, 'version', '?')}"
        reason = self._known[key]
        if reason:
            raise Dead(reason)

    def su_of(self, rows: Rows, stream_id: UUID) -> str:
        # Journey/consent ids are derived from the SU id and never change, so the answer can
        # be kept in memory for good (it stays true whatever happens to a batch).
        su = self._su_ids.get(stream_id)
        if su is None:
            row = rows.peek(f"{self.name}_ids", str(stream_id))
            if row is None:
                raise Dead(f"no service user known for stream {stream_id}")
            su = self._su_ids[stream_id] = row["su_id"]
        return su

    @handles(A.Account.Erased)
    def _forget_person(self, ev: Any, pos: int, rows: Rows) -> None:
        """Every read model forgets an erased person: each row naming them goes."""
        who = str(ev.originator_id)
        for spec in self.tables:
            for column in spec.col_names:
                if column in PERSON_COLUMNS:
                    rows.purge(spec.name, column, who, blank=(spec.name, column) in self.keep_blanked)
        for stream, su in list(self._su_ids.items()):
            if su == who:
                del self._su_ids[stream]

    def remember(self, rows: Rows, stream_id: UUID, su_id: UUID) -> None:
        rows.put(f"{self.name}_ids", {"id": str(stream_id), "su_id": str(su_id)})

    def q(self, sql: str, *params: Any) -> list[Row]:
        return self.store.query(sql, params)


class Rows:
    """The rows one projection touched in the current batch, and where they go on flush."""

    MAX_CACHED = 200_000

    def __init__(self, specs: tuple[TableSpec, ...], suffix: str, authoritative: bool):
        self.specs = {s.name: s for s in specs}
        self.suffix = suffix
        self.authoritative = authoritative  # fresh tables: a miss means "no such row"
        self.cache: dict[str, dict[Key, Row | None]] = {n: {} for n in self.specs}
        self.dirty: dict[str, set[Key]] = {n: set() for n in self.specs}
        self.inserts: dict[str, list[tuple[Any, ...]]] = {n: [] for n in self.specs}
        self.dead: list[tuple[int, str, str, str]] = []
        self.conn: Conn | None = None
        self._staged: dict[tuple[str, Key], Row | None] = {}
        self._inserted: dict[str, int] = {}
        self._staged_purges: list[tuple[str, str, Any, bool]] = []
        self.purges: list[tuple[str, str, Any, bool]] = []

    def get(self, table: str, *key: Any) -> Row | None:
        """The row (a copy the handler may change and `put`), or None."""
        if self._staged:
            staged = self._staged.get((table, key), _MISSING)
            if staged is not _MISSING:
                return staged  # the handler's own row from earlier in this event
        c = self.cache[table]
        if key in c:
            row = c[key]
        else:
            row = None
            if not self.authoritative:
                assert self.conn is not None
                where = " AND ".join(f"{k} = ?" for k in self.specs[table].pk)
                found = self.conn.query(f"SELECT * FROM {table}{self.suffix} WHERE {where}", key)
                row = found[0] if found else None
            c[key] = row
        return None if row is None else dict(row)

    def peek(self, table: str, *key: Any) -> Row | None:
        """Like get, for reading only: no copy."""
        c = self.cache[table]
        if key not in c or self._staged:
            return self.get(table, *key)
        return c[key]

    # Changes are staged per event and reach the cache only when the handler returns, so a
    # handler that fails half-way leaves nothing behind (undo_event just forgets them).

    def put(self, table: str, row: Row) -> None:
        self._staged[(table, tuple(row[k] for k in self.specs[table].pk))] = row

    def delete(self, table: str, *key: Any) -> None:
        self._staged[(table, key)] = None

    def purge(self, table: str, column: str, value: Any, blank: bool = False) -> None:
        """Delete every row whose `column` is `value` (or, with `blank`, set that column to NULL),
        cached or stored: for erasure, where the rows are not known by key."""
        self._staged_purges.append((table, column, value, blank))

    def _apply_purge(self, table: str, column: str, value: Any, blank: bool) -> None:
        cache, dirty = self.cache[table], self.dirty[table]
        for key, row in cache.items():
            if row is not None and row[column] == value:
                if blank:
                    cache[key] = {**row, column: None}
                else:
                    cache[key] = None
                dirty.add(key)
        i = self.specs[table].col_names.index(column)
        pending = self.inserts[table]
        if blank:
            pending[:] = [(*r[:i], None, *r[i + 1 :]) if r[i] == value else r for r in pending]
        else:
            pending[:] = [r for r in pending if r[i] != value]
        self.purges.append((table, column, value, blank))

    def insert(self, table: str, row: Row) -> None:
        """Append-only rows (a time series): never read back, so never cached."""
        self._inserted.setdefault(table, len(self.inserts[table]))
        self.inserts[table].append(tuple(row[c] for c in self.specs[table].col_names))

    def end_event(self) -> None:
        if self._staged:
            cache, dirty = self.cache, self.dirty
            for (table, key), row in self._staged.items():
                cache[table][key] = row
                dirty[table].add(key)
            self._staged.clear()
        if self._staged_purges:
            for purge in self._staged_purges:
                self._apply_purge(*purge)
            self._staged_purges.clear()
        self._inserted.clear()

    def undo_event(self) -> None:
        """Take back what the current event's handler changed before it failed."""
        self._staged.clear()
        self._staged_purges.clear()
        for table, n in self._inserted.items():
            del self.inserts[table][n:]
        self._inserted.clear()

    def flush(self, conn: Conn, tracking_name: str) -> None:
        # Purges first: rows written after them in this batch (already purged in the cache) stay.
        for table, column, value, blank in self.purges:
            phys = table + self.suffix
            if blank:
                conn.execute(f"UPDATE {phys} SET {column} = NULL WHERE {column} = ?", (value,))
            else:
                conn.execute(f"DELETE FROM {phys} WHERE {column} = ?", (value,))
        self.purges.clear()
        for name, spec in self.specs.items():
            phys = name + self.suffix
            keys = self.dirty[name]
            if keys:
                cache = self.cache[name]
                ups = [tuple(cache[k][c] for c in spec.col_names) for k in keys if cache[k] is not None]  # type: ignore[index]
                dels = [k for k in keys if cache[k] is None]
                conn.delete_rows(phys, spec, dels)
                conn.write_rows(phys, spec, ups, upsert=True)
                keys.clear()
            if self.inserts[name]:
                conn.write_rows(phys, spec, self.inserts[name], upsert=False)
                self.inserts[name].clear()
        if self.dead:
            conn.executemany(
                f"INSERT INTO {DEAD_LETTERS} (projection, position, event_type, reason, at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (projection, position) DO NOTHING",
                [(tracking_name, *d) for d in self.dead],
            )
            self.dead.clear()
        if not self.authoritative and sum(len(c) for c in self.cache.values()) > self.MAX_CACHED:
            self.forget()

    def forget(self) -> None:
        """Drop everything cached (after a rollback, or when another writer moved the position)."""
        for n in self.specs:
            self.cache[n].clear()
            self.dirty[n].clear()
            self.inserts[n].clear()
        self.dead.clear()
        self._staged.clear()
        self._inserted.clear()
        self._staged_purges.clear()
        self.purges.clear()
