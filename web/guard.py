"""Every route declares who may call it and whether it changes state.

`@guarded(roles=..., mutates=...)` resolves the actor (401 without one), checks the
role (403), and for state-changing calls checks the CSRF token (403) before the
handler runs, so nothing is stored on a refused request. The policy is kept on the
function so the authorisation-matrix test can compare it with what it expects.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from core.commands import Actor
from web import csrf, errors
from web.auth import actor_from

Handler = Callable[[Request, Actor], Awaitable[Response]]
PublicHandler = Callable[[Request], Awaitable[Response]]


MAX_DEPTH = 16  # the deepest API body (an event's payload of values) is 3 levels


@dataclass(frozen=True)
class Policy:
    roles: frozenset[str] | None  # None: anyone, logged in or not
    mutates: bool


def guarded(roles: set[str] | frozenset[str] | None, mutates: bool = False) -> Callable[[Handler], PublicHandler]:
    policy = Policy(frozenset(roles) if roles is not None else None, mutates)

    def wrap(fn: Handler) -> PublicHandler:
        @functools.wraps(fn)
        async def endpoint(request: Request) -> Response:
            actor = actor_from(request)
            if policy.roles is not None:
                if actor is None:
                    raise errors.unauthenticated()
                if actor.role not in policy.roles:
                    raise errors.forbidden(f"This is not available to a {actor.role.replace('_', ' ')} account.")
            if mutates:
                await check_csrf(request)
            return await fn(request, actor)  # type: ignore[arg-type]

        endpoint.policy = policy  # type: ignore[attr-defined]
        return endpoint

    return wrap


async def check_csrf(request: Request) -> None:
    supplied: Any = request.headers.get(csrf.HEADER)
    if not supplied:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            try:
                form = await request.form(max_files=0, max_fields=50)
            except Exception:
                raise errors.WebError(400, "malformed", "The form could not be read.") from None
            supplied = form.get(csrf.FIELD)
    if not csrf.valid(request, supplied):
        raise errors.bad_csrf()


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a clear 4xx."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("application/json"):
        raise errors.WebError(415, "unsupported_media_type", "Send JSON (Content-Type: application/json).")
    raw = await request.body()  # its size is bounded by web.limits.BodyLimit
    try:
        body = orjson.loads(raw)  # C parser: deep nesting is a decode error, not a RecursionError
    except orjson.JSONDecodeError as exc:
        reason = str(exc).split(":", 1)[0]  # e.g. "depth limit exceeded", "unexpected character"
        raise errors.WebError(400, "malformed", f"The body is not valid JSON ({reason}).") from None
    if nested_deeper_than(body, MAX_DEPTH):
        raise errors.WebError(400, "malformed", f"The body nests more than {MAX_DEPTH} levels deep.")
    if not isinstance(body, dict):
        raise errors.WebError(422, "invalid_field", "The body must be a JSON object.")
    return body


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether lists/objects in a decoded value nest more than `limit` levels (a stack, not recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        for child in item.values() if isinstance(item, dict) else item if isinstance(item, list) else ():
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


async def form_body(request: Request) -> dict[str, str]:
    form = await request.form(max_files=0, max_fields=50)
    return {k: v for k, v in form.items() if isinstance(v, str)}
