"""The Starlette application: wires the core, the content, the projections and the routes together.

Shared state for every route module:
`request.app.state.tandem` (core.service.Tandem), `.content` (content.ContentSet),
`.projections` (the read models, see projections/README.md), `.settings`, `.login_limiter`.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from core import settings as settings_mod
from core.service import Tandem
from core.settings import Settings
from realtime import revocation
from web import errors, live_routes, ratelimit
from web.auth import SessionByScheme
from web.headers import SecurityHeaders
from web.limits import BodyLimit

log = logging.getLogger("tandem.web")
STATIC = Path(__file__).parent / "static"


async def health(request: Request) -> JSONResponse:
    tandem: Tandem = request.app.state.tandem
    body: dict[str, Any] = {
        "status": "ok",
        "store": tandem.settings.backend,
        "head": tandem.head(),
        "content_version": request.app.state.content.version,
        "projections_lag": request.app.state.projections.max_lag(),
    }
    return JSONResponse(body)


health.policy = None  # type: ignore[attr-defined]  # public


def routes() -> list[BaseRoute]:
    from content import DATA_ROOT
    from web import admin, api, openapi, pages, session_routes
    from web.api import journey as journey_api
    from web.api import research as research_api
    from web.pages import journey as journey_pages
    from web.pages import research as research_pages

    return [
        Route("/health", health),
        *session_routes.routes,
        *pages.routes,
        *journey_pages.routes,
        *admin.routes,
        *api.routes,
        *research_pages.routes,
        *research_api.routes,
        *journey_api.routes,
        Route("/api/openapi.json", openapi.document),
        *live_routes.routes,
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
        Mount("/media", StaticFiles(directory=str(DATA_ROOT / "media")), name="media"),
    ]


# Frames make short-lived dicts: a larger young generation keeps them from being promoted
# into full collections that pause every socket (docs/performance.md).
GC_YOUNG = 50_000


class TandemApp(Starlette):
    def build_middleware_stack(self) -> ASGIApp:
        # Outside Starlette's own error middleware, so its 500 answers carry the headers too.
        return SecurityHeaders(super().build_middleware_stack())


def create_app(settings: Settings | None = None) -> Starlette:
    from content.loader import load as load_content

    settings = settings or settings_mod.load()
    content_set = load_content()  # raises on invalid content: the server refuses to start

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from web import readmodel

        tandem = Tandem(settings, catalogue=content_set)
        app.state.tandem = tandem
        announcer = revocation.announce(tandem)  # revoked access reaches every process's sockets
        app.state.projections = readmodel.start_projections(tandem, content_set)
        gc.set_threshold(GC_YOUNG, *gc.get_threshold()[1:])
        try:
            yield
        finally:
            await live_routes.shutdown(app)  # the live hub stops before the store closes
            readmodel.stop_projections(app.state.projections)
            tandem.close()
            if announcer is not None:
                announcer.close()

    app = TandemApp(
        routes=routes(),
        middleware=[
            Middleware(live_routes.RawSocket),
            Middleware(BodyLimit),
            Middleware(SessionByScheme, secret_key=settings.secret_key),
        ],
        exception_handlers=errors.HANDLERS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.content = content_set
    app.state.login_limiter = ratelimit.for_settings(settings)
    return app
