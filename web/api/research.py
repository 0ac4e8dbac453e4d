"""The research JSON API: the same use cases and access rule as the pages (web/usecases/research.py)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.commands import Actor
from web import errors
from web.guard import guarded, json_body
from web.pages import research as pages
from web.usecases import research as uc

RESEARCHER = {"researcher"}
ADMIN = {"admin"}
SU = {"service_user"}


@guarded(roles=RESEARCHER)
async def studies(request: Request, actor: Actor) -> Response:
    found = await asyncio.to_thread(uc.my_studies, request.app.state.projections, actor)
    keep = ("study_id", "code", "name", "arms", "start_date", "end_date", "allow_text", "participants")
    return JSONResponse({"studies": [{k: s[k] for k in keep} for s in found]})


@guarded(roles=RESEARCHER)
async def metrics(request: Request, actor: Actor) -> Response:
    study = await uc.study_for(request, actor, "metrics")
    views = request.app.state.projections
    people = uc.participants(views, study)
    return JSONResponse(await asyncio.to_thread(uc.metrics, views, request.app.state.content, study, people))


@guarded(roles=RESEARCHER)
async def participants(request: Request, actor: Actor) -> Response:
    study = await uc.study_for(request, actor, "participants")
    people = uc.participants(request.app.state.projections, study)
    return JSONResponse({"participants": [{"participant": p.pseudonym, "arm": p.arm} for p in people]})


@guarded(roles=RESEARCHER)
async def timeline(request: Request, actor: Actor) -> Response:
    study = await uc.study_for(request, actor, "timeline")
    p = await uc.participant_for(request, actor, study)
    return JSONResponse(await asyncio.to_thread(uc.timeline, request.app.state.projections, study, p))


@guarded(roles=ADMIN)
async def admin_studies(request: Request, actor: Actor) -> Response:
    rs = request.app.state.projections.research
    keep = ("study_id", "code", "name", "arms", "start_date", "end_date", "researchers", "allow_text")
    return JSONResponse({"studies": [{k: s[k] for k in keep} for s in rs.studies()]})


@guarded(roles=ADMIN, mutates=True)
async def admin_create(request: Request, actor: Actor) -> Response:
    sid, position = await pages.create_study(request, actor, await json_body(request))
    await asyncio.to_thread(request.app.state.projections.wait_for, position, 2.0)
    return JSONResponse({"study_id": sid}, status_code=201)


@guarded(roles=ADMIN, mutates=True)
async def admin_enrol(request: Request, actor: Actor) -> Response:
    position = await pages.enrol(request, actor, request.path_params["study_id"], await json_body(request))
    await asyncio.to_thread(request.app.state.projections.wait_for, position, 2.0)
    return JSONResponse({"position": position}, status_code=201)


@guarded(roles=SU)
async def my_consent(request: Request, actor: Actor) -> Response:
    return JSONResponse({"studies": uc.consent_choices(request.app.state.projections, actor.user_id)})


@guarded(roles=SU, mutates=True)
async def change_consent(request: Request, actor: Actor) -> Response:
    body = await json_body(request)
    if not isinstance(body.get("given"), bool):
        raise errors.WebError(422, "invalid_field", "must be true or false", "given")
    ack = await pages.change_consent(
        request,
        actor,
        request.path_params["study_id"],
        body.get("provision"),
        body["given"],
        body.get("client_event_id"),
    )
    return JSONResponse(ack)


routes = [
    Route("/api/research/studies", studies, methods=["GET"]),
    Route("/api/research/studies/{study_id}/metrics", metrics, methods=["GET"]),
    Route("/api/research/studies/{study_id}/participants", participants, methods=["GET"]),
    Route("/api/research/studies/{study_id}/participants/{pseudonym}", timeline, methods=["GET"]),
    Route("/api/research/studies/{study_id}/export/{name}", pages.download, methods=["GET"]),
    Route("/api/admin/studies", admin_studies, methods=["GET"]),
    Route("/api/admin/studies", admin_create, methods=["POST"]),
    Route("/api/admin/studies/{study_id}/enrolments", admin_enrol, methods=["POST"]),
    Route("/api/consent/studies", my_consent, methods=["GET"]),
    Route("/api/consent/studies/{study_id}", change_consent, methods=["POST"]),
]
