"""Who may see which SU's data, and the audit trail of every look at someone else's data.

Rules (enforced here for pages and API alike, not only hidden in the UI):
- a service user sees only their own data;
- a worker sees an SU only while linked, and then only what the SU shares:
  a shared topic covers its progress and the answers to its questions; an answer,
  a tracker (chart) or a worksheet can also be shared on its own;
- researchers and admins never see an SU's journey here.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

from starlette.requests import Request

from core import aggregates as A
from core.access import Shares
from core.commands import Actor
from core.errors import NotInSession
from web import errors

EVERYTHING = None  # the SU themself: no filter


def shares_of(request: Request, su_id: UUID) -> Shares:
    """As stored (the writer judges a worker's writes by the same), not a projection that may lag."""
    return request.app.state.tandem.shares(su_id)


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


async def joint_session(request: Request, actor: Actor, session_id: str) -> A.JointSession:
    """The joint session, if `actor` may be in it now (core.access): someone else's meeting
    is a 404, a worker no longer linked to the SU gets a 403; both are audited. An ended
    session is returned: each route decides what it still shows."""
    try:
        sid = UUID(session_id)
    except (ValueError, TypeError):
        raise errors.not_found("session") from None
    standing = await asyncio.to_thread(request.app.state.tandem.session_access, actor.user_id, sid)
    refused = standing.refusal(allow_ended=True)
    if refused is None:
        assert standing.session is not None
        return standing.session
    su_id = standing.session.su_id if standing.session is not None else None
    await audit(request, actor, su_id, f"session:{session_id}", False, refused.message)
    if isinstance(refused, NotInSession):
        raise errors.not_found("session")
    raise errors.forbidden("You are no longer linked to this person, so this session is closed to you.")
