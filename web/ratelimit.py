"""Log-in rate limiting, per account and per client address.

Failed attempts are counted in a sliding window: in Redis when the deployment has
one (settings.redis_url), so every server process shares the count, otherwise in
this process's memory. A success clears the account's count (not the address's).
`for_settings` picks the implementation; callers only see the `Limiter` interface.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
import uuid
from collections import defaultdict, deque
from typing import Protocol

import redis

from core.settings import Settings

log = logging.getLogger("tandem.ratelimit")

WINDOW_S = 15 * 60
MAX_PER_ACCOUNT = 5
MAX_PER_ADDRESS = 20


class Limiter(Protocol):
    def blocked(self, username: str, address: str) -> tuple[str, int] | None: ...

    def failed(self, username: str, address: str) -> None: ...

    def succeeded(self, username: str) -> None: ...


def _account(username: str) -> str:
    return username.strip().lower()


class LoginLimiter:
    """The count in this process's memory."""

    def __init__(
        self, window_s: float = WINDOW_S, per_account: int = MAX_PER_ACCOUNT, per_address: int = MAX_PER_ADDRESS
    ):
        self.window_s = window_s
        self.limits = {"account": per_account, "address": per_address}
        self._fails: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        q = self._fails[key]
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def blocked(self, username: str, address: str) -> tuple[str, int] | None:
        """("account"|"address", seconds to wait) when either limit is reached."""
        now = time.time()
        with self._lock:
            for kind, value in (("account", _account(username)), ("address", address)):
                q = self._recent((kind, value), now)
                if len(q) >= self.limits[kind]:
                    return kind, max(1, math.ceil(q[0] + self.window_s - now))
        return None

    def failed(self, username: str, address: str) -> None:
        now = time.time()
        with self._lock:
            self._fails[("account", _account(username))].append(now)
            self._fails[("address", address)].append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._fails.pop(("account", _account(username)), None)


class RedisLoginLimiter:
    """The count in Redis, shared by every process: one sorted set of failure times per
    account and per address, under a prefix that is this deployment's own.

    If Redis cannot be reached the limiter fails open to the in-process count (logged
    once): a Redis outage must not stop everyone logging in, and the per-process limit
    still holds meanwhile."""

    def __init__(
        self,
        url: str,
        namespace: str,
        window_s: float = WINDOW_S,
        per_account: int = MAX_PER_ACCOUNT,
        per_address: int = MAX_PER_ADDRESS,
    ):
        self.window_s = window_s
        self.limits = {"account": per_account, "address": per_address}
        self.prefix = f"tandem:{namespace}:login:"
        self.fallback = LoginLimiter(window_s, per_account, per_address)
        # Short timeouts: these calls run on the event loop, and a local Redis answers in well under 1 ms.
        self._r = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        self._warned = False

    def _key(self, kind: str, value: str) -> str:
        # Hashed: a username or address may hold any characters, and Redis keys are shared.
        return self.prefix + kind + ":" + hashlib.sha256(value.encode()).hexdigest()[:32]

    def _keys(self, username: str, address: str) -> list[tuple[str, str]]:
        return [("account", self._key("account", _account(username))), ("address", self._key("address", address))]

    def _unavailable(self, e: Exception) -> None:
        if not self._warned:
            self._warned = True
            log.warning("Redis is unavailable for the log-in limit (%s); counting in this process meanwhile", e)

    def blocked(self, username: str, address: str) -> tuple[str, int] | None:
        now = time.time()
        keys = self._keys(username, address)
        try:
            pipe = self._r.pipeline(transaction=False)
            for _, key in keys:
                pipe.zremrangebyscore(key, "-inf", now - self.window_s)
                pipe.zcard(key)
                pipe.zrange(key, 0, 0, withscores=True)
            replies = pipe.execute()
        except redis.RedisError as e:
            self._unavailable(e)
            return self.fallback.blocked(username, address)
        for i, (kind, _) in enumerate(keys):
            count, oldest = replies[3 * i + 1], replies[3 * i + 2]
            if count >= self.limits[kind] and oldest:
                return kind, max(1, math.ceil(oldest[0][1] + self.window_s - now))
        return None

    def failed(self, username: str, address: str) -> None:
        now = time.time()
        try:
            pipe = self._r.pipeline(transaction=True)
            for _, key in self._keys(username, address):
                pipe.zadd(key, {f"{now}:{uuid.uuid4().hex}": now})
                pipe.expire(key, math.ceil(self.window_s))
            pipe.execute()
        except redis.RedisError as e:
            self._unavailable(e)
            self.fallback.failed(username, address)

    def succeeded(self, username: str) -> None:
        self.fallback.succeeded(username)
        try:
            self._r.delete(self._key("account", _account(username)))
        except redis.RedisError as e:
            self._unavailable(e)


def for_settings(settings: Settings) -> Limiter:
    """Redis-backed when the deployment has Redis, else in this process."""
    if not settings.redis_url:
        return LoginLimiter()
    namespace = hashlib.sha256(settings.secret_key.encode()).hexdigest()[:16]  # one deployment's keys
    return RedisLoginLimiter(settings.redis_url, namespace)


def message(kind: str, wait_s: int) -> str:
    minutes = max(1, math.ceil(wait_s / 60))
    who = "this account" if kind == "account" else "this device or network"
    return (
        f"There have been too many attempts to log in from {who}. "
        f"To keep your account safe, please wait {minutes} minute{'s' if minutes != 1 else ''} and try again. "
        "If you have forgotten your password, your worker or an administrator can help."
    )
