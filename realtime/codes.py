"""Join codes: short, single-use, expiring, and only for the one service user invited.

In one process they live in memory; with Redis configured they live in Redis (SET with
an expiry, redeemed with GETDEL) so a code made on one worker process works on another.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: read aloud or typed on a phone
LENGTH = 6  # 32**6 ~ 1e9; redemption attempts are rate limited per person
TTL = 600.0


@dataclass(frozen=True)
class Invite:
    session_id: str
    su_id: str
    expires_at: float


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())[:16]


class MemoryCodes:
    def __init__(self, ttl: float = TTL):
        self.ttl = ttl
        self._codes: dict[str, Invite] = {}

    async def create(self, session_id: str, su_id: str) -> tuple[str, Invite]:
        now = time.time()
        self._codes = {c: i for c, i in self._codes.items() if i.expires_at > now}
        code = new_code()
        while code in self._codes:
            code = new_code()
        invite = Invite(session_id, su_id, now + self.ttl)
        self._codes[code] = invite
        return code, invite

    async def redeem(self, code: str, su_id: str) -> Invite | None:
        """The invite if this code is live and for this person; it is used up either way only on success."""
        code = normalise(code)
        invite = self._codes.get(code)
        if invite is None or invite.expires_at <= time.time() or invite.su_id != su_id:
            return None
        del self._codes[code]
        return invite


class RedisCodes:
    def __init__(self, url: str, ttl: float = TTL):
        import redis.asyncio as aioredis

        self.ttl = ttl
        self._r: Any = aioredis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)

    async def create(self, session_id: str, su_id: str) -> tuple[str, Invite]:
        invite = Invite(session_id, su_id, time.time() + self.ttl)
        while True:
            code = new_code()
            if await self._r.set(
                f"tandem:join:{code}", f"{session_id}|{su_id}|{invite.expires_at}", ex=int(self.ttl), nx=True
            ):
                return code, invite

    async def redeem(self, code: str, su_id: str) -> Invite | None:
        key = f"tandem:join:{normalise(code)}"
        raw = await self._r.get(key)
        if raw is None:
            return None
        session_id, owner, expires = raw.decode().split("|")
        if owner != su_id or float(expires) <= time.time():
            return None
        if await self._r.delete(key) != 1:  # someone redeemed it in between
            return None
        return Invite(session_id, owner, float(expires))
