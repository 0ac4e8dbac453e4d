"""Per-person encryption keys, kept apart from the events (crypto-shredding).

Personal data (answers, worksheet items, tracker values, display names) is sealed
with a key that belongs to one person. Erasing the person destroys the key, on disk
too: the event log stays append-only, and their data becomes unreadable everywhere
at once. Keys are stored wrapped by a master key (kept outside the data directory),
in their own database file (SQLite) or schema (PostgreSQL), never in the event tables.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.errors import Forbidden, StoreUnavailable
from core.log import pg_setup_lock
from core.settings import Settings

_TOMBSTONE = b""  # an erased person's row: their key is gone and no new one may be made
ERASED_NAME = "an erased account"


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"n", "c"} and all(isinstance(v, str) for v in value.values())


class KeyStore:
    def __init__(self, settings: Settings):
        self._master = AESGCM(settings.master_key)
        self._lock = threading.Lock()
        if settings.backend == "sqlite":
            path = settings.database_url.removeprefix("sqlite:///")
            self._db: _SQLiteKeys | _PostgresKeys = _SQLiteKeys(os.path.splitext(path)[0] + "-keys.sqlite")
        else:
            self._db = _PostgresKeys(settings.database_url, settings.postgres_schema + "_keys")

    def key(self, su_id: UUID) -> bytes | None:
        """The person's key, read from the store every time, so that an erasure made by any
        process takes effect at once; None when they have none (or were erased)."""
        with self._lock:
            wrapped = self._db.get(su_id)
        return self._unwrap(su_id, wrapped) if wrapped else None

    def erased(self, su_id: UUID) -> bool:
        with self._lock:
            return self._db.get(su_id) == _TOMBSTONE

    def _unwrap(self, su_id: UUID, wrapped: bytes) -> bytes:
        return self._master.decrypt(wrapped[:12], wrapped[12:], su_id.bytes)

    def _sealing_key(self, su_id: UUID) -> bytes:
        # Not cached either: a key destroyed by another process must not seal anything more.
        with self._lock:
            wrapped = self._db.get(su_id)
            if wrapped is None:
                key = AESGCM.generate_key(bit_length=256)
                nonce = os.urandom(12)
                self._db.put(su_id, nonce + self._master.encrypt(nonce, key, su_id.bytes))
                wrapped = self._db.get(su_id)
            if not wrapped:
                raise Forbidden("this account was erased", "user_id")
            return self._unwrap(su_id, wrapped)

    def seal(self, su_id: UUID, text: str) -> dict:
        key = self._sealing_key(su_id)
        nonce = os.urandom(12)
        return {"n": _b64(nonce), "c": _b64(AESGCM(key).encrypt(nonce, text.encode(), su_id.bytes))}

    def reveal(self, su_id: UUID, sealed: dict) -> str | None:
        """The plain text, or None when the person's key has been erased."""
        return self.opener(su_id)(sealed)

    def opener(self, su_id: UUID) -> Callable[[dict], str | None]:
        """Reveals many of one person's sealed values with one read of their key (for one
        request: kept no longer, so that an erasure still takes effect at once)."""
        key = self.key(su_id)
        aead = AESGCM(key) if key is not None else None

        def open_(sealed: dict) -> str | None:
            if aead is None:
                return None
            nonce, ciphertext = base64.b64decode(sealed["n"]), base64.b64decode(sealed["c"])
            return aead.decrypt(nonce, ciphertext, su_id.bytes).decode()

        return open_

    def name(self, user_id: UUID, stored: str | dict) -> str:
        """A person's display name, as every page shows it: sealed names are revealed with their
        key; a plain one (recorded before names were sealed) reads as erased once the key is."""
        if is_sealed(stored):
            return self.reveal(user_id, stored) or ERASED_NAME  # type: ignore[arg-type]
        return ERASED_NAME if self.erased(user_id) else str(stored)

    def values(self, su_id: UUID, stored: dict) -> dict[str, float] | None:
        """A chart point's values (sealed JSON, or plain in older events); None once erased."""
        if not is_sealed(stored):
            return None if self.erased(su_id) else stored
        text = self.reveal(su_id, stored)
        return None if text is None else json.loads(text)

    def destroy(self, su_id: UUID) -> None:
        """Erase the key for good: replace it with a tombstone, then scrub the store's files
        (old pages, the write-ahead log, dead tuples) so the bytes are gone from disk too."""
        with self._lock:
            self._db.tombstone(su_id)
        self._db.scrub(su_id)  # on its own connection: reads go on meanwhile

    def close(self) -> None:
        self._db.close()


class _SQLiteKeys:
    def __init__(self, path: str):
        self._path = path
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA secure_delete=ON")  # overwrite deleted keys on disk
        self._conn.execute("CREATE TABLE IF NOT EXISTS person_keys (su_id TEXT PRIMARY KEY, wrapped BLOB NOT NULL)")

    def get(self, su_id: UUID) -> bytes | None:
        row = self._conn.execute("SELECT wrapped FROM person_keys WHERE su_id = ?", (su_id.hex,)).fetchone()
        return row[0] if row else None

    def put(self, su_id: UUID, wrapped: bytes) -> None:
        self._conn.execute("INSERT OR IGNORE INTO person_keys VALUES (?, ?)", (su_id.hex, wrapped))

    def tombstone(self, su_id: UUID) -> None:
        self._conn.execute("INSERT OR REPLACE INTO person_keys VALUES (?, ?)", (su_id.hex, _TOMBSTONE))

    def scrub(self, su_id: UUID) -> None:
        # The old page stays in the WAL until a checkpoint copies the new one over it, and
        # in free pages until VACUUM rewrites the file; TRUNCATE empties the WAL file.
        conn = sqlite3.connect(self._path, isolation_level=None, timeout=30)
        try:
            conn.execute("PRAGMA secure_delete=ON")
            self._checkpoint(conn)
            conn.execute("VACUUM")
            self._checkpoint(conn)
        finally:
            conn.close()

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection) -> None:
        for _ in range(100):
            busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return
            time.sleep(0.05)  # another process is reading the key store: let it finish
        raise StoreUnavailable("the key store is busy; the key is gone but run the erasure again to scrub its files")

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
        self._url = url.split("?")[0]
        self._conn = psycopg.connect(self._url, autocommit=True)
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

    def tombstone(self, su_id: UUID) -> None:
        with self._lock:
            self._conn.execute(
                self._sql(
                    "INSERT INTO {} VALUES (%s, %s) ON CONFLICT (su_id) DO UPDATE SET wrapped = EXCLUDED.wrapped"
                ).format(self._table),
                (su_id, _TOMBSTONE),
            )

    def scrub(self, su_id: UUID) -> None:
        # The old row version stays in the table's pages as a dead tuple; VACUUM FULL writes
        # the live rows into a new file and truncates the old one. It must still copy a dead
        # tuple that an older snapshot could see, so first wait for those snapshots to end.
        import psycopg

        with psycopg.connect(self._url, autocommit=True) as conn:
            (erased_by,) = conn.execute(
                self._sql("SELECT xmin FROM {} WHERE su_id = %s").format(self._table), (su_id,)
            ).fetchone()
            deadline = time.monotonic() + 60
            while self._older_snapshots(conn, erased_by) and time.monotonic() < deadline:
                time.sleep(0.1)
            conn.execute(self._sql("VACUUM FULL {}").format(self._table))
            if self._older_snapshots(conn, erased_by):
                raise StoreUnavailable(
                    "a long transaction may still see the key; it is gone, but run the erasure again to scrub it"
                )

    @staticmethod
    def _older_snapshots(conn: Any, xid: Any) -> int:
        (n,) = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_xmin IS NOT NULL AND age(backend_xmin) >= age(%s::xid)",
            (str(xid),),
        ).fetchone()
        return int(n)

    def close(self) -> None:
        self._conn.close()
