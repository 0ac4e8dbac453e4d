"""Who is asking: the signed session cookie -> an authenticated `Actor`.

The cookie (Starlette's SessionMiddleware) holds "uid", "role", "issued" (epoch
seconds, float) and "csrf". It is only a claim: every request re-checks it against
the account, so log-out-everywhere, deactivation, erasure and a changed role take
effect at once, on HTTP and on WebSocket handshakes alike.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from uuid import UUID

from starlette.datastructures import Secret
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from core.commands import Actor

SESSION_COOKIE = "tandem_session"
SESSION_MAX_AGE = 12 * 60 * 60  # a working day; after that the person logs in again
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
    s = conn.session
    try:
        uid = UUID(str(s["uid"]))
        role = str(s["role"])
        issued = float(s["issued"])
    except (KeyError, ValueError, TypeError):
        return None
    now = time.time()
    if not (now - SESSION_MAX_AGE <= issued <= now + 60):
        return None
    account = conn.app.state.tandem.account(uid)
    if account is None or not account.active or account.role != role:
        return None
    revoked = account.sessions_revoked_at
    if revoked is not None and issued < revoked.timestamp():
        return None
    return Actor(user_id=uid, role=role, device=_device(conn))


def _device(conn: HTTPConnection) -> str:
    ua = conn.headers.get("user-agent", "").lower()
    kind = "tablet" if ("ipad" in ua or "tablet" in ua) else "phone" if "mobi" in ua else "desktop"
    return f"web:{kind}"


def start_session(conn: HTTPConnection, user_id: UUID, role: str) -> None:
    """Replace whatever session there was (no fixation) with a fresh one for this account."""
    conn.session.clear()
    conn.session["uid"] = str(user_id)
    conn.session["role"] = role
    conn.session["issued"] = time.time()
    conn.session["csrf"] = new_token()
    conn.scope.pop(_CACHE_KEY, None)


def end_session(conn: HTTPConnection) -> None:
    conn.session.clear()
    conn.scope[_CACHE_KEY] = None


def new_token() -> str:
    return secrets.token_urlsafe(32)
