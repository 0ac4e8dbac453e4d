"""Attack: undo an erasure from the files Tandem wrote (old WAL frames, free pages, dead
tuples), with the master key if it is lying next to them."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path
from uuid import UUID

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core import settings as settings_mod
from core.keystore import KeyStore
from core.service import Tandem
from core.settings import Settings
from projections import ProjectionSet
from tests.conftest import drop_pg_schema, fresh_pg_schema, make_settings
from tests.security.erasure_scenario import live_through, sealed_payloads


def _opens(key: bytes, su_id: UUID, sealed: dict) -> bool:
    try:
        AESGCM(key).decrypt(base64.b64decode(sealed["n"]), base64.b64decode(sealed["c"]), su_id.bytes)
        return True
    except InvalidTag:
        return False


def brute_force(files: list[Path], master: bytes, su_id: UUID, sealed: dict) -> list[str]:
    """Where a key that opens `sealed` can be found in `files`: any 60-byte window that the
    master key unwraps (nonce, wrapped key, tag), or any 32-byte window taken as the key."""
    wrap = AESGCM(master)
    found = []
    for path in files:
        data = path.read_bytes()
        for i in range(len(data) - 31):
            window = data[i : i + 60]
            if len(window) == 60:
                try:
                    key = wrap.decrypt(window[:12], window[12:], su_id.bytes)
                    if _opens(key, su_id, sealed):
                        found.append(f"{path.name}@{i} (wrapped)")
                except InvalidTag:
                    pass
            if _opens(data[i : i + 32], su_id, sealed):
                found.append(f"{path.name}@{i} (raw)")
    return found


def copies(files: list[Path], forms: list[bytes]) -> list[str]:
    """Files holding any of these exact byte strings (a key, raw, hex, base64 or wrapped)."""
    return [f"{p.name}: {f[:8].hex()}..." for p in files for f in forms if f in p.read_bytes()]


def key_forms(key: bytes, wrapped: bytes) -> list[bytes]:
    return [key, key.hex().encode(), base64.b64encode(key), wrapped]


def test_an_erased_key_cannot_be_recovered_from_any_file_sqlite(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    tandem = Tandem(settings)
    views = ProjectionSet(settings, tandem=tandem)
    views.prepare()
    gone = live_through(tandem, "quentin")
    kept = live_through(tandem, "keeper", "Kept Person")
    views.catch_up()
    gone_sealed = sealed_payloads(tandem, gone.su.user_id)
    kept_sealed = sealed_payloads(tandem, kept.su.user_id)
    gone_key = key_forms(tandem.keys.key(gone.su.user_id), tandem.keys._db.get(gone.su.user_id))
    kept_key = key_forms(tandem.keys.key(kept.su.user_id), tandem.keys._db.get(kept.su.user_id))

    tandem.erase(gone.su.user_id, by=gone.worker.user_id)
    views.catch_up()
    # A copy of the data directory taken now, while the server still runs (as a backup
    # would be), and the files once everything is closed: neither may hold the key.
    running = tmp_path.parent / (tmp_path.name + "-copy")
    shutil.copytree(tmp_path, running)
    views.close()
    tandem.close()

    for root in (running, tmp_path):
        files = sorted(p for p in root.rglob("*") if p.is_file())
        key_files = [p for p in files if "-keys.sqlite" in p.name]
        assert key_files and len(files) > len(key_files)
        # Both scans find a key that was not erased: they would find an erased one too.
        assert brute_force(key_files, settings.master_key, kept.su.user_id, kept_sealed[0])
        assert copies(files, kept_key)
        # The key store's files, tried at every offset as a raw or a wrapped key:
        for sealed in gone_sealed:
            assert brute_force(key_files, settings.master_key, gone.su.user_id, sealed) == []
        # Every file Tandem wrote (event store, views, key store, their -wal/-shm files):
        assert copies(files, gone_key) == []
    reopened = KeyStore(settings)
    assert [reopened.reveal(gone.su.user_id, s) for s in gone_sealed] == [None] * len(gone_sealed)
    reopened.close()
    assert len(gone_sealed) >= 6  # their name, answers, chart values and worksheet item were all sealed


def test_an_erased_key_is_gone_from_the_postgres_key_table_file(postgres_url: str, tmp_path: Path) -> None:
    import psycopg

    url, schema = fresh_pg_schema(postgres_url)
    try:
        settings = make_settings(tmp_path, url)
        tandem = Tandem(settings)
        gone = live_through(tandem, "quentin")
        kept = live_through(tandem, "keeper", "Kept Person")
        gone_wrapped = tandem.keys._db.get(gone.su.user_id)
        kept_wrapped = tandem.keys._db.get(kept.su.user_id)
        assert gone_wrapped and kept_wrapped
        tandem.erase(gone.su.user_id, by=gone.worker.user_id)
        tandem.close()

        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")  # every page of the table is in its file now
            data_dir = conn.execute("SHOW data_directory").fetchone()[0]
            rel = conn.execute("SELECT pg_relation_filepath(%s)", (f'"{schema}_keys".person_keys',)).fetchone()[0]
        heap = (Path(data_dir) / rel).read_bytes()
        assert kept_wrapped in heap  # the file read is the live one
        assert gone_wrapped not in heap
    finally:
        drop_pg_schema(postgres_url, schema)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_an_erasure_in_one_process_takes_effect_in_another_at_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    schema = None
    if backend == "postgres":
        base = request.getfixturevalue("postgres_url")
        url, schema = fresh_pg_schema(base)
        settings = make_settings(tmp_path, url)
    else:
        settings = make_settings(tmp_path)
    try:
        server, admin_cli = KeyStore(settings), KeyStore(settings)  # two processes' key stores
        su = UUID(bytes=os.urandom(16))
        sealed = server.seal(su, "something private")
        assert server.reveal(su, sealed) == "something private"  # the server has the key cached
        admin_cli.destroy(su)
        assert server.reveal(su, sealed) is None
        with pytest.raises(Exception, match="erased"):
            server.seal(su, "written after the erasure")  # no fresh key is made for them
        server.close()
        admin_cli.close()
    finally:
        if schema:
            drop_pg_schema(base, schema)


def test_the_master_key_is_kept_outside_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    var, config = tmp_path / "var", tmp_path / "config"
    for name in ("TANDEM_MASTER_KEY", "TANDEM_MASTER_KEY_FILE", "TANDEM_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    first = settings_mod.load(tandem_var_dir=str(var))
    key_file = config / "tandem" / "master.key"
    assert str(key_file) in capsys.readouterr().err
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert bytes.fromhex(key_file.read_text()) == first.master_key
    assert settings_mod.load(tandem_var_dir=str(var)).master_key == first.master_key
    assert capsys.readouterr().err == ""  # said once, when it was made
    for f in var.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert first.master_key not in data and first.master_key.hex().encode() not in data, f

    named = tmp_path / "elsewhere.key"
    named.write_text("22" * 32)
    assert settings_mod.load(tandem_var_dir=str(var), tandem_master_key_file=str(named)).master_key == b"\x22" * 32
    assert settings_mod.load(tandem_var_dir=str(var), tandem_master_key="33" * 32).master_key == b"\x33" * 32
    with pytest.raises(SystemExit, match="must not be inside"):
        settings_mod.load(tandem_var_dir=str(var), tandem_master_key_file=str(var / "master.key"))


def test_a_master_key_left_in_the_data_directory_by_an_older_version_is_moved_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    var, config = tmp_path / "var", tmp_path / "config"
    var.mkdir()
    (var / "master.key").write_text("44" * 32)
    for name in ("TANDEM_MASTER_KEY", "TANDEM_MASTER_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    s: Settings = settings_mod.load(tandem_var_dir=str(var))
    assert s.master_key == b"\x44" * 32
    assert not (var / "master.key").exists()
    assert (config / "tandem" / "master.key").read_text() == "44" * 32
