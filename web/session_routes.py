"""Log in, log out, log out everywhere, change password (HTML forms and their JSON twins),
and the set-password link an admin's reset hands out."""

from __future__ import annotations

import asyncio
from urllib.parse import urlparse
from uuid import UUID

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from core.commands import Actor
from core.errors import CommandError, Forbidden
from web import csrf, errors, ratelimit
from web.auth import end_session, start_session
from web.guard import form_body, guarded, json_body
from web.templating import render

HOME = {"service_user": "/", "worker": "/caseload", "researcher": "/research", "admin": "/admin"}


def _safe_next(target: str | None, role: str) -> str:
    # Only same-site paths: an attacker must not turn log-in into an open redirect.
    if target and target.startswith("/") and not target.startswith("//") and not urlparse(target).netloc:
        return target
    return HOME.get(role, "/")


def _guesses(request: Request, username: str) -> tuple[ratelimit.Limiter, str, errors.WebError | None]:
    """The log-in limiter, the caller's address, and the 429 to give if this account or
    address has guessed wrong too often (log-in and password change share the limit)."""
    limiter: ratelimit.Limiter = request.app.state.login_limiter
    address = request.client.host if request.client else "unknown"
    blocked = limiter.blocked(username, address)
    if not blocked:
        return limiter, address, None
    kind, wait = blocked
    return (
        limiter,
        address,
        errors.WebError(429, "rate_limited", ratelimit.message(kind, wait), headers={"Retry-After": str(wait)}),
    )


async def _attempt(request: Request, username: str, password: str) -> tuple[Actor | None, errors.WebError | None]:
    if not username or not password or len(username) > 64 or len(password) > 1024:
        return None, errors.WebError(422, "invalid_field", "Please enter your username and password.", "username")
    limiter, address, refused = _guesses(request, username)
    if refused is not None:
        return None, refused
    tandem = request.app.state.tandem
    account = await asyncio.to_thread(tandem.authenticate, username, password)  # argon2 is slow on purpose
    if account is None:
        limiter.failed(username, address)
        return None, errors.WebError(
            401, "bad_credentials", "That username and password do not match. Please check and try again."
        )
    limiter.succeeded(username)
    await start_session(request, account.id, account.role)
    return Actor(account.id, account.role), None


@guarded(roles=None)
async def login_page(request: Request, actor: Actor | None) -> Response:
    if actor is not None:
        return RedirectResponse(HOME.get(actor.role, "/"), status_code=303)
    return render(request, "login.html", {"next": request.query_params.get("next", "")})


@guarded(roles=None, mutates=True)
async def login_form(request: Request, _: Actor | None) -> Response:
    form = await form_body(request)
    who, err = await _attempt(request, form.get("username", "").strip(), form.get("password", ""))
    if err is not None:
        status = err.status if err.status != 401 else 400  # 401 would redirect the browser back to log-in
        return render(
            request,
            "login.html",
            {"error": err.message, "username": form.get("username", ""), "next": form.get("next", "")},
            status_code=status,
        )
    assert who is not None
    return RedirectResponse(_safe_next(form.get("next"), who.role), status_code=303)


@guarded(roles=None, mutates=True)
async def logout(request: Request, _: Actor | None) -> Response:
    await end_session(request)
    return RedirectResponse("/login?bye=1", status_code=303)


@guarded(roles={"service_user", "worker", "researcher", "admin"}, mutates=True)
async def logout_everywhere(request: Request, actor: Actor) -> Response:
    await asyncio.to_thread(request.app.state.tandem.log_out_everywhere, actor.user_id)
    await end_session(request)
    return RedirectResponse("/login?everywhere=1", status_code=303)


@guarded(roles={"service_user", "worker", "researcher", "admin"})
async def account_page(request: Request, actor: Actor) -> Response:
    return render(request, "account.html", {"changed": request.query_params.get("password") == "changed"})


async def _change_password(request: Request, actor: Actor, current: object, new: object) -> int:
    """Change the password, then give this device a fresh session (every other one has
    ended). Wrong current passwords count towards the log-in limit."""
    if not isinstance(current, str) or not isinstance(new, str) or not current:
        raise errors.WebError(
            422, "invalid_field", "Please enter your current password and a new one.", "current_password"
        )
    tandem = request.app.state.tandem
    username = tandem.account(actor.user_id).username
    limiter, address, refused = _guesses(request, username)
    if refused is not None:
        raise refused
    try:
        rec = await asyncio.to_thread(
            tandem.change_password, actor.user_id, current[:1024], new
        )  # argon2 twice: slow on purpose
    except Forbidden:
        limiter.failed(username, address)
        raise errors.WebError(
            400, "bad_credentials", "That is not your current password.", "current_password"
        ) from None
    except CommandError as e:
        raise errors.from_command(e) from None
    limiter.succeeded(username)
    await start_session(request, actor.user_id, actor.role)
    return rec.position


@guarded(roles={"service_user", "worker", "researcher", "admin"}, mutates=True)
async def change_password_form(request: Request, actor: Actor) -> Response:
    form = await form_body(request)
    try:
        if form.get("new_password", "") != form.get("new_password_again", ""):
            raise errors.WebError(422, "invalid_field", "The two new passwords are not the same.", "new_password_again")
        await _change_password(request, actor, form.get("current_password", ""), form.get("new_password", ""))
    except errors.WebError as e:
        if e.status == 429:
            raise
        message = e.message if e.field != "new_password" else f"The new password {e.message}."
        return render(
            request, "account.html", {"password_error": message, "password_field": e.field}, status_code=e.status
        )
    return RedirectResponse("/account?password=changed", status_code=303)


def _reset_link(request: Request) -> tuple[UUID, str]:
    """The account and token a set-password link names (404 for a link that cannot be one)."""
    user_part, _, token = request.path_params["link"].partition(".")
    try:
        return UUID(user_part), token
    except ValueError:
        raise errors.not_found("link") from None


def _set_password_page(request: Request, status: int, **ctx: object) -> Response:
    page = render(request, "set_password.html", {"action": request.url.path, **ctx}, status_code=status)
    page.headers["Referrer-Policy"] = "no-referrer"  # the token is in the path
    page.headers["Cache-Control"] = "no-store"
    return page


@guarded(roles=None)
async def set_password_page(request: Request, _: Actor | None) -> Response:
    user_id, token = _reset_link(request)
    valid = await asyncio.to_thread(request.app.state.tandem.reset_link_valid, user_id, token)
    return _set_password_page(request, 200 if valid else 410, gone=not valid)


@guarded(roles=None, mutates=True)
async def set_password_form(request: Request, _: Actor | None) -> Response:
    user_id, token = _reset_link(request)
    form = await form_body(request)
    new = form.get("new_password", "")
    if new != form.get("new_password_again", ""):
        return _set_password_page(request, 422, error="The two new passwords are not the same.")
    try:
        await asyncio.to_thread(request.app.state.tandem.set_password_by_link, user_id, token, new)
    except Forbidden:
        return _set_password_page(request, 410, gone=True)
    except CommandError as e:
        return _set_password_page(request, 422, error=f"The new password {e.message}.")
    return RedirectResponse("/login?password=set", status_code=303)


# ------------------------------------------------------------------ JSON


@guarded(roles=None)
async def api_session(request: Request, actor: Actor | None) -> Response:
    tandem = request.app.state.tandem
    me = tandem.account(actor.user_id) if actor else None
    user = (
        {"id": str(me.id), "username": me.username, "display_name": tandem.display_name(me), "role": me.role}
        if me
        else None
    )
    return JSONResponse({"user": user, "csrf": csrf.token(request)})


@guarded(roles=None, mutates=True)
async def api_login(request: Request, _: Actor | None) -> Response:
    body = await json_body(request)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise errors.WebError(422, "invalid_field", "username and password must be text", "username")
    who, err = await _attempt(request, username.strip(), password)
    if err is not None:
        raise err
    assert who is not None
    return JSONResponse({"user_id": str(who.user_id), "role": who.role, "csrf": request.session["csrf"]})


@guarded(roles=None, mutates=True)
async def api_logout(request: Request, _: Actor | None) -> Response:
    await end_session(request)
    return JSONResponse({"ok": True})


@guarded(roles={"service_user", "worker", "researcher", "admin"}, mutates=True)
async def api_logout_everywhere(request: Request, actor: Actor) -> Response:
    rec = await asyncio.to_thread(request.app.state.tandem.log_out_everywhere, actor.user_id)
    await end_session(request)
    return JSONResponse({"ok": True, "position": rec.position})


@guarded(roles={"service_user", "worker", "researcher", "admin"}, mutates=True)
async def api_change_password(request: Request, actor: Actor) -> Response:
    body = await json_body(request)
    position = await _change_password(request, actor, body.get("current_password"), body.get("new_password"))
    return JSONResponse({"ok": True, "position": position, "csrf": request.session["csrf"]})


routes = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login_form, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/logout-everywhere", logout_everywhere, methods=["POST"]),
    Route("/account", account_page, methods=["GET"]),
    Route("/account/password", change_password_form, methods=["POST"]),
    Route("/password/set/{link}", set_password_page, methods=["GET"]),
    Route("/password/set/{link}", set_password_form, methods=["POST"]),
    Route("/api/session", api_session, methods=["GET"]),
    Route("/api/login", api_login, methods=["POST"]),
    Route("/api/logout", api_logout, methods=["POST"]),
    Route("/api/logout-everywhere", api_logout_everywhere, methods=["POST"]),
    Route("/api/account/password", api_change_password, methods=["POST"]),
]
