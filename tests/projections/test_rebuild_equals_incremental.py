"""Hypothesis: views followed live (small batches, cache forced back to the database) equal a
rebuild from scratch, for generated sequences of commands recorded through Tandem."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.commands import Actor, Command
from core.errors import CommandError
from core.service import Tandem
from core.settings import Settings
from projections import ProjectionSet
from projections.base import Rows

from .conftest import dump

TOPICS = ["recovery", "health", "me"]
SECTIONS = ["recovery/a", "recovery/b", "health/c"]
QUESTIONS = [s + "/q1" for s in SECTIONS]
VIDEOS = ["v-1", "v-2"]
ids = st.sampled_from
secs = st.floats(0, 900, allow_nan=False)

journey = st.one_of(
    st.builds(lambda t: ("TopicOpened", {"topic_id": t}), ids(TOPICS)),
    st.builds(
        lambda s, x: ("SectionViewed", {"section_id": s, "seconds_on_screen": x}), ids(SECTIONS), st.none() | secs
    ),
    st.builds(lambda v, p: ("VideoPlayed", {"video_id": v, "position_s": p}), ids(VIDEOS), secs),
    st.builds(lambda v, a, b: ("VideoSeeked", {"video_id": v, "from_s": a, "to_s": b}), ids(VIDEOS), secs, secs),
    st.builds(
        lambda v, p: ("VideoProgressed", {"video_id": v, "percent": p, "position_s": p * 3.0}),
        ids(VIDEOS),
        st.integers(0, 100),
    ),
    st.builds(lambda v: ("VideoCompleted", {"video_id": v}), ids(VIDEOS)),
    st.builds(lambda q: ("AnswerSaved", {"question_id": q, "answer": "secret"}), ids(QUESTIONS)),
    st.builds(
        lambda t, v, d: (
            "ChartPointRecorded",
            {"tracker_id": t, "values": {"level": v}, "for_date": f"2026-10-{d:02d}"},
        ),
        ids(["mood", "stress"]),
        st.floats(-5, 10, allow_nan=False),
        st.integers(1, 28),
    ),
    st.builds(
        lambda w, i: ("WorksheetItemAdded", {"worksheet_id": w, "item_id": i, "text": "x"}),
        ids(["ws1"]),
        ids(["i1", "i2"]),
    ),
    st.builds(
        lambda w, i: ("WorksheetItemRemoved", {"worksheet_id": w, "item_id": i}), ids(["ws1"]), ids(["i1", "i2"])
    ),
    st.builds(lambda s, r: (s, {"scope": "topic", "ref": r}), ids(["ItemShared", "ItemUnshared"]), ids(TOPICS[:2])),
)
session_step = st.one_of(
    st.just(("worker", "ParticipantJoined", {"device_kind": "desktop"})),
    st.just(("su", "ParticipantJoined", {"device_kind": "phone"})),
    st.just(("su", "ParticipantLeft", {"reason": None})),
    st.builds(
        lambda s, t: ("worker", "SuggestionMade", {"suggestion_id": s, "topic_id": t, "section_id": None}),
        ids(["s1", "s2"]),
        ids(TOPICS),
    ),
    st.builds(lambda s: ("su", "SuggestionAccepted", {"suggestion_id": s}), ids(["s1", "s2"])),
    st.builds(lambda s: ("su", "SuggestionDismissed", {"suggestion_id": s}), ids(["s1", "s2"])),
    st.just(("su", "ControlHandedOver", "worker")),
    st.just(("worker", "ControlHandedOver", "su")),
    st.just(("worker", "SessionEnded", {"reason": None})),
    journey.map(lambda j: ("su", *j)),
    journey.map(lambda j: ("worker", *j)),
)
solo = st.tuples(st.just("solo"), st.integers(0, 1), journey)
step = st.one_of(
    solo,
    solo,
    solo,
    st.tuples(st.just("session"), session_step),
    st.tuples(st.just("session"), session_step),
    st.tuples(st.just("start"), st.integers(0, 1)),
    st.tuples(st.just("session"), session_step),
    st.tuples(st.just("consent"), st.integers(0, 1), ids(["ConsentGiven", "ConsentWithdrawn"])),
    st.tuples(st.just("link"), st.integers(0, 1), st.booleans()),
)


class World:
    def __init__(self, t: Tandem):
        self.t = t
        self.worker = Actor(t.register("wk", "W", "worker", "password1"), "worker")
        self.sus = [
            Actor(t.register(f"su{i}", f"SU {i}", "service_user", "password1"), "service_user") for i in range(2)
        ]
        t.link(self.worker.user_id, self.sus[0].user_id, by=self.worker.user_id)
        self.session: tuple[Any, Actor] | None = None
        self.n = 0

    def cmd(self, actor: Actor, type_: str, payload: dict[str, Any], session_id: Any = None) -> None:
        self.n += 1
        try:
            self.t.record_blocking(
                actor, Command(type_, payload, f"prop-{self.n:08d}-{id(self)}", session_id=session_id)
            )
        except CommandError:
            pass  # refused commands are part of real traffic too: nothing is recorded

    def run(self, s: tuple[Any, ...]) -> None:
        kind = s[0]
        try:
            if kind == "solo":
                self.cmd(self.sus[s[1]], *s[2])
            elif kind == "start":
                su = self.sus[s[1]]
                self.session = (self.t.start_session(self.worker, su.user_id), su)
            elif kind == "session" and self.session:
                sid, su = self.session
                who, type_, payload = s[1]
                actor = self.worker if who == "worker" else su
                if type_ == "ControlHandedOver":
                    payload = {"to_user": (self.worker if payload == "worker" else su).user_id}
                self.cmd(actor, type_, payload, sid)
            elif kind == "consent":
                self.cmd(self.sus[s[1]], s[2], {"scope": "research"})
            elif kind == "link":
                su = self.sus[s[1]].user_id
                (self.t.link if s[2] else self.t.unlink)(self.worker.user_id, su, self.worker.user_id)
        except CommandError:
            pass


@pytest.mark.slow
def test_rebuild_equals_incremental(store_settings: Settings, tandem: Tandem, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Rows, "MAX_CACHED", 5)  # the live path re-reads rows from the database often
    world = World(tandem)
    live = ProjectionSet(store_settings, tandem=tandem, batch_size=3)
    live.start()

    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.lists(step, min_size=5, max_size=40))
    def check(steps: list[tuple[Any, ...]]) -> None:
        for s in steps:
            world.run(s)
        assert live.wait_for(tandem.head(), 20)
        followed = dump(live)
        fresh = ProjectionSet(store_settings)
        try:
            fresh.rebuild(progress=False)
        finally:
            fresh.close()
        assert live.wait_for(tandem.head(), 20)
        assert dump(live) == followed

    try:
        check()
    finally:
        live.close()
