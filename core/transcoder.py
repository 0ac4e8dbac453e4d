"""msgpack encoding for stored events: smaller than JSON and faster to replay.

UUIDs and datetimes travel as msgpack extension types, so events decode to the
same Python values they were created with.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgpack
from eventsourcing.persistence import Transcoder

_UUID, _DATETIME = 1, 2


def _default(obj: Any) -> Any:
    if isinstance(obj, UUID):
        return msgpack.ExtType(_UUID, obj.bytes)
    if isinstance(obj, datetime):
        return msgpack.ExtType(_DATETIME, obj.isoformat().encode())
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    raise TypeError(f"cannot encode {type(obj).__name__}")


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _UUID:
        return UUID(bytes=data)
    if code == _DATETIME:
        return datetime.fromisoformat(data.decode())
    return msgpack.ExtType(code, data)


class MsgpackTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        packed: bytes = msgpack.packb(obj, default=_default, use_bin_type=True)
        return packed

    def decode(self, data: bytes) -> Any:
        return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False)
