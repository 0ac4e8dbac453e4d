"""The library's recorders, plus a receipts table written in the same transaction.

A receipt maps (actor, client event id) to the event it produced. Because it is
inserted in the very transaction that stores the event, a retry after a crash
finds either both or neither: idempotency without a window.

A session index, written the same way, maps a joint session to the positions of the
journey events done in it, so a reconnecting device reads that session's events alone
(its own events are the session aggregate's: found by originator id).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier


class Receipt(NamedTuple):
    actor_id: str
    client_event_id: str
    originator_id: UUID
    originator_version: int
    event_id: str


class SessionMark(NamedTuple):
    """A journey event (the `index`-th of the insert) done inside joint session `session_id`."""

    index: int
    session_id: UUID


class Ack(NamedTuple):
    """What a client is told for an idempotency key that was already recorded."""

    position: int
    event_id: str


class SQLiteRecorder(SQLiteApplicationRecorder):
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
                "INSERT INTO tandem_session_events VALUES (?, ?)", [(m.session_id.hex, ids[m.index]) for m in marks]
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

    def find_acks(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Ack]:
        found: dict[tuple[str, str], Ack] = {}
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(keys), 400):  # stay under SQLite's bound-parameter limit
                chunk = keys[start : start + 400]
                # The keys drive the join so each is one primary-key lookup (a row-value
                # IN list made SQLite scan the whole receipts table).
                c.execute(
                    "SELECT r.actor_id, r.client_event_id, e.rowid, r.event_id "
                    "FROM (VALUES " + ",".join(["(?, ?)"] * len(chunk)) + ") AS k "
                    "CROSS JOIN tandem_receipts r ON r.actor_id = k.column1 AND r.client_event_id = k.column2 "
                    "JOIN stored_events e ON e.originator_id = r.originator_id "
                    "AND e.originator_version = r.originator_version",
                    [v for k in chunk for v in k],
                )
                for row in c.fetchall():
                    found[(row[0], row[1])] = Ack(row[2], row[3])
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


class PostgresRecorder(PostgresApplicationRecorder):
    @property
    def _receipts(self) -> Identifier:
        return Identifier(self.events_table_name.removesuffix("_events") + "_receipts")

    @property
    def _sessions(self) -> Identifier:
        return Identifier(self.events_table_name.removesuffix("_events") + "_session_events")

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
                        (m.session_id, stored_events[m.index].originator_id, stored_events[m.index].originator_version)
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

    def find_acks(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Ack]:
        if not keys:
            return {}
        statement = SQL(
            "SELECT r.actor_id, r.client_event_id, e.notification_id, r.event_id "
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
        return {(r["actor_id"], r["client_event_id"]): Ack(r["notification_id"], r["event_id"]) for r in rows}

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
