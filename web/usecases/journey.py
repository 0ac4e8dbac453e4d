"""My journey: the reads both the pages and the API call, with the access rule in one place.

A service user sees their whole journey. A linked worker sees the same timeline limited to
what the SU shares (web.access.Shares) plus the joint sessions they were in, and every such
look is audited. An erased person's journey reads as erased to everyone.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from uuid import UUID

from starlette.requests import Request

from content import versions
from content.model import ContentSet, UnknownContent
from core import aggregates as A
from core.access import Shares
from core.commands import Actor
from projections.journey import KINDS
from web import access, errors, texts
from web.usecases import replay as R

PAGE = 30
MAX_PAGE = 100
FILTERS = ("kind", "topic", "together", "from", "to", "before", "limit")
TOGETHER = {"": None, "alone": False, "together": True}


# ------------------------------------------------------------------ who may see what


@dataclass(frozen=True)
class Viewer:
    actor: Actor
    su_id: UUID
    shares: Shares | None  # None: the SU themself, who sees everything

    @property
    def own(self) -> bool:
        return self.shares is None


def erased(request: Request, su_id: UUID) -> bool:
    account = request.app.state.tandem.account(su_id)
    return account is not None and bool(account.erased)


async def open_journey(request: Request, actor: Actor, su_id: UUID, resource: str) -> Viewer:
    """The one access check for every journey read (timeline, replay, history, charts, export)."""
    shares = await access.viewable_su(request, actor, su_id, resource)
    if erased(request, su_id):
        raise errors.WebError(410, "erased", "This journey was erased: nothing of it can be shown any more.")
    return Viewer(actor, su_id, shares)


def _shared_sql(viewer: Viewer) -> tuple[str | None, tuple[Any, ...]]:
    """An SQL condition on jrn_entries for what this viewer may see (None: everything)."""
    if viewer.shares is None:
        return None, ()
    pairs = viewer.shares.pairs
    topics = sorted(r for s, r in pairs if s == "topic")
    clauses: list[str] = []
    params: list[Any] = []

    def any_of(prefix: str, values: list[str]) -> None:
        if values:
            clauses.append(f"{prefix} IN ({', '.join('?' * len(values))})")
            params.extend(values)

    if topics:
        clauses.append(f"(kind IN ('reading', 'videos', 'answers') AND topic_id IN ({', '.join('?' * len(topics))}))")
        params.extend(topics)
    for scope, kind in (("answer", "answers"), ("tracker", "charts"), ("worksheet", "worksheets")):
        refs = sorted(r for s, r in pairs if s == scope)
        if refs:
            clauses.append(f"(kind = '{kind}' AND ref IN ({', '.join('?' * len(refs))}))")
            params.extend(refs)
    # The joint sessions this worker was in: the session line itself, not what was done alone.
    clauses.append("(verb = 'session' AND visit IN (SELECT visit FROM jrn_visits WHERE su_id = ? AND worker_id = ?))")
    params.extend([str(viewer.su_id), str(viewer.actor.user_id)])
    return " OR ".join(clauses), tuple(params)


# ------------------------------------------------------------------ filters


@dataclass(frozen=True)
class Filters:
    kinds: tuple[str, ...] = ()
    topic: str | None = None
    together: bool | None = None
    day_from: str | None = None
    day_to: str | None = None
    before: int | None = None
    limit: int = PAGE

    def query(self, before: int | None = None) -> dict[str, str]:
        """These filters as query parameters (for the next page's link)."""
        out = {
            "kind": ",".join(self.kinds),
            "topic": self.topic or "",
            "together": {None: "", False: "alone", True: "together"}[self.together],
            "from": self.day_from or "",
            "to": self.day_to or "",
        }
        if before is not None:
            out["before"] = str(before)
        return {k: v for k, v in out.items() if v}


def _bad(field_: str, message: str) -> errors.WebError:
    return errors.WebError(422, "invalid_field", message, field_)


def _day(value: str, field_: str) -> str:
    try:
        if len(value) == 10:
            return date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise _bad(field_, "must be a date YYYY-MM-DD")


def _int(value: str, field_: str, low: int, high: int) -> int:
    if not value.isdigit() or not low <= int(value) <= high:
        raise _bad(field_, f"must be a whole number from {low} to {high}")
    return int(value)


def flat(query: Any) -> dict[str, str]:
    """Query parameters with repeated names (kind=videos&kind=answers) joined by commas."""
    return {k: ",".join(query.getlist(k)) for k in query}


def parse_filters(params: Mapping[str, str], content: ContentSet) -> Filters:
    """Query parameters -> Filters, or a 422 naming the bad one. Empty values mean "any"."""
    unknown = sorted(set(params) - set(FILTERS))
    if unknown:
        raise _bad(unknown[0], f"unknown filter; use {', '.join(FILTERS)}")
    p = {k: v.strip() for k, v in params.items() if v.strip()}
    kinds = tuple(k for k in p.get("kind", "").split(",") if k)
    for k in kinds:
        if k not in KINDS:
            raise _bad("kind", f"must be among {', '.join(KINDS)}")
    topic = p.get("topic")
    if topic is not None and not content.knows("topic", topic):
        raise _bad("topic", "there is no such topic")
    if p.get("together", "") not in TOGETHER:
        raise _bad("together", "must be alone or together")
    day_from = _day(p["from"], "from") if "from" in p else None
    day_to = _day(p["to"], "to") if "to" in p else None
    if day_from and day_to and day_from > day_to:
        raise _bad("to", "must not be before the start date")
    return Filters(
        kinds=kinds,
        topic=topic,
        together=TOGETHER[p.get("together", "")],
        day_from=day_from,
        day_to=day_to,
        before=_int(p["before"], "before", 1, 2**62) if "before" in p else None,
        limit=_int(p["limit"], "limit", 1, MAX_PAGE) if "limit" in p else PAGE,
    )


# ------------------------------------------------------------------ plain words


def content_at(request: Request, version: str | None) -> ContentSet:
    """The content as it was when the event was recorded (titles that changed since read as then)."""
    current: ContentSet = request.app.state.content
    if not version or version == current.version:
        return current
    try:
        return versions.get(version)
    except UnknownContent:
        return current


def _title(content: ContentSet, kind: str, ref: str | None) -> str:
    if ref is None:
        return "something"
    try:
        if kind == "question":
            return f"‘{content.question(ref).text}’"
        if kind == "video":
            v = content.video(ref)
            return f"{content.peer(v.peer_id).name}'s story ‘{v.title}’"
        return str(getattr(content, kind)(ref).title)
    except (UnknownContent, KeyError):
        return "something that is no longer in Tandem"


def _values(content: ContentSet, tracker_id: str, values: dict[str, float]) -> str:
    from web.charts import value_words

    try:
        t = content.tracker(tracker_id)
    except (UnknownContent, KeyError):
        return ", ".join(f"{v:g}" for v in values.values())
    parts = []
    for m in t.measures:
        if m.id in values:
            words = value_words(m, values[m.id])
            parts.append(words if len(t.measures) == 1 else f"{m.label.lower()} {words}")
    return ", ".join(parts)


def _minutes(visit: dict[str, Any]) -> int:
    start, last = datetime.fromisoformat(visit["started_at"]), datetime.fromisoformat(visit["last_at"])
    return max(1, round((last - start).total_seconds() / 60))


def _list(titles: list[str]) -> str:
    return titles[0] if len(titles) == 1 else ", ".join(titles[:-1]) + " and " + titles[-1]


def describe(
    entry: dict[str, Any], visit: dict[str, Any] | None, content: ContentSet, who: str, partner: str | None
) -> str:
    """One timeline line in plain words. `who` is "You" (the SU) or their first name."""
    d, ref, verb = entry["detail"], entry["ref"], entry["verb"]
    subject = f"{who} and {partner}" if entry["joint"] and partner else who
    if verb == "session":
        topics = [_title(content, "topic", t) for t in (visit or {}).get("topics", [])]
        what = _list(topics) if topics else "Tandem"
        mins = _minutes(visit) if visit else 1
        return f"{who} and {partner or 'your worker'} looked at {what} together for {mins} minute{'s' * (mins != 1)}"
    if verb == "visit":
        topics = [_title(content, "topic", t) for t in (visit or {}).get("topics", [])]
        mins = _minutes(visit) if visit else 1
        what = f" with {_list(topics)}" if topics else ""
        return f"{who} spent {mins} minute{'s' * (mins != 1)} on {'your' if who == 'You' else 'their'} own{what}"
    if verb == "VideoWatched":
        return f"{subject} watched {_title(content, 'video', ref)}, {d.get('percent', 0)} %"
    if verb == "TopicOpened":
        return f"{subject} opened {_title(content, 'topic', ref)}"
    if verb == "SectionViewed":
        return f"{subject} read {_title(content, 'section', ref)}"
    if verb == "AnswerSaved":
        by = partner if entry["actor_role"] == "worker" and partner else who
        if d.get("changed"):
            return f"{by} changed {'your' if who == 'You' else 'the'} answer to {_title(content, 'question', ref)}"
        return f"{by} answered {_title(content, 'question', ref)}"
    if verb == "ChartPointRecorded":
        title = _title(content, "tracker", ref).lower()
        return f"{subject} recorded {title} for {d.get('for_date')}: {_values(content, ref, d.get('values', {}))}"
    action = {
        "WorksheetItemAdded": "added an item to",
        "WorksheetItemChanged": "changed an item on",
        "WorksheetItemRemoved": "removed an item from",
    }.get(verb, "changed")
    return f"{subject} {action} {_title(content, 'worksheet', ref)}"


# ------------------------------------------------------------------ the timeline


@dataclass
class Line:
    position: int
    at: datetime
    kind: str
    verb: str
    text: str
    ref: str | None
    link: str | None  # answer/worksheet history, or a session's replay


@dataclass
class Group:
    visit: str
    joint: bool
    title: str
    replay: str | None
    summary: str | None = None  # the visit's own line ("You and Wendy looked at ... for 42 minutes")
    lines: list[Line] = field(default_factory=list)


@dataclass
class Day:
    day: str
    label: str
    groups: list[Group] = field(default_factory=list)


@dataclass
class Timeline:
    days: list[Day]
    next_before: int | None
    filters: Filters
    count: int


def visit_ref(visit: dict[str, Any]) -> str:
    """A visit's id in URLs: the joint session's id, or solo-<first position>."""
    return visit["session_id"] if visit["joint"] else f"solo-{visit['first_position']}"


def _names(request: Request, ids: set[str]) -> dict[str, str]:
    directory = request.app.state.projections.directory
    out = {}
    for i in ids:
        acc = directory.account(i)
        out[i] = (acc or {}).get("display_name", "your worker").split(" ")[0]
    return out


def _day_label(day: str) -> str:
    d = date.fromisoformat(day)
    today = date.today()
    if d == today:
        return "Today"
    if d == today - timedelta(days=1):
        return "Yesterday"
    return f"{d:%A %-d %B %Y}"


async def timeline(request: Request, viewer: Viewer, filters: Filters, base: str) -> Timeline:
    views = request.app.state.projections.journey
    allowed, params = _shared_sql(viewer)
    rows = await asyncio.to_thread(
        views.entries,
        viewer.su_id,
        before=filters.before,
        limit=filters.limit + 1,
        kinds=filters.kinds,
        topic=filters.topic,
        joint=filters.together,
        day_from=filters.day_from,
        day_to=filters.day_to,
        allowed=allowed,
        allowed_params=params,
    )
    more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    visits = await asyncio.to_thread(views.visits, sorted({r["visit"] for r in rows}))
    names = _names(request, {v["worker_id"] for v in visits.values() if v["worker_id"]})
    who = "You" if viewer.own else _first_name(request, viewer.su_id)
    days: list[Day] = []
    for r in rows:
        visit = visits.get(r["visit"])
        partner = names.get(visit["worker_id"]) if visit and visit["worker_id"] else None
        content = content_at(request, r["content_version"])
        if not days or days[-1].day != r["day"]:
            days.append(Day(r["day"], _day_label(r["day"])))
        day = days[-1]
        if not day.groups or day.groups[-1].visit != r["visit"]:
            day.groups.append(_group(visit, r, partner, base, viewer))
        if r["verb"] in ("session", "visit"):
            day.groups[-1].summary = describe(r, visit, content, who, partner)
            continue
        day.groups[-1].lines.append(
            Line(
                r["position"],
                datetime.fromisoformat(r["at"]),
                r["kind"],
                r["verb"],
                describe(r, visit, content, who, partner),
                r["ref"],
                _line_link(r, visit, base, viewer),
            )
        )
    return Timeline(days, rows[-1]["position"] if more and rows else None, filters, len(rows))


def _first_name(request: Request, su_id: UUID) -> str:
    acc = request.app.state.projections.directory.account(su_id) or {}
    return str(acc.get("display_name") or "They").split(" ")[0]


def _group(visit: dict[str, Any] | None, r: dict[str, Any], partner: str | None, base: str, viewer: Viewer) -> Group:
    if visit is None:
        return Group(r["visit"], bool(r["joint"]), "Together" if r["joint"] else "On my own", None)
    start = datetime.fromisoformat(visit["started_at"])
    end = datetime.fromisoformat(visit["last_at"])
    when = f"{start:%H:%M}–{end:%H:%M}"
    if visit["joint"]:
        title = f"With {partner or 'your worker'} · {when}"
    else:
        title = f"{'On my own' if viewer.own else 'On their own'} · {when}"
    can_replay = viewer.own or (visit["joint"] and visit["worker_id"] == str(viewer.actor.user_id))
    return Group(visit["visit"], visit["joint"], title, f"{base}/sessions/{visit_ref(visit)}" if can_replay else None)


def _line_link(r: dict[str, Any], visit: dict[str, Any] | None, base: str, viewer: Viewer) -> str | None:
    if r["kind"] == "answers":
        return f"{base}/answers/{r['ref']}"
    if r["kind"] == "worksheets" and r["verb"] != "WorksheetItemRemoved":
        return f"{base}/worksheets/{r['ref']}/{r['detail'].get('item_id')}"
    if r["kind"] == "charts":
        return f"{base}/charts?tracker={r['ref']}"
    return None


# ------------------------------------------------------------------ replay


@dataclass
class Replay:
    visit: dict[str, Any]
    start: R.Start
    steps: list[R.Step]
    partner: str | None


def _step(pos: int, ev: Any, su_id: UUID, tandem: Any) -> R.Step:
    fields = {k: v for k, v in vars(ev).items() if k not in _ENVELOPE}
    if isinstance(ev, A.Journey.AnswerSaved):
        fields["answer"] = texts.reveal_text(tandem, su_id, ev.answer)
    elif isinstance(ev, A.Journey.ChartPointRecorded):
        fields["values"] = tandem.keys.values(su_id, ev.values) or {}  # sealed like free text
    elif isinstance(ev, (A.Journey.WorksheetItemAdded, A.Journey.WorksheetItemChanged)):
        fields["text"] = texts.reveal_text(tandem, su_id, ev.text)
    for k, v in fields.items():
        if isinstance(v, UUID):
            fields[k] = str(v)
    if ev.content_version:
        fields["_content_version"] = ev.content_version
    return R.Step(pos, ev.timestamp.timestamp(), type(ev).__name__, str(ev.actor_id), fields)


_ENVELOPE = {
    "originator_id",
    "originator_version",
    "timestamp",
    "originator_topic",
    "event_id",
    "actor_id",
    "actor_role",
    "device",
    "session_id",
    "client_time",
    "content_version",
    "client_event_id",
}


def replay_steps(tandem: Any, su_id: UUID, visit: dict[str, Any]) -> list[R.Step]:
    """The visit's events from the store, in log order, decrypted for the replay."""
    session_id = visit["session_id"]
    out: list[tuple[int, Any]] = []
    if visit["first_version"] is not None:
        span = _span(tandem, A.journey_id(su_id), visit["first_version"], visit["last_version"])
        out.extend((pos, ev) for pos, ev in span if (str(ev.session_id) if ev.session_id else None) == session_id)
    if session_id:
        sid = UUID(session_id)
        out.extend(_span(tandem, sid, 1, tandem.log.recorder.last_version(sid)))
    out.sort(key=lambda pe: pe[0])
    return [_step(pos, ev, su_id, tandem) for pos, ev in out]


@lru_cache(maxsize=32)
def _span_cached(tandem: Any, stream_id: UUID, first: int, last: int) -> tuple[tuple[int, Any], ...]:
    return tuple((pos, ev) for pos, ev in tandem.log.span(stream_id, first, last) if isinstance(ev, A.Action))


def _span(tandem: Any, stream_id: UUID, first: int, last: int) -> tuple[tuple[int, Any], ...]:
    """A stored stretch of a stream never changes: scrubbing through a session decodes it once.
    Free text stays sealed in here (decrypted per request), so an erased key still shreds it."""
    return _span_cached(tandem, stream_id, first, last)


def replay_start(request: Request, viewer: Viewer, visit: dict[str, Any], steps: list[R.Step]) -> R.Start:
    """What was already saved when the visit began: the answers to the questions of the sections it
    opened, and each tracker's latest points (the shared ones, for a worker)."""
    tandem = request.app.state.tandem
    content: ContentSet = request.app.state.content
    first = visit["first_position"]
    sections = {s.fields["section_id"] for s in steps if s.type == "SectionViewed"}
    qids = {q.id for sid in sections if content.knows("section", sid) for q in content.section(sid).questions}
    if viewer.shares is not None:
        qids = {q for q in qids if viewer.shares.answer(q)}
    answers: dict[str, str] = {}
    journey = request.app.state.projections.journey
    newest = journey.last_answers_before(viewer.su_id, sorted(qids), first)
    for _pos, ev in tandem.log.at(sorted(newest.values())):
        if isinstance(ev, A.Journey.AnswerSaved) and ev.originator_id == A.journey_id(viewer.su_id):
            answers[ev.question_id] = texts.reveal_text(tandem, viewer.su_id, ev.answer)
    trackers = [t.id for t in content.trackers if viewer.shares is None or viewer.shares.tracker(t.id)]
    points, earlier = journey.points_before(viewer.su_id, trackers, first, R.START_POINTS)
    return R.Start(
        driver=str(viewer.su_id) if visit["joint"] else None, answers=answers, points=points, earlier_points=earlier
    )


async def open_replay(request: Request, viewer: Viewer, ref: str) -> Replay:
    """A visit of this SU's, or a clear 404 (audited when it is someone else's)."""
    key = _visit_key(viewer.su_id, ref)
    views = request.app.state.projections.journey
    visit = await asyncio.to_thread(views.visit, key) if key else None
    if visit is None or visit["su_id"] != str(viewer.su_id):
        # Possibly someone else's session: the refusal is audited whoever asks.
        await access.audit(request, viewer.actor, viewer.su_id, f"replay:{ref}", False, "not this journey's session")
        raise errors.not_found("session")
    if viewer.shares is not None and not (visit["joint"] and visit["worker_id"] == str(viewer.actor.user_id)):
        await access.audit(request, viewer.actor, viewer.su_id, f"replay:{ref}", False, "not a session they were in")
        raise errors.forbidden("You can replay only the joint sessions you were in.")
    tandem = request.app.state.tandem
    steps = await asyncio.to_thread(replay_steps, tandem, viewer.su_id, visit)
    start = await asyncio.to_thread(replay_start, request, viewer, visit, steps)
    partner = _names(request, {visit["worker_id"]}).get(visit["worker_id"]) if visit["worker_id"] else None
    return Replay(visit, start, steps, partner)


def _visit_key(su_id: UUID, ref: str) -> str | None:
    if ref.startswith("solo-") and ref[5:].isdigit():
        return f"v:{su_id}:{int(ref[5:])}"
    try:
        return "s:" + str(UUID(ref))
    except ValueError:
        return None


def parse_position(value: str | None, replay: Replay) -> int:
    """A position inside the session, or 422: before its start or beyond its end is refused."""
    if not replay.steps:
        if value:
            raise _bad("position", "this session has nothing recorded to move to")
        return 0
    first, last = replay.steps[0].position, replay.steps[-1].position
    if value is None or value == "":
        return first
    if not value.isdigit():
        raise _bad("position", "must be a whole number (a position in the log)")
    p = int(value)
    if not first <= p <= last:
        raise _bad("position", f"must be within this session, from {first} to {last}")
    return p


# ------------------------------------------------------------------ then and now


@dataclass
class Version:
    at: datetime
    text: str
    by_worker: bool
    joint: bool


def answer_versions(tandem: Any, su_id: UUID, question_id: str) -> list[Version]:
    return [
        Version(
            ev.timestamp, texts.reveal_text(tandem, su_id, ev.answer), ev.actor_role == "worker", bool(ev.session_id)
        )
        for ev in tandem.log.stream(A.journey_id(su_id), [A.Journey.AnswerSaved])
        if ev.question_id == question_id
    ]


def item_versions(tandem: Any, su_id: UUID, worksheet_id: str, item_id: str) -> list[Version]:
    out = []
    classes = [A.Journey.WorksheetItemAdded, A.Journey.WorksheetItemChanged, A.Journey.WorksheetItemRemoved]
    for ev in tandem.log.stream(A.journey_id(su_id), classes):
        if ev.worksheet_id == worksheet_id and ev.item_id == item_id:
            text = (
                "(removed)"
                if isinstance(ev, A.Journey.WorksheetItemRemoved)
                else texts.reveal_text(tandem, su_id, ev.text)
            )
            out.append(Version(ev.timestamp, text, ev.actor_role == "worker", bool(ev.session_id)))
    return out


async def history_of_answer(request: Request, viewer: Viewer, question_id: str) -> tuple[Any, list[Version]]:
    content = request.app.state.content
    if not content.knows("question", question_id):
        raise errors.not_found("question")
    if viewer.shares is not None and not viewer.shares.answer(question_id):
        await access.audit(request, viewer.actor, viewer.su_id, f"answer:{question_id}", False, "answer not shared")
        raise errors.forbidden("This answer has not been shared with you.")
    found = await asyncio.to_thread(answer_versions, request.app.state.tandem, viewer.su_id, question_id)
    return content.question(question_id), found


async def history_of_item(
    request: Request, viewer: Viewer, worksheet_id: str, item_id: str
) -> tuple[Any, list[Version]]:
    content = request.app.state.content
    if not content.knows("worksheet", worksheet_id):
        raise errors.not_found("worksheet")
    if viewer.shares is not None and not viewer.shares.worksheet(worksheet_id):
        await access.audit(request, viewer.actor, viewer.su_id, f"worksheet:{worksheet_id}", False, "not shared")
        raise errors.forbidden("This worksheet has not been shared with you.")
    found = await asyncio.to_thread(item_versions, request.app.state.tandem, viewer.su_id, worksheet_id, item_id)
    if not found:
        raise errors.not_found("worksheet item")
    return content.worksheet(worksheet_id), found


# ------------------------------------------------------------------ what the replay shows


def _first_paragraph(md: str) -> str:
    """The opening passage of a section, as plain text."""
    for block in md.split("\n\n"):
        text = re.sub(r"[*_`]+", "", block.strip().lstrip("#")).strip()
        if text:
            return text
    return ""


def step_label(step: R.Step, content: ContentSet, names: dict[str, str]) -> str:
    who = names.get(step.actor_id, "Someone")
    f, t = step.fields, step.type
    labels: dict[str, Callable[[], str]] = {
        "TopicOpened": lambda: f"{who} opened {_title(content, 'topic', f.get('topic_id'))}",
        "SectionViewed": lambda: f"{who} read {_title(content, 'section', f.get('section_id'))}",
        "VideoPlayed": lambda: (
            f"{who} played {_title(content, 'video', f.get('video_id'))} at {_clock(f['position_s'])}"
        ),
        "VideoPaused": lambda: f"{who} paused the video at {_clock(f['position_s'])}",
        "VideoSeeked": lambda: f"{who} moved the video to {_clock(f['to_s'])}",
        "VideoProgressed": lambda: f"Video at {f['percent']} %",
        "VideoCompleted": lambda: f"{who} finished {_title(content, 'video', f.get('video_id'))}",
        "AnswerSaved": lambda: f"{who} saved an answer to {_title(content, 'question', f.get('question_id'))}",
        "ChartPointRecorded": lambda: f"{who} recorded {_title(content, 'tracker', f.get('tracker_id')).lower()}",
        "WorksheetItemAdded": lambda: f"{who} added to {_title(content, 'worksheet', f.get('worksheet_id'))}",
        "WorksheetItemChanged": lambda: f"{who} changed {_title(content, 'worksheet', f.get('worksheet_id'))}",
        "WorksheetItemRemoved": lambda: f"{who} removed from {_title(content, 'worksheet', f.get('worksheet_id'))}",
        "ParticipantJoined": lambda: f"{names.get(str(f.get('user_id')), 'Someone')} joined",
        "ParticipantLeft": lambda: f"{names.get(str(f.get('user_id')), 'Someone')} left",
        "ControlHandedOver": lambda: f"{names.get(str(f.get('to_user')), 'Someone')} took over driving",
        "ControlRequested": lambda: f"{who} asked to drive",
        "ControlRefused": lambda: f"{who} kept driving",
        "SuggestionMade": lambda: f"{who} suggested {_title(content, 'topic', f.get('topic_id'))}",
        "SuggestionAccepted": lambda: f"{who} accepted a suggestion",
        "SuggestionDismissed": lambda: f"{who} set a suggestion aside",
        "MirroringPaused": lambda: f"{who} paused sharing the screen",
        "MirroringResumed": lambda: f"{who} shared the screen again",
        "ChartShown": lambda: f"{who} showed the {_title(content, 'tracker', f.get('tracker_id')).lower()} chart",
        "ChartHidden": lambda: f"{who} hid the {_title(content, 'tracker', f.get('tracker_id')).lower()} chart",
        "SessionEnded": lambda: "The session ended",
        "ItemShared": lambda: f"{who} shared something",
        "ItemUnshared": lambda: f"{who} stopped sharing something",
    }
    make = labels.get(t)
    return make() if make else t


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60}:{s % 60:02d}"


def replay_names(request: Request, replay: Replay, viewer: Viewer) -> dict[str, str]:
    names = _names(request, {replay.visit["worker_id"]} if replay.visit["worker_id"] else set())
    names[str(viewer.su_id)] = "You" if viewer.own else _first_name(request, viewer.su_id)
    return names


def screen_view(request: Request, replay: Replay, screen: R.Screen, names: dict[str, str]) -> dict[str, Any]:
    """The screen at one moment in words and titles (what the page shows and the API returns)."""
    at_step = next((s for s in replay.steps if s.position == screen.position), None)
    version = _content_version(replay, screen.position)
    content = content_at(request, version)
    out: dict[str, Any] = {
        "position": screen.position,
        "at": datetime.fromtimestamp(screen.at).astimezone().isoformat() if screen.at else None,
        "index": next((i for i, s in enumerate(replay.steps) if s.position == screen.position), 0),
        "topic": None,
        "section": None,
        "passage": None,
        "video": None,
        "questions": [],
        "charts": [],
        "driver": names.get(screen.driver or ""),
        "mirroring": screen.mirroring,
        "ended": screen.ended,
        "event": step_label(at_step, content, names) if at_step else None,
    }
    if screen.topic_id and content.knows("topic", screen.topic_id):
        out["topic"] = {"id": screen.topic_id, "title": content.topic(screen.topic_id).title}
    if screen.section_id and content.knows("section", screen.section_id):
        sec = content.section(screen.section_id)
        out["section"] = {"id": sec.id, "title": sec.title}
        out["passage"] = _first_paragraph(sec.summary_md)
        out["questions"] = [{"id": q.id, "text": q.text, "answer": screen.answers.get(q.id)} for q in sec.questions]
    if screen.video is not None:
        v = screen.video
        title = content.video(v.video_id).title if content.knows("video", v.video_id) else v.video_id
        out["video"] = {
            "id": v.video_id,
            "title": title,
            "position_s": round(v.position_s, 1),
            "clock": _clock(v.position_s),
            "playing": v.playing,
            "percent": v.percent,
        }
    for tid, points in sorted(screen.points.items()):
        title = content.tracker(tid).title if content.knows("tracker", tid) else tid
        out["charts"].append(
            {
                "id": tid,
                "title": title,
                "count": len(points) + replay.start.earlier_points.get(tid, 0),
                "latest": [{"for_date": d, "text": _values(content, tid, vals)} for d, vals in points[-3:]][::-1],
                "shown": tid in screen.shown_charts,
            }
        )
    return out


def _content_version(replay: Replay, position: int | None) -> str | None:
    """The content version the session's events recorded, as of this position."""
    version = None
    for s in replay.steps:
        if position is not None and s.position > position:
            break
        version = s.fields.get("_content_version") or version
    return version
