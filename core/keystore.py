"""Per-person encryption keys, kept apart from the events (crypto-shredding).

Free text (answers, worksheet items) is sealed with a key that belongs to one
service user. Erasing the person deletes the key: the event log stays
append-only, and their text becomes unreadable everywhere at once. Keys are
stored wrapped by a master key, in their own database file (SQLite) or schema
(PostgreSQL), never in the event tables.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import threading
import time
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.log import pg_setup_lock
from core.settings import Settings

_CACHE_SECONDS = 2.0  # short, so that an erasure in another process takes effect quickly


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


class KeyStore:
    def __init__(self, settings: Settings):
        self._master = AESGCM(settings.master_key)
        self._lock = threading.Lock()
        self._cache: dict[UUID, tuple[float, bytes | None]] = {}
        if settings.backend == "sqlite":
            path = settings.database_url.removeprefix("sqlite:///")
            self._db = _SQLiteKeys(os.path.splitext(path)[0] + "-keys.sqlite")
        else:
            self._db = _PostgresKeys(settings.database_url, settings.postgres_schema + "_keys")

    def key(self, su_id: UUID, *, create: bool = False) -> bytes | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(su_id)
            if hit and now - hit[0] < _CACHE_SECONDS and (hit[1] or not create):
                return hit[1]
            wrapped = self._db.get(su_id)
            if wrapped is None and create:
                key = AESGCM.generate_key(bit_length=256)
                nonce = os.urandom(12)
                self._db.put(su_id, nonce + self._master.encrypt(nonce, key, su_id.bytes))
                wrapped = self._db.get(su_id)
            key = None
            if wrapped is not None:
                key = self._master.decrypt(wrapped[:12], wrapped[12:], su_id.bytes)
            self._cache[su_id] = (now, key)
            return key

    def seal(self, su_id: UUID, text: str) -> dict:
        key = self.key(su_id, create=True)
        assert key is not None
        nonce = os.urandom(12)
        return {"n": _b64(nonce), "c": _b64(AESGCM(key).encrypt(nonce, text.encode(), su_id.bytes))}

    def reveal(self, su_id: UUID, sealed: dict) -> str | None:
        """The plain text, or None when the person's key has been erased."""
        key = self.key(su_id)
        if key is None:
            return None
        nonce, ciphertext = base64.b64decode(sealed["n"]), base64.b64decode(sealed["c"])
        return AESGCM(key).decrypt(nonce, ciphertext, su_id.bytes).decode()

    def destroy(self, su_id: UUID) -> None:
        with self._lock:
            self._db.delete(su_id)
            self._cache.pop(su_id, None)

    def close(self) -> None:
        self._db.close()


class _SQLiteKeys:
    def __init__(self, path: str):
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA secure_delete=ON")  # overwrite deleted keys on disk
        self._conn.execute("CREATE TABLE IF NOT EXISTS person_keys (su_id TEXT PRIMARY KEY, wrapped BLOB NOT NULL)")

    def get(self, su_id: UUID) -> bytes | None:
        row = self._conn.execute("SELECT wrapped FROM person_keys WHERE su_id = ?", (su_id.hex,)).fetchone()
        return row[0] if row else None

    def put(self, su_id: UUID, wrapped: bytes) -> None:
        self._conn.execute("INSERT OR IGNORE INTO person_keys VALUES (?, ?)", (su_id.hex, wrapped))

    def delete(self, su_id: UUID) -> None:
        self._conn.execute("DELETE FROM person_keys WHERE su_id = ?", (su_id.hex,))

    def close(self) -> None:
        self._conn.close()


class _PostgresKeys:
    def __init__(self, url: str, schema: str):
        import psycopg
        from psycopg.sql import SQL, Identifier

        self._table = SQL("{}.person_keys").format(Identifier(schema))
        with pg_setup_lock(url) as ddl:
            ddl.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(schema)))
            ddl.execute(
                SQL("CREATE TABLE IF NOT EXISTS {} (su_id uuid PRIMARY KEY, wrapped bytea NOT NULL)").format(
                    self._table
                )
            )
        self._conn = psycopg.connect(url.split("?")[0], autocommit=True)
        self._sql = SQL
        self._lock = threading.Lock()

    def get(self, su_id: UUID) -> bytes | None:
        with self._lock:
            row = self._conn.execute(
                self._sql("SELECT wrapped FROM {} WHERE su_id = %s").format(self._table), (su_id,)
            ).fetchone()
        return bytes(row[0]) if row else None

    def put(self, su_id: UUID, wrapped: bytes) -> None:
        with self._lock:
            self._conn.execute(
                self._sql("INSERT INTO {} VALUES (%s, %s) ON CONFLICT DO NOTHING").format(self._table), (su_id, wrapped)
            )

    def delete(self, su_id: UUID) -> None:
        with self._lock:
            self._conn.execute(self._sql("DELETE FROM {} WHERE su_id = %s").format(self._table), (su_id,))

    def close(self) -> None:
        self._conn.close()
