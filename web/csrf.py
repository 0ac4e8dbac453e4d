"""CSRF: a per-session secret token that every state-changing call must echo.

Forms send it as the hidden field "csrf"; JavaScript sends it in the
"X-CSRF-Token" header (the page exposes it in <meta name="csrf-token">). A token
from an earlier session (before log-in, log-out or log-out-everywhere) no longer
matches, so a stale form is refused too. SameSite=Lax cookies are the second layer.
"""

from __future__ import annotations

import hmac

from starlette.requests import HTTPConnection

from web.auth import new_token

HEADER = "x-csrf-token"
FIELD = "csrf"


def token(conn: HTTPConnection) -> str:
    """This session's token, creating one for an anonymous visitor (the log-in form needs it)."""
    t = conn.session.get("csrf")
    if not isinstance(t, str) or len(t) < 20:
        t = new_token()
        conn.session["csrf"] = t
    return t


def valid(conn: HTTPConnection, supplied: object) -> bool:
    expected = conn.session.get("csrf") if "session" in conn.scope else None
    if not isinstance(expected, str) or not isinstance(supplied, str) or not supplied:
        return False
    return hmac.compare_digest(expected.encode(), supplied.encode())
