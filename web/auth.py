"""Who is asking: the signed session cookie -> an authenticated `Actor`.

The cookie (Starlette's SessionMiddleware) holds "uid", "role", "issued" (epoch
seconds, float), "sid" (the log-in's session id) and "csrf". It is only a claim:
every request re-checks it against the account in the store (`signed_in`, which
bearer tokens go through too), so log-out, log-out-everywhere, a password change,
deactivation, erasure and a changed role take effect at once, in every process, on
HTTP and on WebSocket handshakes alike.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from starlette.datastructures import Secret
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from core.aggregates import LOGIN_LIFETIME
from core.commands import Actor

SESSION_COOKIE = "tandem_session"
SESSION_MAX_AGE = int(LOGIN_LIFETIME.total_seconds())
_CACHE_KEY = "tandem.actor"


class SessionByScheme:
    """SessionMiddleware whose cookie is `Secure` exactly when the request came over https/wss."""

    def __init__(self, app: ASGIApp, secret_key: str | Secret) -> None:
        common: dict[str, Any] = {"session_cookie": SESSION_COOKIE, "max_age": SESSION_MAX_AGE, "same_site": "lax"}
        self.plain = SessionMiddleware(app, secret_key, https_only=False, **common)
        self.secure = SessionMiddleware(app, secret_key, https_only=True, **common)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        mw = self.secure if scope.get("scheme") in ("https", "wss") else self.plain
        await mw(scope, receive, send)


def actor_from(conn: HTTPConnection) -> Actor | None:
    """The logged-in actor for this request or WebSocket handshake, or None.

    None when there is no session, it is older than SESSION_MAX_AGE, it was issued
    before the account's last "log out everywhere", or the account is gone,
    deactivated, erased or has a different role now.
    """
    cached = conn.scope.get(_CACHE_KEY, False)
    if cached is not False:
        return cached
    actor = _check(conn)
    conn.scope[_CACHE_KEY] = actor
    return actor


def _check(conn: HTTPConnection) -> Actor | None:
    if "session" not in conn.scope:
        return None
    who = signed_in(conn.app.state.tandem, conn.session, SESSION_MAX_AGE)
    return Actor(user_id=who[0], role=who[1], device=_device(conn)) if who else None


def signed_in(tandem: Any, claims: Mapping[str, Any], max_age: float) -> tuple[UUID, str] | None:
    """(account id, role) when these claims, from a session cookie or a bearer token,
    name a log-in that is still live: not too old, not logged out (alone or
    everywhere), and its account still active with the same role."""
    try:
        uid = UUID(str(claims["uid"]))
        role = str(claims["role"])
        issued = float(claims["issued"])
        session_id = claims["sid"]
    except (KeyError, ValueError, TypeError):
        return None
    now = time.time()
    if not isinstance(session_id, str) or not (now - max_age <= issued <= now + 60):
        return None
    account = tandem.account(uid)
    if account is None or not account.active or account.role != role:
        return None
    revoked = account.sessions_revoked_at
    if revoked is not None and issued < revoked.timestamp():
        return None
    if not account.session_live(session_id):
        return None
    return uid, role


def _device(conn: HTTPConnection) -> str:
    ua = conn.headers.get("user-agent", "").lower()
    kind = "tablet" if ("ipad" in ua or "tablet" in ua) else "phone" if "mobi" in ua else "desktop"
    return f"web:{kind}"


async def start_session(conn: HTTPConnection, user_id: UUID, role: str) -> None:
    """Replace whatever session there was (no fixation) with a fresh, store-backed one."""
    session_id = await asyncio.to_thread(conn.app.state.tandem.open_session, user_id)
    conn.session.clear()
    conn.session["uid"] = str(user_id)
    conn.session["role"] = role
    conn.session["issued"] = time.time()
    conn.session["sid"] = session_id
    conn.session["csrf"] = new_token()
    conn.scope.pop(_CACHE_KEY, None)


async def end_session(conn: HTTPConnection) -> None:
    """Log this session out in the store too, so a copy of the cookie stops working."""
    uid, session_id = conn.session.get("uid"), conn.session.get("sid")
    if isinstance(uid, str) and isinstance(session_id, str):
        try:
            await asyncio.to_thread(conn.app.state.tandem.close_session, UUID(uid), session_id)
        except ValueError:
            pass  # not an account id: there is nothing to log out
    conn.session.clear()
    conn.scope[_CACHE_KEY] = None


def new_token() -> str:
    return secrets.token_urlsafe(32)
