"""The live session's rules, driven without sockets, a server or a store: inputs in, effects out."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count
from typing import Any
from uuid import UUID, uuid4

import pytest

from core import aggregates as A
from core.commands import Recorded
from core.errors import InvalidField, NotInSession
from realtime import protocol as P
from realtime import session as S
from realtime.presence import Grace
from realtime.protocol import CloseCode, Frame

WORKER, SU = uuid4(), uuid4()
W, U = str(WORKER), str(SU)
_cids = count(1)


class Clock:
    def __init__(self) -> None:
        self.mono, self.wall = 100.0, 1_700_000_000.0

    def __call__(self) -> S.At:
        return S.At(self.mono, self.wall)

    def advance(self, seconds: float) -> S.At:
        self.mono += seconds
        self.wall += seconds
        return self()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def new_session(**kw: Any) -> S.LiveSession:
    s = A.JointSession(worker_id=WORKER, su_id=SU, same_device=False, started_by=WORKER, device="test")
    return S.LiveSession(s, **kw)


def hello(**payload: Any) -> P.Envelope:
    return P.Envelope(type="hello", payload={"device_kind": "phone", **payload})


def env(type_: str, payload: dict[str, Any] | None = None, **fields: Any) -> P.Envelope:
    return P.Envelope(type=type_, payload=payload or {}, **fields)


def event(live: S.LiveSession, cls: type, actor: UUID = SU, **fields: Any) -> Any:
    s = live.session
    return cls(
        originator_id=s.id,
        originator_version=s.version + 1,
        timestamp=datetime.now(UTC),
        event_id=uuid4().hex,
        actor_id=actor,
        actor_role="service_user",
        device="live:phone",
        session_id=s.id,
        client_time=None,
        content_version=None,
        client_event_id=f"cid-{next(_cids):08d}",
        **fields,
    )


def commit(live: S.LiveSession, position: int, ev: Any) -> list[S.Effect]:
    return live.committed(position, ev, Frame({"type": type(ev).__name__, "position": position}))


def frames(effects: list[S.Effect], to: int | None = None, type_: str | None = None) -> list[dict[str, Any]]:
    out = []
    for e in effects:
        wanted = to is None or (isinstance(e, S.Send) and to in e.to)
        if isinstance(e, S.Send) and wanted and (type_ is None or e.frame.message["type"] == type_):
            out.append(e.frame.message)
    return out


def errors(effects: list[S.Effect], to: int) -> list[tuple[str, str | None]]:
    return [(m["payload"]["code"], m["payload"]["field"]) for m in frames(effects, to, "error")]


def of(effects: list[S.Effect], kind: type) -> list[Any]:
    return [e for e in effects if isinstance(e, kind)]


def join(live: S.LiveSession, conn: int, user: str, at: S.At, position: int = 0, **payload: Any) -> list[S.Effect]:
    role = "worker" if user == W else "service_user"
    return live.arrived(conn, user, role, hello(**payload), position, position, at)


def pair(clock: Clock) -> S.LiveSession:
    live = new_session()
    join(live, 1, U, clock())
    join(live, 2, W, clock())
    return live


# ------------------------------------------------------------------ hello, welcome, resume


def test_hello_without_last_position_gets_welcome_and_goes_live(clock: Clock) -> None:
    live = new_session()
    out = join(live, 1, U, clock(), position=7)
    (welcome,) = frames(out, 1, "welcome")
    assert welcome["position"] == 7 and welcome["payload"]["you"] == U
    assert welcome["payload"]["control"] == {"holder": U, "epoch": 1}
    assert of(out, S.GoLive) == [S.GoLive(1, 7)]
    assert not of(out, S.Replay)


def test_hello_with_last_position_replays_and_always_says_resumed(clock: Clock) -> None:
    live = new_session()
    out = join(live, 1, U, clock(), position=9, last_position=9)
    assert of(out, S.Replay) == [S.Replay(1, 9, 9)]
    assert not of(out, S.GoLive)  # live frames wait until the replay is sent
    done = live.replayed(1, 9, 9, [])
    (resumed,) = frames(done, 1, "resumed")
    assert resumed["position"] == 9 and resumed["payload"] == {"replayed": 0}
    assert of(done, S.GoLive) == [S.GoLive(1, 9)]


def test_replay_sends_missed_frames_then_resumed(clock: Clock) -> None:
    live = new_session()
    join(live, 1, U, clock(), position=10, last_position=4)
    missed = [(5, Frame({"type": "AnswerSaved"})), (8, Frame({"type": "TopicOpened"}))]
    done = live.replayed(1, 4, 10, missed)
    assert [m["type"] for m in frames(done, 1)] == ["AnswerSaved", "TopicOpened", "resumed"]
    assert frames(done, 1, "resumed")[0]["position"] == 10


def test_replay_past_the_cap_closes_too_slow_with_where_to_resume(clock: Clock) -> None:
    live = new_session(replay_cap=2)
    join(live, 1, U, clock(), position=10, last_position=0)
    done = live.replayed(1, 0, 10, [(3, Frame({"type": "a"})), (4, Frame({"type": "b"}))])
    resumed = frames(done, 1, "resumed")[0]
    assert resumed["position"] == 4 and resumed["payload"] == {"replayed": 2, "more": True}
    (close,) = of(done, S.Close)
    assert close.code == CloseCode.TOO_SLOW and "resume from 4" in close.reason
    assert 1 not in live.sockets


def test_last_position_beyond_the_servers_head_is_refused_and_closed(clock: Clock) -> None:
    live = new_session()
    out = live.arrived(1, U, "service_user", hello(last_position=50), 10, 12, clock())
    assert errors(out, 1) == [("invalid_field", "last_position")]
    (close,) = of(out, S.Close)
    assert close.code == CloseCode.POLICY
    assert not frames(out, 1, "welcome") and not of(out, S.Replay) and not of(out, S.RecordPresence)
    assert live.sockets == {}


def test_last_position_beyond_this_process_but_within_the_store_is_resumed(clock: Clock) -> None:
    live = new_session()  # another process delivered up to 12; this one only to 10
    out = live.arrived(1, U, "service_user", hello(last_position=12), 10, 12, clock())
    assert frames(out, 1, "welcome") and of(out, S.Replay) == [S.Replay(1, 12, 10)]
    assert frames(live.replayed(1, 12, 10, []), 1, "resumed")[0]["position"] == 12


def test_nav_location_is_kept_and_sent_in_the_next_welcome(clock: Clock) -> None:
    live = pair(clock)
    where = {"topic_id": "sleep", "section_id": "sleep/intro"}
    out = live.received(1, env("nav", where, epoch=1, seq=3), clock())
    (mirrored,) = frames(out, 2, "nav")
    assert mirrored["from"] == U and mirrored["seq"] == 3
    assert not frames(out, 1)  # not echoed to the sender
    assert of(out, S.PublishEphemeral)
    welcome = frames(join(live, 3, W, clock()), 3, "welcome")[0]
    assert welcome["payload"]["location"] == {**where, "by": U, "epoch": 1}


def test_a_second_hello_is_refused(clock: Clock) -> None:
    live = pair(clock)
    assert errors(live.received(1, hello(), clock()), 1) == [("invalid_field", "type")]


def test_ping_gets_pong_with_the_servers_time(clock: Clock) -> None:
    live = pair(clock)
    (pong,) = frames(live.received(1, env("ping", {"t": 1.5}, seq=4), clock()), 1)
    assert pong == {"type": "pong", "seq": 4, "ts": clock.wall, "payload": {"t": 1.5}}


# ------------------------------------------------------------------ control


def test_only_the_driver_with_the_current_epoch_may_navigate(clock: Clock) -> None:
    live = pair(clock)
    where = {"topic_id": "sleep"}
    assert errors(live.received(2, env("nav", where, epoch=1), clock()), 2) == [("not_driver", "type")]
    assert errors(live.received(2, env("TopicOpened", {}, epoch=1, client_event_id="x" * 8), clock()), 2) == [
        ("not_driver", "type")
    ]
    assert frames(live.received(1, env("nav", where, epoch=1), clock()), 2, "nav")


def test_control_handover_moves_the_lease_and_makes_the_old_epoch_stale(clock: Clock) -> None:
    live = pair(clock)
    out = commit(live, 5, event(live, A.JointSession.ControlHandedOver, to_user=WORKER, epoch=2))
    assert of(out, S.SendDurable) == [S.SendDurable((1, 2), 5, of(out, S.SendDurable)[0].frame)]
    assert live.holder == W and live.epoch == 2
    where = {"topic_id": "sleep"}
    assert errors(live.received(2, env("nav", where, epoch=1), clock()), 2) == [("stale_epoch", "epoch")]
    assert errors(live.received(1, env("nav", where, epoch=2), clock()), 1) == [("not_driver", "type")]
    assert frames(live.received(2, env("nav", where, epoch=2), clock()), 1, "nav")


def test_an_event_already_in_the_loaded_state_is_not_applied_again(clock: Clock) -> None:
    live = pair(clock)
    ev = event(live, A.JointSession.ControlHandedOver, to_user=WORKER, epoch=2)
    commit(live, 5, ev)
    late = event(live, A.JointSession.ControlHandedOver, to_user=SU, epoch=3)
    object.__setattr__(late, "originator_version", ev.originator_version)
    commit(live, 6, late)
    assert live.holder == W and live.epoch == 2


# ------------------------------------------------------------------ durable messages


def test_a_durable_message_is_recorded_and_acked_with_the_stored_type(clock: Clock) -> None:
    live = pair(clock)
    out = live.received(1, env("ChartShown", {"tracker_id": "mood"}, client_event_id="c-000001", seq=2), clock())
    (record,) = of(out, S.Record)
    assert record.command.type == "ChartShown" and record.command.session_id == live.session.id
    assert str(record.actor.user_id) == U and record.actor.device == "live:phone"
    ack = live.recorded(1, record.ref, Recorded(9, "e-1", False, "ChartShown"))
    assert frames(ack, 1, "ack") == [
        {
            "type": "ack",
            "session": live.id,
            "position": 9,
            "client_event_id": "c-000001",
            "seq": 2,
            "payload": {"event_id": "e-1", "duplicate": False, "of": "ChartShown"},
        }
    ]


def test_a_duplicate_ack_names_the_stored_events_type(clock: Clock) -> None:
    live = pair(clock)
    out = live.received(1, env("ChartHidden", {"tracker_id": "mood"}, client_event_id="c-000001"), clock())
    (record,) = of(out, S.Record)
    # The id was first used for a ChartShown; the retry is a ChartHidden and stores nothing.
    ack = frames(live.recorded(1, record.ref, Recorded(9, "e-1", True, "ChartShown")), 1, "ack")[0]
    assert ack["payload"] == {"event_id": "e-1", "duplicate": True, "of": "ChartShown"}


def test_a_refused_command_gets_its_error_and_a_lost_membership_a_recheck(clock: Clock) -> None:
    live = pair(clock)
    ref = {"seq": 1, "client_event_id": "c-000001"}
    out = live.recorded(1, ref, InvalidField("bad", "tracker_id"))
    assert errors(out, 1) == [("invalid_field", "tracker_id")] and not of(out, S.Recheck)
    out = live.recorded(1, ref, NotInSession("gone"))
    assert of(out, S.Recheck) == [S.Recheck(U)]
    out = live.recorded(1, ref, OSError("disk"))
    assert errors(out, 1) == [("store_unavailable", None)]


def test_in_flight_durable_messages_are_limited_per_socket(clock: Clock) -> None:
    live = pair(clock)

    def send(i: int) -> list[S.Effect]:
        return live.received(1, env("ChartShown", {"tracker_id": "m"}, client_event_id=f"c-{i:08d}"), clock())

    records = [of(send(i), S.Record)[0] for i in range(S.MAX_IN_FLIGHT)]
    refused = send(999)
    assert errors(refused, 1) == [("rate_limited", None)] and not of(refused, S.Record)
    assert of(live.received(2, env("ChartShown", {}, client_event_id="w-00000001"), clock()), S.Record)
    live.recorded(1, records[0].ref, Recorded(1, "e", False, "ChartShown"))
    assert of(send(1000), S.Record)


def test_server_presence_ids_carry_the_reserved_prefix_clients_may_not_use(clock: Clock) -> None:
    live = new_session()
    (rec,) = of(join(live, 1, U, clock()), S.RecordPresence)
    assert rec.command.client_event_id.startswith(P.SERVER_ID_PREFIX)
    frame = '{"type": "ChartShown", "client_event_id": "%s", "payload": {"tracker_id": "m"}}'
    with pytest.raises(P.ProtocolError) as exc:
        P.parse(frame % rec.command.client_event_id, live.id)
    assert (exc.value.code, exc.value.field) == ("invalid_field", "client_event_id")
    assert P.parse(frame % "my-own-id-1", live.id).client_event_id == "my-own-id-1"


# ------------------------------------------------------------------ suggestions, mirroring, charts


def test_suggestions_open_accept_and_dismiss_show_in_welcome(clock: Clock) -> None:
    live = pair(clock)
    commit(
        live,
        1,
        event(live, A.JointSession.SuggestionMade, WORKER, suggestion_id="s1", topic_id="sleep", section_id=None),
    )
    commit(
        live,
        2,
        event(live, A.JointSession.SuggestionMade, WORKER, suggestion_id="s2", topic_id="mood", section_id="mood/a"),
    )

    def open_ones() -> list[str]:
        return [
            s["suggestion_id"] for s in frames(join(live, 9, U, clock()), 9, "welcome")[0]["payload"]["suggestions"]
        ]

    assert open_ones() == ["s1", "s2"]
    commit(live, 3, event(live, A.JointSession.SuggestionAccepted, suggestion_id="s1"))
    assert open_ones() == ["s2"]
    commit(live, 4, event(live, A.JointSession.SuggestionDismissed, suggestion_id="s2"))
    assert open_ones() == []


def test_mirroring_pause_and_resume_and_shown_charts_reach_a_late_joiner(clock: Clock) -> None:
    live = pair(clock)

    def state() -> dict[str, Any]:
        return frames(join(live, 9, U, clock()), 9, "welcome")[0]["payload"]

    commit(live, 1, event(live, A.JointSession.MirroringPaused))
    assert state()["mirroring"] is False
    commit(live, 2, event(live, A.JointSession.MirroringResumed))
    assert state()["mirroring"] is True
    commit(live, 3, event(live, A.JointSession.ChartShown, tracker_id="sleep"))
    commit(live, 4, event(live, A.JointSession.ChartShown, tracker_id="mood"))
    assert state()["shown_charts"] == ["mood", "sleep"]
    commit(live, 5, event(live, A.JointSession.ChartHidden, tracker_id="sleep"))
    assert state()["shown_charts"] == ["mood"]


# ------------------------------------------------------------------ presence


def participants(effects: list[S.Effect]) -> dict[str, str]:
    (m,) = frames(effects, type_="presence")
    return {p["user_id"]: p["state"] for p in m["payload"]["participants"]}


def test_a_first_arrival_is_recorded_once_a_second_tab_is_not(clock: Clock) -> None:
    live = new_session()
    first = join(live, 1, U, clock())
    assert [r.command.type for r in of(first, S.RecordPresence)] == ["ParticipantJoined"]
    assert participants(first) == {U: "online"}
    assert not of(join(live, 2, U, clock()), S.RecordPresence)  # still being recorded
    live.presence_recorded(U)
    commit(live, 1, event(live, A.JointSession.ParticipantJoined, user_id=SU, device_kind="phone"))
    assert not of(join(live, 3, U, clock()), S.RecordPresence)  # already present


def test_hidden_then_gone_after_grace_is_recorded_as_timed_out(clock: Clock) -> None:
    live = new_session(grace=Grace(away_after=10, gone_after=20))
    join(live, 1, U, clock())
    join(live, 2, W, clock())
    live.presence_recorded(U)
    commit(live, 1, event(live, A.JointSession.ParticipantJoined, user_id=SU, device_kind="phone"))
    assert participants(live.received(1, env("presence", {"visible": False}), clock()))[U] == "backgrounded"
    live.gone(1, clock())  # the OS killed the hidden page's socket
    assert participants(live.tick(clock.advance(11)))[U] == "away"
    out = live.tick(clock.advance(10))
    assert participants(out)[U] == "gone" or U not in participants(out)
    (rec,) = of(out, S.RecordPresence)
    assert rec.command.type == "ParticipantLeft" and rec.command.payload == {"reason": "timed out"}
    assert str(rec.actor.user_id) == U and rec.actor.role == "service_user"
    assert not of(live.tick(clock.advance(1)), S.RecordPresence)  # once


def test_a_dropped_socket_is_backgrounded_not_gone(clock: Clock) -> None:
    live = pair(clock)
    out = live.gone(1, clock())
    assert participants(out)[U] == "backgrounded"
    assert not of(out, S.RecordPresence)


def test_leave_from_the_last_tab_is_gone_at_once_and_recorded(clock: Clock) -> None:
    live = pair(clock)
    live.presence_recorded(U)
    commit(live, 1, event(live, A.JointSession.ParticipantJoined, user_id=SU, device_kind="phone"))
    join(live, 3, U, clock())
    out = live.received(3, env("leave"), clock())  # another tab stays
    assert of(out, S.Close) == [S.Close(3, CloseCode.NORMAL, "left")] and not of(out, S.RecordPresence)
    out = live.received(1, env("leave"), clock())
    assert participants(out)[U] == "gone"
    assert [r.command.payload for r in of(out, S.RecordPresence)] == [{"reason": "left"}]


def test_a_remote_process_presence_merges_and_expires(clock: Clock) -> None:
    live = new_session()
    join(live, 1, W, clock())
    view = {
        U: {
            "user_id": U,
            "role": "service_user",
            "state": "online",
            "device_kind": "phone",
            "following": True,
            "connections": 1,
        }
    }
    assert participants(live.remote_presence("proc-b", view, clock()))[U] == "online"
    assert U not in participants(live.tick(clock.advance(S.REMOTE_STALE + 1)))


def test_presence_is_announced_to_other_processes_every_few_beats(clock: Clock) -> None:
    live = pair(clock)
    beats = [bool(of(live.tick(clock.advance(1)), S.PublishPresence)) for _ in range(S.PRESENCE_BEATS * 2)]
    assert beats.count(True) == 2


# ------------------------------------------------------------------ end and revocation


def test_the_session_ending_closes_every_socket_and_refuses_what_follows(clock: Clock) -> None:
    live = pair(clock)
    out = commit(live, 3, event(live, A.JointSession.SessionEnded, reason="done"))
    assert of(out, S.SendDurable)[0].to == (1, 2)  # the last event reaches both first
    assert {(c.conn, c.code) for c in of(out, S.Close)} == {(1, CloseCode.SESSION_ENDED), (2, CloseCode.SESSION_ENDED)}
    join(live, 4, U, clock())
    refused = live.received(4, env("ChartShown", {}, client_event_id="c-00000001"), clock())
    assert errors(refused, 4) == [("session_ended", None)] and not of(refused, S.Record)
    assert not of(join(live, 5, W, clock()), S.RecordPresence)


def test_revoked_access_sends_forbidden_last_and_closes_only_that_person(clock: Clock) -> None:
    live = pair(clock)
    out = live.drop_user(W, CloseCode.UNLINKED, "unlinked", clock())
    (close,) = of(out, S.Close)
    assert close.conn == 2 and close.code == CloseCode.UNLINKED and close.linger == 0
    assert close.last is not None and close.last.message["payload"]["code"] == "forbidden"
    assert list(live.sockets) == [1]


def test_a_remote_nav_is_checked_and_moves_the_location(clock: Clock) -> None:
    live = pair(clock)
    message = {"type": "nav", "from": U, "epoch": 1, "payload": {"topic_id": "sleep"}}
    out = live.remote_ephemeral(message)
    assert frames(out, 1, "nav") and frames(out, 2, "nav")
    assert live.location == {"topic_id": "sleep", "by": U, "epoch": 1}
    with pytest.raises(P.ProtocolError):
        live.remote_ephemeral({"type": "nav", "payload": {"topic_id": "../etc"}})
