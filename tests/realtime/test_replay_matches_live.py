"""Replay is time travel over the log: for generated joint sessions driven over real WebSockets,
the screen `web.usecases.replay.state_at` rebuilds at every position equals what a live
device in the session (the SU's, sent everything) had been sent up to that position, and the session state
(control, mirroring, charts on the shared screen) equals the JointSession aggregate the live
room moves on, read back at that version."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import aggregates as A
from tests.realtime.conftest import Live
from web.usecases import journey as J
from web.usecases import replay as R

TOPICS = ["recovery", "managing-stress", "health"]
SECTIONS = ["recovery/what-recovery-means", "recovery/hope", "managing-stress/noticing-your-signs"]
VIDEOS = ["v-recovery-amara", "v-stress-tom"]
QUESTIONS = ["recovery/hope/q1", "recovery/what-recovery-means/q2"]
seconds = st.floats(min_value=0, max_value=30, allow_nan=False).map(lambda x: round(x, 1))

action = st.one_of(
    st.tuples(st.just("TopicOpened"), st.fixed_dictionaries({"topic_id": st.sampled_from(TOPICS)})),
    st.tuples(st.just("SectionViewed"), st.fixed_dictionaries({"section_id": st.sampled_from(SECTIONS)})),
    st.tuples(
        st.just("VideoPlayed"), st.fixed_dictionaries({"video_id": st.sampled_from(VIDEOS), "position_s": seconds})
    ),
    st.tuples(
        st.just("VideoPaused"), st.fixed_dictionaries({"video_id": st.sampled_from(VIDEOS), "position_s": seconds})
    ),
    st.tuples(
        st.just("VideoSeeked"),
        st.fixed_dictionaries({"video_id": st.sampled_from(VIDEOS), "from_s": seconds, "to_s": seconds}),
    ),
    st.tuples(
        st.just("VideoProgressed"),
        st.fixed_dictionaries(
            {"video_id": st.sampled_from(VIDEOS), "percent": st.integers(0, 100), "position_s": seconds}
        ),
    ),
    st.tuples(st.just("VideoCompleted"), st.fixed_dictionaries({"video_id": st.sampled_from(VIDEOS)})),
    st.tuples(
        st.just("AnswerSaved"),
        st.fixed_dictionaries(
            {
                "question_id": st.sampled_from(QUESTIONS),
                "answer": st.text(
                    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40
                )
                .map(str.strip)
                .filter(bool),
            }
        ),
    ),
    st.tuples(
        st.just("ChartPointRecorded"),
        st.fixed_dictionaries(
            {
                "tracker_id": st.just("mood"),
                "values": st.fixed_dictionaries({"level": st.integers(1, 10)}),
                "for_date": st.sampled_from(["2026-11-02", "2026-11-03"]),
            }
        ),
    ),
    st.tuples(st.just("handover"), st.just({})),
    st.tuples(st.sampled_from(["MirroringPaused", "MirroringResumed"]), st.just({})),
    st.tuples(st.sampled_from(["ChartShown", "ChartHidden"]), st.just({"tracker_id": "sleep"})),
)
NAVIGATION = {"TopicOpened", "SectionViewed", "VideoPlayed", "VideoPaused", "VideoSeeked"}
# The SU's own writing and screen controls come from the SU's device (a worker sees only what is shared).
SU_ONLY = {"MirroringPaused", "MirroringResumed", "ChartShown", "ChartHidden", "AnswerSaved", "ChartPointRecorded"}


def follower_views(welcome: dict[str, Any], messages: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """What the follower's device had been told after each durable message, from the wire alone."""
    p = welcome["payload"]
    view: dict[str, Any] = {
        "topic_id": None,
        "section_id": None,
        "video": None,
        "answers": {},
        "points": {},
        "driver": p["control"]["holder"],
        "epoch": p["control"]["epoch"],
        "mirroring": p["mirroring"],
        "shown_charts": list(p["shown_charts"]),
    }
    out = []
    for m in messages:
        t, f = m["type"], m["payload"]
        if t == "TopicOpened":
            view["topic_id"], view["section_id"] = f["topic_id"], None
        elif t == "SectionViewed":
            view["section_id"], view["topic_id"] = f["section_id"], f["section_id"].split("/")[0]
        elif t.startswith("Video"):
            v = view["video"] if view["video"] and view["video"]["video_id"] == f["video_id"] else None
            v = dict(v) if v else {"video_id": f["video_id"], "position_s": 0.0, "playing": False, "percent": 0}
            if t in ("VideoPlayed", "VideoPaused"):
                v["position_s"], v["playing"] = f["position_s"], t == "VideoPlayed"
            elif t == "VideoSeeked":
                v["position_s"] = f["to_s"]
            elif t == "VideoProgressed":
                v["position_s"], v["percent"] = f["position_s"], max(v["percent"], f["percent"])
            else:
                v["percent"], v["playing"] = 100, False
            view["video"] = v
        elif t == "AnswerSaved":
            view["answers"] = {**view["answers"], f["question_id"]: f["answer"]}
        elif t == "ChartPointRecorded":
            view["points"] = {
                **view["points"],
                f["tracker_id"]: [*view["points"].get(f["tracker_id"], []), [f["for_date"], f["values"]]],
            }
        elif t == "ControlHandedOver":
            view["driver"], view["epoch"] = f["to_user"], f["epoch"]
        elif t in ("MirroringPaused", "MirroringResumed"):
            view["mirroring"] = t == "MirroringResumed"
        elif t == "ChartShown" and f["tracker_id"] not in view["shown_charts"]:
            view["shown_charts"] = [*view["shown_charts"], f["tracker_id"]]
        elif t == "ChartHidden":
            view["shown_charts"] = [c for c in view["shown_charts"] if c != f["tracker_id"]]
        out.append((m["position"], {**view}))
    return out


async def drive(
    live: Live, actions: list[tuple[str, dict[str, Any]]]
) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    sid, su, worker = await live.pair()
    # The SU's device is the observer: it is sent every event of the session, whoever drives.
    welcome = next(m for m in su.history if m["type"] == "welcome")
    people = {str(live.ids["sam"]): su, str(live.ids["wendy"]): worker}
    last = None
    for type_, payload in actions:
        driver = people[su.holder or str(live.ids["sam"])]
        if type_ == "handover":
            to = str(live.ids["wendy"]) if driver is su else str(live.ids["sam"])
            ack = await driver.durable("ControlHandedOver", {"to_user": to})
            await su.wait_for(lambda m, p=ack["position"]: m.get("position") == p and m["type"] == "ControlHandedOver")
        else:
            sender = su if type_ in SU_ONLY else driver
            ack = await sender.durable(type_, payload, drive=type_ in NAVIGATION)
        assert ack["type"] == "ack", ack
        last = ack["position"]
    if last is not None:
        await su.wait_for(lambda m: m.get("position") == last)
    mark = [m for m in su.durable_messages() if m["position"] > welcome["position"]]
    await su.send("leave", {})
    await worker.send("leave", {})
    await su.close()
    await worker.close()
    return sid, welcome, mark


def test_replay_at_every_position_equals_the_live_follower(live: Live) -> None:
    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.lists(action, min_size=1, max_size=18))
    def check(actions: list[tuple[str, dict[str, Any]]]) -> None:
        sid, welcome, messages = asyncio.run(drive(live, actions))
        tandem = live.tandem
        views = live.app.state.projections
        assert views.wait_for(tandem.head(), 30)
        visit = views.journey.visit("s:" + sid)
        assert visit is not None
        steps = J.replay_steps(tandem, live.ids["sam"], visit)
        start = R.Start(driver=str(live.ids["sam"]))
        # Every event the follower was sent is in the replay, in the same order (leaving came after).
        end = messages[-1]["position"]
        assert [m["position"] for m in messages] == [
            s.position for s in steps if welcome["position"] < s.position <= end
        ]
        for position, seen in follower_views(welcome, messages):
            screen = R.state_at(start, steps, position).to_dict()
            got = {k: screen[k] for k in seen}
            if got["video"] is not None:
                got["video"] = {k: got["video"][k] for k in ("video_id", "position_s", "playing", "percent")}
            assert got == seen, (position, actions)
            # The session's own state: the aggregate the live room applies, at that version.
            session = _session_at(tandem, UUID(sid), position)
            assert screen["driver"] == str(session.control_holder) and screen["epoch"] == session.control_epoch
            assert screen["mirroring"] == session.mirroring
            assert set(screen["shown_charts"]) == session.shown_charts

    check()


def _session_at(tandem: Any, session_id: UUID, position: int) -> A.JointSession:
    """The JointSession as the live room had it once every event up to `position` was applied."""
    versions = [ev.originator_version for pos, ev in tandem.log.span(session_id) if pos <= position]
    return tandem.log.repository.get(session_id, version=max(versions))
