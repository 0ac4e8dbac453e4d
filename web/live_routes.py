"""Joint sessions over HTTP and the WebSocket endpoint.

HTTP: start a session and show the invite (code, QR, link); join by code; the live
pages (a lobby and the topic/section pages with the live bar); leave and end; a token
for native clients. WebSocket: /ws/sessions/{id}, authenticated on the handshake with
the session cookie (browsers, origin-checked) or a bearer token, then handed to the hub.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Protocol
from urllib.parse import urlparse
from uuid import UUID

import segno
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from core.commands import ROLES, Actor, Command
from core.errors import CommandError
from realtime import protocol as P
from realtime import tokens
from realtime.codes import Invite, MemoryCodes, RedisCodes
from realtime.conn import Transport
from realtime.hub import Hub, Limits
from realtime.presence import Grace
from web import errors
from web.auth import actor_from, signed_in
from web.guard import Policy, form_body, guarded, json_body
from web.socket_protocol import SEND_NOW
from web.templating import render

JOIN_ATTEMPTS = 10  # wrong codes per person per 10 minutes
# core.access refusals -> the close code a refused handshake gets (HTTP 403 before accept)
HANDSHAKE_REFUSED = {
    "not_in_session": P.CloseCode.NO_SESSION,
    "forbidden": P.CloseCode.UNLINKED,
    "session_ended": P.CloseCode.SESSION_ENDED,
}


# ------------------------------------------------------------------ shared state


async def hub_of(app: Any) -> Hub:
    """The process's hub, started on first use (the app's lifespan owns the Tandem)."""
    hub = getattr(app.state, "live_hub", None)
    if hub is None:
        opts = getattr(app.state, "live_options", {}) or {}
        hub = Hub(
            app.state.tandem,
            content_version=app.state.content.version,
            grace=opts.get("grace", Grace()),
            limits=opts.get("limits", Limits()),
            redis_url=opts.get("redis_url", app.state.tandem.settings.redis_url),
            poll=opts.get("poll", 1.0),
            tick=opts.get("tick", 1.0),
        )
        app.state.live_hub = hub
    await hub.start()  # idempotent; waits for a start already under way
    return hub


async def shutdown(app: Any) -> None:
    """Stop the hub before the store closes (call from the app's lifespan)."""
    hub = getattr(app.state, "live_hub", None)
    if hub is not None:
        app.state.live_hub = None
        await hub.stop()


class InviteCodes(Protocol):
    """Single-use join codes: in memory for one process, in Redis across processes."""

    async def create(self, session_id: str, su_id: str) -> tuple[str, Invite]: ...

    async def redeem(self, code: str, su_id: str) -> Invite | None: ...


def codes_of(app: Any) -> InviteCodes:
    codes: InviteCodes | None = getattr(app.state, "live_codes", None)
    if codes is None:
        url = (getattr(app.state, "live_options", {}) or {}).get("redis_url", app.state.tandem.settings.redis_url)
        codes = app.state.live_codes = RedisCodes(url) if url else MemoryCodes()
    return codes


def _bearer_claims(conn: Request | WebSocket) -> dict[str, Any] | None:
    header = conn.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    return tokens.check(conn.app.state.settings.secret_key, header[7:].strip())


def _bearer(conn: Request | WebSocket) -> Actor | None:
    claims = _bearer_claims(conn)
    who = signed_in(conn.app.state.tandem, claims, tokens.TOKEN_TTL) if claims else None
    return Actor(user_id=who[0], role=who[1], device="cli") if who else None


async def _member_session(request: Request, actor: Actor, session_id: str) -> Any:
    from web import access

    return await access.joint_session(request, actor, session_id)


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "") or request.headers.get(
        "content-type", ""
    ).startswith("application/json")


def _qr_svg(url: str) -> str:
    return segno.make(url, error="m").svg_inline(scale=5, title="Join code as a QR code")


# ------------------------------------------------------------------ starting and joining


async def _start(request: Request, actor: Actor, su_raw: str, same_device: bool) -> tuple[UUID, str, float]:
    try:
        su_id = UUID(su_raw)
    except (ValueError, TypeError):
        raise errors.WebError(422, "invalid_field", "Choose a person from your caseload.", "su_id") from None
    tandem = request.app.state.tandem
    actor_here = Actor(actor.user_id, actor.role, device=actor.device)
    sid = await asyncio.to_thread(tandem.start_session, actor_here, su_id, same_device=same_device)
    code, invite = await codes_of(request.app).create(str(sid), str(su_id))
    return sid, code, invite.expires_at


def _invite_context(request: Request, sid: UUID, code: str, expires_at: float) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    link = f"{base}/join?code={code}"
    return {
        "session_id": str(sid),
        "code": code,
        "link": link,
        "qr_svg": _qr_svg(link),
        "expires_in_min": max(1, round((expires_at - time.time()) / 60)),
    }


async def start_session(request: Request) -> Response:
    """POST /sessions: a worker starts a joint session with a linked SU (form or JSON)."""
    actor = _bearer(request)
    if actor is None:
        return await _start_form(request)
    if actor.role != "worker":
        raise errors.forbidden("Only a worker can start a joint session.")
    body = await json_body(request)
    sid, code, expires = await _start(request, actor, str(body.get("su_id")), bool(body.get("same_device")))
    return JSONResponse(
        {
            "session_id": str(sid),
            **{k: v for k, v in _invite_context(request, sid, code, expires).items() if k != "qr_svg"},
        },
        status_code=201,
    )


@guarded(roles={"worker"}, mutates=True)
async def _start_form(request: Request, actor: Actor) -> Response:
    form = await form_body(request)
    sid, code, expires = await _start(
        request, actor, form.get("su_id", ""), form.get("same_device") in ("1", "on", "true")
    )
    if _wants_json(request):
        ctx = _invite_context(request, sid, code, expires)
        return JSONResponse({k: v for k, v in ctx.items() if k != "qr_svg"}, status_code=201)
    return render(request, "live/invite.html", _invite_context(request, sid, code, expires), status_code=201)


start_session.policy = _start_form.policy  # type: ignore[attr-defined]


@guarded(roles={"worker"}, mutates=True)
async def new_code(request: Request, actor: Actor) -> Response:
    s = await _member_session(request, actor, request.path_params["session_id"])
    if s.ended:
        raise errors.WebError(409, "session_ended", "This session has ended.")
    code, invite = await codes_of(request.app).create(str(s.id), str(s.su_id))
    return render(request, "live/invite.html", _invite_context(request, s.id, code, invite.expires_at))


@guarded(roles={"service_user"})
async def join_form(request: Request, actor: Actor) -> Response:
    return render(request, "live/join.html", {"code": request.query_params.get("code", "")[:16]})


async def _redeem(request: Request, actor: Actor, code: str) -> str:
    attempts = getattr(request.app.state, "live_join_attempts", None)
    if attempts is None:
        attempts = request.app.state.live_join_attempts = {}
    now = time.time()
    recent = [t for t in attempts.get(actor.user_id, []) if now - t < 600]
    if len(recent) >= JOIN_ATTEMPTS:
        raise errors.WebError(
            429, "rate_limited", "Too many wrong codes. Ask your worker for a new one in a few minutes."
        )
    invite = await codes_of(request.app).redeem(code, str(actor.user_id))
    if invite is None:
        attempts[actor.user_id] = [*recent, now]
        raise errors.WebError(
            404, "invalid_code", "That code is not valid. It may have expired or been used already.", "code"
        )
    return invite.session_id


@guarded(roles={"service_user"}, mutates=True)
async def join_submit(request: Request, actor: Actor) -> Response:
    form = await form_body(request)
    try:
        sid = await _redeem(request, actor, form.get("code", ""))
    except errors.WebError as e:
        return render(
            request, "live/join.html", {"code": form.get("code", "")[:16], "error": e.message}, status_code=e.status
        )
    return RedirectResponse(f"/sessions/{sid}", status_code=303)


async def api_join(request: Request) -> Response:
    """POST /live/join {code} with a bearer token (native clients)."""
    actor = _bearer(request)
    if actor is None:
        raise errors.unauthenticated()
    if actor.role != "service_user":
        raise errors.forbidden("Only the invited service user can join with a code.")
    body = await json_body(request)
    sid = await _redeem(request, actor, str(body.get("code", "")))
    return JSONResponse({"session_id": sid})


async def api_token(request: Request) -> Response:
    """POST /live/token {username, password} -> a bearer token for `tandem join` and the tests."""
    body = await json_body(request)
    username, password = str(body.get("username", "")), str(body.get("password", ""))
    limiter = request.app.state.login_limiter
    address = request.client.host if request.client else "?"
    if limiter.blocked(username, address):
        raise errors.WebError(429, "rate_limited", "Too many attempts; wait a few minutes.")
    account = await asyncio.to_thread(request.app.state.tandem.authenticate, username, password)
    if account is None:
        limiter.failed(username, address)
        raise errors.WebError(401, "unauthenticated", "Wrong username or password.")
    limiter.succeeded(username)
    session_id = await asyncio.to_thread(request.app.state.tandem.open_session, account.id)
    token = tokens.issue(request.app.state.settings.secret_key, account.id, account.role, session_id)
    return JSONResponse({"token": token, "user_id": str(account.id), "role": account.role})


async def api_token_logout(request: Request) -> Response:
    """POST /live/token/logout with the bearer token: that log-in ends, as /logout ends a cookie's."""
    actor, claims = _bearer(request), _bearer_claims(request)
    if actor is None or claims is None:
        raise errors.unauthenticated()
    await asyncio.to_thread(request.app.state.tandem.close_session, actor.user_id, claims["sid"])
    return JSONResponse({"ok": True})


api_join.policy = Policy(frozenset({"service_user"}), mutates=True)  # type: ignore[attr-defined]
api_token_logout.policy = Policy(frozenset(ROLES), mutates=True)  # type: ignore[attr-defined]
api_token.policy = Policy(None, mutates=True)  # type: ignore[attr-defined]


# ------------------------------------------------------------------ live pages


def _first_name(request: Request, user_id: UUID) -> str:
    tandem = request.app.state.tandem
    account = tandem.account(user_id)
    return tandem.display_name(account).split(" ")[0] if account else ""


def _live_ctx(request: Request, actor: Actor, s: Any) -> dict[str, Any]:
    return {
        "live": {
            "session_id": str(s.id),
            "ws_path": f"/ws/sessions/{s.id}",
            "me": str(actor.user_id),
            "role": actor.role,
            "worker_id": str(s.worker_id),
            "su_id": str(s.su_id),
            "worker_name": _first_name(request, s.worker_id),
            "su_name": _first_name(request, s.su_id),
            "same_device": s.same_device,
        },
        "live_topics": request.app.state.content.topics,
        "live_trackers": request.app.state.content.trackers,
        "live_worksheets": request.app.state.content.worksheets,
    }


def _after_end(actor: Actor, s: Any) -> Response:
    """Once a session has ended each person goes home (the worker to this person's page) to its summary."""
    home = f"/caseload/{s.su_id}" if actor.role == "worker" else "/"
    return RedirectResponse(f"{home}?ended={s.id}", status_code=303)


@guarded(roles={"worker", "service_user"})
async def lobby(request: Request, actor: Actor) -> Response:
    s = await _member_session(request, actor, request.path_params["session_id"])
    if s.ended:
        return _after_end(actor, s)
    ctx = _live_ctx(request, actor, s)
    ctx["topics"] = request.app.state.content.topics
    return render(request, "live/lobby.html", ctx)


@guarded(roles={"worker", "service_user"})
async def live_topic(request: Request, actor: Actor) -> Response:
    from web import views

    s = await _member_session(request, actor, request.path_params["session_id"])
    if s.ended:
        return _after_end(actor, s)
    topic_id = request.path_params["topic_id"]
    try:
        ctx = await views.topic_context(request, actor, s.su_id, topic_id)
    except errors.WebError as e:
        if e.status != 403:
            raise
        # In a joint session the worker sees the topic itself, never the SU's progress.
        topic = request.app.state.content.topic(topic_id)
        ctx = {
            "topic": topic,
            "sections": [{"section": x, "viewed": False} for x in topic.sections],
            "su_id": s.su_id,
            "own": False,
            "shared": False,
        }
    ctx.update(_live_ctx(request, actor, s))
    return render(request, "live/topic.html", ctx)


@guarded(roles={"worker", "service_user"})
async def live_section(request: Request, actor: Actor) -> Response:
    from web import views

    s = await _member_session(request, actor, request.path_params["session_id"])
    if s.ended:
        return _after_end(actor, s)
    section_id = f"{request.path_params['topic_id']}/{request.path_params['slug']}"
    ctx = await views.section_context(request, actor, s.su_id, section_id)
    if actor.role == "worker":
        # Working together: the worker may fill in trackers and worksheets with the SU, but
        # sees no history the SU has not shared (the entry form, not the chart).
        ctx["editable"] = True
        for t in ctx["trackers"]:
            if not t["visible"]:
                t.update(visible=True, weeks=[])
    ctx.update(_live_ctx(request, actor, s))
    return render(request, "live/section.html", ctx)


@guarded(roles={"worker", "service_user"})
async def shown_chart(request: Request, actor: Actor) -> Response:
    """A chart the SU put on the shared screen: the worker may see it while it is shown."""
    from starlette.responses import HTMLResponse

    from web import charts

    s = await _member_session(request, actor, request.path_params["session_id"])
    tid = request.path_params["tracker_id"]
    try:
        tracker = request.app.state.content.tracker(tid)
    except KeyError:
        raise errors.not_found("chart") from None
    # The session as stored, not this process's room: the page may be served by a
    # server process that holds no room for it.
    if actor.user_id != s.su_id and (s.ended or tid not in s.shown_charts):
        raise errors.forbidden("That chart is not on the shared screen.")
    series = await asyncio.to_thread(request.app.state.projections.trackers.series, s.su_id, tid)
    parts = [f"<h3>{tracker.title}</h3>"]
    for w in charts.weeks(series)[:1]:
        parts += [charts.svg(tracker, m, w, f"live-svg-{tid}-{m.id}") for m in tracker.measures]
    if len(parts) == 1:
        parts.append("<p>No entries yet.</p>")
    return HTMLResponse("".join(parts))


# ------------------------------------------------------------------ leaving and ending


async def _record(request: Request, actor: Actor, s: Any, kind: str, payload: dict[str, Any]) -> None:
    cmd = Command(kind, payload, f"http-{kind}-{uuid.uuid4().hex}", session_id=s.id)
    try:
        await request.app.state.tandem.record(actor, cmd)
    except CommandError as e:
        if e.code != "session_ended":
            raise


@guarded(roles={"worker", "service_user"}, mutates=True)
async def leave(request: Request, actor: Actor) -> Response:
    s = await _member_session(request, actor, request.path_params["session_id"])
    if not s.ended and actor.user_id in s.present:
        await _record(request, actor, s, "ParticipantLeft", {"reason": "left"})
    if _wants_json(request):
        return JSONResponse({"left": True})
    return RedirectResponse("/caseload" if actor.role == "worker" else "/", status_code=303)


@guarded(roles={"worker"}, mutates=True)
async def end(request: Request, actor: Actor) -> Response:
    s = await _member_session(request, actor, request.path_params["session_id"])
    if not s.ended:
        await _record(request, actor, s, "SessionEnded", {"reason": "ended by worker"})
    if _wants_json(request):
        return JSONResponse({"ended": True})
    return _after_end(actor, s)


# ------------------------------------------------------------------ the WebSocket


class RawSocket:
    """Outermost middleware: keeps the server's own receive and send of a WebSocket in
    its scope, for the live endpoint to use once the handshake is through."""

    KEY = "tandem.raw_socket"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope[self.KEY] = (receive, send)
        await self.app(scope, receive, send)


def origin_allowed(ws: WebSocket) -> bool:
    """Browsers always send Origin: it must be this site (or a configured one)."""
    origin = ws.headers.get("origin")
    if origin is None:
        return True  # not a browser; such clients must bring a bearer token (see below)
    if origin.rstrip("/") in ws.app.state.tandem.settings.allowed_origins:
        return True
    host = ws.headers.get("host", "")
    return urlparse(origin).netloc.lower() == host.lower() and host != ""


async def ws_session(websocket: WebSocket) -> None:
    sid = websocket.path_params["session_id"]
    if not origin_allowed(websocket):
        await websocket.close(code=P.CloseCode.BAD_ORIGIN)  # before accept: the handshake gets HTTP 403
        return
    actor = _bearer(websocket)
    if actor is None and websocket.headers.get("origin") is not None:
        actor = actor_from(websocket)  # cookies only with a checked Origin (no cross-site hijack)
    if actor is None:
        await websocket.close(code=P.CloseCode.REVOKED)
        return
    try:
        session_uuid = UUID(sid)
    except ValueError:
        await websocket.close(code=P.CloseCode.NO_SESSION)
        return
    standing = await asyncio.to_thread(websocket.app.state.tandem.session_access, actor.user_id, session_uuid)
    refused = standing.refusal()
    if refused is not None:
        await websocket.close(code=HANDSHAKE_REFUSED[refused.code])
        return
    binary = P.SUBPROTOCOL in websocket.scope.get("subprotocols", [])
    await websocket.accept(subprotocol=P.SUBPROTOCOL if binary else None)
    hub = await hub_of(websocket.app)
    # After the handshake every frame goes straight to the server's own receive/send
    # (kept by RawSocket), not through Starlette's WebSocket and three middlewares'
    # wrappers: four coroutine calls fewer per frame.
    raw_receive, raw_send = websocket.scope[RawSocket.KEY]

    async def send(data: str | bytes) -> None:
        await raw_send(
            {"type": "websocket.send", "bytes": data}
            if isinstance(data, bytes)
            else {"type": "websocket.send", "text": data}
        )

    async def close(code: int, reason: str) -> None:
        await raw_send({"type": "websocket.close", "code": code, "reason": reason})

    async def receive() -> str | bytes | None:
        message = await raw_receive()
        if message["type"] != "websocket.receive":
            return None
        text = message.get("text")
        return text if text is not None else message.get("bytes") or b""

    # The socket is served by a task of its own: each frame then wakes that short chain
    # of coroutines, not the twenty of the ASGI stack above this handler.
    transport = Transport(send, close, websocket.scope.get(SEND_NOW))
    await asyncio.create_task(hub.serve(receive, transport, actor, sid, binary))


routes: list[BaseRoute] = [
    Route("/sessions", start_session, methods=["POST"]),
    Route("/sessions/{session_id}/code", new_code, methods=["POST"]),
    Route("/join", join_form, methods=["GET"]),
    Route("/join", join_submit, methods=["POST"]),
    Route("/live/join", api_join, methods=["POST"]),
    Route("/live/token", api_token, methods=["POST"]),
    Route("/live/token/logout", api_token_logout, methods=["POST"]),
    Route("/sessions/{session_id}", lobby, methods=["GET"]),
    Route("/sessions/{session_id}/topics/{topic_id}", live_topic, methods=["GET"]),
    Route("/sessions/{session_id}/topics/{topic_id}/{slug}", live_section, methods=["GET"]),
    Route("/sessions/{session_id}/charts/{tracker_id}", shown_chart, methods=["GET"]),
    Route("/sessions/{session_id}/leave", leave, methods=["POST"]),
    Route("/sessions/{session_id}/end", end, methods=["POST"]),
    WebSocketRoute("/ws/sessions/{session_id}", ws_session),
]
