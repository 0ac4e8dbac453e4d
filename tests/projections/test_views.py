"""Read-your-writes, the read API, dead letters, lag and version bumps, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

import pytest

from core.commands import Actor, Command
from core.service import Tandem
from core.settings import Settings
from projections import ProjectionSet
from projections.progress import Progress

from .conftest import dump

_n = 0


def cmd(type_: str, payload: dict[str, Any], session_id: Any = None) -> Command:
    global _n
    _n += 1
    return Command(type_, payload, f"test-{_n:08d}", session_id=session_id)


def people(t: Tandem) -> tuple[Actor, Actor]:
    w = t.register("wendy", "Wendy", "worker", "password1")
    su = t.register("sam", "Sam", "service_user", "password1")
    t.link(w, su, by=w)
    return Actor(w, "worker"), Actor(su, "service_user")


def test_read_your_writes_and_read_api(store_settings: Settings, tandem: Tandem) -> None:
    # poll_s is long: only the commit signal (SQLite) or LISTEN/NOTIFY (PostgreSQL) can wake it.
    views = ProjectionSet(store_settings, tandem=tandem if store_settings.backend == "sqlite" else None, poll_s=30)
    views.start()
    try:
        worker, su = people(tandem)
        time.sleep(0.2)
        started = time.monotonic()
        ack = tandem.record_blocking(
            su, cmd("SectionViewed", {"section_id": "recovery/what", "seconds_on_screen": 12.5})
        )
        assert views.wait_for(ack.position, 5)
        assert time.monotonic() - started < 5
        assert views.progress.section(su.user_id, "recovery/what")["views"] == 1

        tandem.record_blocking(su, cmd("TopicOpened", {"topic_id": "recovery"}))
        tandem.record_blocking(su, cmd("AnswerSaved", {"question_id": "recovery/what/q1", "answer": "private words"}))
        tandem.record_blocking(
            su,
            cmd(
                "ChartPointRecorded",
                {"tracker_id": "sleep", "values": {"hours": 7, "quality": 4}, "for_date": "2026-11-02"},
            ),
        )
        tandem.record_blocking(
            su,
            cmd(
                "ChartPointRecorded",
                {"tracker_id": "sleep", "values": {"hours": 5, "quality": 2}, "for_date": "2026-11-03"},
            ),
        )
        tandem.record_blocking(su, cmd("ItemShared", {"scope": "tracker", "ref": "sleep"}))
        ack = tandem.record_blocking(su, cmd("ItemShared", {"scope": "topic", "ref": "recovery"}))
        assert views.wait_for(ack.position, 5)  # committed to the view, so the unshare is a real DELETE
        ack = tandem.record_blocking(su, cmd("ItemUnshared", {"scope": "topic", "ref": "recovery"}))
        assert views.wait_for(ack.position, 5)
        tandem.record_blocking(su, cmd("ConsentGiven", {"scope": "research"}))
        sid = tandem.start_session(worker, su.user_id)
        tandem.record_blocking(
            worker, cmd("SuggestionMade", {"suggestion_id": "s1", "topic_id": "health", "section_id": None}, sid)
        )
        tandem.record_blocking(su, cmd("SuggestionAccepted", {"suggestion_id": "s1"}, sid))
        tandem.record_blocking(su, cmd("TopicOpened", {"topic_id": "health"}, sid))
        ack = tandem.record_blocking(worker, cmd("SessionEnded", {}, sid))
        assert views.wait_for(ack.position, 5)

        [summary] = [s for s in views.progress.topic_summaries(su.user_id) if s["topic_id"] == "recovery"]
        assert summary["opens"] == 1 and summary["sections_viewed"] == 1 and summary["questions_answered"] == 1
        assert views.progress.is_answered(su.user_id, "recovery/what/q1")
        assert "private words" not in str(dump(views))  # no free text in any view
        assert [p["values"]["hours"] for p in views.trackers.series(su.user_id, "sleep")] == [7.0, 5.0]
        weekly = {w["measure"]: w for w in views.trackers.weekly(su.user_id, "sleep")}
        assert weekly["hours"] == {
            "week": "2026-11-02",
            "measure": "hours",
            "count": 2,
            "mean": 6.0,
            "min": 5.0,
            "max": 7.0,
        }
        assert views.directory.has_consented(su.user_id)
        assert [(x["scope"], x["ref"]) for x in views.directory.shared(su.user_id)] == [("tracker", "sleep")]
        assert views.directory.is_shared(su.user_id, "tracker", "sleep") and not views.directory.is_shared(
            su.user_id, "topic", "recovery"
        )
        assert [a["username"] for a in views.directory.caseload(worker.user_id)] == ["sam"]
        assert [a["username"] for a in views.directory.workers_of(su.user_id)] == ["wendy"]
        assert views.directory.account(su.user_id)["role"] == "service_user"
        [s] = views.sessions.for_worker(worker.user_id)
        assert s["suggestions_accepted"] == 1 and s["ended_at"] is not None
        detail = views.sessions.detail(sid)
        assert detail["topics"] == ["health"] and detail["suggestions"][0]["status"] == "accepted"
        [e] = views.engagement.for_consenting()
        assert e["topic_order"] == ["recovery", "health"] and e["joint_sessions"] == 1 and "sam" not in str(e)
    finally:
        views.close()


def test_status_lag_then_caught_up(store_settings: Settings, tandem: Tandem) -> None:
    views = ProjectionSet(store_settings)
    views.prepare()
    _, su = people(tandem)
    for i in range(5):
        tandem.record_blocking(su, cmd("TopicOpened", {"topic_id": f"t{i}"}))
    status = views.status()
    head = tandem.head()
    assert all(s["lag"] == head and s["position"] == 0 and s["head"] == head for s in status.values())
    assert views.wait_for(head, 0.1) is False  # not started: "still updating"
    views.catch_up()
    assert all(s["lag"] == 0 for s in views.status().values())
    views.close()


class FakeContent:
    version = "test"

    def section(self, id: str) -> Any:
        if id.startswith("gone/"):
            raise KeyError(id)
        return object()

    def __getattr__(self, kind: str) -> Any:
        return lambda id: object()


def test_dead_letter_and_move_on(store_settings: Settings, tandem: Tandem) -> None:
    views = ProjectionSet(store_settings, content=FakeContent())
    views.prepare()
    _, su = people(tandem)
    bad = tandem.record_blocking(su, cmd("SectionViewed", {"section_id": "gone/old-section"}))
    tandem.record_blocking(su, cmd("SectionViewed", {"section_id": "recovery/what"}))
    views.catch_up()
    status = views.status()
    assert status["progress"]["dead_letters"] == 1 and status["progress"]["lag"] == 0
    [letter] = views.dead_letters("progress")
    assert letter["position"] == bad.position and "gone/old-section" in letter["reason"]
    assert views.progress.section(su.user_id, "recovery/what")["views"] == 1
    assert views.progress.section(su.user_id, "gone/old-section") is None
    before = dump(views)
    views.rebuild(progress=False)  # dead letters are rebuilt too, not doubled
    assert dump(views) == before
    views.close()


def test_crashing_handler_is_dead_lettered_without_half_applied_rows(
    store_settings: Settings, tandem: Tandem, monkeypatch: pytest.MonkeyPatch
) -> None:
    import projections.trackers as T

    real = T.week_of
    monkeypatch.setattr(
        T, "week_of", lambda d: (_ for _ in ()).throw(ValueError("boom")) if d == "2026-01-01" else real(d)
    )
    views = ProjectionSet(store_settings)
    views.prepare()
    _, su = people(tandem)
    tandem.record_blocking(
        su, cmd("ChartPointRecorded", {"tracker_id": "mood", "values": {"level": 3}, "for_date": "2026-01-01"})
    )
    tandem.record_blocking(
        su, cmd("ChartPointRecorded", {"tracker_id": "mood", "values": {"level": 5}, "for_date": "2026-01-02"})
    )
    views.catch_up()
    assert views.status()["trackers"]["dead_letters"] == 1
    assert [p["for_date"] for p in views.trackers.series(su.user_id, "mood")] == ["2026-01-02"]
    views.close()


def test_version_bump_rebuilds_on_start(
    store_settings: Settings, tandem: Tandem, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, su = people(tandem)
    for i in range(30):
        tandem.record_blocking(su, cmd("SectionViewed", {"section_id": f"recovery/s{i % 4}", "seconds_on_screen": i}))
    views = ProjectionSet(store_settings)
    views.prepare()
    views.catch_up()
    before = dump(views)
    views.close()

    bumped = Progress.version + 1
    monkeypatch.setattr(Progress, "version", bumped)
    views = ProjectionSet(store_settings, tandem=tandem)
    assert views.prepare() == ["progress"]
    views.start()
    deadline = time.monotonic() + 30
    while views.status()["progress"]["version"] != bumped and time.monotonic() < deadline:
        time.sleep(0.05)
    status = views.status()["progress"]
    assert status["version"] == bumped and status["state"] == "current" and status["following"] and status["lag"] == 0
    assert views.wait_for(tandem.head(), 5)
    assert dump(views) == before
    views.close()


def test_rebuild_swaps_while_live_follower_keeps_going(store_settings: Settings, tandem: Tandem) -> None:
    _, su = people(tandem)
    live = ProjectionSet(store_settings, tandem=tandem, batch_size=10)
    live.start()
    try:
        for i in range(40):
            tandem.record_blocking(su, cmd("TopicOpened", {"topic_id": f"t{i % 5}"}))
        other = ProjectionSet(store_settings)  # as `tandem projections rebuild` in another process
        other.rebuild(progress=False)
        other.rebuild(["progress"], progress=False)  # a second swap reuses the index names
        other.close()
        ack = tandem.record_blocking(su, cmd("TopicOpened", {"topic_id": "t0"}))
        assert live.wait_for(ack.position, 5)
        assert sum(s["opens"] for s in live.progress.topic_summaries(su.user_id)) == 41
    finally:
        live.close()


def test_one_rebuild_at_a_time(store_settings: Settings, tandem: Tandem) -> None:
    from projections.store import RebuildBusy

    a, b = ProjectionSet(store_settings), ProjectionSet(store_settings)
    try:
        with a.store.connect() as conn, a.store.rebuild_lock(conn), pytest.raises(RebuildBusy):
            b.rebuild(progress=False)
        b.rebuild(progress=False)  # free again
    finally:
        a.close()
        b.close()
