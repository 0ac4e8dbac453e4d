"""Study exports, streamed a participant at a time: CSV, JSON Lines and xAPI 1.0.3 statements.

Every export goes through `export_stream`, after web/usecases/research.py has checked the
study and the options; the caller records the audit event.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from web.usecases import research as uc

HOME = "https://tandem.example"
VIDEO = "https://w3id.org/xapi/video"
ADL = "http://adlnet.gov/expapi/verbs"
VERBS = {
    "initialized": f"{ADL}/initialized",
    "played": f"{VIDEO}/verbs/played",
    "paused": f"{VIDEO}/verbs/paused",
    "seeked": f"{VIDEO}/verbs/seeked",
    "completed": f"{ADL}/completed",
    "terminated": f"{ADL}/terminated",
    "experienced": f"{ADL}/experienced",
    "answered": f"{ADL}/answered",
    "interacted": f"{ADL}/interacted",
}
EXT = {
    k: f"{VIDEO}/extensions/{k}"
    for k in (
        "time",
        "time-from",
        "time-to",
        "progress",
        "played-segments",
        "length",
        "completion-threshold",
        "session-id",
    )
}
MODE_EXT = f"{HOME}/xapi/extensions/mode"
STUDY_DAY_EXT = f"{HOME}/xapi/extensions/study-day"

EXPORTS: dict[str, str] = {
    "events.csv": "text/csv; charset=utf-8",
    "sessions.csv": "text/csv; charset=utf-8",
    "events.jsonl": "application/x-ndjson",
    "xapi.jsonl": "application/x-ndjson",
    "parquet.zip": "application/zip",
}
FORMATS = {"csv": "events.csv", "sessions": "sessions.csv", "jsonl": "events.jsonl", "xapi": "xapi.jsonl"}


Wrap = Callable[[list[uc.Participant]], Iterable[uc.Participant]]


def export_stream(
    state: Any, study: uc.Study, name: str, opts: uc.ExportOptions, wrap: Wrap = lambda ps: ps
) -> tuple[str, Iterator[bytes]]:
    """(media type, the export's bytes in chunks) over the participants consenting right now.
    `wrap` sees the participants as they are written (the command line's progress bar)."""
    views, tandem, content = state.projections, state.tandem, state.content
    people = uc.participants(views, study)
    if name == "events.csv":
        chunks: Iterator[str] = _csv_events(views, study, wrap(people), opts, tandem.reveal)
    elif name == "sessions.csv":
        chunks = _csv_sessions(views, study, wrap(people), opts)
    elif name == "events.jsonl":
        chunks = (json.dumps(r) + "\n" for _, r in uc.event_records(views, study, wrap(people), opts, tandem.reveal))
    elif name == "xapi.jsonl":
        chunks = (json.dumps(s) + "\n" for s in statements(views, content, study, people, opts, tandem.reveal, wrap))
    elif name == "parquet.zip":
        return EXPORTS[name], _zipped_parquet(state, study, opts, wrap)
    else:
        raise KeyError(name)
    return EXPORTS[name], _batched(chunks)


PARQUET_ROWS = 100_000  # rows per file: DuckDB and Spark read the files of a partition in parallel


def write_parquet(state: Any, study: uc.Study, opts: uc.ExportOptions, out: Path, wrap: Wrap = lambda ps: ps) -> int:
    """The study's events as Parquet partitioned by arm (hive style: out/arm=ID/part-N.parquet).
    Returns the number of rows. Rows go out a file's worth at a time, never all at once."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = uc.CSV_EVENT_COLUMNS + (("answer_text",) if opts.text else ())
    kinds = {"study_day": pa.int32(), "value": pa.float64(), "value2": pa.float64()}
    schema = pa.schema([(c, kinds.get(c, pa.string())) for c in cols if c != "arm"])
    views, tandem = state.projections, state.tandem
    buffers: dict[str, list[dict[str, Any]]] = {}
    files: dict[str, int] = {}
    total = 0

    def flush(arm: str) -> None:
        rows = buffers.pop(arm, [])
        if rows:
            part = out / f"arm={arm}"
            part.mkdir(parents=True, exist_ok=True)
            n = files[arm] = files.get(arm, -1) + 1
            table = pa.Table.from_pylist([{c: r.get(c) for c in schema.names} for r in rows], schema=schema)
            pq.write_table(table, part / f"part-{n:05d}.parquet", compression="zstd")

    people = uc.participants(views, study)
    for _p, rec in uc.event_records(views, study, wrap(people), opts, tandem.reveal):
        buf = buffers.setdefault(rec["arm"], [])
        buf.append(rec)
        total += 1
        if len(buf) >= PARQUET_ROWS:
            flush(rec["arm"])
    for arm in list(buffers):
        flush(arm)
    return total


def _zipped_parquet(state: Any, study: uc.Study, opts: uc.ExportOptions, wrap: Wrap) -> Iterator[bytes]:
    """The partitioned Parquet files in one zip, built on disk and sent in chunks."""
    import shutil
    import tempfile
    import zipfile

    tmp = Path(tempfile.mkdtemp(prefix="tandem-export-"))
    try:
        write_parquet(state, study, opts, tmp / "events", wrap)
        archive = tmp / "export.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
            for f in sorted((tmp / "events").rglob("*.parquet")):
                z.write(f, f"{study.code}-events/{f.relative_to(tmp / 'events')}")
        with archive.open("rb") as fh:
            while chunk := fh.read(256 * 1024):
                yield chunk
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _batched(lines: Iterator[str], size: int = 64 * 1024) -> Iterator[bytes]:
    buf: list[str] = []
    n = 0
    for line in lines:
        buf.append(line)
        n += len(line)
        if n >= size:
            yield "".join(buf).encode()
            buf, n = [], 0
    if buf:
        yield "".join(buf).encode()


def _csv_events(
    views: Any, study: uc.Study, people: Iterable[uc.Participant], opts: uc.ExportOptions, reveal: Any
) -> Iterator[str]:
    cols = uc.CSV_EVENT_COLUMNS + (("answer_text",) if opts.text else ())
    yield uc.csv_line(cols)
    for _, rec in uc.event_records(views, study, people, opts, reveal):
        yield uc.csv_line(rec.get(c) for c in cols)


def _csv_sessions(
    views: Any, study: uc.Study, people: Iterable[uc.Participant], opts: uc.ExportOptions
) -> Iterator[str]:
    yield uc.csv_line(uc.CSV_SESSION_COLUMNS)
    for rec in uc.session_records(views, study, people, opts):
        yield uc.csv_line(rec.get(c) for c in uc.CSV_SESSION_COLUMNS)


# ------------------------------------------------------------------ xAPI


def _agent(study: uc.Study, name: str) -> dict[str, Any]:
    return {"objectType": "Agent", "account": {"homePage": f"{HOME}/studies/{study.code}", "name": name}}


def _activity(kind: str, ref: str, title: str | None = None, type_: str | None = None) -> dict[str, Any]:
    act: dict[str, Any] = {"objectType": "Activity", "id": f"{HOME}/content/{kind}/{ref}"}
    definition: dict[str, Any] = {}
    if title:
        definition["name"] = {"en-GB": title}
    if type_:
        definition["type"] = type_
    if definition:
        act["definition"] = definition
    return act


def _segments(spans: list[tuple[float, float]]) -> str:
    return "[,]".join(f"{a:.3f}[.]{b:.3f}" for a, b in spans)


class _Video:
    """One viewing of one video (initialized .. terminated), for the profile's extensions."""

    def __init__(self, video_id: str, session: UUID, length: float | None):
        self.video_id, self.session, self.length = video_id, session, length
        self.spans: list[tuple[float, float]] = []
        self.open_from: float | None = None

    def close(self, at: float) -> None:
        if self.open_from is not None and at > self.open_from:
            self.spans.append((self.open_from, at))
        self.open_from = None

    def progress(self) -> float:
        if not self.length:
            return 0.0
        covered, end = 0.0, 0.0
        for a, b in sorted(self.spans):
            a = max(a, end)
            if b > a:
                covered, end = covered + b - a, b
        return round(min(1.0, covered / self.length), 3)


def statements(
    views: Any,
    content: Any,
    study: uc.Study,
    people: list[uc.Participant],
    opts: uc.ExportOptions,
    reveal: Any,
    wrap: Wrap = lambda ps: ps,
) -> Iterator[dict[str, Any]]:
    ns = uuid5(NAMESPACE_URL, f"{HOME}/studies/{study.code}/{study.secret[:16]}")
    titles = _titles(content)
    team_of: dict[str, dict[str, Any]] = {}
    for p in people:
        for s in views.research.sessions([p.su_id], study.start, study.end_excl):
            if s["mode"] == "joint" and s["worker_id"]:
                team_of[uc.session_ref(study.secret, p.su_id, s["key"])] = {
                    "objectType": "Group",
                    "member": [_agent(study, "w-" + uc.pseudonym(study.secret, "worker:" + s["worker_id"])[2:])],
                }
    lengths = {v.id: float(v.duration_s) for v in content.videos}
    seq = 0
    current: dict[str, _Video | None] = {}
    last: tuple[uc.Participant, dict[str, Any]] | None = None

    def finish(stmt: dict[str, Any], p: uc.Participant, rec: dict[str, Any]) -> dict[str, Any]:
        nonlocal seq
        seq += 1
        stmt["id"] = str(uuid5(ns, f"{p.pseudonym}:{seq}"))
        stmt["version"] = "1.0.3"
        ctx = stmt.setdefault("context", {})
        ctx.setdefault("extensions", {})[MODE_EXT] = rec["mode"]
        ctx["extensions"][STUDY_DAY_EXT] = rec["study_day"]
        if rec["session"]:
            ctx["registration"] = str(uuid5(ns, rec["session"]))
            if rec["session"] in team_of:
                ctx["team"] = team_of[rec["session"]]
        return stmt

    for p, rec in uc.event_records(views, study, wrap(people), opts, reveal):
        if last is not None and last[0] is not p:
            yield from (finish(s, *last) for s in _terminate(study, *last, current, titles))
        last = (p, rec)
        for stmt in _for_event(study, p, rec, current, titles, lengths):
            yield finish(stmt, p, rec)
    if last is not None:
        yield from (finish(s, *last) for s in _terminate(study, *last, current, titles))


def _terminate(
    study: uc.Study, p: uc.Participant, rec: dict[str, Any], current: dict[str, _Video | None], titles: dict[str, str]
) -> Iterator[dict[str, Any]]:
    """A viewing still open when the participant's events end is terminated where it stood."""
    v = current.pop(p.pseudonym, None)
    if v is not None:
        at = v.open_from or 0.0
        v.close(at)
        base = {"actor": _agent(study, p.pseudonym), "timestamp": rec["at"]}
        yield _video_stmt(base, "terminated", v, titles, {EXT["time"]: at, **_progress(v)})


def _progress(v: _Video) -> dict[str, Any]:
    return {EXT["progress"]: v.progress(), EXT["played-segments"]: _segments(v.spans)}


def _video_stmt(
    base: dict[str, Any], verb: str, v: _Video, titles: dict[str, str], result_ext: dict[str, Any], **result: Any
) -> dict[str, Any]:
    ctx_ext: dict[str, Any] = {EXT["session-id"]: str(v.session), EXT["completion-threshold"]: uc.COMPLETION_THRESHOLD}
    if v.length:
        ctx_ext[EXT["length"]] = v.length
    out: dict[str, Any] = {
        **base,
        "verb": {"id": VERBS[verb], "display": {"en-GB": verb}},
        "object": _activity("videos", v.video_id, titles.get(f"videos/{v.video_id}"), f"{VIDEO}/activity-type/video"),
        "context": {
            "contextActivities": {"category": [{"objectType": "Activity", "id": f"{VIDEO}/v1.0"}]},
            "extensions": ctx_ext,
        },
    }
    if result_ext or result:
        out["result"] = {**result, "extensions": result_ext} if result_ext else dict(result)
    return out


def _titles(content: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in content.topics:
        out[f"topics/{t.id}"] = t.title
    for s in content.sections():
        out[f"sections/{s.id}"] = s.title
    for v in content.videos:
        out[f"videos/{v.id}"] = v.title
    return out


def _for_event(
    study: uc.Study,
    p: uc.Participant,
    rec: dict[str, Any],
    current: dict[str, _Video | None],
    titles: dict[str, str],
    lengths: dict[str, float],
) -> Iterator[dict[str, Any]]:
    kind, ref, at = rec["kind"], rec["ref"], rec["at"]
    actor = _agent(study, p.pseudonym)
    base = {"actor": actor, "timestamp": at}
    if kind.startswith("video_"):
        yield from _video(p, rec, current, base, titles, lengths)
        return
    if kind in ("topic_opened", "section_viewed"):
        what = "topics" if kind == "topic_opened" else "sections"
        yield {
            **base,
            "verb": {"id": VERBS["experienced"], "display": {"en-GB": "experienced"}},
            "object": _activity(what, ref, titles.get(f"{what}/{ref}"), "http://adlnet.gov/expapi/activities/module"),
        }
    elif kind == "answer_saved":
        stmt: dict[str, Any] = {
            **base,
            "verb": {"id": VERBS["answered"], "display": {"en-GB": "answered"}},
            "object": _activity("questions", ref, None, "http://adlnet.gov/expapi/activities/cmi.interaction"),
        }
        if rec.get("answer_text"):
            stmt["result"] = {"response": rec["answer_text"]}
        yield stmt
    else:
        what = {"chart_point": "trackers"}.get(kind, "worksheets" if kind.startswith("worksheet") else "sharing")
        yield {
            **base,
            "verb": {"id": VERBS["interacted"], "display": {"en-GB": "interacted"}},
            "object": _activity(what, str(ref)),
        }


def _video(
    p: uc.Participant,
    rec: dict[str, Any],
    current: dict[str, _Video | None],
    base: dict[str, Any],
    titles: dict[str, str],
    lengths: dict[str, float],
) -> Iterator[dict[str, Any]]:
    """The ADL video profile: initialized, played, paused, seeked, completed, terminated."""
    kind, vid = rec["kind"], rec["ref"]
    v = current.get(p.pseudonym)
    if v is not None and v.video_id != vid:
        at = v.open_from or 0.0
        v.close(at)
        yield _video_stmt(base, "terminated", v, titles, {EXT["time"]: at, **_progress(v)})
        v = None
    if v is None:
        v = _Video(vid, uuid5(NAMESPACE_URL, f"{HOME}/{p.pseudonym}/{vid}/{rec['at']}"), lengths.get(vid))
        current[p.pseudonym] = v
        yield _video_stmt(base, "initialized", v, titles, {})
    t = rec["value"] or 0.0
    if kind == "video_played":
        v.open_from = t
        yield _video_stmt(base, "played", v, titles, {EXT["time"]: t})
    elif kind == "video_paused":
        v.close(t)
        yield _video_stmt(base, "paused", v, titles, {EXT["time"]: t, **_progress(v)})
    elif kind == "video_seeked":
        to = rec["value2"] or 0.0
        playing = v.open_from is not None
        v.close(t)
        v.open_from = to if playing else None
        yield _video_stmt(base, "seeked", v, titles, {EXT["time-from"]: t, EXT["time-to"]: to})
    elif kind == "video_progressed" and v.open_from is not None:
        v.close(t)
        v.open_from = t
    elif kind == "video_completed":
        end = v.length or v.open_from or 0.0
        v.close(end)
        ext = {EXT["time"]: end, **_progress(v)}
        yield _video_stmt(base, "completed", v, titles, ext, completion=True)
        yield _video_stmt(base, "terminated", v, titles, ext)
        current[p.pseudonym] = None
