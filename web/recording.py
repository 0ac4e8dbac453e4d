"""Record a durable action through the core and wait until the read models have it."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

from starlette.requests import Request

from core.commands import Actor, Command
from web import errors, readmodel

# Printable ASCII only: the core checks the length, and PostgreSQL refuses NUL bytes in text.
CLIENT_EVENT_ID = re.compile(r"^[\x21-\x7e]{8,100}$")


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
    if client_event_id is not None and not CLIENT_EVENT_ID.match(client_event_id):
        raise errors.WebError(
            422, "invalid_field", "must be 8 to 100 printable characters without spaces", "client_event_id"
        )
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
