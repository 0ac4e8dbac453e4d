"""Who is in a room, on what, and how present: keyed by person, not by socket.

A person with two tabs, or who refreshes, is one participant with 0..n connections,
so a refresh never leaves a ghost. A phone that hides the page (or whose socket the OS
kills) is *backgrounded*; only after the grace periods does it become *away*, then
*gone*: power saving never evicts the SU from their own meeting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RANK = {"online": 3, "backgrounded": 2, "away": 1, "gone": 0}


@dataclass(frozen=True)
class Grace:
    away_after: float = 120.0  # backgrounded -> away
    gone_after: float = 600.0  # backgrounded -> gone (counted from going into the background)


@dataclass
class Tab:
    visible: bool = True
    following: bool = True
    device_kind: str = "unknown"


@dataclass
class Participant:
    user_id: str
    role: str
    tabs: dict[int, Tab] = field(default_factory=dict)  # connection id -> tab state
    hidden_since: float | None = None  # when the last visible tab went away
    left: bool = False  # said goodbye explicitly

    def state(self, now: float, grace: Grace) -> str:
        if self.left:
            return "gone"
        if any(t.visible for t in self.tabs.values()):
            return "online"
        since = self.hidden_since if self.hidden_since is not None else now
        idle = now - since
        if idle < grace.away_after:
            return "backgrounded"
        if idle < grace.gone_after:
            return "away"
        return "gone"

    def view(self, now: float, grace: Grace) -> dict[str, Any]:
        kinds = [t.device_kind for t in self.tabs.values()]
        return {
            "user_id": self.user_id,
            "role": self.role,
            "state": self.state(now, grace),
            "device_kind": kinds[-1] if kinds else None,
            "following": any(t.following for t in self.tabs.values()) if self.tabs else False,
            "connections": len(self.tabs),
        }


class Presence:
    def __init__(self, grace: Grace, clock: Callable[[], float] = time.monotonic):
        self.grace = grace
        self.clock = clock
        self.people: dict[str, Participant] = {}
        self.remote: dict[str, dict[str, dict[str, Any]]] = {}  # process id -> user id -> view

    def connect(self, conn_id: int, user_id: str, role: str, device_kind: str) -> bool:
        """Add a tab; True when the person was not present before (a real join)."""
        p = self.people.get(user_id)
        was_here = p is not None and p.state(self.clock(), self.grace) != "gone"
        if p is None:
            p = self.people[user_id] = Participant(user_id, role)
        p.left = False
        p.tabs[conn_id] = Tab(device_kind=device_kind)
        p.hidden_since = None
        return not was_here

    def disconnect(self, conn_id: int, user_id: str, *, left: bool = False) -> None:
        p = self.people.get(user_id)
        if p is None:
            return
        was_visible = any(t.visible for t in p.tabs.values())
        p.tabs.pop(conn_id, None)
        if left:
            p.left = True
            p.tabs.clear()
        elif was_visible and not any(t.visible for t in p.tabs.values()):
            p.hidden_since = self.clock()

    def update(self, conn_id: int, user_id: str, visible: bool, following: bool | None) -> None:
        p = self.people.get(user_id)
        if p is None or conn_id not in p.tabs:
            return
        was_visible = any(t.visible for t in p.tabs.values())
        tab = p.tabs[conn_id]
        tab.visible = visible
        if following is not None:
            tab.following = following
        now_visible = any(t.visible for t in p.tabs.values())
        if was_visible and not now_visible:
            p.hidden_since = self.clock()
        elif now_visible:
            p.hidden_since = None

    def local_view(self) -> dict[str, dict[str, Any]]:
        now = self.clock()
        return {uid: p.view(now, self.grace) for uid, p in self.people.items()}

    def view(self) -> list[dict[str, Any]]:
        """Merged across processes: a person's best state anywhere, tabs summed."""
        merged: dict[str, dict[str, Any]] = {}
        for views in [self.local_view(), *self.remote.values()]:
            for uid, v in views.items():
                m = merged.get(uid)
                if m is None:
                    merged[uid] = dict(v)
                    continue
                m["connections"] += v["connections"]
                m["following"] = m["following"] or v["following"]
                if RANK[v["state"]] > RANK[m["state"]]:
                    m["state"], m["device_kind"] = v["state"], v["device_kind"] or m["device_kind"]
        return sorted(merged.values(), key=lambda v: v["role"])

    def expired(self) -> list[str]:
        """People whose grace ran out (gone, without having said goodbye): to record as left."""
        now = self.clock()
        out = [
            uid for uid, p in self.people.items() if not p.left and not p.tabs and p.state(now, self.grace) == "gone"
        ]
        for uid in out:
            self.people[uid].left = True
        return out
