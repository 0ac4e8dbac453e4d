"""The JSON API under /api: everything the pages do (described in web/openapi.py)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.commands import JOURNEY, Actor
from web import access, errors, texts, views
from web.guard import guarded, json_body
from web.recording import record

SU = {"service_user"}
WORKER = {"worker"}
ANYONE = {"service_user", "worker", "researcher", "admin"}


def _iso(d: datetime | None) -> str | None:
    return d.isoformat() if d else None


def _answer(a: texts.Answer | None) -> dict[str, Any] | None:
    return {"text": a.text, "saved_at": _iso(a.saved_at)} if a else None


def _item(i: texts.Item) -> dict[str, Any]:
    return {"item_id": i.item_id, "text": i.text, "added_at": _iso(i.added_at), "changed_at": _iso(i.changed_at)}


# ------------------------------------------------------------------ content + progress


@guarded(roles=SU)
async def topics(request: Request, actor: Actor) -> Response:
    ctx = await views.home_context(request, actor.user_id)
    return JSONResponse(
        {
            "topics": [
                {
                    "topic_id": t["topic"].id,
                    "title": t["topic"].title,
                    "intro": t["topic"].intro,
                    "sections_total": t["total"],
                    "sections_viewed": t["viewed"],
                    "percent": t["percent"],
                    "opened": t["opened"],
                }
                for t in ctx["topics"]
            ]
        }
    )


@guarded(roles=SU)
async def topic(request: Request, actor: Actor) -> Response:
    ctx = await views.topic_context(request, actor, actor.user_id, request.path_params["topic_id"])
    t = ctx["topic"]
    return JSONResponse(
        {
            "topic_id": t.id,
            "title": t.title,
            "intro": t.intro,
            "sections": [
                {"section_id": s["section"].id, "title": s["section"].title, "viewed": s["viewed"]}
                for s in ctx["sections"]
            ],
        }
    )


@guarded(roles=SU)
async def section(request: Request, actor: Actor) -> Response:
    sid = f"{request.path_params['topic_id']}/{request.path_params['slug']}"
    ctx = await views.section_context(request, actor, actor.user_id, sid)
    s, v = ctx["section"], ctx["video"]
    return JSONResponse(
        {
            "section_id": s.id,
            "topic_id": s.topic_id,
            "title": s.title,
            "summary_md": s.summary_md,
            "video": {
                "video_id": v.id,
                "title": v.title,
                "duration_s": v.duration_s,
                "transcript": v.transcript,
                "progress": ctx["video_progress"],
            }
            if v
            else None,
            "questions": [
                {"question_id": q["question"].id, "text": q["question"].text, "answer": _answer(q["answer"])}
                for q in ctx["questions"]
            ],
            "trackers": list(s.trackers),
            "worksheets": [
                {"worksheet_id": w["worksheet"].id, "items": [_item(i) for i in w["items"]]} for w in ctx["worksheets"]
            ],
        }
    )


@guarded(roles=SU)
async def progress(request: Request, actor: Actor) -> Response:
    p = request.app.state.projections.progress
    return JSONResponse(
        {
            "topics": await asyncio.to_thread(p.topic_summaries, actor.user_id),
            "videos": await asyncio.to_thread(p.videos, actor.user_id),
        }
    )


@guarded(roles=SU)
async def answers(request: Request, actor: Actor) -> Response:
    content = request.app.state.content
    section_id = request.query_params.get("section_id")
    qids: set[str] | None = None
    if section_id is not None:
        try:
            qids = {q.id for q in content.section(section_id).questions}
        except KeyError:
            raise errors.not_found("section") from None
    got = await asyncio.to_thread(texts.answers, request.app.state.tandem, actor.user_id, qids)
    return JSONResponse({"answers": {q: _answer(a) for q, a in sorted(got.items())}})


@guarded(roles=SU)
async def tracker(request: Request, actor: Actor) -> Response:
    tid = request.path_params["tracker_id"]
    try:
        request.app.state.content.tracker(tid)
    except KeyError:
        raise errors.not_found("tracker") from None
    t = request.app.state.projections.trackers
    return JSONResponse(
        {
            "tracker_id": tid,
            "series": await asyncio.to_thread(t.series, actor.user_id, tid),
            "weekly": await asyncio.to_thread(t.weekly, actor.user_id, tid),
        }
    )


@guarded(roles=SU)
async def worksheet(request: Request, actor: Actor) -> Response:
    wid = request.path_params["worksheet_id"]
    try:
        request.app.state.content.worksheet(wid)
    except KeyError:
        raise errors.not_found("worksheet") from None
    items = await asyncio.to_thread(texts.worksheet_items, request.app.state.tandem, actor.user_id, {wid})
    return JSONResponse({"worksheet_id": wid, "items": [_item(i) for i in items.get(wid, [])]})


# ------------------------------------------------------------------ recording


def _client_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise errors.WebError(422, "invalid_field", "must be an ISO-8601 time", "client_time")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise errors.WebError(422, "invalid_field", "must be an ISO-8601 time", "client_time") from None


def _session_id(value: Any) -> UUID | None:
    if value is None:
        return None
    try:
        return UUID(str(value))
    except ValueError:
        raise errors.WebError(422, "invalid_field", "must be a joint-session id", "session_id") from None


@guarded(roles={"service_user", "worker"}, mutates=True)
async def events(request: Request, actor: Actor) -> Response:
    """Record one journey action. A worker may only do so inside a joint session (checked by the core)."""
    body = await json_body(request)
    unknown = set(body) - {"type", "payload", "client_event_id", "session_id", "client_time"}
    if unknown:
        raise errors.WebError(422, "invalid_field", "unexpected field", sorted(unknown)[0])
    type_ = body.get("type")
    if not isinstance(type_, str) or type_ not in JOURNEY:
        raise errors.WebError(422, "unknown_type", f"must be one of {', '.join(JOURNEY)}", "type")
    payload = body.get("payload")
    if not isinstance(payload, dict):
        raise errors.WebError(422, "invalid_field", "must be an object", "payload")
    cid = body.get("client_event_id")
    if not isinstance(cid, str):
        raise errors.WebError(422, "invalid_field", "must be a string of 8 to 100 characters", "client_event_id")
    ack = await record(
        request, actor, type_, payload, cid, _session_id(body.get("session_id")), _client_time(body.get("client_time"))
    )
    return JSONResponse(ack, status_code=200 if ack["duplicate"] else 201)


# ------------------------------------------------------------------ sharing, consent, links


@guarded(roles=SU)
async def sharing(request: Request, actor: Actor) -> Response:
    return JSONResponse({"shared": request.app.state.projections.directory.shared(actor.user_id)})


@guarded(roles=SU, mutates=True)
async def sharing_change(request: Request, actor: Actor) -> Response:
    body = await json_body(request)
    if not isinstance(body.get("shared"), bool):
        raise errors.WebError(422, "invalid_field", "must be true or false", "shared")
    scope, ref = body.get("scope"), body.get("ref")
    kinds = {"topic": "topic", "answer": "question", "tracker": "tracker", "worksheet": "worksheet"}
    if not isinstance(scope, str) or scope not in kinds:
        raise errors.WebError(422, "invalid_field", f"must be one of {', '.join(kinds)}", "scope")
    if not isinstance(ref, str):
        raise errors.WebError(422, "invalid_field", "must be an id", "ref")
    if not request.app.state.content.knows(kinds[scope], ref):
        raise errors.WebError(422, "invalid_field", f"unknown {scope}", "ref")
    ack = await record(
        request,
        actor,
        "ItemShared" if body["shared"] else "ItemUnshared",
        {"scope": scope, "ref": ref},
        _optional_cid(body),
    )
    return JSONResponse(ack)


def _optional_cid(body: dict[str, Any]) -> str | None:
    """A client event id when the caller sends one (retries are then idempotent)."""
    cid = body.get("client_event_id")
    if cid is not None and not isinstance(cid, str):
        raise errors.WebError(422, "invalid_field", "must be a string", "client_event_id")
    return cid


@guarded(roles=SU)
async def consent(request: Request, actor: Actor) -> Response:
    return JSONResponse({"research": request.app.state.projections.directory.has_consented(actor.user_id)})


@guarded(roles=SU, mutates=True)
async def consent_change(request: Request, actor: Actor) -> Response:
    body = await json_body(request)
    if not isinstance(body.get("research"), bool):
        raise errors.WebError(422, "invalid_field", "must be true or false", "research")
    ack = await record(
        request,
        actor,
        "ConsentGiven" if body["research"] else "ConsentWithdrawn",
        {"scope": "research"},
        _optional_cid(body),
    )
    return JSONResponse(ack)


@guarded(roles=SU)
async def links(request: Request, actor: Actor) -> Response:
    return JSONResponse(
        {"workers": [_person(w) for w in request.app.state.projections.directory.workers_of(actor.user_id)]}
    )


def _person(a: dict[str, Any]) -> dict[str, Any]:
    return {k: a.get(k) for k in ("user_id", "username", "display_name", "role", "linked_at")}


# ------------------------------------------------------------------ worker


@guarded(roles=WORKER)
async def caseload(request: Request, actor: Actor) -> Response:
    out = []
    for su in request.app.state.projections.directory.caseload(actor.user_id):
        if su["erased"]:
            out.append({"display_name": su["display_name"], "erased": True})
            continue
        su_id = access.parse_uuid(su["user_id"])
        shares = await access.viewable_su(request, actor, su_id, "caseload:summary")
        assert shares is not None
        out.append({**_person(su), "shared": [{"scope": s, "ref": r} for s, r in sorted(shares.pairs)]})
    return JSONResponse({"service_users": out})


@guarded(roles=WORKER)
async def caseload_person(request: Request, actor: Actor) -> Response:
    su_id = access.parse_uuid(request.path_params["su_id"])
    shares = await access.viewable_su(request, actor, su_id, "caseload:person")
    assert shares is not None
    views_ = request.app.state.projections
    content = request.app.state.content
    tandem = request.app.state.tandem
    topics_ = [
        s for s in await asyncio.to_thread(views_.progress.topic_summaries, su_id) if shares.topic(s["topic_id"])
    ]
    answered = await asyncio.to_thread(views_.progress.questions, su_id)
    qids = {q["question_id"] for q in answered if shares.answer(q["question_id"])}
    got = await asyncio.to_thread(texts.answers, tandem, su_id, qids) if qids else {}
    trackers_ = {
        r: await asyncio.to_thread(views_.trackers.series, su_id, r) for s, r in shares.pairs if s == "tracker"
    }
    wids = {r for s, r in shares.pairs if s == "worksheet" and content.knows("worksheet", r)}
    items = await asyncio.to_thread(texts.worksheet_items, tandem, su_id, wids) if wids else {}
    return JSONResponse(
        {
            "su": _person(views_.directory.account(su_id) or {}),
            "topics": topics_,
            "answers": {q: _answer(a) for q, a in sorted(got.items())},
            "trackers": trackers_,
            "worksheets": {w: [_item(i) for i in its] for w, its in items.items()},
        }
    )


routes = [
    Route("/api/topics", topics, methods=["GET"]),
    Route("/api/topics/{topic_id}", topic, methods=["GET"]),
    Route("/api/sections/{topic_id}/{slug}", section, methods=["GET"]),
    Route("/api/progress", progress, methods=["GET"]),
    Route("/api/answers", answers, methods=["GET"]),
    Route("/api/trackers/{tracker_id}", tracker, methods=["GET"]),
    Route("/api/worksheets/{worksheet_id}", worksheet, methods=["GET"]),
    Route("/api/events", events, methods=["POST"]),
    Route("/api/sharing", sharing, methods=["GET"]),
    Route("/api/sharing", sharing_change, methods=["POST"]),
    Route("/api/consent", consent, methods=["GET"]),
    Route("/api/consent", consent_change, methods=["POST"]),
    Route("/api/links", links, methods=["GET"]),
    Route("/api/caseload", caseload, methods=["GET"]),
    Route("/api/caseload/{su_id}", caseload_person, methods=["GET"]),
]
