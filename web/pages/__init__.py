"""Server-rendered pages: the SU's own-time use, sharing, consent, the worker's caseload."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from core.access import Shares
from core.commands import SHARE_KINDS, Actor
from web import access, errors, views
from web.guard import form_body, guarded
from web.recording import record
from web.session_routes import HOME, _safe_next
from web.templating import render

SU = {"service_user"}
WORKER = {"worker"}
RESEARCHER = {"researcher"}


@guarded(roles=None)
async def home(request: Request, actor: Actor | None) -> Response:
    if actor is None:
        return RedirectResponse("/login", status_code=303)
    if actor.role != "service_user":
        return RedirectResponse(HOME[actor.role], status_code=303)
    ctx = await views.home_context(request, actor.user_id)
    ctx["session_summary"] = await views.ended_session_summary(request, actor)
    return render(request, "home.html", ctx)


@guarded(roles=SU)
async def topic_page(request: Request, actor: Actor) -> Response:
    ctx = await views.topic_context(request, actor, actor.user_id, request.path_params["topic_id"])
    return render(request, "topic.html", ctx)


@guarded(roles=SU)
async def section_page(request: Request, actor: Actor) -> Response:
    sid = f"{request.path_params['topic_id']}/{request.path_params['slug']}"
    ctx = await views.section_context(request, actor, actor.user_id, sid)
    return render(request, "section.html", ctx)


# ------------------------------------------------------------------ sharing, links, consent


def _sharing_items(request: Request) -> list[dict[str, Any]]:
    content = request.app.state.content
    groups = [
        {
            "scope": "topic",
            "title": "Topics",
            "hint": "Your progress in the topic and your answers to its questions.",
            "items": [(t.id, t.title) for t in content.topics],
        },
        {
            "scope": "tracker",
            "title": "Charts",
            "hint": "The entries on a tracker chart.",
            "items": [(t.id, t.title) for t in content.trackers],
        },
        {
            "scope": "worksheet",
            "title": "Worksheets",
            "hint": "Everything on one worksheet.",
            "items": [(w.id, w.title) for w in content.worksheets],
        },
    ]
    return groups


@guarded(roles=SU)
async def sharing_page(request: Request, actor: Actor) -> Response:
    shared = access.shares_of(request, actor.user_id).pairs
    content = request.app.state.content
    answered = await asyncio.to_thread(request.app.state.projections.progress.questions, actor.user_id)
    answers = [
        (q["question_id"], content.question(q["question_id"]).text)
        for q in answered
        if content.knows("question", q["question_id"])
    ]
    workers = request.app.state.projections.directory.workers_of(actor.user_id)
    return render(
        request,
        "sharing.html",
        {
            "groups": _sharing_items(request),
            "answers": answers,
            "shared": shared,
            "seen": views.visibility_of(request, actor.user_id),
            "workers": workers,
            "new_id": str(uuid.uuid4()),
        },
    )


@guarded(roles=SU, mutates=True)
async def sharing_change(request: Request, actor: Actor) -> Response:
    form = await form_body(request)
    scope, ref, share = form.get("scope", ""), form.get("ref", ""), form.get("share", "")
    if scope not in SHARE_KINDS or share not in ("1", "0"):
        raise errors.WebError(422, "invalid_field", "Choose what to share and whether to share it.", "scope")
    content = request.app.state.content
    if not content.knows(SHARE_KINDS[scope], ref):
        raise errors.WebError(422, "invalid_field", "There is no such item to share.", "ref")
    await record(
        request,
        actor,
        "ItemShared" if share == "1" else "ItemUnshared",
        {"scope": scope, "ref": ref},
        form.get("client_event_id") or None,
    )
    return RedirectResponse(
        _safe_next(form.get("back"), "service_user") if form.get("back") else "/sharing?saved=1", status_code=303
    )


@guarded(roles=SU)
async def linked_page(request: Request, actor: Actor) -> Response:
    workers = request.app.state.projections.directory.workers_of(actor.user_id)
    return render(request, "linked.html", {"workers": workers})


@guarded(roles=SU)
async def consent_page(request: Request, actor: Actor) -> Response:
    from web.usecases.research import consent_choices

    given = request.app.state.projections.directory.has_consented(actor.user_id)
    studies = consent_choices(request.app.state.projections, actor.user_id)
    return render(request, "consent.html", {"given": given, "studies": studies, "new_id": str(uuid.uuid4())})


@guarded(roles=SU, mutates=True)
async def consent_change(request: Request, actor: Actor) -> Response:
    form = await form_body(request)
    action = form.get("action")
    if action not in ("give", "withdraw"):
        raise errors.WebError(422, "invalid_field", "Choose to give or withdraw consent.", "action")
    await record(
        request,
        actor,
        "ConsentGiven" if action == "give" else "ConsentWithdrawn",
        {"scope": "research"},
        form.get("client_event_id") or None,
    )
    return RedirectResponse("/consent?saved=1", status_code=303)


# ------------------------------------------------------------------ worker


@guarded(roles=WORKER)
async def caseload_page(request: Request, actor: Actor) -> Response:
    directory = request.app.state.projections.directory
    people = []
    for su in directory.caseload(actor.user_id):
        if su["erased"]:
            people.append({"su": su, "shared": None})
            continue
        su_id = access.parse_uuid(su["user_id"])
        shares = await access.viewable_su(request, actor, su_id, "caseload:summary")
        assert shares is not None
        people.append({"su": su, "shared": _shared_summary(request, su_id, shares)})
    return render(request, "caseload.html", {"people": people})


def _shared_summary(request: Request, su_id: Any, shares: Shares) -> dict[str, Any]:
    content = request.app.state.content
    progress = request.app.state.projections.progress
    topics = []
    for s in progress.topic_summaries(su_id):
        if shares.topic(s["topic_id"]) and content.knows("topic", s["topic_id"]):
            t = content.topic(s["topic_id"])
            topics.append(
                {
                    "topic": t,
                    "viewed": min(int(s.get("sections_viewed") or 0), len(t.sections)),
                    "total": len(t.sections),
                }
            )
    trackers = [
        content.tracker(r) for (sc, r) in sorted(shares.pairs) if sc == "tracker" and content.knows("tracker", r)
    ]
    worksheets = [
        content.worksheet(r) for (sc, r) in sorted(shares.pairs) if sc == "worksheet" and content.knows("worksheet", r)
    ]
    answers = [r for (sc, r) in shares.pairs if sc == "answer"]
    return {
        "topics": topics,
        "trackers": trackers,
        "worksheets": worksheets,
        "answers": len(answers),
        "anything": bool(shares.pairs),
    }


@guarded(roles=WORKER)
async def caseload_person(request: Request, actor: Actor) -> Response:
    from web import charts, texts

    su_id = access.parse_uuid(request.path_params["su_id"])
    shares = await access.viewable_su(request, actor, su_id, "caseload:person")
    assert shares is not None
    su = request.app.state.projections.directory.account(su_id)
    content = request.app.state.content
    tandem = request.app.state.tandem
    summary = _shared_summary(request, su_id, shares)
    answered = await asyncio.to_thread(request.app.state.projections.progress.questions, su_id)
    qids = {
        q["question_id"]
        for q in answered
        if shares.answer(q["question_id"]) and content.knows("question", q["question_id"])
    }
    saved = await asyncio.to_thread(texts.answers, tandem, su_id, qids) if qids else {}
    answers = [{"question": content.question(q), "answer": a} for q, a in sorted(saved.items())]
    trackers = []
    for t in summary["trackers"]:
        series = await asyncio.to_thread(request.app.state.projections.trackers.series, su_id, t.id)
        wk = charts.weeks(series)[:4]
        trackers.append(
            {
                "tracker": t,
                "weeks": [
                    {"week": w, "charts": [charts.svg(t, m, w, f"chart-{t.id}-{m.id}-{w.id}") for m in t.measures]}
                    for w in wk
                ],
            }
        )
    items = (
        await asyncio.to_thread(texts.worksheet_items, tandem, su_id, {w.id for w in summary["worksheets"]})
        if summary["worksheets"]
        else {}
    )
    worksheets = [{"worksheet": w, "items": items.get(w.id, [])} for w in summary["worksheets"]]
    return render(
        request,
        "caseload_person.html",
        {
            "words": charts.value_words,
            "su": su,
            "summary": summary,
            "answers": answers,
            "trackers": trackers,
            "worksheets": worksheets,
            "session_summary": await views.ended_session_summary(request, actor),
        },
    )


routes = [
    Route("/", home, methods=["GET"]),
    Route("/topics/{topic_id}", topic_page, methods=["GET"]),
    Route("/topics/{topic_id}/{slug}", section_page, methods=["GET"]),
    Route("/sharing", sharing_page, methods=["GET"]),
    Route("/sharing", sharing_change, methods=["POST"]),
    Route("/linked", linked_page, methods=["GET"]),
    Route("/consent", consent_page, methods=["GET"]),
    Route("/consent", consent_change, methods=["POST"]),
    Route("/caseload", caseload_page, methods=["GET"]),
    Route("/caseload/{su_id}", caseload_person, methods=["GET"]),
]
