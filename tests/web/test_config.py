"""The environment is read once, into Settings; every part asks Settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import websockets

from core import settings as settings_mod
from tests.conftest import make_settings
from tests.realtime.conftest import Live, ServerThread, build_app, free_port, seed


def test_origins_and_the_followers_pace_are_read_into_settings(tmp_path: Path) -> None:
    s = settings_mod.load(
        tandem_var_dir=str(tmp_path),
        tandem_secret_key="k",
        tandem_master_key="11" * 32,
        tandem_allowed_origins=" https://a.example/ , ,https://b.example",
        tandem_projection_batch="40",
    )
    assert s.allowed_origins == {"https://a.example", "https://b.example"}
    assert s.projection_batch == 40
    assert s.projection_rebuild_batch == settings_mod.PROJECTION_REBUILD_BATCH


async def test_a_live_socket_accepts_an_origin_listed_in_settings_and_no_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TANDEM_ALLOWED_ORIGINS", raising=False)
    s = dataclasses.replace(make_settings(tmp_path), allowed_origins=frozenset({"https://app.example"}))
    ids = seed(s)
    server = ServerThread(build_app(s), free_port())
    server.start()
    try:
        live = Live(f"http://127.0.0.1:{server.port}", server.app, s, ids, server)
        sid = await live.start_session()
        ok = await live.client("sam", sid, origin="https://app.example/")
        assert ok.me == str(live.ids["sam"])
        await ok.close()
        bad = await live.client("sam", sid, connect=False, origin="https://evil.example")
        with pytest.raises(websockets.InvalidStatus):
            await bad.connect()
    finally:
        server.stop()
