"""Log-in rate limiting, per account and per client address.

Failed attempts are counted in a sliding window in this process's memory. With
several server processes each keeps its own count, which only loosens the limit
by that factor; a success clears the account's count (not the address's).
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict, deque

WINDOW_S = 15 * 60
MAX_PER_ACCOUNT = 5
MAX_PER_ADDRESS = 20


class LoginLimiter:
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
            for kind, value in (("account", username.strip().lower()), ("address", address)):
                q = self._recent((kind, value), now)
                if len(q) >= self.limits[kind]:
                    return kind, max(1, math.ceil(q[0] + self.window_s - now))
        return None

    def failed(self, username: str, address: str) -> None:
        now = time.time()
        with self._lock:
            self._fails[("account", username.strip().lower())].append(now)
            self._fails[("address", address)].append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._fails.pop(("account", username.strip().lower()), None)


def message(kind: str, wait_s: int) -> str:
    minutes = max(1, math.ceil(wait_s / 60))
    who = "this account" if kind == "account" else "this device or network"
    return (
        f"There have been too many attempts to log in from {who}. "
        f"To keep your account safe, please wait {minutes} minute{'s' if minutes != 1 else ''} and try again. "
        "If you have forgotten your password, your worker or an administrator can help."
    )
