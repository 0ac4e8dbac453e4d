"""What a client may ask the core to record, and how each request is checked.

A command is plain data: the web and realtime layers build one from a form, a
JSON body or a WebSocket frame and pass it with the authenticated actor to
`Tandem.record`. Validation here needs no I/O; the checks that need state (is the
actor in that session, is the link active) happen in the writer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from core.errors import InvalidField, UnknownCommand

ROLES = ("service_user", "worker", "researcher", "admin")
MAX_CLIENT_EVENT_ID = 100
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./:-]{0,199}$")
_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # ids clients make up: used in element ids
EARLIEST_DATE = date(2000, 1, 1)  # a chart point's for_date is from here to tomorrow (UTC)


@dataclass(frozen=True)
class Actor:
    """An authenticated person on one device."""

    user_id: UUID
    role: str
    device: str = "web"


@dataclass(frozen=True)
class Command:
    type: str
    payload: Mapping[str, Any]
    client_event_id: str
    session_id: UUID | None = None
    client_time: datetime | None = None
    content_version: str | None = None


@dataclass(frozen=True)
class Recorded:
    """The acknowledgement: the event is committed at `position` in the global log."""

    position: int
    event_id: str
    duplicate: bool = False


@dataclass(frozen=True)
class Field:
    kind: str  # id | token | text | number | int | date | uuid | values | choice
    required: bool = True
    max_len: int = 200
    low: float = 0
    high: float = 86_400
    choices: tuple[str, ...] = ()


ID = Field("id")
OPT_ID = Field("id", required=False)
SECONDS = Field("number")
TEXT_ANSWER = Field("text", max_len=10_000)
TEXT_ITEM = Field("text", max_len=1_000)
SCOPE = Field("choice", choices=("topic", "answer", "tracker", "worksheet"))
SUGGESTION = Field("token")

# Journey actions go to the service user's journey, alone or in a joint session.
JOURNEY: dict[str, dict[str, Field]] = {
    "TopicOpened": {"topic_id": ID},
    "SectionViewed": {"section_id": ID, "seconds_on_screen": Field("number", required=False)},
    "VideoPlayed": {"video_id": ID, "position_s": SECONDS},
    "VideoPaused": {"video_id": ID, "position_s": SECONDS},
    "VideoSeeked": {"video_id": ID, "from_s": SECONDS, "to_s": SECONDS},
    "VideoProgressed": {"video_id": ID, "percent": Field("int", high=100), "position_s": SECONDS},
    "VideoCompleted": {"video_id": ID},
    "AnswerSaved": {"question_id": ID, "answer": TEXT_ANSWER},
    "ChartPointRecorded": {"tracker_id": ID, "values": Field("values"), "for_date": Field("date")},
    "WorksheetItemAdded": {"worksheet_id": ID, "item_id": ID, "text": TEXT_ITEM},
    "WorksheetItemChanged": {"worksheet_id": ID, "item_id": ID, "text": TEXT_ITEM},
    "WorksheetItemRemoved": {"worksheet_id": ID, "item_id": ID},
    "ItemShared": {"scope": SCOPE, "ref": ID},
    "ItemUnshared": {"scope": SCOPE, "ref": ID},
}

# Joint-session events go to the session; the session must exist and not have ended.
SESSION: dict[str, dict[str, Field]] = {
    "ParticipantJoined": {"device_kind": Field("choice", choices=("phone", "tablet", "desktop", "unknown"))},
    "ParticipantLeft": {"reason": Field("text", required=False, max_len=200)},
    "ControlRequested": {},
    "ControlRefused": {},
    "ControlHandedOver": {"to_user": Field("uuid")},
    "SuggestionMade": {"suggestion_id": SUGGESTION, "topic_id": ID, "section_id": OPT_ID},
    "SuggestionAccepted": {"suggestion_id": SUGGESTION},
    "SuggestionDismissed": {"suggestion_id": SUGGESTION},
    "MirroringPaused": {},
    "MirroringResumed": {},
    "ChartShown": {"tracker_id": ID},
    "ChartHidden": {"tracker_id": ID},
    "SessionEnded": {"reason": Field("text", required=False, max_len=200)},
}

CONSENT: dict[str, dict[str, Field]] = {
    "ConsentGiven": {"scope": Field("choice", choices=("research",))},
    "ConsentWithdrawn": {"scope": Field("choice", choices=("research",))},
}

SCHEMAS: dict[str, dict[str, Field]] = {**JOURNEY, **SESSION, **CONSENT}

# Which content catalogue each reference field must be found in.
REFERENCES = {
    "topic_id": "topic",
    "section_id": "section",
    "video_id": "video",
    "question_id": "question",
    "tracker_id": "tracker",
    "worksheet_id": "worksheet",
}

# What a shared item's `ref` names, by its scope.
SHARE_KINDS = {"topic": "topic", "answer": "question", "tracker": "tracker", "worksheet": "worksheet"}

Catalogue = Callable[[str, str], bool]  # (kind, id) -> does the current content have it?
Scale = tuple[float, float, float]  # a measure's (lowest, highest, step)


@runtime_checkable
class Content(Protocol):
    """The content set as the validator needs it: its ids and its trackers' scales."""

    def knows(self, kind: str, id: str) -> bool: ...

    def scale(self, tracker_id: str) -> Mapping[str, Scale]: ...


def knows(catalogue: Catalogue | Content, kind: str, id: str) -> bool:
    return catalogue.knows(kind, id) if isinstance(catalogue, Content) else catalogue(kind, id)


def validate(command: Command, catalogue: Catalogue | Content | None = None) -> dict[str, Any]:
    """Check a command's shape and, given the content, every reference and reading in it;
    return its payload with values normalised. HTTP and the live socket both come here."""
    schema = SCHEMAS.get(command.type)
    if schema is None:
        raise UnknownCommand(f"unknown command type {command.type!r}", "type")
    cid = command.client_event_id
    if not isinstance(cid, str) or not 8 <= len(cid) <= MAX_CLIENT_EVENT_ID or not cid.isprintable():
        raise InvalidField(f"must be 8 to {MAX_CLIENT_EVENT_ID} printable characters", "client_event_id")
    if command.content_version is not None and (
        not isinstance(command.content_version, str) or len(command.content_version) > 64
    ):
        raise InvalidField("must be a string of at most 64 characters", "content_version")
    if not isinstance(command.payload, Mapping):
        raise InvalidField("must be an object", "payload")
    unknown = set(command.payload) - set(schema)
    if unknown:
        raise InvalidField(f"unexpected field for {command.type}", sorted(unknown)[0])
    clean: dict[str, Any] = {}
    for name, spec in schema.items():
        value = command.payload.get(name)
        if value is None:
            if spec.required:
                raise InvalidField("is required", name)
            clean[name] = None
            continue
        clean[name] = _check(name, spec, value)
        kind = REFERENCES.get(name)
        if kind and catalogue is not None and not knows(catalogue, kind, clean[name]):
            raise InvalidField(f"unknown {kind} {clean[name]!r}", name)
    _check_together(command.type, clean, catalogue)
    return clean


def _check_together(type: str, clean: dict[str, Any], catalogue: Catalogue | Content | None) -> None:
    """The checks that need more than one field, or the content beyond its ids."""
    section = clean.get("section_id") if type == "SuggestionMade" else None
    if section is not None and not section.startswith(f"{clean['topic_id']}/"):
        raise InvalidField("must be a section of that topic", "section_id")
    if catalogue is None:
        return
    if type in ("ItemShared", "ItemUnshared"):
        kind = SHARE_KINDS[clean["scope"]]
        if not knows(catalogue, kind, clean["ref"]):
            raise InvalidField(f"unknown {kind} {clean['ref']!r}", "ref")
    if type == "ChartPointRecorded" and isinstance(catalogue, Content):
        scale = catalogue.scale(clean["tracker_id"])
        for measure, value in clean["values"].items():
            if measure not in scale:
                raise InvalidField(f"{clean['tracker_id']} has no measure {measure!r}", "values")
            low, high, step = scale[measure]
            steps = (value - low) / step if step > 0 else 0.0
            if not low <= value <= high or abs(steps - round(steps)) > 1e-6:
                raise InvalidField(f"{measure} must be from {low:g} to {high:g} in steps of {step:g}", "values")


def _check(name: str, spec: Field, value: Any) -> Any:
    if spec.kind == "id":
        if not isinstance(value, str) or not _ID.match(value):
            raise InvalidField("must be an id of letters, digits and / . _ - : (at most 200)", name)
        return value
    if spec.kind == "text":
        if not isinstance(value, str):
            raise InvalidField("must be text", name)
        if len(value) > spec.max_len:
            raise InvalidField(f"is too long ({len(value)} characters, at most {spec.max_len})", name)
        if spec.required and not value.strip():
            raise InvalidField("must not be empty", name)
        if "\x00" in value:
            raise InvalidField("must not contain NUL characters", name)
        return value
    if spec.kind in ("number", "int"):
        number = _number(value)
        if number is None:
            raise InvalidField("must be a number", name)
        if spec.kind == "int" and isinstance(value, float) and not value.is_integer():
            raise InvalidField("must be a whole number", name)
        if not spec.low <= number <= spec.high:
            raise InvalidField(f"must be between {spec.low:g} and {spec.high:g}", name)
        return int(value) if spec.kind == "int" else number
    if spec.kind == "token":
        if not isinstance(value, str) or not _TOKEN.match(value):
            raise InvalidField("must be an id of letters, digits, - and _ (at most 64)", name)
        return value
    if spec.kind == "date":
        try:
            day = date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
        except ValueError:
            day = None
        if day is None:
            raise InvalidField("must be a date YYYY-MM-DD", name)
        # Tomorrow is allowed: it is already tomorrow somewhere when it is today in UTC.
        if not EARLIEST_DATE <= day <= datetime.now(UTC).date() + timedelta(days=1):
            raise InvalidField(f"must be from {EARLIEST_DATE.isoformat()} to tomorrow", name)
        return day.isoformat()
    if spec.kind == "uuid":
        try:
            return UUID(str(value))
        except ValueError:
            raise InvalidField("must be a user id", name) from None
    if spec.kind == "choice":
        if value not in spec.choices:
            raise InvalidField(f"must be one of {', '.join(spec.choices)}", name)
        return value
    if spec.kind == "values":
        ok = isinstance(value, Mapping) and 0 < len(value) <= 5
        ok = ok and all(isinstance(k, str) and _ID.match(k) for k in value)
        numbers = {k: _number(v) for k, v in value.items()} if ok else {}
        if not ok or not all(n is not None and -1e6 < n < 1e6 for n in numbers.values()):
            raise InvalidField("must map 1 to 5 measure ids to numbers", name)
        return numbers
    raise AssertionError(spec.kind)


def _number(value: Any) -> float | None:
    """A JSON number as a float (±inf when an integer is beyond a float's range); None for
    anything else, NaN and infinite floats included."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:  # float(10**400) cannot be done; such a value is out of every range
            return math.inf if value > 0 else -math.inf
    return value if math.isfinite(value) else None


@dataclass
class Pending:
    """A unit of work for the writer: the events one request produces."""

    key: tuple[str, str] | None  # (actor id, client event id) for idempotency
    build: Callable[[Any], list[Any]]  # given the writer's context, return the events; the first is acknowledged
