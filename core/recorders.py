"""The library's recorders, plus receipts and audit-chain links written in the same transaction.

A receipt maps (actor, client event id) to the event it produced. Because it is
inserted in the very transaction that stores the event, a retry after a crash
finds either both or neither: idempotency without a window.

A session index, written the same way, maps a joint session to the positions of the
journey events done in it, so a reconnecting device reads that session's events alone
(its own events are the session aggregate's: found by originator id). The chain links
(core/audit.py) are computed from the very bytes being stored, in position order,
under the same write lock, so the chain's order is the log's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Composed, Identifier

from core.audit import GENESIS, WINDOW, Checkpoint, Row, chain, checkpoint_due, sign


class Receipt(NamedTuple):
    actor_id: str
    client_event_id: str
    originator_id: UUID
    originator_version: int
    event_id: str


class SessionMark(NamedTuple):
    """A journey event (the `event_index`-th of the insert) done inside joint session `session_id`."""

    event_index: int
    session_id: UUID


class Ack(NamedTuple):
    """What a client is told for an idempotency key that was already recorded."""

    position: int
    event_id: str
    type: str  # the stored event's type


def event_type(topic: str) -> str:
    """A stored event's topic ("module:Aggregate.Event") -> its type ("Event")."""
    return topic.rpartition(".")[2]


class _Sealing:
    """Settings shared by both recorders: whether to write chain links (off only in
    bench/append.py, to measure what they cost) and the key that signs checkpoints."""

    sealing: bool = True
    signer: Ed25519PrivateKey | None = None

    def _links_for(self, prev: bytes, rows: Sequence[Row]) -> tuple[list[tuple[int, bytes]], Checkpoint | None]:
        """The links for `rows` following `prev`, and a checkpoint if their positions
        cross a checkpoint boundary. An event stored without a link (behind Tandem's
        back) is never linked later: it stays outside the chain, for verify to name."""
        links = chain(prev, rows)
        due = self.signer is not None and checkpoint_due(links[0][0], links[-1][0])
        return links, sign(self.signer, *links[-1]) if due else None  # type: ignore[arg-type]


def _one(c: Any) -> dict[str, Any]:
    """The one row an aggregate query always returns."""
    row: dict[str, Any] | None = c.fetchone()
    assert row is not None
    return row


def _row(r: Any) -> Row:
    return Row(r[0], r[1], r[2], r[3], bytes(r[4]))


class SQLiteRecorder(_Sealing, SQLiteApplicationRecorder):
    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS tandem_receipts ("
            "actor_id TEXT, client_event_id TEXT, originator_id TEXT, "
            "originator_version INTEGER, event_id TEXT, "
            "PRIMARY KEY (actor_id, client_event_id)) WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS tandem_session_events ("
            "session_id TEXT, notification_id INTEGER, "
            "PRIMARY KEY (session_id, notification_id)) WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS tandem_chain (position INTEGER PRIMARY KEY, link BLOB NOT NULL)",
            "CREATE TABLE IF NOT EXISTS tandem_checkpoints ("
            "position INTEGER PRIMARY KEY, head BLOB NOT NULL, signature BLOB NOT NULL, created_at TEXT NOT NULL)",
        ]

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        # One executemany instead of the library's execute per event. The notification
        # id is the rowid; inside this write transaction nobody else inserts, so the
        # new rows take the consecutive rowids ending at MAX(rowid).
        c.executemany(
            self.insert_events_statement,
            [
                (
                    s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id,
                    s.originator_version,
                    s.topic,
                    s.state,
                )
                for s in stored_events
            ],
        )
        c.execute(self.select_max_notification_id_statement)
        last = c.fetchone()[0]
        ids = list(range(last - len(stored_events) + 1, last + 1))
        receipts: Sequence[Receipt] = kwargs.get("receipts", ())
        if receipts:
            c.executemany(
                "INSERT INTO tandem_receipts VALUES (?, ?, ?, ?, ?)",
                [
                    (r.actor_id, r.client_event_id, r.originator_id.hex, r.originator_version, r.event_id)
                    for r in receipts
                ],
            )
        marks: Sequence[SessionMark] = kwargs.get("sessions", ())
        if marks:
            c.executemany(
                "INSERT INTO tandem_session_events VALUES (?, ?)",
                [(m.session_id.hex, ids[m.event_index]) for m in marks],
            )
        if self.sealing:
            self._seal(
                c,
                [
                    Row(i, s.originator_id, s.originator_version, s.topic, s.state)
                    for i, s in zip(ids, stored_events, strict=True)
                ],
            )
        return ids

    def select_session(self, session_id: UUID, after: int, upto: int, limit: int) -> list[Notification]:
        """One joint session's events in (after, upto], oldest first, at most `limit`: the
        session's own and the journey events done in it; nobody else's are read."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT rowid, originator_id, originator_version, topic, state FROM {self.events_table_name} "
                "WHERE rowid IN ("
                f"SELECT rowid FROM {self.events_table_name} WHERE originator_id = ? AND rowid > ? AND rowid <= ? "
                "UNION ALL SELECT notification_id FROM tandem_session_events "
                "WHERE session_id = ? AND notification_id > ? AND notification_id <= ?"
                ") ORDER BY rowid LIMIT ?",
                (session_id.hex, after, upto, session_id.hex, after, upto, limit),
            )
            return [Notification(UUID(row[1]), row[2], row[3], row[4], id=row[0]) for row in c.fetchall()]

    def _seal(self, c: Any, rows: Sequence[Row]) -> None:
        c.execute("SELECT link FROM tandem_chain ORDER BY position DESC LIMIT 1")
        last = c.fetchone()
        links, checkpoint = self._links_for(bytes(last[0]) if last else GENESIS, rows)
        c.executemany("INSERT INTO tandem_chain VALUES (?, ?)", links)
        if checkpoint is not None:
            c.execute("INSERT INTO tandem_checkpoints VALUES (?, ?, ?, ?)", checkpoint)

    def seal_history(self) -> int:
        """Link the events of a store written before it had a chain: only while there are
        neither links nor checkpoints, so nothing stored behind Tandem's back is ever linked."""
        sealed, prev = 0, GENESIS
        with self.datastore.transaction(commit=True) as c:
            c.execute("SELECT EXISTS (SELECT 1 FROM tandem_chain) OR EXISTS (SELECT 1 FROM tandem_checkpoints)")
            if c.fetchone()[0]:
                return 0
            c.execute(f"SELECT IFNULL(MAX(rowid), 0) FROM {self.events_table_name}")
            end = c.fetchone()[0]
            for after in range(0, end, WINDOW):
                c.execute(
                    f"SELECT rowid, originator_id, originator_version, topic, state FROM {self.events_table_name} "
                    "WHERE rowid > ? AND rowid <= ? ORDER BY rowid",
                    (after, after + WINDOW),
                )
                links = chain(prev, [_row(r) for r in c.fetchall()])
                if links:
                    c.executemany("INSERT INTO tandem_chain VALUES (?, ?)", links)
                    prev, sealed = links[-1][1], sealed + len(links)
        return sealed

    # -- the audit chain, read back (core.audit.ChainStore)

    def chain_end(self) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT MAX((SELECT IFNULL(MAX(rowid), 0) FROM {self.events_table_name}), "
                "(SELECT IFNULL(MAX(position), 0) FROM tandem_chain))"
            )
            return int(c.fetchone()[0])

    def select_rows(self, after: int, upto: int) -> list[Row]:
        with self.datastore.transaction(commit=False) as c:
            c.sqlite_cursor.row_factory = None  # plain tuples in Row's order: verify reads a million of them
            c.execute(
                f"SELECT rowid, originator_id, originator_version, topic, state FROM {self.events_table_name} "
                "WHERE rowid > ? AND rowid <= ? ORDER BY rowid",
                (after, upto),
            )
            return list(c.fetchall())

    def select_links(self, after: int, upto: int) -> list[tuple[int, bytes]]:
        with self.datastore.transaction(commit=False) as c:
            c.sqlite_cursor.row_factory = None
            c.execute("SELECT position, link FROM tandem_chain WHERE position > ? AND position <= ?", (after, upto))
            return list(c.fetchall())

    def last_link(self) -> tuple[int, bytes]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT position, link FROM tandem_chain ORDER BY position DESC LIMIT 1")
            row = c.fetchone()
        return (row[0], bytes(row[1])) if row else (0, GENESIS)

    def select_checkpoints(self) -> list[Checkpoint]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT position, head, signature, created_at FROM tandem_checkpoints ORDER BY position")
            return [Checkpoint(r[0], bytes(r[1]), bytes(r[2]), r[3]) for r in c.fetchall()]

    def insert_checkpoint(self, checkpoint: Checkpoint) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute("INSERT OR IGNORE INTO tandem_checkpoints VALUES (?, ?, ?, ?)", checkpoint)

    def find_acks(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Ack]:
        found: dict[tuple[str, str], Ack] = {}
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(keys), 400):  # stay under SQLite's bound-parameter limit
                chunk = keys[start : start + 400]
                # The keys drive the join so each is one primary-key lookup (a row-value
                # IN list made SQLite scan the whole receipts table).
                c.execute(
                    "SELECT r.actor_id, r.client_event_id, e.rowid, r.event_id, e.topic "
                    "FROM (VALUES " + ",".join(["(?, ?)"] * len(chunk)) + ") AS k "
                    "CROSS JOIN tandem_receipts r ON r.actor_id = k.column1 AND r.client_event_id = k.column2 "
                    "JOIN stored_events e ON e.originator_id = r.originator_id "
                    "AND e.originator_version = r.originator_version",
                    [v for k in chunk for v in k],
                )
                for row in c.fetchall():
                    found[(row[0], row[1])] = Ack(row[2], row[3], event_type(row[4]))
        return found

    def select_stream(self, originator_id: UUID, topics: Sequence[str]) -> list[StoredEvent]:
        """One aggregate's events with these topics, oldest first; the others are not read out."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT originator_version, topic, state FROM {self.events_table_name} "
                f"WHERE originator_id = ? AND topic IN ({', '.join('?' * len(topics))}) ORDER BY originator_version",
                [originator_id.hex, *topics],
            )
            return [StoredEvent(originator_id, row[0], row[1], row[2]) for row in c.fetchall()]

    def select_span(self, originator_id: UUID, first: int, last: int) -> list[tuple[int, StoredEvent]]:
        """One aggregate's events with versions first..last and their log positions (the rowid)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT rowid, originator_version, topic, state FROM {self.events_table_name} "
                "WHERE originator_id = ? AND originator_version BETWEEN ? AND ? ORDER BY originator_version",
                [originator_id.hex, first, last],
            )
            return [(row[0], StoredEvent(originator_id, row[1], row[2], row[3])) for row in c.fetchall()]

    def select_at(self, positions: Sequence[int]) -> list[tuple[int, StoredEvent]]:
        """The events at these log positions, in position order."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT rowid, originator_id, originator_version, topic, state FROM {self.events_table_name} "
                f"WHERE rowid IN ({', '.join('?' * len(positions))}) ORDER BY rowid",
                list(positions),
            )
            return [(row[0], StoredEvent(UUID(row[1]), row[2], row[3], row[4])) for row in c.fetchall()]

    def last_version(self, originator_id: UUID) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT MAX(originator_version) FROM stored_events WHERE originator_id = ?",
                (originator_id.hex,),
            )
            row = c.fetchone()
        return row[0] or 0

    def synchronous_level(self) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute("PRAGMA synchronous")
            return int(c.fetchone()[0])


class PostgresRecorder(_Sealing, PostgresApplicationRecorder):
    @property
    def _receipts(self) -> Identifier:
        return Identifier(self.events_table_name.removesuffix("_events") + "_receipts")

    @property
    def _sessions(self) -> Identifier:
        return Identifier(self.events_table_name.removesuffix("_events") + "_session_events")

    def _table(self, suffix: str) -> Composed:
        return SQL("{}.{}").format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name.removesuffix("_events") + suffix)
        )

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{table} ("
                "actor_id text, client_event_id text, originator_id uuid, "
                "originator_version bigint, event_id text, "
                "PRIMARY KEY (actor_id, client_event_id))"
            ).format(schema=Identifier(self.datastore.schema), table=self._receipts)
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{table} ("
                "session_id uuid, notification_id bigint, PRIMARY KEY (session_id, notification_id))"
            ).format(schema=Identifier(self.datastore.schema), table=self._sessions)
        )
        self.sql_create_statements.append(
            SQL("CREATE TABLE IF NOT EXISTS {} (position bigint PRIMARY KEY, link bytea NOT NULL)").format(
                self._table("_chain")
            )
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (position bigint PRIMARY KEY, head bytea NOT NULL, "
                "signature bytea NOT NULL, created_at text NOT NULL)"
            ).format(self._table("_checkpoints"))
        )

    def _insert_stored_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        # After the events, under the same table lock and inside the library's block that
        # syncs the pipeline, so a duplicate receipt raises IntegrityError there. (Written
        # first, from `_insert_events`, its error sometimes surfaced as "pipeline aborted"
        # instead: retried for 2 s, then reported as an outage, and it left psycopg
        # believing in a prepared statement the server never made.) A cursor of its
        # own, as `curs` still holds the RETURNING rows the library reads next.
        super()._insert_stored_events(curs, stored_events, **kwargs)
        receipts: Sequence[Receipt] = kwargs.get("receipts", ())
        if receipts:
            with curs.connection.cursor() as receipts_curs:
                receipts_curs.executemany(
                    SQL("INSERT INTO {schema}.{table} VALUES (%s, %s, %s, %s, %s)").format(
                        schema=Identifier(self.datastore.schema), table=self._receipts
                    ),
                    [tuple(r) for r in receipts],
                )
        marks: Sequence[SessionMark] = kwargs.get("sessions", ())
        if marks:
            # The positions are not known yet here (the library reads them back next), but
            # the rows are visible inside this transaction.
            with curs.connection.cursor() as marks_curs:
                marks_curs.executemany(
                    SQL(
                        "INSERT INTO {schema}.{table} SELECT %s, notification_id FROM {schema}.{events} "
                        "WHERE originator_id = %s AND originator_version = %s"
                    ).format(
                        schema=Identifier(self.datastore.schema),
                        table=self._sessions,
                        events=Identifier(self.events_table_name),
                    ),
                    [
                        (
                            m.session_id,
                            stored_events[m.event_index].originator_id,
                            stored_events[m.event_index].originator_version,
                        )
                        for m in marks
                    ],
                )

    def select_session(self, session_id: UUID, after: int, upto: int, limit: int) -> list[Notification]:
        """One joint session's events in (after, upto], oldest first, at most `limit`: the
        session's own and the journey events done in it; nobody else's are read."""
        statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {schema}.{events} "
            "WHERE notification_id IN ("
            "SELECT notification_id FROM {schema}.{events} "
            "WHERE originator_id = %s AND notification_id > %s AND notification_id <= %s "
            "UNION ALL SELECT notification_id FROM {schema}.{sessions} "
            "WHERE session_id = %s AND notification_id > %s AND notification_id <= %s"
            ") ORDER BY notification_id LIMIT %s"
        ).format(
            schema=Identifier(self.datastore.schema),
            events=Identifier(self.events_table_name),
            sessions=self._sessions,
        )
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement, (session_id, after, upto, session_id, after, upto, limit))
            rows = curs.fetchall()
        return [
            Notification(
                r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"]), id=r["notification_id"]
            )
            for r in rows
        ]

    def _fetch_ids_after_insert_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        # The ids are known only here, still inside the transaction and the table lock.
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if self.sealing and ids:
            rows = [
                Row(i, s.originator_id, s.originator_version, s.topic, s.state)
                for i, s in zip(ids, stored_events, strict=True)
            ]
            with curs.connection.cursor() as c:
                self._seal(c, rows)
        return ids

    def _seal(self, c: Any, rows: Sequence[Row]) -> None:
        chain_table = self._table("_chain")
        c.execute(SQL("SELECT link FROM {} ORDER BY position DESC LIMIT 1").format(chain_table))
        last = c.fetchone()
        links, checkpoint = self._links_for(bytes(last["link"]) if last else GENESIS, rows)
        c.executemany(SQL("INSERT INTO {} VALUES (%s, %s)").format(chain_table), links)
        if checkpoint is not None:
            c.execute(SQL("INSERT INTO {} VALUES (%s, %s, %s, %s)").format(self._table("_checkpoints")), checkpoint)

    def seal_history(self) -> int:
        """Link the events of a store written before it had a chain: only while there are
        neither links nor checkpoints, so nothing stored behind Tandem's back is ever linked."""
        if self.last_link()[0] or self.select_checkpoints():
            return 0  # the usual case, answered without taking the table lock
        events = SQL("{}.{}").format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        sealed, prev = 0, GENESIS
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as c:
            self._lock_table(c)  # no writer may append while the history is being linked
            c.execute(
                SQL("SELECT EXISTS (SELECT 1 FROM {}) OR EXISTS (SELECT 1 FROM {}) AS e").format(
                    self._table("_chain"), self._table("_checkpoints")
                )
            )
            if _one(c)["e"]:
                return 0
            c.execute(SQL("SELECT COALESCE(MAX(notification_id), 0) AS m FROM {}").format(events))
            end = _one(c)["m"]
            for after in range(0, end, WINDOW):
                c.execute(
                    SQL(
                        "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
                        "WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id"
                    ).format(events),
                    (after, after + WINDOW),
                )
                links = chain(prev, [_row(list(r.values())) for r in c.fetchall()])
                if links:
                    c.executemany(SQL("INSERT INTO {} VALUES (%s, %s)").format(self._table("_chain")), links)
                    prev, sealed = links[-1][1], sealed + len(links)
        return sealed

    # -- the audit chain, read back (core.audit.ChainStore)

    def _rows(self, statement: Any, params: Sequence[Any] = ()) -> list[Any]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params)
            return [list(r.values()) for r in curs.fetchall()]

    def chain_end(self) -> int:
        [[end]] = self._rows(
            SQL(
                "SELECT GREATEST((SELECT COALESCE(MAX(notification_id), 0) FROM {}.{}), "
                "(SELECT COALESCE(MAX(position), 0) FROM {}))"
            ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name), self._table("_chain"))
        )
        return int(end)

    def select_rows(self, after: int, upto: int) -> list[Row]:
        statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {}.{} "
            "WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        return [_row(r) for r in self._rows(statement, (after, upto))]

    def select_links(self, after: int, upto: int) -> list[tuple[int, bytes]]:
        statement = SQL("SELECT position, link FROM {} WHERE position > %s AND position <= %s").format(
            self._table("_chain")
        )
        return [(r[0], bytes(r[1])) for r in self._rows(statement, (after, upto))]

    def last_link(self) -> tuple[int, bytes]:
        found = self._rows(
            SQL("SELECT position, link FROM {} ORDER BY position DESC LIMIT 1").format(self._table("_chain"))
        )
        return (found[0][0], bytes(found[0][1])) if found else (0, GENESIS)

    def select_checkpoints(self) -> list[Checkpoint]:
        statement = SQL("SELECT position, head, signature, created_at FROM {} ORDER BY position").format(
            self._table("_checkpoints")
        )
        return [Checkpoint(r[0], bytes(r[1]), bytes(r[2]), r[3]) for r in self._rows(statement)]

    def insert_checkpoint(self, checkpoint: Checkpoint) -> None:
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            curs.execute(
                SQL("INSERT INTO {} VALUES (%s, %s, %s, %s) ON CONFLICT (position) DO NOTHING").format(
                    self._table("_checkpoints")
                ),
                checkpoint,
            )

    def find_acks(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Ack]:
        if not keys:
            return {}
        statement = SQL(
            "SELECT r.actor_id, r.client_event_id, e.notification_id, r.event_id, e.topic "
            "FROM unnest(%s::text[], %s::text[]) AS k(actor_id, client_event_id) "
            "JOIN {schema}.{receipts} r USING (actor_id, client_event_id) "
            "JOIN {schema}.{events} e "
            "ON e.originator_id = r.originator_id AND e.originator_version = r.originator_version"
        ).format(
            schema=Identifier(self.datastore.schema),
            receipts=self._receipts,
            events=Identifier(self.events_table_name),
        )
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement, ([k[0] for k in keys], [k[1] for k in keys]))
            rows = curs.fetchall()
        return {
            (r["actor_id"], r["client_event_id"]): Ack(r["notification_id"], r["event_id"], event_type(r["topic"]))
            for r in rows
        }

    def select_stream(self, originator_id: UUID, topics: Sequence[str]) -> list[StoredEvent]:
        """One aggregate's events with these topics, oldest first; the others are not read out."""
        statement = SQL(
            "SELECT originator_version, topic, state FROM {schema}.{events} "
            "WHERE originator_id = %s AND topic = ANY(%s) ORDER BY originator_version"
        ).format(schema=Identifier(self.datastore.schema), events=Identifier(self.events_table_name))
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement, (originator_id, list(topics)))
            rows = curs.fetchall()
        return [StoredEvent(originator_id, r["originator_version"], r["topic"], bytes(r["state"])) for r in rows]

    def select_span(self, originator_id: UUID, first: int, last: int) -> list[tuple[int, StoredEvent]]:
        """One aggregate's events with versions first..last and their log positions."""
        statement = SQL(
            "SELECT notification_id, originator_version, topic, state FROM {schema}.{events} "
            "WHERE originator_id = %s AND originator_version BETWEEN %s AND %s ORDER BY originator_version"
        ).format(schema=Identifier(self.datastore.schema), events=Identifier(self.events_table_name))
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement, (originator_id, first, last))
            rows = curs.fetchall()
        return [
            (r["notification_id"], StoredEvent(originator_id, r["originator_version"], r["topic"], bytes(r["state"])))
            for r in rows
        ]

    def select_at(self, positions: Sequence[int]) -> list[tuple[int, StoredEvent]]:
        """The events at these log positions, in position order."""
        statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {schema}.{events} "
            "WHERE notification_id = ANY(%s) ORDER BY notification_id"
        ).format(schema=Identifier(self.datastore.schema), events=Identifier(self.events_table_name))
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement, (list(positions),))
            rows = curs.fetchall()
        return [
            (
                r["notification_id"],
                StoredEvent(r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"])),
            )
            for r in rows
        ]

    def last_version(self, originator_id: UUID) -> int:
        statement = SQL("SELECT MAX(originator_version) AS v FROM {schema}.{events} WHERE originator_id = %s").format(
            schema=Identifier(self.datastore.schema), events=Identifier(self.events_table_name)
        )
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement, (originator_id,))
            row = curs.fetchone()
        return (row and row["v"]) or 0
