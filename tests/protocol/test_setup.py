"""The set-up a native client needs, over HTTP, exactly as docs/protocol.md shows it."""

from __future__ import annotations

import httpx
import pytest
import websockets

from tests.protocol.conftest import Peer, token


async def test_token_start_join_connect_and_log_out(live):
    base = live.base
    worker_token, su_token = token(base, "wendy"), token(base, "sam")
    bearer = lambda t: {"Authorization": f"Bearer {t}", "Accept": "application/json"}  # noqa: E731
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        r = await http.post("/sessions", json={"su_id": str(live.ids["sam"])}, headers=bearer(worker_token))
        assert r.status_code == 201, r.text
        invite = r.json()
        assert set(invite) == {"session_id", "code", "link", "expires_in_min"}
        # Only the invited SU may redeem the code; the worker may not.
        assert (
            await http.post("/live/join", json={"code": invite["code"]}, headers=bearer(worker_token))
        ).status_code == 403
        r = await http.post("/live/join", json={"code": invite["code"]}, headers=bearer(su_token))
        assert r.status_code == 200 and r.json() == {"session_id": invite["session_id"]}
        sid = invite["session_id"]
        su = await Peer.open(live, "sam", sid, tok=su_token)
        welcome = await su.hello(device_kind="phone")
        assert welcome["payload"]["you"] == str(live.ids["sam"]) and welcome["payload"]["role"] == "service_user"
        await su.close()
        # Log-out ends the token's log-in: the next handshake is refused with HTTP 403.
        assert (await http.post("/live/token/logout", headers=bearer(su_token))).json() == {"ok": True}
        with pytest.raises(websockets.InvalidStatus) as refused:
            await Peer.open(live, "sam", sid, tok=su_token)
        assert refused.value.response.status_code == 403
        assert (await http.post("/live/token/logout", headers=bearer(su_token))).status_code == 401


async def test_each_token_is_its_own_log_in(live):
    first, second = token(live.base, "sam"), token(live.base, "sam")
    async with httpx.AsyncClient(base_url=live.base, timeout=30) as http:
        await http.post("/live/token/logout", headers={"Authorization": f"Bearer {first}"})
    sid = await live.start_session()
    peer = await Peer.open(live, "sam", sid, tok=second)  # the other log-in still works
    assert (await peer.hello())["type"] == "welcome"


async def test_token_errors(live):
    async with httpx.AsyncClient(base_url=live.base, timeout=30) as http:
        r = await http.post("/live/token", json={"username": "sam", "password": "wrong-password"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
        assert (await http.post("/live/join", json={"code": "x"})).status_code == 401


def test_openapi_documents_the_live_set_up(live):
    doc = httpx.get(f"{live.base}/api/openapi.json", timeout=30).json()
    for path, ok in (
        ("/live/token", "200"),
        ("/live/token/logout", "200"),
        ("/sessions", "201"),
        ("/live/join", "200"),
    ):
        assert ok in doc["paths"][path]["post"]["responses"], path
    assert doc["paths"]["/sessions"]["post"]["security"] == [{"bearer": []}]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


@pytest.mark.parametrize("scope", [{}, [], None, 3])
def test_sharing_with_a_scope_that_is_not_a_name_is_422(sqlite_site, scope):
    sam, csrf = sqlite_site.login("sam")
    before = sam.get("/api/sharing").json()
    r = sam.post("/api/sharing", json={"scope": scope, "ref": "mood", "shared": True}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422 and r.json()["error"]["field"] == "scope"
    assert sam.get("/api/sharing").json() == before
