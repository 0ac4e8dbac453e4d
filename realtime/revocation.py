"""Access withdrawn (a worker unlinked, an account signed out everywhere, deactivated or
erased) reaches every server process's live sockets before the write is acknowledged.

Each process that writes such an event publishes it on Redis from the writer thread,
after the commit and before the writer answers anyone (core/writer.py calls its commit
listeners first). Every hub handles it as it arrives, in order with the ephemeral
frames around it: a frame sent after the acknowledgement reaches Redis after the
revocation, so no process relays it to (or from) the person dropped. The store's tail
delivers the same events too, and catches up if Redis was away.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import msgpack
import redis
from redis.exceptions import RedisError

from core import aggregates as A
from realtime.sealing import backplane_key, seal

log = logging.getLogger("tandem.realtime")

REVOKED = "tandem:live:revoked"


@dataclass(frozen=True)
class Revocation:
    """Close `user_id`'s sockets: in every session, or with `link_id` only in that
    worker's sessions with that SU."""

    user_id: str | None = None
    link_id: str | None = None

    def pack(self) -> bytes:
        return msgpack.packb({"u": self.user_id, "l": self.link_id})

    @staticmethod
    def unpack(data: bytes) -> Revocation:
        msg = msgpack.unpackb(data, raw=False)
        return Revocation(user_id=msg.get("u"), link_id=msg.get("l"))


REVOKING_ACCOUNT_EVENTS = (A.Account.Deactivated, A.Account.LoggedOutEverywhere, A.Account.Erased)


def revocation_of(event: Any) -> Revocation | None:
    """The access this committed event withdraws, if any."""
    if isinstance(event, A.CaseloadLink.Unlinked):
        return Revocation(link_id=str(event.originator_id))
    if isinstance(event, REVOKING_ACCOUNT_EVENTS):
        return Revocation(user_id=str(event.originator_id))
    return None


class Announcer:
    """Publishes the revocations each commit of this process's writer holds."""

    def __init__(self, redis_url: str, secret_key: str):
        # Short timeouts: with Redis away a revocation must not stall the writer for
        # long (the other processes' tails still deliver it from the store).
        self.client = redis.Redis.from_url(redis_url, socket_connect_timeout=0.5, socket_timeout=0.5)
        self._aead = backplane_key(secret_key)

    def committed(self, _head: int, events: list[tuple[int, Any]]) -> None:
        for _position, event in events:
            revocation = revocation_of(event)
            if revocation is None:
                continue
            try:
                self.client.publish(REVOKED, seal(self._aead, REVOKED, revocation.pack()))
            except (RedisError, OSError) as exc:
                log.warning("could not announce a revocation (%s); other processes' tails will find it", exc)

    def close(self) -> None:
        self.client.close()


def announce(tandem: Any) -> Announcer | None:
    """Announce this Tandem's revocations to every process (when it has Redis)."""
    url = tandem.settings.redis_url
    if not url:
        return None
    announcer = Announcer(url, tandem.settings.secret_key)
    tandem.on_commit(announcer.committed)
    return announcer
