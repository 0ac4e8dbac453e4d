"""Who may be in a joint session, and what a worker may see or change of an SU's journey.

One rule each, asked by the writer (core/service.py), the live hub (realtime/) and the
web routes (web/), so a revoked link or an unshared item is refused on every path:

- session access: a participant of the session; a worker only while still linked to the
  SU; nothing new once the session has ended;
- shares: a worker sees an SU's topic progress and answers only in a topic the SU
  shares (or an answer shared on its own), a chart or a worksheet only when shared; in a
  joint session the worker may write on the SU's behalf (answers, worksheet items) only
  into what the SU shares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from core import aggregates as A
from core.errors import CommandError, Forbidden, NotInSession, SessionClosed

Find = Callable[[UUID], Any]  # an aggregate by id, or None (the writer's view or the store)


@dataclass(frozen=True)
class SessionAccess:
    """One person's standing in one joint session, as the store (or the writer) sees it."""

    session: A.JointSession | None
    member: bool
    linked: bool  # the SU always; the worker while their caseload link is active

    @property
    def ended(self) -> bool:
        return self.session is not None and self.session.ended

    def refusal(self, *, allow_ended: bool = False) -> CommandError | None:
        """Why this person may not act in the session now (None: they may)."""
        if self.session is None or not self.member:
            return NotInSession("you are not a participant of this joint session", "session_id")
        if not self.linked:
            return Forbidden("this worker is not linked to this service user", "session_id")
        if self.ended and not allow_ended:
            return SessionClosed("this joint session has ended", "session_id")
        return None

    def require(self, *, allow_ended: bool = False) -> A.JointSession:
        refused = self.refusal(allow_ended=allow_ended)
        if refused is not None:
            raise refused
        assert self.session is not None
        return self.session


def link_active(find: Find, worker_id: UUID, su_id: UUID) -> bool:
    """An active link to someone not erased: an erased person is nobody's to look at."""
    link = find(A.link_id(worker_id, su_id))
    if link is None or not link.active:
        return False
    su = find(su_id)
    return not (isinstance(su, A.Account) and su.erased)


def session_access(find: Find, user_id: UUID, session_id: UUID) -> SessionAccess:
    s = find(session_id)
    if not isinstance(s, A.JointSession):
        return SessionAccess(None, False, False)
    member = s.member(user_id)
    linked = member and (user_id != s.worker_id or link_active(find, s.worker_id, s.su_id))
    return SessionAccess(s, member, linked)


@dataclass(frozen=True)
class Shares:
    """What an SU shares with their linked worker: (scope, ref) pairs."""

    pairs: frozenset[tuple[str, str]]

    def topic(self, topic_id: str) -> bool:
        return ("topic", topic_id) in self.pairs

    def answer(self, question_id: str) -> bool:
        return ("answer", question_id) in self.pairs or self.topic(question_id.split("/", 1)[0])

    def tracker(self, tracker_id: str) -> bool:
        return ("tracker", tracker_id) in self.pairs

    def worksheet(self, worksheet_id: str) -> bool:
        return ("worksheet", worksheet_id) in self.pairs

    def allows(self, scope: str, ref: str) -> bool:
        return {"topic": self.topic, "answer": self.answer, "tracker": self.tracker, "worksheet": self.worksheet}[
            scope
        ](ref)


# A worker's journey writes that need a share: answers and worksheet items are the SU's
# own words. Other actions (moving through a topic while driving, a chart point) show
# or overwrite nothing the SU keeps private.
PRIVATE_WRITES = {
    "AnswerSaved": ("answer", "question_id"),
    "WorksheetItemAdded": ("worksheet", "worksheet_id"),
    "WorksheetItemChanged": ("worksheet", "worksheet_id"),
    "WorksheetItemRemoved": ("worksheet", "worksheet_id"),
}


def share_needed(command_type: str, payload: dict[str, Any]) -> tuple[str, str] | None:
    """The (scope, ref) the SU must share before a worker may record this for them."""
    need = PRIVATE_WRITES.get(command_type)
    return (need[0], payload[need[1]]) if need else None


# The events that change what an SU shares, as kept on their Journey aggregate.
SHARE_EVENTS = (A.Journey.ItemShared, A.Journey.ItemUnshared)


def shares_from(events: list[Any]) -> Shares:
    """The SU's shares after these ItemShared / ItemUnshared events, oldest first."""
    pairs: set[tuple[str, str]] = set()
    for ev in events:
        if isinstance(ev, A.Journey.ItemShared):
            pairs.add((ev.scope, ev.ref))
        elif isinstance(ev, A.Journey.ItemUnshared):
            pairs.discard((ev.scope, ev.ref))
    return Shares(frozenset(pairs))
