"""Take your data: everything Tandem holds about one SU as a ZIP, written as it streams.

The ZIP holds README.md (what each field means), events.json (every event of their journey,
their joint sessions and their consent record, answers decrypted for them) and report.html
(their timeline and charts, self-contained: it opens offline). Entries are written through
zipfile into a small buffer that is handed out after each piece, so a two-year journey is
never held in memory whole; events are read from the store a slice of versions at a time.
"""

from __future__ import annotations

import asyncio
import json
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import IO, Any
from uuid import UUID

from content.model import ContentSet
from core import aggregates as A
from core.commands import Actor
from web import texts
from web.usecases import overview as O

SLICE = 500  # events read and decoded at a time
Progress = Callable[[int], None]
_SEALED = {"answer", "text", "display_name"}  # sealed with the person's key


@dataclass(frozen=True)
class Plan:
    su_id: UUID
    username: str
    display_name: str
    streams: tuple[tuple[UUID, int], ...]  # (aggregate id, last version): journey, consent, each session
    total: int  # events, for a progress bar
    filename: str
    tandem: Any
    views: Any


def plan(tandem: Any, views: Any, su_id: UUID) -> Plan:
    account = tandem.account(su_id)
    if account is None or account.role != "service_user":
        raise LookupError("no such service user")
    if account.erased:
        raise PermissionError("this person was erased: there is nothing of theirs to export")
    ids = [su_id, A.journey_id(su_id), A.consent_id(su_id)]  # the account, without its password hash
    ids += [UUID(r["session_id"]) for r in views.sessions.for_su(su_id)]
    streams = tuple((i, tandem.log.recorder.last_version(i)) for i in ids)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    return Plan(
        su_id,
        account.username,
        tandem.display_name(account),
        streams,
        sum(v for _, v in streams),
        f"tandem-{account.username}-{stamp}.zip",
        tandem,
        views,
    )


def record_export(tandem: Any, actor: Actor) -> None:
    tandem.record_export(actor)


class _Pipe:
    """A write-only file zipfile writes into; `take` hands out what has been written since."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.offset = 0

    def write(self, b: bytes) -> int:
        self.parts.append(bytes(b))
        self.offset += len(b)
        return len(b)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


def _event_json(plan: Plan, pos: int, ev: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for k, v in vars(ev).items():
        if k in ("originator_topic", "password_hash"):
            continue
        if k in _SEALED and isinstance(v, dict):
            v = texts.reveal_text(plan.tandem, plan.su_id, v)
        fields[k] = v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, UUID) else v
    stream = type(ev).__qualname__.split(".")[0]
    return {"position": pos, "stream": stream, "type": type(ev).__name__, **fields}


def events(plan: Plan, progress: Progress | None = None) -> Iterator[dict[str, Any]]:
    for stream_id, last in plan.streams:
        for first in range(1, last + 1, SLICE):
            batch = plan.tandem.log.span(stream_id, first, min(first + SLICE - 1, last))
            for pos, ev in batch:
                yield _event_json(plan, pos, ev)
            if progress:
                progress(len(batch))


README = """# Your data from Tandem

This download holds everything Tandem keeps about you ({name}, username `{username}`),
as it was on {stamp}.

- `report.html`: your timeline and charts, to read in any web browser (it works offline).
- `events.json`: every action recorded on your journey, in your joint sessions and on your
  research-consent record, oldest first, one JSON object each. Your answers and worksheet
  items are decrypted for you.

## Fields of each event in events.json

| field | meaning |
| --- | --- |
| `position` | the event's place in Tandem's log (a larger number happened later) |
| `stream` | what it belongs to: `Journey` (your own journey), `JointSession` (a meeting with your worker), `Consent` |
| `type` | what happened, e.g. `VideoProgressed`, `AnswerSaved`, `ChartPointRecorded`, `SessionStarted` |
| `originator_id` | the id of your journey, the session or your consent record |
| `originator_version` | the event's number within that stream, from 1 |
| `timestamp` | when Tandem recorded it (UTC) |
| `event_id` | a unique id of this event |
| `actor_id`, `actor_role` | who did it (you, or your worker in a joint session) |
| `device` | the kind of device it was done on |
| `session_id` | the joint session it happened in, or null when you were on your own |
| `client_time` | the time your device reported, if it sent one |
| `content_version` | the version of Tandem's topics and videos on screen at the time |
| `client_event_id` | the id your device gave the action (so a retry is stored once) |
| `topic_id`, `section_id`, `video_id`, `question_id`, `tracker_id`, `worksheet_id` | what the action was about |
| `position_s`, `from_s`, `to_s`, `percent`, `seconds_on_screen` | video positions (seconds), how much was watched, time on a page |
| `answer`, `text` | what you wrote (decrypted; "(this text was erased)" if it can no longer be read) |
| `values`, `for_date` | a chart entry: the measures and the day it is about |
| `item_id` | a worksheet item |
| `scope`, `ref` | something you shared with your worker, or stopped sharing |
| `worker_id`, `su_id`, `same_device`, `started_by`, `user_id`, `device_kind`, `to_user`, `epoch`, `reason`, `suggestion_id` | joint-session details: who took part, who drove, suggestions, how it ended |
"""

STYLE = (
    "body{font-family:system-ui,sans-serif;color:#1d2b33;background:#faf8f3;max-width:48rem;margin:0 auto;"
    "padding:1rem;line-height:1.5}h1,h2,h3{line-height:1.25}li{margin:.2rem 0}.hint{color:#4a5a63}"
    "table{border-collapse:collapse}td,th{border:1px solid #d5dcdf;padding:.2rem .5rem;text-align:left}"
    "svg{max-width:100%;height:auto;background:#fff}"
)


def report(plan: Plan, content: ContentSet) -> Iterator[str]:
    """The readable report, a piece at a time: the whole timeline, then each chart."""
    from web.usecases.journey import describe

    yield (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Tandem: {escape(plan.display_name)}'
        f'</title><meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style>'
        f"</head><body><h1>Your journey in Tandem</h1><p class=hint>{escape(plan.display_name)}, "
        f"downloaded {datetime.now(UTC):%-d %B %Y}.</p><h2>Timeline</h2>"
    )
    journey = plan.views.journey
    before: int | None = None
    day = None
    names: dict[str, str] = {}
    while True:
        rows = journey.entries(plan.su_id, before=before, limit=SLICE)
        if not rows:
            break
        visits = journey.visits(sorted({r["visit"] for r in rows}))
        for r in rows:
            visit = visits.get(r["visit"])
            wid = visit["worker_id"] if visit else None
            if wid and wid not in names:
                acc = plan.views.directory.account(wid) or {}
                names[wid] = str(acc.get("display_name") or "your worker").split(" ")[0]
            if r["day"] != day:
                yield ("</ul>" if day else "") + f"<h3>{escape(r['day'])}</h3><ul>"
                day = r["day"]
            text = describe(r, visit, content, "You", names.get(wid) if wid else None)
            yield f"<li>{escape(r['at'][11:16])} · {escape(text)}</li>"
        before = rows[-1]["position"]
    yield ("</ul>" if day else "<p>Nothing yet.</p>") + "<h2>Charts</h2>"
    joint = O.joint_days(plan.views, plan.su_id)
    for t in content.trackers:
        series = plan.views.trackers.series(plan.su_id, t.id)
        if not series:
            continue
        chart = O.chart_for(t, series, joint, 92)
        yield f"<h3>{escape(t.title)} ({chart.start} to {chart.end})</h3>"
        for m in chart.measures:
            yield m.svg
            yield f"<table><caption>{escape(m.measure.label)}</caption><tr><th>Day</th><th>Value</th><th>Joint session</th></tr>"
            yield "".join(
                f"<tr><td>{r.day}</td><td>{escape(r.text)}</td><td>{'yes' if r.joint else ''}</td></tr>" for r in m.rows
            )
            yield "</table>"
    yield "</body></html>"


def zip_chunks(plan: Plan, content: ContentSet, progress: Progress | None = None) -> Iterator[bytes]:
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED) as zf:  # type: ignore[call-overload]  # a write-only stream, which zipfile supports
        stamp = datetime.now(UTC).strftime("%-d %B %Y")
        zf.writestr("README.md", README.format(name=plan.display_name, username=plan.username, stamp=stamp))
        yield pipe.take()
        with zf.open("events.json", "w") as f:
            yield from _json_array(f, pipe, events(plan, progress))
        with zf.open("report.html", "w") as f:
            for piece in report(plan, content):
                f.write(piece.encode())
                if len(pipe.parts) > 8:
                    yield pipe.take()
        yield pipe.take()
    yield pipe.take()


def _json_array(f: IO[bytes], pipe: _Pipe, items: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    f.write(b"[\n")
    first = True
    for item in items:
        f.write((b"" if first else b",\n") + json.dumps(item, ensure_ascii=False).encode())
        first = False
        if len(pipe.parts) > 8:
            yield pipe.take()
    f.write(b"\n]\n")


async def iterate_in_thread(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Each piece is made off the event loop (store reads, decryption, compression)."""
    done = object()
    while True:
        piece = await asyncio.to_thread(next, chunks, done)
        if piece is done:
            return
        if piece:
            yield piece  # type: ignore[misc]
