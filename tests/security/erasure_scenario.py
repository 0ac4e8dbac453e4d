"""A service user who has used everything that keeps personal data, then is erased."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from core import aggregates as A
from core.commands import Actor, Command
from core.service import SEALED_FIELDS, Tandem

NAME = "Quentin Erasable"
ANSWER = "my private answer about the hard winter"
ITEM = "call my sister on sundays"
_n = itertools.count()


def cmd(type_: str, payload: dict[str, Any], session_id: UUID | None = None) -> Command:
    return Command(type_, payload, f"erase-{next(_n):08d}", session_id=session_id)


@dataclass
class Person:
    su: Actor
    worker: Actor
    pseudonym: str


def live_through(tandem: Tandem, username: str = "quentin", name: str = NAME) -> Person:
    """Register an SU (and a linked worker), and record every kind of personal data for them,
    alone and in a joint session."""
    w = tandem.register(f"{username}-worker", "Wanda Worker", "worker", "password1")
    s = tandem.register(username, name, "service_user", "password1")
    tandem.link(w, s, by=w)
    su, worker = Actor(s, "service_user"), Actor(w, "worker")
    for c in (
        cmd("TopicOpened", {"topic_id": "recovery"}),
        cmd("SectionViewed", {"section_id": "recovery/intro", "seconds_on_screen": 12.0}),
        cmd("VideoPlayed", {"video_id": "v1", "position_s": 0.0}),
        cmd("VideoCompleted", {"video_id": "v1"}),
        cmd("AnswerSaved", {"question_id": "q1", "answer": ANSWER}),
        cmd("ChartPointRecorded", {"tracker_id": "mood", "values": {"mood": 7}, "for_date": "2026-01-02"}),
        cmd("WorksheetItemAdded", {"worksheet_id": "ws1", "item_id": "i1", "text": ITEM}),
        cmd("ItemShared", {"scope": "tracker", "ref": "mood"}),
        cmd("ConsentGiven", {"scope": "research"}),
    ):
        tandem.record_blocking(su, c)
    sid = tandem.start_session(worker, s)
    for actor, c in (
        (su, cmd("ParticipantJoined", {"device_kind": "tablet"}, sid)),
        (worker, cmd("ParticipantJoined", {"device_kind": "desktop"}, sid)),
        (su, cmd("TopicOpened", {"topic_id": "health"}, sid)),
        (
            su,
            cmd("ChartPointRecorded", {"tracker_id": "sleep", "values": {"sleep": 6.5}, "for_date": "2026-01-03"}, sid),
        ),
        (su, cmd("AnswerSaved", {"question_id": "q2", "answer": ANSWER + " (together)"}, sid)),
        (worker, cmd("SuggestionMade", {"suggestion_id": "sg1", "topic_id": "life", "section_id": None}, sid)),
        (su, cmd("ControlHandedOver", {"to_user": str(w)}, sid)),
        (worker, cmd("ControlHandedOver", {"to_user": str(s)}, sid)),
        (worker, cmd("SessionEnded", {"reason": ""}, sid)),
    ):
        tandem.record_blocking(actor, c)
    account = tandem.account(s)
    assert account is not None
    return Person(su, worker, account.pseudonym)


def sealed_payloads(tandem: Tandem, su_id: UUID) -> list[dict]:
    """Every sealed value stored for this person (their name and each sealed field)."""
    out: list[dict] = []
    jid = A.journey_id(su_id)
    for _, ev in tandem.read(0, 100_000):
        if isinstance(ev, A.Account.Registered) and ev.originator_id == su_id:
            out.append(ev.display_name)  # sealed (a plain name has no key to find)
        field = SEALED_FIELDS.get(type(ev).__name__)
        if field and ev.originator_id == jid:
            out.append(getattr(ev, field))
    return [p for p in out if isinstance(p, dict) and set(p) == {"n", "c"}]
