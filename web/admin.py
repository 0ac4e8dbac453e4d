"""The admin's page: create accounts, link and unlink workers and service users, and
manage an account (a password reset for someone who forgot theirs, deactivation, erasure).

Admins never read answers: nothing here touches a journey. A password reset never
gives the admin a usable password, only a single-use set-password link to hand over.
Erasure destroys the person's key, so their answers and worksheet items become
unreadable everywhere.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from core.commands import ROLES, Actor
from core.errors import CommandError
from web import access, errors
from web.guard import form_body, guarded, json_body
from web.templating import render

ADMIN = {"admin"}


def _linkable(d: Any, role: str) -> list[dict[str, Any]]:
    """Accounts the "Link" form offers: active ones only (core refuses the others too)."""
    return [a for a in d.accounts(role=role) if a["active"]]


def _directory(request: Request) -> Any:
    return request.app.state.projections.directory


async def _create(request: Request, data: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, str] = {}
    for k in ("username", "display_name", "role", "password"):
        v = data.get(k)
        if not isinstance(v, str) or (k != "display_name" and not v.strip()):
            raise errors.WebError(422, "invalid_field", "is required", k)
        fields[k] = v
    for k in ("username", "display_name"):
        if not fields[k].isprintable():
            raise errors.WebError(422, "invalid_field", "must not contain control characters", k)
    if fields["role"] not in ROLES:
        raise errors.WebError(422, "invalid_field", f"must be one of {', '.join(ROLES)}", "role")
    if len(fields["password"]) > 1024 or len(fields["display_name"]) > 100:
        raise errors.WebError(422, "invalid_field", "is too long", "password")
    tandem = request.app.state.tandem
    uid = await asyncio.to_thread(
        tandem.register,
        fields["username"],
        fields["display_name"] or fields["username"],
        fields["role"],
        fields["password"],
    )
    return {"user_id": str(uid), "username": fields["username"].strip(), "role": fields["role"]}


async def _link(request: Request, actor: Actor, data: dict[str, Any], unlink: bool = False) -> dict[str, Any]:
    worker_id = access.parse_uuid(str(data.get("worker_id", "")), "worker_id")
    su_id = access.parse_uuid(str(data.get("su_id", "")), "su_id")
    tandem = request.app.state.tandem
    fn = tandem.unlink if unlink else tandem.link
    rec = await asyncio.to_thread(fn, worker_id, su_id, actor.user_id)
    await asyncio.to_thread(request.app.state.projections.wait_for, rec.position, 2.0)
    return {"worker_id": str(worker_id), "su_id": str(su_id), "linked": not unlink, "position": rec.position}


@guarded(roles=ADMIN)
async def admin_page(request: Request, actor: Actor) -> Response:
    d = _directory(request)
    accounts = d.accounts()
    links = [(w, su) for w in d.accounts(role="worker") for su in d.caseload(w["user_id"])]
    return render(
        request,
        "admin.html",
        {
            "accounts": accounts,
            "links": links,
            "roles": ROLES,
            "workers": _linkable(d, "worker"),
            "sus": _linkable(d, "service_user"),
            "me_id": str(actor.user_id),
            "message": DONE.get(request.query_params.get("done", ""), ""),
        },
    )


DONE = {
    "1": "Done.",
    "deactivated": "Account deactivated: it can no longer log in, and its sessions have ended.",
    "reactivated": "Account reactivated: it can log in again.",
    "erased": "Erased: their key is destroyed, so their name, answers, worksheet items and chart values can no longer be read by anyone.",
}


async def _form_action(request: Request, work: Any, done: str = "1") -> Response:
    try:
        await work
    except (CommandError, errors.WebError) as e:
        return _error_page(request, e)
    return RedirectResponse(f"/admin?done={done}", status_code=303)


def _error_page(request: Request, e: CommandError | errors.WebError) -> Response:
    msg = e.message
    field = e.field
    return render(
        request,
        "admin.html",
        {**_admin_ctx(request), "error": f"{field}: {msg}" if field else msg},
        status_code=422 if not isinstance(e, errors.WebError) else e.status,
    )


def _admin_ctx(request: Request) -> dict[str, Any]:
    d = _directory(request)
    return {
        "me_id": str(request.session.get("uid", "")),
        "accounts": d.accounts(),
        "links": [(w, su) for w in d.accounts(role="worker") for su in d.caseload(w["user_id"])],
        "roles": ROLES,
        "workers": _linkable(d, "worker"),
        "sus": _linkable(d, "service_user"),
    }


@guarded(roles=ADMIN, mutates=True)
async def create_account(request: Request, actor: Actor) -> Response:
    return await _form_action(request, _create_and_wait(request, await form_body(request)))


async def _create_and_wait(request: Request, data: dict[str, Any]) -> None:
    await _create(request, data)
    tandem = request.app.state.tandem
    await asyncio.to_thread(request.app.state.projections.wait_for, tandem.head(), 2.0)


@guarded(roles=ADMIN, mutates=True)
async def link_form(request: Request, actor: Actor) -> Response:
    return await _form_action(request, _link(request, actor, await form_body(request)))


@guarded(roles=ADMIN, mutates=True)
async def unlink_form(request: Request, actor: Actor) -> Response:
    return await _form_action(request, _link(request, actor, await form_body(request), unlink=True))


async def _manage(request: Request, actor: Actor, action: str, data: dict[str, Any]) -> dict[str, Any]:
    """One account action ("password", "deactivated", "erased"): its log position, and
    for a password reset the set-password link. The admin cannot lock themself out."""
    user_id = access.parse_uuid(request.path_params["user_id"], "user_id")
    tandem = request.app.state.tandem
    account = tandem.account(user_id)
    if account is None or account.erased:
        raise errors.WebError(404, "not_found", "There is no such account.", "user_id")
    if action != "password" and user_id == actor.user_id:
        raise errors.WebError(422, "invalid_field", "You cannot do this to your own account.", "user_id")
    text = {k: v if isinstance(v, str) else "" for k, v in data.items()}
    done: dict[str, Any] = {}
    if action == "password":
        token, rec = await asyncio.to_thread(tandem.issue_reset_link, user_id, actor.user_id)
        done["link"] = f"{str(request.base_url).rstrip('/')}{set_password_path(user_id, token)}"
        done["username"] = account.username
    elif action == "deactivated":
        rec = await asyncio.to_thread(tandem.deactivate, user_id, actor.user_id)
    elif action == "reactivated":
        rec = await asyncio.to_thread(tandem.reactivate, user_id, actor.user_id)
    else:
        if text.get("confirm", "").strip().lower() != account.username.lower():
            raise errors.WebError(
                422, "invalid_field", f"Type the username ({account.username}) to confirm the erasure.", "confirm"
            )
        rec = await asyncio.to_thread(tandem.erase, user_id, actor.user_id)
    await asyncio.to_thread(request.app.state.projections.wait_for, rec.position, 2.0)
    return {"position": rec.position, **done}


def set_password_path(user_id: Any, token: str) -> str:
    return f"/password/set/{user_id}.{token}"


async def _manage_form(request: Request, actor: Actor, action: str) -> Response:
    if action != "password":
        return await _form_action(request, _manage(request, actor, action, await form_body(request)), done=action)
    try:
        done = await _manage(request, actor, action, {})
    except (CommandError, errors.WebError) as e:
        return _error_page(request, e)
    # The link is shown this once (no redirect that would have to carry it) and never stored.
    ctx = {**_admin_ctx(request), "reset_link": done["link"], "reset_for": done["username"]}
    page = render(request, "admin.html", ctx)
    page.headers["Cache-Control"] = "no-store"
    return page


async def _manage_json(request: Request, actor: Actor, action: str) -> Response:
    body = await json_body(request) if action == "erased" else {}
    done = await _manage(request, actor, action, body)
    return JSONResponse(
        {"user_id": request.path_params["user_id"], "done": action, **done}, headers={"Cache-Control": "no-store"}
    )


def _manage_route(action: str, as_json: bool) -> Any:
    """The form or JSON endpoint for one account action."""

    @guarded(roles=ADMIN, mutates=True)
    async def handler(request: Request, actor: Actor) -> Response:
        return await (_manage_json if as_json else _manage_form)(request, actor, action)

    handler.__name__ = f"{'api_' if as_json else ''}manage_{action}"
    return handler


# ------------------------------------------------------------------ JSON


@guarded(roles=ADMIN)
async def api_accounts(request: Request, actor: Actor) -> Response:
    role = request.query_params.get("role")
    if role is not None and role not in ROLES:
        raise errors.WebError(422, "invalid_field", f"must be one of {', '.join(ROLES)}", "role")
    return JSONResponse({"accounts": _directory(request).accounts(role=role)})


@guarded(roles=ADMIN, mutates=True)
async def api_create_account(request: Request, actor: Actor) -> Response:
    return JSONResponse(await _create(request, await json_body(request)), status_code=201)


@guarded(roles=ADMIN, mutates=True)
async def api_link(request: Request, actor: Actor) -> Response:
    return JSONResponse(await _link(request, actor, await json_body(request)))


@guarded(roles=ADMIN, mutates=True)
async def api_unlink(request: Request, actor: Actor) -> Response:
    return JSONResponse(await _link(request, actor, await json_body(request), unlink=True))


routes = [
    Route("/admin", admin_page, methods=["GET"]),
    Route("/admin/accounts", create_account, methods=["POST"]),
    Route("/admin/links", link_form, methods=["POST"]),
    Route("/admin/unlink", unlink_form, methods=["POST"]),
    Route("/admin/accounts/{user_id}/password", _manage_route("password", as_json=False), methods=["POST"]),
    Route("/admin/accounts/{user_id}/deactivate", _manage_route("deactivated", as_json=False), methods=["POST"]),
    Route("/admin/accounts/{user_id}/reactivate", _manage_route("reactivated", as_json=False), methods=["POST"]),
    Route("/admin/accounts/{user_id}/erase", _manage_route("erased", as_json=False), methods=["POST"]),
    Route("/api/admin/accounts", api_accounts, methods=["GET"]),
    Route("/api/admin/accounts", api_create_account, methods=["POST"]),
    Route("/api/admin/links", api_link, methods=["POST"]),
    Route("/api/admin/unlink", api_unlink, methods=["POST"]),
    Route("/api/admin/accounts/{user_id}/password", _manage_route("password", as_json=True), methods=["POST"]),
    Route("/api/admin/accounts/{user_id}/deactivate", _manage_route("deactivated", as_json=True), methods=["POST"]),
    Route("/api/admin/accounts/{user_id}/reactivate", _manage_route("reactivated", as_json=True), methods=["POST"]),
    Route("/api/admin/accounts/{user_id}/erase", _manage_route("erased", as_json=True), methods=["POST"]),
]
