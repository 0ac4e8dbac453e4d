"""The store underneath: durability settings, upcasting, and two writers on one record."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from uuid import uuid4

from eventsourcing.persistence import StoredEvent

from core import aggregates as A
from core.commands import Actor, Command
from core.service import Tandem


def test_sqlite_commits_are_fully_durable(sqlite_settings):
    t = Tandem(sqlite_settings)
    try:
        assert t.log.recorder.synchronous_level() == 2  # FULL: fsync on every commit
        with t.log.recorder.datastore.transaction(commit=False) as c:
            c.execute("PRAGMA journal_mode")
            assert c.fetchone()[0] == "wal"
    finally:
        t.close()


def test_a_v1_chart_point_is_upcast_on_read(tandem):
    su = tandem.register("sam", "Sam", "service_user", "correct horse")
    jid = A.journey_id(su)
    # A chart point as the first release stored it: one `value`, no class_version.
    state = {
        "timestamp": datetime(2025, 1, 2, 10, 0, tzinfo=UTC),
        "event_id": "e1",
        "actor_id": su,
        "actor_role": "service_user",
        "device": "web",
        "session_id": None,
        "client_time": None,
        "content_version": None,
        "client_event_id": "old-client-1",
        "tracker_id": "mood",
        "value": 7,
        "for_date": "2025-01-02",
    }
    topic = "core.aggregates:Journey.ChartPointRecorded"
    tandem.log.recorder.insert_events([StoredEvent(jid, 2, topic, tandem.log.mapper.transcoder.encode(state))])
    [(_, event)] = tandem.read(tandem.head() - 1)
    assert event.values == {"mood": 7}
    assert not hasattr(event, "value")
    assert event.timestamp == datetime(2025, 1, 2, 10, 0, tzinfo=UTC)


def test_two_writers_on_one_journey_lose_nothing(store_settings):
    """Two processes' writers (here two Tandem instances) append to the same journey."""
    a = Tandem(store_settings)
    b = Tandem(store_settings)
    try:
        su = a.register("sam", "Sam", "service_user", "correct horse")
        actor = Actor(su, "service_user")
        errors: list[Exception] = []

        def write(t: Tandem, prefix: str) -> None:
            for i in range(40):
                try:
                    t.record_blocking(
                        actor, Command("TopicOpened", {"topic_id": "me"}, f"{prefix}-{i:05d}-{uuid4().hex[:6]}")
                    )
                except Exception as e:  # a clear conflict is allowed, a lost event is not
                    errors.append(e)

        threads = [threading.Thread(target=write, args=(t, p)) for t, p in ((a, "aaaa"), (b, "bbbb"))]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert all(getattr(e, "code", "") == "conflict" for e in errors)
        opened = [e for _, e in a.read(0, 10_000) if isinstance(e, A.Journey.TopicOpened)]
        assert len(opened) == 80 - len(errors)
        assert sorted(e.originator_version for e in opened) == list(range(2, 2 + len(opened)))
    finally:
        a.close()
        b.close()


def test_processes_starting_together_on_an_empty_postgres_schema_all_come_up(postgres_url, tmp_path):
    """Several server processes (here threads, each with its own connections) create the
    same schemas and tables (event log, keys, projection views) at the same moment: none
    fails on the catalogue."""
    from core.keystore import KeyStore
    from core.log import open_log
    from projections import ProjectionSet
    from tests.conftest import drop_pg_schema, fresh_pg_schema, make_settings

    url, schema = fresh_pg_schema(postgres_url)
    settings = make_settings(tmp_path, url)
    start, errors = threading.Barrier(4), []

    def come_up() -> None:
        try:
            start.wait()
            log, keys, views = open_log(settings), KeyStore(settings), ProjectionSet(settings)
            views.prepare()
            views.close()
            log.close()
            keys.close()
        except Exception as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=come_up) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
    finally:
        drop_pg_schema(postgres_url, schema)


def test_a_retried_client_event_id_gets_its_first_acknowledgement_every_time(tandem):
    """Each retry hits the receipts table's key inside the insert transaction; every one
    must come back as that first acknowledgement, at once. (On PostgreSQL most once hit
    "pipeline aborted" and went round the library's retry loop; after ten in a row the
    client was told the store was down.)"""
    su = tandem.register("sam", "Sam", "service_user", "correct horse")
    actor = Actor(su, "service_user")
    first = tandem.record_blocking(actor, Command("TopicOpened", {"topic_id": "me"}, "retried-open-1"))
    slow = 0
    for i in range(30):
        asked = time.monotonic()
        again = tandem.record_blocking(actor, Command("TopicOpened", {"topic_id": "me"}, "retried-open-1"))
        slow += time.monotonic() - asked >= 0.2  # went round the library's retry loop (0.2 s waits)
        assert (again.position, again.event_id, again.duplicate) == (first.position, first.event_id, True), i
        # Something new in between, so the next retry shares a transaction with nothing stale.
        tandem.record_blocking(actor, Command("SectionViewed", {"section_id": "me-summary"}, f"view-{i:04d}"))
    assert slow <= 3, f"{slow} of 30 retries were answered only after the store's retry loop"
    opened = [e for _, e in tandem.read(0, 10_000) if isinstance(e, A.Journey.TopicOpened)]
    assert len(opened) == 1


def test_a_journey_is_read_back_by_event_kind_oldest_first(tandem):
    """Pages showing saved answers read only the answer events of one journey (an SU's
    journey holds thousands of other actions), oldest first."""
    su = tandem.register("sam", "Sam", "service_user", "correct horse")
    actor = Actor(su, "service_user")
    for i in range(3):
        tandem.record_blocking(actor, Command("SectionViewed", {"section_id": "me-summary"}, f"view-{i:04d}"))
        tandem.record_blocking(
            actor, Command("AnswerSaved", {"question_id": "me/q1", "answer": f"draft {i}"}, f"answer-{i:04d}")
        )
    answers = tandem.log.stream(A.journey_id(su), [A.Journey.AnswerSaved])
    assert [type(e) for e in answers] == [A.Journey.AnswerSaved] * 3
    assert [tandem.reveal(su, e.answer) for e in answers] == ["draft 0", "draft 1", "draft 2"]
    assert [e.originator_version for e in answers] == sorted(e.originator_version for e in answers)
    both = tandem.log.stream(A.journey_id(su), [A.Journey.AnswerSaved, A.Journey.SectionViewed])
    assert len(both) == 6
    assert tandem.log.stream(A.journey_id(uuid4()), [A.Journey.AnswerSaved]) == []
