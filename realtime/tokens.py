"""Bearer tokens for native clients (`tandem join`, tests, the benchmark).

Browsers authenticate the WebSocket handshake with their session cookie; other
clients log in once over HTTP and get a signed, short-lived token naming the account
and its role. Like the cookie it is only a claim: the handshake re-checks the account.
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


def issue(secret: str, user_id: UUID, role: str) -> str:
    return _signer(secret).dumps({"uid": str(user_id), "role": role, "issued": time.time()})


def check(secret: str, token: str, max_age: int = TOKEN_TTL) -> dict[str, Any] | None:
    """The token's claims, or None if it is forged, malformed or too old."""
    try:
        claims = _signer(secret).loads(token, max_age=max_age)
        UUID(claims["uid"])
        return claims if isinstance(claims.get("role"), str) else None
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
