"""Bearer tokens for native clients (`tandem join`, tests, the benchmark).

Browsers authenticate the WebSocket handshake with their session cookie; other
clients log in once over HTTP and get a signed, short-lived token naming the account,
its role and the log-in's session id. Like the cookie it is only a claim: the
handshake re-checks it against the account (web.auth.signed_in), so log-out-everywhere
and a password change end it.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from itsdangerous import BadSignature, URLSafeTimedSerializer

TOKEN_TTL = 12 * 60 * 60
_SALT = "tandem.live.token"


def _signer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=_SALT)


def issue(secret: str, user_id: UUID, role: str, session_id: str) -> str:
    """A token for one log-in (`session_id` from Tandem.open_session)."""
    return _signer(secret).dumps({"uid": str(user_id), "role": role, "issued": time.time(), "sid": session_id})


def check(secret: str, token: str, max_age: int = TOKEN_TTL) -> dict[str, Any] | None:
    """The token's claims, or None if it is forged, malformed or too old (whether its
    log-in is still live is for web.auth.signed_in to say)."""
    try:
        claims = _signer(secret).loads(token, max_age=max_age)
        UUID(claims["uid"])
        return claims if isinstance(claims.get("role"), str) else None
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
