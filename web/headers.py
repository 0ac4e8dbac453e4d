"""Security headers on every HTTP answer, set in one pure-ASGI middleware around the whole app.

It sits outside Starlette's error middleware too, so a 500, a 404, a redirect, a 413 from
the body limit and a static file all carry the same headers. WebSocket scopes pass through
untouched: their handshake refusals are the server's bare 403, and a wrapper here would sit
on every live frame.
"""

from __future__ import annotations

import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Static assets hold no personal data and may be cached; everything else may show some.
CACHEABLE_PREFIXES = ("/static/", "/media/")
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")
HSTS = "max-age=31536000; includeSubDomains"

_POLICY = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "media-src 'self'",
    "{connect}",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)
CSP_TEMPLATE = "; ".join(_POLICY)


def content_security_policy(host: str | None, https: bool) -> str:
    """The policy; the live socket may connect only to this same host (ws or wss as the page is)."""
    connect = "connect-src 'self'"
    if host and _HOST.match(host):
        connect += f" {'wss' if https else 'ws'}://{host}"
    return CSP_TEMPLATE.format(connect=connect)


def security_headers(scope: Scope) -> list[tuple[str, str]]:
    headers = dict(scope.get("headers") or [])
    host = headers.get(b"host", b"").decode("latin-1")
    https = scope.get("scheme") == "https"  # uvicorn sets it from X-Forwarded-Proto of trusted proxies only
    out = [
        ("content-security-policy", content_security_policy(host, https)),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
    ]
    if not scope.get("path", "").startswith(CACHEABLE_PREFIXES):
        out.append(("cache-control", "no-store"))
    if https:
        out.append(("strict-transport-security", HSTS))
    return out


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra:
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
