"""Typed errors the command API raises. Each names a code, the field and a plain reason."""

from __future__ import annotations


class CommandError(Exception):
    code = "invalid"

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "field": self.field, "message": self.message}


class UnknownCommand(CommandError):
    code = "unknown_type"


class InvalidField(CommandError):
    code = "invalid_field"


class Forbidden(CommandError):
    code = "forbidden"


class NotInSession(CommandError):
    code = "not_in_session"


class SessionClosed(CommandError):
    code = "session_ended"


class Conflict(CommandError):
    code = "conflict"


class StoreUnavailable(CommandError):
    code = "store_unavailable"
