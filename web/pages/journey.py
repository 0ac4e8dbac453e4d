"""My journey pages: the timeline, a session's replay, then-and-now, charts, the download.

The SU's pages are under /journey; a linked worker's view of the same under
/caseload/{su_id}/journey. Both call web.usecases.journey, where the access rule lives.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from core.commands import Actor
from web import access
from web.guard import guarded
from web.templating import render
from web.usecases import export as X
from web.usecases import journey as J
from web.usecases import overview as O
from web.usecases import replay as R

SU = {"service_user"}
WORKER = {"worker"}
THE_SU = {"service_user", "worker"}


def _su_of(request: Request, actor: Actor) -> UUID:
    """The journey shown: the SU's own, or (worker routes) the SU named in the path."""
    if "su_id" in request.path_params:
        return access.parse_uuid(request.path_params["su_id"])
    return actor.user_id


def base_url(request: Request, su_id: UUID) -> str:
    return f"/caseload/{su_id}/journey" if "su_id" in request.path_params else "/journey"


async def _viewer(request: Request, actor: Actor, resource: str) -> J.Viewer:
    return await J.open_journey(request, actor, _su_of(request, actor), resource)


def _common(request: Request, viewer: J.Viewer) -> dict[str, Any]:
    return {
        "base": base_url(request, viewer.su_id),
        "own": viewer.own,
        "su_name": J._first_name(request, viewer.su_id),
        "su_id": viewer.su_id,
    }


async def timeline_page(request: Request, actor: Actor) -> Response:
    viewer = await _viewer(request, actor, "journey:timeline")
    content = request.app.state.content
    filters = J.parse_filters(J.flat(request.query_params), content)
    base = base_url(request, viewer.su_id)
    tl = await J.timeline(request, viewer, filters, base)
    return render(
        request,
        "journey/timeline.html",
        {
            **_common(request, viewer),
            "timeline": tl,
            "filters": filters,
            "kinds": [
                ("videos", "Videos"),
                ("answers", "Answers"),
                ("charts", "Charts"),
                ("worksheets", "Worksheets"),
                ("sessions", "Sessions"),
                ("reading", "Reading"),
            ],
            "topics": content.topics,
            "next_query": filters.query(tl.next_before) if tl.next_before else None,
        },
    )


async def replay_page(request: Request, actor: Actor) -> Response:
    viewer = await _viewer(request, actor, f"journey:replay:{request.path_params['ref']}")
    replay = await J.open_replay(request, viewer, request.path_params["ref"])
    position = J.parse_position(request.query_params.get("position"), replay)
    names = J.replay_names(request, replay, viewer)
    screen = R.state_at(replay.start, replay.steps, position)
    content = request.app.state.content
    return render(
        request,
        "journey/replay.html",
        {
            **_common(request, viewer),
            "replay": replay,
            "ref": request.path_params["ref"],
            "view": J.screen_view(request, replay, screen, names),
            "steps": [(s.position, J.step_label(s, content, names), s) for s in replay.steps],
            "title": J._group(replay.visit, {}, replay.partner, "", viewer).title,
        },
    )


async def answer_page(request: Request, actor: Actor) -> Response:
    viewer = await _viewer(request, actor, f"journey:answer:{request.path_params['question_id']}")
    question, found = await J.history_of_answer(request, viewer, request.path_params["question_id"])
    return render(
        request,
        "journey/history.html",
        {**_common(request, viewer), "heading": question.text, "what": "answer", "versions": found},
    )


async def item_page(request: Request, actor: Actor) -> Response:
    wid, iid = request.path_params["worksheet_id"], request.path_params["item_id"]
    viewer = await _viewer(request, actor, f"journey:worksheet:{wid}")
    worksheet, found = await J.history_of_item(request, viewer, wid, iid)
    return render(
        request,
        "journey/history.html",
        {**_common(request, viewer), "heading": worksheet.title, "what": "item", "versions": found},
    )


async def charts_page(request: Request, actor: Actor) -> Response:
    viewer = await _viewer(request, actor, "journey:charts")
    zoom, tracker = O.parse_chart_query(J.flat(request.query_params), request.app.state.content)
    charts = await O.journey_charts(request, viewer, zoom, tracker)
    return render(
        request,
        "journey/charts.html",
        {**_common(request, viewer), "charts": charts, "zoom": zoom, "zooms": O.ZOOMS, "tracker": tracker},
    )


async def export_download(request: Request, actor: Actor) -> Response:
    viewer = await J.open_journey(request, actor, actor.user_id, "journey:export")
    plan = await asyncio.to_thread(X.plan, request.app.state.tandem, request.app.state.projections, viewer.su_id)
    await asyncio.to_thread(X.record_export, request.app.state.tandem, actor)
    return StreamingResponse(
        X.iterate_in_thread(X.zip_chunks(plan, request.app.state.content)),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{plan.filename}"'},
    )


routes = [
    Route("/journey", guarded(roles=SU)(timeline_page), methods=["GET"]),
    Route("/journey/sessions/{ref}", guarded(roles=SU)(replay_page), methods=["GET"]),
    Route("/journey/answers/{question_id:path}", guarded(roles=SU)(answer_page), methods=["GET"]),
    Route("/journey/worksheets/{worksheet_id}/{item_id}", guarded(roles=SU)(item_page), methods=["GET"]),
    Route("/journey/charts", guarded(roles=SU)(charts_page), methods=["GET"]),
    Route("/journey/export", guarded(roles=SU, mutates=True)(export_download), methods=["POST"]),
    Route("/caseload/{su_id}/journey", guarded(roles=WORKER)(timeline_page), methods=["GET"]),
    Route("/caseload/{su_id}/journey/sessions/{ref}", guarded(roles=WORKER)(replay_page), methods=["GET"]),
    Route("/caseload/{su_id}/journey/answers/{question_id:path}", guarded(roles=WORKER)(answer_page), methods=["GET"]),
    Route(
        "/caseload/{su_id}/journey/worksheets/{worksheet_id}/{item_id}",
        guarded(roles=WORKER)(item_page),
        methods=["GET"],
    ),
    Route("/caseload/{su_id}/journey/charts", guarded(roles=WORKER)(charts_page), methods=["GET"]),
]
