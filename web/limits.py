"""Refuse oversized request bodies before anyone reads them."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 128 * 1024  # an answer is at most 10 000 characters; JSON escaping can triple that


class BodyLimit:
    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        try:
            declared = int(headers.get(b"content-length", b"0"))
        except ValueError:
            declared = self.max_body + 1
        if declared > self.max_body:
            await _too_large(scope, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_body:
                    raise BodyTooLarge
            return msg

        try:
            await self.app(scope, limited, send)
        except BodyTooLarge:
            await _too_large(scope, send)


class BodyTooLarge(Exception):
    pass


async def _too_large(scope: Scope, send: Send) -> None:
    body = json.dumps(
        {
            "error": {
                "code": "too_large",
                "field": None,
                "message": f"The request is too large (at most {MAX_BODY // 1024} KiB).",
            }
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
