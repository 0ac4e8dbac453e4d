"""The live-session wire protocol: envelopes, encodings and validation. Pure: no I/O.

One envelope for both encodings (JSON text frames, or msgpack binary frames when the
client asks for the `tandem.msgpack.v1` subprotocol):

    {"type": str, "session": str, "seq": int, "position": int, "client_event_id": str,
     "epoch": int, "from": str, "ts": float, "payload": {...}}

Only `type` is always present. See docs/protocol.md for every message.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import msgpack
import orjson

from core.commands import JOURNEY, SESSION, Catalogue, Content, knows

SUBPROTOCOL = "tandem.msgpack.v1"
MAX_FRAME = 64 * 1024  # bytes; larger frames get a `too_large` error (the socket stays open)
MAX_TRANSPORT_FRAME = 1024 * 1024  # above this the server closes with 1009 (never read into memory)

# The server records its own events (joins, leaves) with ids under this prefix; clients may
# not use it, so a client's id never matches one of the server's and is never dropped as a duplicate.
SERVER_ID_PREFIX = "srv-"


class CloseCode(IntEnum):
    """Every close code the live socket uses; web/static/live/close_codes.js is generated from it."""

    NORMAL = 1000  # left on purpose
    GOING_AWAY = 1001  # server shutting down
    POLICY = 1008  # no hello, or a hello the server cannot honour
    TOO_BIG = 1009  # a frame over MAX_TRANSPORT_FRAME
    REVOKED = 4001  # not signed in, or signed out meanwhile
    BAD_ORIGIN = 4003  # a browser from another origin
    NO_SESSION = 4004  # no such session, or not a participant
    TOO_SLOW = 4008  # fell behind: resume from the position in the reason
    SESSION_ENDED = 4009
    UNLINKED = 4010  # no longer linked to this service user
    RATE_LIMITED = 4029


def close_codes_js() -> str:
    """The JavaScript module the live page imports, so the browser reads the same codes."""
    lines = [f"  {c.name}: {c.value}," for c in CloseCode]
    head = "// Generated from realtime.protocol.CloseCode by `python -m realtime.protocol`; do not edit.\n"
    return head + "export const CLOSE = Object.freeze({\n" + "\n".join(lines) + "\n});\n"


# Durable messages a client may send; each becomes a Command recorded in the store.
# Participant joins/leaves are recorded by the server from presence, never sent.
CLIENT_DURABLE = (set(JOURNEY) | set(SESSION)) - {"ParticipantJoined", "ParticipantLeft"}
# Only the control holder, with the current epoch, may send these (they move the other screen).
DRIVER_ONLY = {"TopicOpened", "SectionViewed", "VideoPlayed", "VideoPaused", "VideoSeeked", "nav", "scroll", "video"}

# Ephemeral messages: mirrored to the other device(s), never stored. name -> payload schema
EPHEMERAL: dict[str, dict[str, tuple[type | tuple[type, ...], bool]]] = {
    # A content location, never a URL: each client builds the same-origin path itself.
    "nav": {"topic_id": (str, False), "section_id": (str, False), "anchor": (str, False)},
    "scroll": {"section_id": (str, True), "fraction": ((int, float), True)},
    "video": {  # the driver's player state, stamped by the server on the way through
        "video_id": (str, True),
        "playing": (bool, True),
        "position_s": ((int, float), True),
        "rate": ((int, float), False),
        "buffering": (bool, False),
    },
    "draft": {"question_id": (str, True), "text": (str, True)},
    "pointer": {"x": ((int, float), True), "y": ((int, float), True)},
    "buffering": {"video_id": (str, True), "buffering": (bool, True)},  # either side: pause both
    "bench": {"n": (int, True), "t": ((int, float), True), "pad": (str, False)},
}
# Control messages a client sends to the hub itself.
CONTROL: dict[str, dict[str, tuple[type | tuple[type, ...], bool]]] = {
    "hello": {"last_position": (int, False), "device_kind": (str, False), "tab_id": (str, False)},
    "presence": {"visible": (bool, True), "following": (bool, False)},
    "leave": {},
    "ping": {"t": ((int, float), False)},
}
MAX_DRAFT = 10_000
LOCATION_KEYS = ("topic_id", "section_id", "anchor")
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")  # one path segment: a topic id or a section slug
_ANCHOR = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,99}$")  # an element id on the page
ENVELOPE_KEYS = {"type", "session", "seq", "position", "client_event_id", "epoch", "from", "ts", "payload"}


class ProtocolError(Exception):
    """A bad frame: answered with an error frame to that client only."""

    def __init__(self, code: str, message: str, field: str | None = None, ref: dict[str, Any] | None = None):
        super().__init__(message)
        self.code, self.message, self.field = code, message, field
        self.ref = ref or {}  # seq / client_event_id of the offending frame, when known


# code -> meaning; docs/protocol.md lists the same table
ERROR_CODES = {
    "bad_frame": "the frame is not valid JSON / msgpack, or not an object",
    "too_large": f"the frame is larger than {MAX_FRAME} bytes",
    "unknown_type": "no such message type",
    "missing_field": "a required envelope or payload field is missing",
    "invalid_field": "a field has the wrong type or value",
    "wrong_session": "the message names another session than this connection's",
    "not_driver": "only the person in control can do this",
    "stale_epoch": "the control epoch is old: someone else drives now",
    "forbidden": "your role cannot do this in this session",
    "not_in_session": "you are not a participant of this session",
    "session_ended": "the session has ended",
    "rate_limited": "too many messages; this one was dropped",
    "store_unavailable": "the store could not record this; retry with the same client_event_id",
    "conflict": "a concurrent change won; retry",
    "hello_first": "send hello before anything else",
}


@dataclass
class Envelope:
    type: str
    session: str | None = None
    seq: int | None = None
    position: int | None = None
    client_event_id: str | None = None
    epoch: int | None = None
    sender: str | None = None  # "from" on the wire
    ts: float | None = None
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def durable(self) -> bool:
        return self.type in CLIENT_DURABLE

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type}
        for k, v in (
            ("session", self.session),
            ("seq", self.seq),
            ("position", self.position),
            ("client_event_id", self.client_event_id),
            ("epoch", self.epoch),
            ("from", self.sender),
            ("ts", self.ts),
        ):
            if v is not None:
                d[k] = v
        d["payload"] = self.payload
        return d


# ------------------------------------------------------------------ encoding


def encode(message: dict[str, Any], binary: bool) -> str | bytes:
    if binary:
        packed: bytes = msgpack.packb(message, use_bin_type=True)
        return packed
    # orjson: a tenth of the stdlib's time, and encoding plus decoding was a tenth of the
    # server's CPU with 1,000 live sockets. It also refuses NaN and integers beyond 64 bits.
    return orjson.dumps(message).decode()


def decode(frame: str | bytes) -> dict[str, Any]:
    """Frame -> raw dict, enforcing the size limit. Text is JSON, bytes are msgpack."""
    size = len(frame.encode("utf-8", "replace")) if isinstance(frame, str) else len(frame)
    if size > MAX_FRAME:
        raise ProtocolError("too_large", f"frame of {size} bytes exceeds {MAX_FRAME}")
    try:
        obj = orjson.loads(frame) if isinstance(frame, str) else msgpack.unpackb(frame, raw=False, strict_map_key=True)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, TypeError) as exc:
        raise ProtocolError("bad_frame", f"cannot decode frame: {type(exc).__name__}") from None
    except Exception:  # msgpack raises a few odd types on garbage; all mean the same
        raise ProtocolError("bad_frame", "cannot decode frame") from None
    if isinstance(frame, str) and _LONG_NUMBER.search(frame):
        _check_integers(frame)
    if not isinstance(obj, dict):
        raise ProtocolError("bad_frame", "a frame must be an object")
    return obj


# orjson reads an integer beyond 64 bits as a float; only a text with a run of 19 or more
# digits can hold one, so only such a frame is read again to look at its integers.
_LONG_NUMBER = re.compile(r"\d{19}")


def _too_wide(literal: str) -> int:
    value = int(literal)
    if not -(2**63) <= value < 2**64:
        raise ProtocolError("bad_frame", "integer beyond 64 bits")
    return value


def _check_integers(text: str) -> None:
    json.loads(text, parse_int=_too_wide)


class Frame:
    """A server message encoded at most once per encoding, however many sockets get it."""

    __slots__ = ("_binary", "_text", "message")

    def __init__(self, message: dict[str, Any]):
        self.message = message
        self._text: str | None = None
        self._binary: bytes | None = None

    def data(self, binary: bool) -> str | bytes:
        if binary:
            if self._binary is None:
                self._binary = encode(self.message, True)  # type: ignore[assignment]
            return self._binary  # type: ignore[return-value]
        if self._text is None:
            self._text = encode(self.message, False)  # type: ignore[assignment]
        return self._text  # type: ignore[return-value]


# ------------------------------------------------------------------ validation


def parse(frame: str | bytes, session_id: str, catalogue: Catalogue | Content | None = None) -> Envelope:
    """Decode and validate one client frame for a connection bound to `session_id`;
    content references in ephemeral messages are checked against `catalogue`."""
    raw = decode(frame)
    ref = {
        k: raw[k]
        for k in ("seq", "client_event_id")
        if isinstance(raw.get(k), (int, str)) and not isinstance(raw.get(k), bool)
    }
    try:
        env = _validate(raw, session_id)
        if env.type == "nav":
            env.payload = check_location(env.payload, catalogue)
        return env
    except ProtocolError as exc:
        exc.ref = ref
        raise


def _validate(raw: dict[str, Any], session_id: str) -> Envelope:
    t = raw.get("type")
    if t is None:
        raise ProtocolError("missing_field", "type is required", "type")
    if not isinstance(t, str):
        raise ProtocolError("invalid_field", "type must be a string", "type")
    if t not in CLIENT_DURABLE and t not in EPHEMERAL and t not in CONTROL:
        raise ProtocolError("unknown_type", f"unknown message type {t[:40]!r}", "type")
    unknown = set(raw) - ENVELOPE_KEYS
    if unknown:
        raise ProtocolError("invalid_field", "unexpected envelope field", str(sorted(map(str, unknown))[0])[:40])
    session = raw.get("session")
    if session is not None and session != session_id:
        raise ProtocolError("wrong_session", "this connection belongs to another session", "session")
    seq = _opt_int(raw, "seq")
    epoch = _opt_int(raw, "epoch")
    payload = raw.get("payload", {})
    if not isinstance(payload, dict):
        raise ProtocolError("invalid_field", "payload must be an object", "payload")
    cid = raw.get("client_event_id")
    if t in CLIENT_DURABLE:
        if cid is None:
            raise ProtocolError("missing_field", "durable messages need a client_event_id", "client_event_id")
        if not isinstance(cid, str) or not 8 <= len(cid) <= 100:
            raise ProtocolError("invalid_field", "client_event_id must be 8 to 100 characters", "client_event_id")
        if cid.startswith(SERVER_ID_PREFIX):
            raise ProtocolError(
                "invalid_field", f"client_event_id may not start with {SERVER_ID_PREFIX!r}", "client_event_id"
            )
        # Payload fields are checked by the core's validate() before anything is stored.
    else:
        if cid is not None and not isinstance(cid, str):
            raise ProtocolError("invalid_field", "client_event_id must be a string", "client_event_id")
        _check_payload(payload, EPHEMERAL.get(t) or CONTROL[t])
    if t in DRIVER_ONLY and epoch is None:
        raise ProtocolError("missing_field", "navigation must carry the control epoch", "epoch")
    if t == "scroll" and not 0 <= payload["fraction"] <= 1:
        raise ProtocolError("invalid_field", "fraction must be between 0 and 1", "fraction")
    if t == "draft" and len(payload["text"]) > MAX_DRAFT:
        raise ProtocolError("invalid_field", "draft too long", "text")
    return Envelope(type=t, session=session_id, seq=seq, client_event_id=cid, epoch=epoch, payload=payload)


def check_location(payload: dict[str, Any], catalogue: Catalogue | Content | None) -> dict[str, Any]:
    """A `nav` payload -> the content location it names (only its known keys). No topic is
    the session's lobby; a section must belong to its topic; both must exist in the content."""
    unknown = set(payload) - set(LOCATION_KEYS)
    if unknown:
        raise ProtocolError("invalid_field", "unexpected payload field", str(sorted(map(str, unknown))[0])[:40])
    topic, section, anchor = (payload.get(k) for k in LOCATION_KEYS)
    for name, value in (("topic_id", topic), ("section_id", section), ("anchor", anchor)):
        if value is not None and not isinstance(value, str):
            raise ProtocolError("invalid_field", f"{name} must be a string", name)
    if topic is not None and not _SEGMENT.match(topic):
        raise ProtocolError("invalid_field", "topic_id is not a topic id", "topic_id")
    if section is not None:
        if topic is None:
            raise ProtocolError("missing_field", "a section needs its topic_id", "topic_id")
        owner, _, slug = section.partition("/")
        if owner != topic or not _SEGMENT.match(slug):
            raise ProtocolError("invalid_field", "section_id must be topic_id/slug of that topic", "section_id")
    if anchor is not None and not _ANCHOR.match(anchor):
        raise ProtocolError("invalid_field", "anchor must be an element id", "anchor")
    if catalogue is not None:
        if topic is not None and not knows(catalogue, "topic", topic):
            raise ProtocolError("invalid_field", "unknown topic", "topic_id")
        if section is not None and not knows(catalogue, "section", section):
            raise ProtocolError("invalid_field", "unknown section", "section_id")
    return {k: v for k, v in (("topic_id", topic), ("section_id", section), ("anchor", anchor)) if v is not None}


def _opt_int(raw: dict[str, Any], key: str) -> int | None:
    v = raw.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**53:
        raise ProtocolError("invalid_field", f"{key} must be a non-negative integer", key)
    return v


def _check_payload(payload: dict[str, Any], schema: dict[str, tuple[type | tuple[type, ...], bool]]) -> None:
    for name in payload:
        if name not in schema:
            raise ProtocolError("invalid_field", "unexpected payload field", str(name)[:40])
    for name, (kind, required) in schema.items():
        if name not in payload or payload[name] is None:
            if required:
                raise ProtocolError("missing_field", f"{name} is required", name)
            continue
        v = payload[name]
        if isinstance(v, bool) and kind is not bool:
            raise ProtocolError("invalid_field", f"{name} has the wrong type", name)
        if not isinstance(v, kind):
            raise ProtocolError("invalid_field", f"{name} has the wrong type", name)
        if isinstance(v, float) and not math.isfinite(v):
            raise ProtocolError("invalid_field", f"{name} must be finite", name)
        if isinstance(v, int) and not isinstance(v, bool) and not -(2**53) <= v <= 2**53:
            raise ProtocolError("invalid_field", f"{name} is out of range", name)
        if isinstance(v, str) and len(v) > MAX_DRAFT:
            raise ProtocolError("invalid_field", f"{name} is too long", name)


# ------------------------------------------------------------------ server messages


def error(code: str, message: str, field: str | None = None, ref: dict[str, Any] | None = None) -> dict[str, Any]:
    m: dict[str, Any] = {"type": "error", "payload": {"code": code, "message": message, "field": field}}
    if ref:
        m.update({k: v for k, v in ref.items() if k in ("seq", "client_event_id")})
    return m


def to_wire(value: Any) -> Any:
    """Event field values -> JSON/msgpack-safe values (UUIDs and datetimes as strings)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): to_wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_wire(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


if __name__ == "__main__":
    from pathlib import Path

    Path(__file__).parent.parent.joinpath("web/static/live/close_codes.js").write_text(close_codes_js())
