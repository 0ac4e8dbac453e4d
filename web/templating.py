"""Jinja2 set-up: every template gets who is logged in, the CSRF token and the crisis notice."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from content.render import render_markdown
from web import csrf
from web.auth import actor_from

TEMPLATES = Path(__file__).parent / "templates"

NAV = {
    "service_user": [
        ("/", "My topics"),
        ("/journey", "My journey"),
        ("/sharing", "Sharing"),
        ("/linked", "My worker"),
        ("/consent", "Research choice"),
        ("/join", "Join a session"),
    ],
    "worker": [("/caseload", "My caseload")],
    "researcher": [("/research", "Research")],
    "admin": [("/admin", "Accounts"), ("/admin/studies", "Studies")],
}


@lru_cache(maxsize=4)
def _crisis_html(title: str, body_md: str) -> str:
    return render_markdown(body_md, id_prefix="crisis-")


def _globals(request: Request) -> dict[str, Any]:
    actor = actor_from(request)
    me = request.app.state.tandem.account(actor.user_id) if actor else None
    notice = request.app.state.content.crisis_notice
    return {
        "actor": actor,
        "me": me,
        "me_name": request.app.state.tandem.display_name(me) if me else "",
        "nav": NAV.get(actor.role, []) if actor else [],
        "csrf_token": csrf.token(request) if "session" in request.scope else "",
        "crisis_title": notice.title,
        "crisis_html": _crisis_html(notice.title, notice.body_md),
        "content_version": request.app.state.content.version,
        "path": request.url.path,
    }


templates = Jinja2Templates(directory=str(TEMPLATES), context_processors=[_globals])


def render(request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context or {}, status_code=status_code)
