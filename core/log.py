"""The event store: an eventsourcing Application over SQLite or PostgreSQL.

Its global order (the notification log: strictly increasing positions, with gaps on
PostgreSQL where a transaction rolled back) is the position everything else resumes from. `read` and `head` are the two calls projections, realtime
resume and exports use.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.utils import get_topic

from core.audit import signing_key
from core.recorders import PostgresRecorder, SQLiteRecorder
from core.settings import Settings

Recorder = SQLiteRecorder | PostgresRecorder  # the library's recorders plus Tandem's own tables


class EventLog(Application[UUID]):
    name = "tandem"  # PostgreSQL tables are tandem_events and tandem_receipts
    is_snapshotting_enabled = False
    recorder: Recorder

    def construct_recorder(self) -> Recorder:
        recorder = super().construct_recorder()
        if not isinstance(recorder, SQLiteRecorder | PostgresRecorder):
            raise TypeError(f"APPLICATION_RECORDER_TOPIC must name a Tandem recorder, not {type(recorder).__name__}")
        return recorder

    def find(self, aggregate_id: Any) -> Any | None:
        """The aggregate as stored now, or None if there is none with that id."""
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def stream(self, aggregate_id: UUID, event_classes: Sequence[type]) -> list[Any]:
        """One aggregate's events of these classes, oldest first, decoding only those
        (a service user's journey holds thousands of other actions)."""
        stored = self.recorder.select_stream(aggregate_id, [get_topic(cls) for cls in event_classes])
        return [self.mapper.to_domain_event(s) for s in stored]

    def span(self, aggregate_id: UUID, first: int = 1, last: int = 2**62) -> list[tuple[int, Any]]:
        """One aggregate's events with versions first..last, oldest first, as (position, event)."""
        to_event = self.mapper.to_domain_event
        return [(pos, to_event(s)) for pos, s in self.recorder.select_span(aggregate_id, first, last)]

    def at(self, positions: Sequence[int]) -> list[tuple[int, Any]]:
        """The events at these positions (one indexed query), as (position, event)."""
        if not positions:
            return []
        to_event = self.mapper.to_domain_event
        return [(pos, to_event(s)) for pos, s in self.recorder.select_at(positions)]

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0

    def read(
        self, after: int, limit: int = 1000, stop: int | None = None, topics: Sequence[str] = ()
    ) -> list[tuple[int, Any]]:
        """Events after position `after`, oldest first, as (position, domain event)."""
        notifications = self.recorder.select_notifications(after + 1, limit, stop=stop, topics=topics)
        to_event = self.mapper.to_domain_event
        return [(n.id, to_event(n)) for n in notifications]

    def session_events(self, session_id: UUID, after: int, upto: int, limit: int) -> list[tuple[int, Any]]:
        """One joint session's events in (after, upto], oldest first, at most `limit`, as
        (position, domain event): read by the session index, not by scanning the log."""
        to_event = self.mapper.to_domain_event
        return [(n.id, to_event(n)) for n in self.recorder.select_session(session_id, after, upto, limit)]


_SETUP_LOCK = 0x7A6E_D3E5  # any fixed number: the advisory lock that serialises our DDL


@contextmanager
def pg_setup_lock(url: str) -> Iterator[Any]:
    """Hold a cluster-wide lock while creating schemas and tables.

    Two processes starting at once on an empty database would otherwise both run
    CREATE ... IF NOT EXISTS and one fails on the system catalogue's unique index.
    """
    import psycopg

    with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_SETUP_LOCK,))
        try:
            yield conn
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))


def open_log(settings: Settings) -> EventLog:
    """The event log for these settings, creating the PostgreSQL schema and tables if needed."""
    if settings.backend != "postgres":
        log = EventLog(env=settings.eventsourcing_env())
    else:
        with pg_setup_lock(settings.database_url) as conn:
            if settings.postgres_schema != "public":
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{settings.postgres_schema}"')
            log = EventLog(env=settings.eventsourcing_env())
    if settings.audit_key:
        log.recorder.signer = signing_key(settings.audit_key)
    log.recorder.seal_history()
    return log
