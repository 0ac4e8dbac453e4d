"""One way to say no: a typed error becomes a clear 4xx, JSON under /api, HTML elsewhere."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core.errors import CommandError

STATUS = {
    "invalid_field": 422,
    "unknown_type": 422,
    "forbidden": 403,
    "not_in_session": 403,
    "session_ended": 409,
    "conflict": 409,
    "store_unavailable": 503,
}


class WebError(Exception):
    """Raised by handlers; rendered by `respond`."""

    def __init__(
        self, status: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}


def unauthenticated() -> WebError:
    return WebError(401, "unauthenticated", "Please log in (your session may have ended).")


def forbidden(message: str = "You do not have access to this.") -> WebError:
    return WebError(403, "forbidden", message)


def not_found(what: str = "page") -> WebError:
    return WebError(404, "not_found", f"That {what} does not exist.")


def bad_csrf() -> WebError:
    return WebError(
        403, "csrf", "This form has expired or did not come from Tandem. Please reload the page and try again."
    )


def from_command(e: CommandError) -> WebError:
    return WebError(STATUS.get(e.code, 400), e.code, e.message, e.field)


def wants_json(request: Request) -> bool:
    return (
        request.url.path.startswith("/api")
        or "application/json" in request.headers.get("accept", "")
        or request.headers.get("content-type", "").startswith("application/json")
    )


def respond(request: Request, e: WebError) -> Response:
    if wants_json(request):
        body: dict[str, Any] = {"error": {"code": e.code, "field": e.field, "message": e.message}}
        return JSONResponse(body, status_code=e.status, headers=e.headers)
    from web.templating import render

    if e.status == 401:
        from starlette.responses import RedirectResponse

        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    resp = render(request, "error.html", {"error": e}, status_code=e.status)
    resp.headers.update(e.headers)
    return resp


async def handle_web_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WebError)
    return respond(request, exc)


async def handle_command_error(request: Request, exc: Exception) -> Response:
    """The core refused: when it refused access to someone else's data, audit the attempt here,
    once, for every route (pages, API and live routes alike)."""
    assert isinstance(exc, CommandError)
    if exc.code in ("forbidden", "not_in_session"):
        from web.auth import actor_from

        actor = actor_from(request)
        if actor is not None:
            try:
                from web.access import printable

                await request.app.state.tandem.audit(
                    actor,
                    None,
                    printable(f"{request.method} {request.url.path}")[:300],
                    allowed=False,
                    reason=printable(exc.message),
                )
            except CommandError:
                pass  # an account without an audit trail cannot be audited; the refusal still stands
    return respond(request, from_command(exc))


async def handle_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "That page does not exist.", 405: "That action is not allowed here."}
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return respond(
        request,
        WebError(
            exc.status_code, code, messages.get(exc.status_code, str(exc.detail)), headers=dict(exc.headers or {})
        ),
    )


HANDLERS = {WebError: handle_web_error, CommandError: handle_command_error, HTTPException: handle_http}
