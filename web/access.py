"""Who may see which SU's data, and the audit trail of every look at someone else's data.

Rules (enforced here for pages and API alike, not only hidden in the UI):
- a service user sees only their own data;
- a worker sees an SU only while linked, and then only what the SU shares:
  a shared topic covers its progress and the answers to its questions; an answer,
  a tracker (chart) or a worksheet can also be shared on its own;
- researchers and admins never see an SU's journey here.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from starlette.requests import Request

from core.commands import Actor
from web import errors


@dataclass(frozen=True)
class Shares:
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


EVERYTHING = None  # the SU themself: no filter


def shares_of(request: Request, su_id: UUID) -> Shares:
    views = request.app.state.projections
    return Shares(frozenset((s["scope"], s["ref"]) for s in views.directory.shared(su_id)))


def printable(text: str) -> str:
    """Audit fields can echo request input; control characters (NUL above all) are dropped."""
    return "".join(ch for ch in text if ch.isprintable())


async def audit(
    request: Request, actor: Actor, su_id: UUID | None, resource: str, allowed: bool, reason: str = ""
) -> None:
    await request.app.state.tandem.audit(actor, su_id, printable(resource), allowed=allowed, reason=printable(reason))


async def viewable_su(request: Request, actor: Actor, su_id: UUID, resource: str) -> Shares | None:
    """None when `actor` is that SU (sees all); the SU's shares for a linked worker; else 403 (audited)."""
    if actor.role == "service_user" and actor.user_id == su_id:
        return EVERYTHING
    tandem = request.app.state.tandem
    if actor.role == "worker" and tandem.is_linked(actor.user_id, su_id):
        await audit(request, actor, su_id, resource, True, "linked worker; shared items only")
        return shares_of(request, su_id)
    await audit(request, actor, su_id, resource, False, f"{actor.role} not linked to this service user")
    raise errors.forbidden("You can only see the people linked to you, and only what they have shared.")


def parse_uuid(value: str, field: str = "su_id") -> UUID:
    try:
        return UUID(value)
    except (ValueError, TypeError):
        raise errors.WebError(404, "not_found", "There is no such person.", field) from None


async def not_a_member(request: Request, actor: Actor, session_id: object, su_id: UUID | None = None) -> None:
    """For web/live_routes.py: refuse a joint session the actor is not in — audited, then 404."""
    await audit(request, actor, su_id, f"session:{session_id}", False, "not a participant of this joint session")
    raise errors.not_found("session")
