"""The metrics of docs/metrics.md against values worked out by hand on a small fixed history."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from core import aggregates as A
from core.service import Tandem
from core.settings import Settings


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def fixed(store_settings: Settings) -> Any:
    from content.loader import load
    from projections import ProjectionSet
    from web.demo import _History
    from web.usecases import research as uc

    content = load()
    video = content.section("recovery/what-recovery-means").video_id
    t = Tandem(store_settings)
    try:
        gen = _History(t, random.Random(1))
        start = at("2026-01-01T00:00:00")
        a, b, c = (gen.account(f"fixed-{n}", f"Fixed {n}", "service_user", start) for n in "abc")
        w = gen.account("fixed-w", "Fixed W", "worker", start)
        rita = t.register("rita", "Rita", "researcher", "rita-pass-123")
        gen.flush()
        sid = t.create_study(
            "fixed",
            "Fixed",
            [{"id": "therapy", "label": "Therapy"}, {"id": "routine", "label": "Routine"}],
            "2026-01-05",
            "2026-03-01",
            [rita],
            False,
            rita,
        )
        for su, arm in ((a, "therapy"), (b, "routine"), (c, "routine")):
            t.enrol(sid, su, arm, rita)
        for su in (a, b):  # c never consents
            gen.act(A.Consent.StudyConsentGiven, A.consent_id(su), start, su, study_id=sid, provision="engagement")
        ja, jb, jc = A.journey_id(a), A.journey_id(b), A.journey_id(c)
        J = A.Journey
        gen.act(J.TopicOpened, ja, at("2026-01-05T10:00:00"), a, topic_id="recovery")
        gen.act(
            J.SectionViewed,
            ja,
            at("2026-01-05T10:05:00"),
            a,
            section_id="recovery/what-recovery-means",
            seconds_on_screen=120.0,
        )
        gen.act(J.TopicOpened, ja, at("2026-01-05T10:20:00"), a, topic_id="health")
        session = uuid.uuid4()
        s = A.JointSession._create(
            A.JointSession.SessionStarted,
            id=session,
            worker_id=w,
            su_id=a,
            same_device=False,
            started_by=w,
            device="web",
        )
        for ev in s.collect_events():
            ev.__dict__["timestamp"] = at("2026-01-12T09:00:00")
            gen.versions[session] = 1
            gen.buf.append(ev)
        gen.act(
            J.SectionViewed,
            ja,
            at("2026-01-12T09:10:00"),
            w,
            "worker",
            session,
            section_id="recovery/what-recovery-means",
            seconds_on_screen=None,
        )
        gen.act(J.VideoPlayed, ja, at("2026-01-12T09:14:00"), w, "worker", session, video_id=video, position_s=0.0)
        gen.act(J.VideoCompleted, ja, at("2026-01-12T09:16:00"), w, "worker", session, video_id=video)
        gen.act(A.JointSession.SessionEnded, session, at("2026-01-12T09:50:00"), w, "worker", session, reason="ended")
        gen.act(
            J.ChartPointRecorded,
            ja,
            at("2026-01-20T08:00:00"),
            a,
            tracker_id="mood",
            values={"level": 3.0},
            for_date="2026-01-20",
        )
        gen.act(J.TopicOpened, jb, at("2026-01-06T12:00:00"), b, topic_id="health")
        gen.act(J.TopicOpened, jb, at("2026-01-06T12:08:00"), b, topic_id="recovery")
        gen.act(J.TopicOpened, jc, at("2026-01-07T12:00:00"), c, topic_id="life")  # not consenting: never counted
        gen.act(J.TopicOpened, ja, at("2026-03-05T12:00:00"), a, topic_id="life")  # after the study: never counted
        gen.flush()
    finally:
        t.close()
    views = ProjectionSet(store_settings, content=content)
    views.start()
    try:
        head = Tandem(store_settings)
        assert views.wait_for(head.head(), 60)
        head.close()
        study = uc.Study(**{k: v for k, v in _study(views, str(sid)).items()})
        people = uc.participants(views, study)
        yield uc.metrics(views, content, study, people), video, people
    finally:
        views.close()


def _study(views: Any, sid: str) -> dict[str, Any]:
    r = views.research.study(sid)
    return {
        "study_id": r["study_id"],
        "code": r["code"],
        "name": r["name"],
        "arms": r["arms"],
        "start": r["start_date"],
        "end": r["end_date"],
        "allow_text": r["allow_text"],
        "secret": r["secret"],
    }


def test_metrics_match_hand_computed_values(fixed: Any) -> None:
    m, video, people = fixed
    assert len(people) == 2
    therapy, routine = m["arms"]
    assert (therapy["participants"], therapy["took_up"], therapy["uptake"]) == (1, 1, 1.0)
    assert (routine["participants"], routine["took_up"], routine["uptake"]) == (1, 1, 1.0)
    # A: 5 min solo on 5 Jan (10:00 -> 10:05, the 10:20 gap is over 10 min); 6 min joint on 12 Jan.
    assert therapy["all"]["active_minutes_mean"] == 11.0
    assert therapy["solo"]["active_minutes_mean"] == 5.0
    assert therapy["joint"]["active_minutes_mean"] == 6.0
    assert therapy["all"]["days_active_mean"] == 3.0
    assert (therapy["solo"]["days_active_mean"], therapy["joint"]["days_active_mean"]) == (2.0, 1.0)
    # Solo sessions: 10:00-10:20 (20 min) and the 20 Jan chart point (0 min); one 50-minute joint session.
    assert therapy["solo"]["sessions_mean"] == 2.0
    assert therapy["solo"]["session_minutes_median"] == 10.0
    assert (therapy["joint"]["sessions_mean"], therapy["joint"]["session_minutes_median"]) == (1.0, 50.0)
    assert therapy["days_to_first_joint_session_median"] == 7.0
    assert therapy["had_a_joint_session"] == 1.0
    # First section: first viewed alone.
    assert therapy["all"]["completed_first_section"] == 1.0
    assert therapy["solo"]["completed_first_section"] == 1.0
    assert therapy["joint"]["completed_first_section"] == 0.0
    # One tracker point over the study's 8 weeks.
    assert therapy["all"]["tracker_points_per_week_mean"] == 0.125
    # B: 8 minutes, alone, one day, one session.
    assert routine["all"]["active_minutes_mean"] == 8.0
    assert (routine["solo"]["sessions_mean"], routine["solo"]["session_minutes_median"]) == (1.0, 8.0)
    assert (routine["joint"]["sessions_mean"], routine["joint"]["session_minutes_median"]) == (0.0, None)
    assert routine["days_to_first_joint_session_median"] is None
    # Retention: A was last active 15 days after first use, B on the day itself.
    ret = {(r["arm"], r["mode"], r["day"]): r["retained"] for r in m["retention"]}
    assert [ret[("Therapy", "all", d)] for d in (7, 15, 30)] == [1.0, 1.0, 0.0]
    assert (ret[("Therapy", "joint", 7)], ret[("Therapy", "joint", 9)]) == (1.0, 0.0)  # joint 7 days after first use
    assert ret[("Routine", "all", 7)] == 0.0
    # Topics: A recovery then health; B health then recovery.
    assert {(r["arm"], r["topic"], r["mode"]): r["participants"] for r in m["first_topic"]} == {
        ("Therapy", "recovery", "solo"): 1,
        ("Routine", "health", "solo"): 1,
    }
    flow = {(r["arm"], r["step"], r["topic"]) for r in m["topic_flow"]}
    assert flow == {
        ("Therapy", 1, "recovery"),
        ("Therapy", 2, "health"),
        ("Routine", 1, "health"),
        ("Routine", 2, "recovery"),
    }
    # The video: played from the start to the end in the joint session.
    [v_all] = [v for v in m["videos"] if v["video_id"] == video and v["mode"] == "all"]
    [v_joint] = [v for v in m["videos"] if v["video_id"] == video and v["mode"] == "joint"]
    assert (v_all["started"], v_all["completion"], v_joint["completion"]) == (1, 1.0, 1.0)
    heat = [h["share_played"] for h in m["video_heatmap"] if h["video_id"] == video and h["mode"] == "all"]
    assert heat == [1.0] * 10
    weekly = {(w["arm"], w["mode"], w["week"]): w["active_minutes_mean"] for w in m["weekly"]}
    assert (weekly[("Therapy", "solo", 1)], weekly[("Therapy", "joint", 2)], weekly[("Therapy", "all", 3)]) == (
        5.0,
        6.0,
        0.0,
    )
