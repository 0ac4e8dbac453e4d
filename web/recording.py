"""Record a durable action through the core and wait until the read models have it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

from starlette.requests import Request

from core.commands import Actor, Command
from web import readmodel

# Printable ASCII only: the core checks the length, and PostgreSQL refuses NUL bytes in text.


async def record(
    request: Request,
    actor: Actor,
    type_: str,
    payload: dict[str, Any],
    client_event_id: str | None = None,
    session_id: UUID | None = None,
    client_time: datetime | None = None,
) -> dict[str, Any]:
    """-> {"position", "event_id", "duplicate", "fresh"}; `fresh` False means the page may lag a moment."""
    app = request.app
    command = Command(
        type=type_,
        payload=payload,
        client_event_id=client_event_id or f"srv-{uuid.uuid4()}",
        session_id=session_id,
        client_time=client_time,
        content_version=app.state.content.version,
    )
    # A refusal (e.g. another person's joint session) is audited by web.errors' handler.
    ack = await app.state.tandem.record(actor, command)
    fresh = await readmodel.caught_up(app.state.projections, ack.position)
    return {"position": ack.position, "event_id": ack.event_id, "duplicate": ack.duplicate, "fresh": fresh}
