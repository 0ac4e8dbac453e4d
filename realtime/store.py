"""What realtime needs from the core's application service (core.service.Tandem)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol
from uuid import UUID

from core import aggregates as A
from core.access import SessionAccess
from core.commands import Actor, Catalogue, Command, Content, Recorded
from core.settings import Settings


class Store(Protocol):
    settings: Settings
    catalogue: Catalogue | Content | None

    async def record(self, actor: Actor, command: Command) -> Recorded: ...

    def head(self) -> int: ...

    def on_commit(self, listener: Callable[[int, list[tuple[int, Any]]], None]) -> None: ...

    def read(self, after: int, limit: int = 1000) -> list[tuple[int, Any]]: ...

    def session_events(self, session_id: UUID, after: int, upto: int, limit: int) -> list[tuple[int, Any]]: ...

    def session(self, session_id: UUID) -> A.JointSession | None: ...

    def session_access(self, user_id: UUID, session_id: UUID) -> SessionAccess: ...

    def reveal(self, su_id: UUID, sealed: dict[str, Any]) -> str | None: ...
