"""Snapshots of past content versions, so events that refer to an old version stay readable.

Every event the web layer records carries `ContentSet.version`. The server calls
`remember(content_set, directory)` when it loads content; that writes
<directory>/<version>.json once (never rewritten: the version is a hash of the content).
`get(version)` rebuilds that ContentSet from the snapshot (titles, questions, transcripts;
media bytes are not kept). Lookup order: in-memory cache, the given directory, the default
directory ($TANDEM_CONTENT_VERSIONS_DIR or var/content-versions), then snapshots committed
under content/data/versions/ (copy a file there to keep it with the code).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from pathlib import Path

from content.loader import DATA_ROOT
from content.model import ContentSet, UnknownContent
from core.settings import content_env

COMMITTED_DIR = DATA_ROOT / "versions"
_VERSION = re.compile(r"^[0-9a-f]{16}$")
_cache: dict[str, ContentSet] = {}
_lock = threading.Lock()


def default_directory() -> Path:
    return content_env().versions_dir or DATA_ROOT.parents[1] / "var" / "content-versions"


def _dirs(directory: Path | str | None) -> list[Path]:
    dirs = [Path(directory)] if directory is not None else []
    return [*dirs, default_directory(), COMMITTED_DIR]


def remember(content_set: ContentSet, directory: Path | str | None = None) -> Path:
    """Save a snapshot of content_set unless one exists; returns its path."""
    d = Path(directory) if directory is not None else default_directory()
    path = d / f"{content_set.version}.json"
    with _lock:
        _cache[content_set.version] = content_set
        if not path.exists():
            d.mkdir(parents=True, exist_ok=True)
            # Write then rename, so a concurrent reader never sees half a file.
            fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(content_set.to_dict(), f, ensure_ascii=False, sort_keys=True, indent=1)
            os.replace(tmp, path)
    return path


def get(version: str, directory: Path | str | None = None) -> ContentSet:
    """The ContentSet for a past (or the current) version; raises UnknownContent."""
    if not _VERSION.match(version):
        raise UnknownContent(f"not a content version: {version!r}")
    with _lock:
        if version in _cache:
            return _cache[version]
    for d in _dirs(directory):
        path = d / f"{version}.json"
        if path.is_file():
            cs = ContentSet.from_dict(json.loads(path.read_text(encoding="utf-8")))
            with _lock:
                _cache[version] = cs
            return cs
    raise UnknownContent(f"no snapshot of content version {version}")


def available(directory: Path | str | None = None) -> list[str]:
    """Versions with a snapshot on disk."""
    found = {p.stem for d in _dirs(directory) if d.is_dir() for p in d.glob("*.json") if _VERSION.match(p.stem)}
    return sorted(found)


def clear_cache() -> None:
    with _lock:
        _cache.clear()
