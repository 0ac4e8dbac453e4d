"""Page contexts for the SU's topics and sections, shared with the live (joint-session) pages.

Each function takes the viewer and the SU whose journey is shown; a worker viewer
gets only what that SU shares (web.access), and each such look is audited.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from starlette.requests import Request

from content.model import UnknownContent
from content.render import render_markdown
from core import aggregates as A
from core.access import Shares
from core.commands import Actor
from web import access, charts, errors, texts


@dataclass(frozen=True)
class Visibility:
    """Who can see one item of an SU's, in words, from the rule the server enforces."""

    shared: bool  # the linked worker(s) may see it (core.access.Shares.allows)
    on_its_own: bool  # this very item is shared (not only through its topic)
    text: str


def visibility(shares: Shares, workers: list[str], scope: str, ref: str) -> Visibility:
    on_its_own = (scope, ref) in shares.pairs
    if not shares.allows(scope, ref) or not workers:
        return Visibility(False, on_its_own, "Private to you")
    text = "Shared with " + " and ".join(workers)
    return Visibility(True, on_its_own, text if on_its_own else f"{text}, with the whole topic")


def visibility_of(request: Request, su_id: UUID) -> Callable[[str, str], Visibility]:
    """For templates: seen(scope, ref) -> what the SU's label for that item says."""
    shares = access.shares_of(request, su_id)
    workers = [w["display_name"] for w in request.app.state.projections.directory.workers_of(su_id)]
    return lambda scope, ref: visibility(shares, workers, scope, ref)


def _content(request: Request) -> Any:
    return request.app.state.content


def _views(request: Request) -> Any:
    return request.app.state.projections


def _lookup(fn: Any, ref: str, what: str) -> Any:
    try:
        return fn(ref)
    except (UnknownContent, KeyError):
        raise errors.not_found(what) from None


async def home_context(request: Request, su_id: UUID) -> dict[str, Any]:
    content = _content(request)
    summaries = {s["topic_id"]: s for s in await asyncio.to_thread(_views(request).progress.topic_summaries, su_id)}
    topics = []
    for t in content.topics:
        s = summaries.get(t.id) or {}
        total = len(t.sections)
        viewed = min(int(s.get("sections_viewed") or 0), total)
        topics.append(
            {
                "topic": t,
                "viewed": viewed,
                "total": total,
                "percent": round(100 * viewed / total) if total else 0,
                "opened": bool(s.get("opens")),
            }
        )
    return {"topics": topics}


async def topic_context(request: Request, viewer: Actor, su_id: UUID, topic_id: str) -> dict[str, Any]:
    topic = _lookup(_content(request).topic, topic_id, "topic")
    shares = await access.viewable_su(request, viewer, su_id, f"topic:{topic_id}")
    if shares is not None and not shares.topic(topic_id):
        await access.audit(request, viewer, su_id, f"topic:{topic_id}", False, "topic not shared")
        raise errors.forbidden("This topic has not been shared with you.")
    seen = {s["section_id"]: s for s in await asyncio.to_thread(_views(request).progress.sections, su_id, topic_id)}
    sections = [{"section": s, "viewed": s.id in seen} for s in topic.sections]
    return {
        "topic": topic,
        "sections": sections,
        "su_id": su_id,
        "own": shares is None,
        "shared": shares is None or shares.topic(topic_id),
    }


async def section_context(request: Request, viewer: Actor, su_id: UUID, section_id: str) -> dict[str, Any]:
    content = _content(request)
    views = _views(request)
    section = _lookup(content.section, section_id, "section")
    topic = content.topic(section.topic_id)
    shares = await access.viewable_su(request, viewer, su_id, f"section:{section_id}")
    own = shares is None
    tandem = request.app.state.tandem

    video = content.video(section.video_id) if section.video_id else None
    # Watching is topic progress: a worker sees it only in a topic the SU shares.
    progress_visible = shares is None or shares.topic(section.topic_id)
    video_progress = views.progress.video(su_id, video.id) if video and progress_visible else None

    qids = {q.id for q in section.questions}
    if shares is not None:
        qids = {q for q in qids if shares.answer(q)}
    saved = await asyncio.to_thread(texts.answers, tandem, su_id, qids) if qids else {}
    questions = [
        {"n": i + 1, "question": q, "answer": saved.get(q.id), "visible": own or q.id in qids}
        for i, q in enumerate(section.questions)
    ]

    trackers = []
    for tid in section.trackers:
        tracker = content.tracker(tid)
        visible = shares is None or shares.tracker(tid)
        series = await asyncio.to_thread(views.trackers.series, su_id, tid) if visible else []
        wk = charts.weeks(series)
        trackers.append(
            {
                "tracker": tracker,
                "visible": visible,
                "weeks": [
                    {
                        "week": w,
                        "charts": [charts.svg(tracker, m, w, f"chart-{tid}-{m.id}-{w.id}") for m in tracker.measures],
                    }
                    for w in wk
                ],
                "words": charts.value_words,
                "days": charts.DAYS,
            }
        )

    wids = {w for w in section.worksheets if shares is None or shares.worksheet(w)}
    items = await asyncio.to_thread(texts.worksheet_items, tandem, su_id, wids) if wids else {}
    worksheets = [
        {"worksheet": content.worksheet(w), "visible": w in wids, "items": items.get(w, [])} for w in section.worksheets
    ]
    prev, nxt = content.neighbours(section.id)
    pairs = access.shares_of(request, su_id).pairs if shares is None else shares.pairs
    return {
        "section": section,
        "topic": topic,
        "summary_html": render_markdown(section.summary_md),
        "video": video,
        "video_progress": video_progress,
        "questions": questions,
        "trackers": trackers,
        "worksheets": worksheets,
        "prev": prev,
        "next": nxt,
        "su_id": su_id,
        "own": own,
        "editable": own,  # a live page may set this for a worker in control
        "shared": pairs,
        "seen": visibility_of(request, su_id) if own else None,
    }


# What a joint session covered, for the summary each person lands on when it ends.
SUMMARY_EVENTS = (
    A.Journey.TopicOpened,
    A.Journey.SectionViewed,
    A.Journey.VideoPlayed,
    A.Journey.AnswerSaved,
    A.Journey.ChartPointRecorded,
    A.Journey.WorksheetItemAdded,
)


def _session_summary(request: Request, session: A.JointSession) -> dict[str, Any]:
    content = _content(request)
    topics: dict[str, str] = {}
    sections: dict[str, str] = {}
    videos: dict[str, str] = {}
    answers, items = 0, 0
    charts_: dict[str, int] = {}
    for ev in request.app.state.tandem.log.stream(A.journey_id(session.su_id), SUMMARY_EVENTS):
        if ev.session_id != session.id:
            continue
        if isinstance(ev, A.Journey.TopicOpened) and content.knows("topic", ev.topic_id):
            topics.setdefault(ev.topic_id, content.topic(ev.topic_id).title)
        elif isinstance(ev, A.Journey.SectionViewed) and content.knows("section", ev.section_id):
            sec = content.section(ev.section_id)
            topics.setdefault(sec.topic_id, content.topic(sec.topic_id).title)
            sections.setdefault(sec.id, sec.title)
        elif isinstance(ev, A.Journey.VideoPlayed) and content.knows("video", ev.video_id):
            videos.setdefault(ev.video_id, content.video(ev.video_id).title)
        elif isinstance(ev, A.Journey.AnswerSaved):
            answers += 1
            section_id = ev.question_id.rsplit("/", 1)[0]  # an answer is also a section looked at
            if content.knows("section", section_id):
                sec = content.section(section_id)
                topics.setdefault(sec.topic_id, content.topic(sec.topic_id).title)
                sections.setdefault(sec.id, sec.title)
        elif isinstance(ev, A.Journey.ChartPointRecorded) and content.knows("tracker", ev.tracker_id):
            title = content.tracker(ev.tracker_id).title
            charts_[title] = charts_.get(title, 0) + 1
        elif isinstance(ev, A.Journey.WorksheetItemAdded):
            items += 1
    return {
        "topics": list(topics.values()),
        "sections": list(sections.values()),
        "videos": list(videos.values()),
        "answers": answers,
        "charts": charts_,
        "worksheet_items": items,
    }


async def ended_session_summary(request: Request, viewer: Actor) -> dict[str, Any] | None:
    """The summary of the ended session named by ?ended=, if the viewer was in it."""
    raw = request.query_params.get("ended")
    if not raw:
        return None
    try:
        session = await access.joint_session(request, viewer, raw)
    except errors.WebError:
        return None
    if not session.ended:
        return None
    return await asyncio.to_thread(_session_summary, request, session)
