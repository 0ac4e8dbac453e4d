"""Every HTTP answer of the app carries the security headers: each route in the router (with
demo data for its parameters) as an anonymous visitor and as each demo role, static files,
media, a 404, a 405, a 413, a redirect and an unhandled 500, over a real uvicorn server."""

from __future__ import annotations

import http.client
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from tests.security._served import Served, serve

DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "media-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def csp(response: httpx.Response) -> dict[str, str]:
    value = response.headers.get("content-security-policy", "")
    parts = (p.strip().split(None, 1) for p in value.split(";") if p.strip())
    return {p[0]: (p[1] if len(p) > 1 else "") for p in parts}


def assert_secure(response: httpx.Response, cacheable: bool = False) -> None:
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    policy = csp(response)
    for name, value in DIRECTIVES.items():
        assert policy.get(name) == value, f"{where}: CSP {name} is {policy.get(name)!r}"
    host = response.request.url.netloc.decode()
    assert policy.get("connect-src") == f"'self' ws://{host}", where
    assert "unsafe-inline" not in response.headers["content-security-policy"], where
    assert response.headers.get("x-frame-options") == "DENY", where
    assert response.headers.get("x-content-type-options") == "nosniff", where
    # same-origin everywhere, or stricter where a page asks for it (set-password: no referrer at all)
    assert response.headers.get("referrer-policy") in ("same-origin", "no-referrer"), where
    assert "strict-transport-security" not in response.headers, f"{where}: HSTS over plain http"
    if not cacheable:
        assert response.headers.get("cache-control") == "no-store", where


def boom(request: Request) -> Response:
    raise RuntimeError("an unexpected failure")


@pytest.fixture
def site(tmp_path: Path) -> Any:
    s = serve(tmp_path, extra_routes=[Route("/test-boom", boom)])
    try:
        yield s
    finally:
        s.server.stop()


def demo_params(s: Served) -> dict[str, str]:
    content = s.app.state.content
    section = content.topics[0].sections[0]
    return _Params(
        {
            "session_id": str(s.start_session()),
            "topic_id": section.topic_id,
            "slug": section.slug,
            "su_id": str(s.id_of("sam")),
            "user_id": str(s.id_of("sam")),
            "tracker_id": content.trackers[0].id,
            "worksheet_id": content.worksheets[0].id,
        }
    )


class _Params(dict[str, str]):
    """Demo values for the path parameters; any other parameter gets a well-formed stranger."""

    def __missing__(self, name: str) -> str:
        return "00000000-0000-4000-8000-000000000000"


def test_every_route_answers_with_the_security_headers(site: Served) -> None:
    params = demo_params(site)
    clients = [site.login(who)[0] for who in (None, "sam", "wendy", "rita", "adam")]
    seen = 0
    for route in site.app.routes:
        if not isinstance(route, Route) or route.endpoint is boom:
            continue
        path = route.path_format.format_map(params)
        for method in sorted(route.methods or ()):
            for c in clients:
                # No CSRF token: a POST is refused (and changes nothing), yet its answer is checked too.
                r = c.request(method, path, json={})
                assert_secure(r)
                seen += 1
    assert seen > 250
    anon = clients[0]
    failed = anon.get("/test-boom")
    assert failed.status_code == 500
    assert_secure(failed)
    anon, _ = site.login(None)  # uvicorn closes a connection whose request failed
    assert_secure(anon.get("/no-such-page"))
    assert_secure(anon.get("/api/no-such-thing"))
    assert_secure(anon.delete("/health"))
    assert_secure(anon.get("/"))  # a redirect to the login page
    assert anon.get("/").status_code in (302, 303, 307)
    too_large = declared_too_large(site.base + "/api/login")
    assert too_large.status_code == 413
    assert_secure(too_large)


def declared_too_large(url: str) -> httpx.Response:
    """A POST declaring a body over the limit, answered before any of it is sent."""
    u = httpx.URL(url)
    conn = http.client.HTTPConnection(u.host, u.port, timeout=30)
    try:
        conn.putrequest("POST", u.path)
        conn.putheader("content-type", "application/json")
        conn.putheader("content-length", str(10 * 1024 * 1024))
        conn.endheaders()
        r = conn.getresponse()
        return httpx.Response(r.status, headers=r.getheaders(), request=httpx.Request("POST", url))
    finally:
        conn.close()


def test_static_and_media_files_carry_the_headers_and_may_be_cached(site: Served) -> None:
    mounts = {m.path: m for m in site.app.routes if isinstance(m, Mount)}
    assert {"/static", "/media"} <= set(mounts)
    c, _ = site.login(None)
    for path in ("/static/tandem.css", "/static/base.js", "/static/live/live.js"):
        r = c.get(path)
        assert r.status_code == 200
        assert_secure(r, cacheable=True)
    media = sorted(Path(mounts["/media"].app.directory).glob("*.vtt"))[0].name  # type: ignore[union-attr]
    r = c.get(f"/media/{media}")
    assert r.status_code == 200
    assert_secure(r, cacheable=True)
    assert_secure(c.get("/static/missing.js"), cacheable=True)


def test_hsts_only_when_served_over_https(site: Served) -> None:
    c, _ = site.login(None)
    assert "strict-transport-security" not in c.get("/login").headers
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1 (its forwarded_allow_ips default) only.
    r = c.get("/login", headers={"x-forwarded-proto": "https"})
    assert r.headers["strict-transport-security"].startswith("max-age=")
    assert csp(r)["connect-src"] == f"'self' wss://{r.request.url.netloc.decode()}"
