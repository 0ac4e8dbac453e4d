"""Where Tandem keeps its data, read once from the environment.

TANDEM_DATABASE_URL  sqlite:///var/tandem.sqlite (default) or postgresql://user@host:port/db[?schema=s]
TANDEM_REDIS_URL     redis://127.0.0.1:6379/0 to fan out between server processes (optional)
TANDEM_VAR_DIR       where the embedded store, keys and screenshots live (default ./var)
TANDEM_SECRET_KEY    signs session cookies (default: generated once into var/secret.key)
TANDEM_MASTER_KEY    wraps the per-person keys: 64 hex characters
TANDEM_MASTER_KEY_FILE  or a file holding them (default: generated once into
                     $XDG_CONFIG_HOME/tandem/master.key, i.e. ~/.config/tandem/master.key,
                     outside the var dir: a copy of the data alone must not unwrap the keys)
TANDEM_AUDIT_KEY     Ed25519 seed (64 hex) signing audit-chain checkpoints (default: generated once into var/audit.key)
TANDEM_ALLOWED_ORIGINS  comma-separated origins, besides the site's own, that may open a live socket
TANDEM_PROJECTION_BATCH, TANDEM_PROJECTION_REBUILD_BATCH, TANDEM_PROJECTION_COALESCE_S  the projection follower's pace
TANDEM_CRISIS_NOTICE_FILE  a YAML file replacing the crisis-support notice (content_env)
TANDEM_CONTENT_VERSIONS_DIR  where content snapshots are kept (content_env)
HOST, PORT           where `tandem serve` listens (listen_address)
"""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

PROJECTION_BATCH = 1000  # events a projection follower applies per transaction while live
PROJECTION_REBUILD_BATCH = 2000  # and per transaction while rebuilding
# After catching up, a follower gathers commits this long before its next batch: a batch
# per commit cost more than the events in it and slowed live sessions (docs/performance.md).
PROJECTION_COALESCE_S = 0.2


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None
    var_dir: Path
    secret_key: str
    master_key: bytes
    audit_key: str = ""  # hex seed of the checkpoint-signing key (core/audit.py)
    allowed_origins: frozenset[str] = frozenset()  # without a trailing slash
    projection_batch: int = PROJECTION_BATCH
    projection_rebuild_batch: int = PROJECTION_REBUILD_BATCH
    projection_coalesce_s: float = PROJECTION_COALESCE_S
    demo_history: bool = True  # `serve --demo` also seeds Sam's few weeks of history (TANDEM_DEMO_HISTORY=0: not)

    @property
    def backend(self) -> str:
        return "postgres" if self.database_url.startswith(("postgres://", "postgresql://")) else "sqlite"

    def eventsourcing_env(self) -> dict[str, str]:
        """The eventsourcing library's environment for this database URL."""
        env: dict[str, str] = {
            "AGGREGATE_CACHE_MAXSIZE": "10000",
            "TRANSCODER_TOPIC": "core.transcoder:MsgpackTranscoder",
        }
        if self.backend == "sqlite":
            path = self.database_url.removeprefix("sqlite:///").removeprefix("sqlite://")
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            env.update(
                PERSISTENCE_MODULE="eventsourcing.sqlite",
                SQLITE_DBNAME=path,
                SQLITE_LOCK_TIMEOUT="30",
                APPLICATION_RECORDER_TOPIC="core.recorders:SQLiteRecorder",
            )
        else:
            u = urlparse(self.database_url)
            query = parse_qs(u.query)
            env.update(
                PERSISTENCE_MODULE="eventsourcing.postgres",
                POSTGRES_DBNAME=u.path.lstrip("/") or "tandem",
                POSTGRES_HOST=u.hostname or "127.0.0.1",
                POSTGRES_PORT=str(u.port or 5432),
                POSTGRES_USER=unquote(u.username or "postgres"),
                POSTGRES_PASSWORD=unquote(u.password or ""),
                POSTGRES_POOL_SIZE="6",
                POSTGRES_MAX_OVERFLOW="10",
                POSTGRES_CONN_MAX_AGE="",
                POSTGRES_ENABLE_DB_FUNCTIONS="",  # off: a tailing reader lost events with it on
                APPLICATION_RECORDER_TOPIC="core.recorders:PostgresRecorder",
            )
            if query.get("schema"):
                env["POSTGRES_SCHEMA"] = query["schema"][0]
        return env

    @property
    def postgres_schema(self) -> str:
        return parse_qs(urlparse(self.database_url).query).get("schema", ["public"])[0]


def _key_file(var_dir: Path, name: str, nbytes: int) -> str:
    path = var_dir / name
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(nbytes))
        path.chmod(0o600)
    return path.read_text().strip()


def default_master_key_file(env: dict[str, str]) -> Path:
    config = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(config) / "tandem" / "master.key"


def _master_key(env: dict[str, str], var_dir: Path) -> bytes:
    if env.get("TANDEM_MASTER_KEY"):
        return bytes.fromhex(env["TANDEM_MASTER_KEY"])
    path = Path(env.get("TANDEM_MASTER_KEY_FILE") or default_master_key_file(env)).expanduser().resolve()
    if path.is_relative_to(var_dir):
        raise SystemExit(f"tandem: the master key file {path} must not be inside the data directory {var_dir}")
    legacy = var_dir / "master.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fresh = legacy.read_text().strip() if legacy.exists() else secrets.token_hex(32)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(fresh)
        try:
            os.link(tmp, path)  # atomic: several processes starting at once agree on one key
            print(
                f"tandem: the master key is in {path} (outside {var_dir}, so a copy of the data alone "
                "cannot undo an erasure); back it up separately from the data",
                file=sys.stderr,
            )
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    if legacy.exists():  # an older version kept it beside the data
        if legacy.read_text().strip() != path.read_text().strip():
            raise SystemExit(
                f"tandem: {legacy} differs from {path}: keep the one that wraps this data's keys in {path}"
            )
        legacy.unlink()
    return bytes.fromhex(path.read_text().strip())


def load(**overrides: str) -> Settings:
    """Settings from the environment; keyword arguments win (tests use them)."""
    env = {**os.environ, **{k.upper(): v for k, v in overrides.items()}}
    var_dir = Path(env.get("TANDEM_VAR_DIR", "var")).resolve()
    database_url = env.get("TANDEM_DATABASE_URL") or f"sqlite:///{var_dir / 'tandem.sqlite'}"
    secret = env.get("TANDEM_SECRET_KEY") or _key_file(var_dir, "secret.key", 32)
    return Settings(
        database_url=database_url,
        redis_url=env.get("TANDEM_REDIS_URL") or None,
        var_dir=var_dir,
        secret_key=secret,
        master_key=_master_key(env, var_dir),
        audit_key=env.get("TANDEM_AUDIT_KEY") or _key_file(var_dir, "audit.key", 32),
        allowed_origins=frozenset(
            o.strip().rstrip("/") for o in env.get("TANDEM_ALLOWED_ORIGINS", "").split(",") if o.strip()
        ),
        projection_batch=int(env.get("TANDEM_PROJECTION_BATCH") or PROJECTION_BATCH),
        projection_rebuild_batch=int(env.get("TANDEM_PROJECTION_REBUILD_BATCH") or PROJECTION_REBUILD_BATCH),
        projection_coalesce_s=float(env.get("TANDEM_PROJECTION_COALESCE_S") or PROJECTION_COALESCE_S),
        demo_history=env.get("TANDEM_DEMO_HISTORY", "1") != "0",
    )


@dataclass(frozen=True)
class ContentEnv:
    """What the content layer takes from the environment (read without making any keys)."""

    crisis_notice_file: Path | None
    versions_dir: Path | None


DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000


def listen_address() -> tuple[str, int]:
    """HOST and PORT for `tandem serve` (its flags win)."""
    return os.environ.get("HOST") or DEFAULT_HOST, int(os.environ.get("PORT") or DEFAULT_PORT)


def content_env() -> ContentEnv:
    crisis, versions = os.environ.get("TANDEM_CRISIS_NOTICE_FILE"), os.environ.get("TANDEM_CONTENT_VERSIONS_DIR")
    return ContentEnv(Path(crisis) if crisis else None, Path(versions) if versions else None)
