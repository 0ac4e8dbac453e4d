"""The event store: an eventsourcing Application over SQLite or PostgreSQL.

Its global, gap-free order (the notification log) is the position everything
else resumes from. `read` and `head` are the two calls projections, realtime
resume and exports use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.application import Application

from core.settings import Settings


class EventLog(Application):
    name = "tandem"  # PostgreSQL tables are tandem_events and tandem_receipts
    is_snapshotting_enabled = False

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0

    def read(self, after: int, limit: int = 1000, stop: int | None = None, topics: Sequence[str] = ()) -> list[tuple[int, Any]]:
        """Events after position `after`, oldest first, as (position, domain event)."""
        notifications = self.recorder.select_notifications(after + 1, limit, stop=stop, topics=topics)
        to_event = self.mapper.to_domain_event
        return [(n.id, to_event(n)) for n in notifications]


def open_log(settings: Settings) -> EventLog:
    """The event log for these settings, creating the PostgreSQL schema if needed."""
    if settings.backend == "postgres" and settings.postgres_schema != "public":
        import psycopg

        with psycopg.connect(settings.database_url.split("?")[0], autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{settings.postgres_schema}"')
    return EventLog(env=settings.eventsourcing_env())
