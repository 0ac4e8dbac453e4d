"""Attacks on log-in sessions over real HTTP and real WebSockets: a bearer token or a
copied cookie must stop working once its log-in has ended (log-out, log-out
everywhere, a password change), on the JSON API and on the socket handshake."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import httpx
import pytest
import websockets

from core import aggregates as A
from core.settings import Settings
from realtime.client import LiveClient
from tests.realtime.conftest import PASSWORDS, Live
from tests.security.conftest import servers
from tests.web.conftest import PASSWORDS as WEB_PASSWORDS
from tests.web.conftest import csrf_of, seed_all

T = 60  # seconds: argon2 on a loaded machine can be slow; nothing here is timed


async def _token(http: httpx.AsyncClient, who: str) -> str:
    r = await http.post("/live/token", json={"username": who, "password": PASSWORDS[who]})
    assert r.status_code == 200, r.text
    return r.json()["token"]


async def _cookie_login(live: Live, who: str) -> tuple[httpx.AsyncClient, str]:
    """A logged-in cookie client of the real server, and its CSRF token."""
    c = httpx.AsyncClient(timeout=T, base_url=live.base, follow_redirects=False)
    anonymous = (await c.get("/api/session")).json()["csrf"]
    r = await c.post(
        "/api/login", json={"username": who, "password": PASSWORDS[who]}, headers={"X-CSRF-Token": anonymous}
    )
    assert r.status_code == 200, r.text
    return c, r.json()["csrf"]


async def _socket_opens(live: Live, sid: str, **auth: Any) -> bool:
    c = LiveClient(live.ws, sid, **auth)
    try:
        await c.connect(timeout=T)
    except websockets.InvalidStatus:
        return False
    await c.close()
    return True


async def _start(http: httpx.AsyncClient, token: str, live: Live) -> int:
    r = await http.post("/sessions", json={"su_id": str(live.ids["sam"])}, headers={"Authorization": f"Bearer {token}"})
    return r.status_code


async def _log_out_everywhere(live: Live, who: str) -> None:
    c, csrf = await _cookie_login(live, who)
    try:
        r = await c.post("/api/logout-everywhere", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200, r.text
    finally:
        await c.aclose()


async def _change_password(live: Live, who: str) -> None:
    c, csrf = await _cookie_login(live, who)
    try:
        r = await c.post(
            "/api/account/password",
            json={"current_password": PASSWORDS[who], "new_password": "a-brand-new-pass"},
            headers={"X-CSRF-Token": csrf},
        )
        assert r.status_code == 200, r.text
    finally:
        await c.aclose()


@pytest.mark.parametrize("end", [_log_out_everywhere, _change_password], ids=["logout-everywhere", "password"])
async def test_a_bearer_token_ends_with_its_accounts_sessions(live: Live, end: Any) -> None:
    sid = await live.start_session()
    async with httpx.AsyncClient(timeout=T, base_url=live.base) as http:
        token = await _token(http, "wendy")
        assert await _start(http, token, live) == 201
        assert await _socket_opens(live, sid, token=token)
        await end(live, "wendy")
        head = live.tandem.head()
        assert await _start(http, token, live) == 401
        started = [e for _, e in live.tandem.read(head) if isinstance(e, A.JointSession.SessionStarted)]
        assert not started  # the refused start stored no session
        assert not await _socket_opens(live, sid, token=token)
        # A new log-in works as before.
        assert await _socket_opens(live, sid, token=live.token("wendy"))


async def test_a_copied_cookie_is_logged_out_with_its_session(live: Live) -> None:
    sid = await live.start_session()
    c, csrf = await _cookie_login(live, "sam")
    copied = f"tandem_session={c.cookies['tandem_session']}"
    async with httpx.AsyncClient(timeout=T, base_url=live.base, follow_redirects=False) as thief:
        thief.headers["Cookie"] = copied
        assert (await thief.get("/api/topics")).status_code == 200
        assert await _socket_opens(live, sid, cookie=copied, origin=live.base)
        other_device, _ = await _cookie_login(live, "sam")  # another log-in of the same person
        try:
            assert (await c.post("/api/logout", headers={"X-CSRF-Token": csrf})).status_code == 200
            assert (await thief.get("/api/topics")).status_code == 401
            page = await thief.get("/topics/recovery")
            assert page.status_code in (302, 303) and page.headers["location"].startswith("/login")
            assert not await _socket_opens(live, sid, cookie=copied, origin=live.base)
            # Logging out one session leaves the person's other sessions alone.
            assert (await other_device.get("/api/topics")).status_code == 200
        finally:
            await other_device.aclose()
            await c.aclose()


async def test_a_cookie_without_a_live_session_id_is_refused(live: Live) -> None:
    """The signature alone is not enough: a cookie minted with the secret but naming
    no log-in of the store (or an ended one) gets the logged-out answer."""
    import json
    import time
    from base64 import b64encode

    import itsdangerous

    signer = itsdangerous.TimestampSigner(live.settings.secret_key)
    claims = {"uid": str(live.ids["sam"]), "role": "service_user", "issued": time.time(), "sid": "made-up"}
    forged = signer.sign(b64encode(json.dumps(claims).encode())).decode()
    async with httpx.AsyncClient(timeout=T, base_url=live.base, cookies={"tandem_session": forged}) as c:
        assert (await c.get("/api/topics")).status_code == 401


async def test_logging_a_token_out_ends_it_and_only_it(live: Live) -> None:
    sid = await live.start_session()
    async with httpx.AsyncClient(timeout=T, base_url=live.base) as http:
        token, other = await _token(http, "wendy"), await _token(http, "wendy")
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await http.post("/live/token/logout", json={}, headers=bearer)).status_code == 200
        assert await _start(http, token, live) == 401
        assert not await _socket_opens(live, sid, token=token)
        assert (await http.post("/live/token/logout", json={}, headers=bearer)).status_code == 401
        forged = {"Authorization": "Bearer forged"}
        assert (await http.post("/live/token/logout", json={}, headers=forged)).status_code == 401
        assert await _socket_opens(live, sid, token=other)  # the same person's other log-in goes on


def test_a_log_out_in_one_process_ends_the_session_in_another(pg_redis_settings: Settings) -> None:
    seed_all(pg_redis_settings)
    with ExitStack() as stack:
        a, b = servers(stack, pg_redis_settings, 2)
        token = csrf_of(a.get("/login").text)
        r = a.post("/login", data={"csrf": token, "username": "sam", "password": WEB_PASSWORDS["sam"]})
        assert r.status_code == 303
        copied = a.cookies["tandem_session"]
        b.cookies.set("tandem_session", copied)
        assert b.get("/api/topics").status_code == 200  # the same log-in, seen by the other process
        csrf = csrf_of(b.get("/account").text)
        assert b.post("/logout", data={"csrf": csrf}).status_code == 303
        a.cookies.set("tandem_session", copied)
        assert a.get("/api/topics").status_code == 401
