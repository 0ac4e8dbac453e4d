"""The Starlette application: wires the core, the content and the routes together."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from core import settings as settings_mod
from core.service import Tandem
from core.settings import Settings

log = logging.getLogger("tandem.web")


def catalogue_for(content_set: Any):
    """The core's reference check: does the current content have this id?"""

    def knows(kind: str, ref: str) -> bool:
        try:
            getattr(content_set, kind)(ref)
        except KeyError:
            return False
        return True

    return knows


async def health(request: Request) -> JSONResponse:
    tandem: Tandem = request.app.state.tandem
    head = tandem.head()
    body: dict[str, Any] = {
        "status": "ok",
        "store": tandem.settings.backend,
        "head": head,
        "content_version": request.app.state.content.version,
    }
    return JSONResponse(body)


async def home(request: Request) -> HTMLResponse:
    content = request.app.state.content
    items = "".join(f"<li>{t.title}</li>" for t in content.topics)
    return HTMLResponse(f"<!doctype html><html lang='en'><title>Tandem</title><h1>Tandem</h1><ul>{items}</ul></html>")


def create_app(settings: Settings | None = None) -> Starlette:
    from content.loader import load as load_content

    settings = settings or settings_mod.load()
    content_set = load_content()  # raises on invalid content: the server refuses to start

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.tandem = Tandem(settings, catalogue=catalogue_for(content_set))
        try:
            yield
        finally:
            app.state.tandem.close()

    app = Starlette(routes=[Route("/", home), Route("/health", health)], lifespan=lifespan)
    app.state.settings = settings
    app.state.content = content_set
    return app
