"""My journey as JSON: the timeline, a session's replay and its state at any position,
an answer's versions, the charts, and the download (the same use cases as the pages)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from core.commands import Actor
from web.guard import guarded
from web.pages.journey import _viewer, base_url
from web.usecases import export as X
from web.usecases import journey as J
from web.usecases import overview as O
from web.usecases import replay as R

SU = {"service_user"}
WORKER = {"worker"}


def _iso(d: datetime) -> str:
    return d.isoformat()


async def timeline(request: Request, actor: Actor) -> Response:
    viewer = await _viewer(request, actor, "journey:timeline")
    filters = J.parse_filters(J.flat(request.query_params), request.app.state.content)
    tl = await J.timeline(request, viewer, filters, base_url(request, viewer.su_id))
    return JSONResponse(
        {
            "days": [
                {
                    "day": d.day,
                    "groups": [
                        {
                            "visit": g.visit,
                            "joint": g.joint,
                            "title": g.title,
                            "replay": g.replay,
                            "summary": g.summary,
                            "entries": [
                                {
                                    "position": line.position,
                                    "at": _iso(line.at),
                                    "kind": line.kind,
                                    "type": line.verb,
                                    "ref": line.ref,
                                    "text": line.text,
                                    "link": line.link,
                                }
                                for line in g.lines
                            ],
                        }
                        for g in d.groups
                    ],
                }
                for d in tl.days
            ],
            "count": tl.count,
            "next_before": tl.next_before,
        }
    )


async def replay(request: Request, actor: Actor) -> Response:
    """The session's events (to jump to) and the screen at `position` (default: its first event)."""
    viewer = await _viewer(request, actor, f"journey:replay:{request.path_params['ref']}")
    rp = await J.open_replay(request, viewer, request.path_params["ref"])
    position = J.parse_position(request.query_params.get("position"), rp)
    names = J.replay_names(request, rp, viewer)
    content = request.app.state.content
    screen = R.state_at(rp.start, rp.steps, position)
    body: dict[str, Any] = {
        "session": {
            "ref": request.path_params["ref"],
            "joint": rp.visit["joint"],
            "started_at": rp.visit["started_at"],
            "last_at": rp.visit["last_at"],
            "first": rp.steps[0].position if rp.steps else None,
            "last": rp.steps[-1].position if rp.steps else None,
        },
        "state": J.screen_view(request, rp, screen, names),
    }
    if request.query_params.get("events") != "0":
        body["events"] = [
            {"position": s.position, "at": s.at, "type": s.type, "text": J.step_label(s, content, names)}
            for s in rp.steps
        ]
    return JSONResponse(body)


async def answer_history(request: Request, actor: Actor) -> Response:
    viewer = await _viewer(request, actor, f"journey:answer:{request.path_params['question_id']}")
    question, found = await J.history_of_answer(request, viewer, request.path_params["question_id"])
    return JSONResponse(
        {
            "question_id": question.id,
            "question": question.text,
            "versions": [
                {"saved_at": _iso(v.at), "text": v.text, "by_worker": v.by_worker, "joint": v.joint} for v in found
            ],
        }
    )


async def charts(request: Request, actor: Actor) -> Response:
    viewer = await _viewer(request, actor, "journey:charts")
    zoom, tracker = O.parse_chart_query(J.flat(request.query_params), request.app.state.content)
    found = await O.journey_charts(request, viewer, zoom, tracker)
    return JSONResponse(
        {
            "zoom": zoom,
            "trackers": [
                {
                    "tracker_id": c.tracker.id,
                    "from": c.start,
                    "to": c.end,
                    "measures": {
                        m.measure.id: [{"day": r.day, "text": r.text, "joint": r.joint} for r in m.rows]
                        for m in c.measures
                    },
                }
                for c in found
            ],
        }
    )


async def export(request: Request, actor: Actor) -> Response:
    viewer = await J.open_journey(request, actor, actor.user_id, "journey:export")
    plan = await asyncio.to_thread(X.plan, request.app.state.tandem, request.app.state.projections, viewer.su_id)
    await asyncio.to_thread(X.record_export, request.app.state.tandem, actor)
    return StreamingResponse(
        X.iterate_in_thread(X.zip_chunks(plan, request.app.state.content)),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{plan.filename}"'},
    )


routes = [
    Route("/api/journey", guarded(roles=SU)(timeline), methods=["GET"]),
    Route("/api/journey/sessions/{ref}", guarded(roles=SU)(replay), methods=["GET"]),
    Route("/api/journey/answers/{question_id:path}", guarded(roles=SU)(answer_history), methods=["GET"]),
    Route("/api/journey/charts", guarded(roles=SU)(charts), methods=["GET"]),
    Route("/api/journey/export", guarded(roles=SU, mutates=True)(export), methods=["POST"]),
    Route("/api/caseload/{su_id}/journey", guarded(roles=WORKER)(timeline), methods=["GET"]),
    Route("/api/caseload/{su_id}/journey/sessions/{ref}", guarded(roles=WORKER)(replay), methods=["GET"]),
    Route(
        "/api/caseload/{su_id}/journey/answers/{question_id:path}",
        guarded(roles=WORKER)(answer_history),
        methods=["GET"],
    ),
    Route("/api/caseload/{su_id}/journey/charts", guarded(roles=WORKER)(charts), methods=["GET"]),
]
