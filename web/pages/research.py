"""Research pages: a researcher's studies, dashboard, participant timeline and downloads;
the admin's studies page; an SU's per-study consent choices.

The access rule and every read are in web/usecases/research.py (the JSON API uses the same).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from core.commands import Actor
from core.errors import CommandError
from web import access, errors
from web.guard import form_body, guarded
from web.recording import record
from web.templating import render
from web.usecases import charts
from web.usecases import research as uc
from web.usecases.exports import EXPORTS, export_stream

RESEARCHER = {"researcher"}
ADMIN = {"admin"}
SU = {"service_user"}


@guarded(roles=RESEARCHER)
async def studies_page(request: Request, actor: Actor) -> Response:
    studies = await asyncio.to_thread(uc.my_studies, request.app.state.projections, actor)
    return render(request, "research/index.html", {"studies": studies})


@guarded(roles=RESEARCHER)
async def dashboard(request: Request, actor: Actor) -> Response:
    study = await uc.study_for(request, actor, "dashboard")
    views = request.app.state.projections
    people = uc.participants(views, study)
    m = await asyncio.to_thread(uc.metrics, views, request.app.state.content, study, people)
    return render(
        request,
        "research/dashboard.html",
        {
            "study": study,
            "m": m,
            "people": people,
            "charts": charts.dashboard(m),
            "exports": EXPORTS,
            "json": lambda v: json.dumps(v, separators=(",", ":")),
            "pct": _pct,
            "fmt": _fmt,
            "rows": SUMMARY_ROWS,
            "retention_table": _by(m["retention"], ("arm", "mode"), "day", "retained"),
            "weekly_table": _by(
                [w for w in m["weekly"] if w["mode"] != "all"], ("week",), ("arm", "mode"), "active_minutes_mean"
            ),
        },
    )


SUMMARY_ROWS = (
    ("active_minutes_mean", "Active minutes (total)"),
    ("active_minutes_per_active_day_mean", "Active minutes per active day"),
    ("days_active_mean", "Days active"),
    ("sessions_mean", "Sessions"),
    ("session_minutes_median", "Session length, minutes (median)"),
    ("completed_first_section", "Viewed the first section"),
    ("sections_viewed_share_mean", "Share of sections viewed"),
    ("tracker_points_per_week_mean", "Tracker points per week"),
)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.0f}%"


def _fmt(v: Any, key: str) -> str:
    if v is None:
        return "—"
    if key in ("completed_first_section", "sections_viewed_share_mean"):
        return _pct(v)
    return f"{v:.1f}"


def _by(rows: list[dict[str, Any]], row_key: tuple[str, ...], col: Any, value: str) -> list[tuple[Any, dict[str, Any]]]:
    """Pivot chart data into table rows: [(row key, {column: value})] in first-seen order."""
    out: dict[Any, dict[Any, Any]] = {}
    for r in rows:
        k = tuple(r[f] for f in row_key)
        c = tuple(r[f] for f in col) if isinstance(col, tuple) else r[col]
        out.setdefault(k if len(k) > 1 else k[0], {})[c] = r[value]
    return list(out.items())


@guarded(roles=RESEARCHER)
async def participant_page(request: Request, actor: Actor) -> Response:
    study = await uc.study_for(request, actor, "timeline")
    p = await uc.participant_for(request, actor, study)
    tl = await asyncio.to_thread(uc.timeline, request.app.state.projections, study, p)
    return render(
        request,
        "research/participant.html",
        {
            "study": study,
            "tl": tl,
            "chart": charts.swimlanes(tl, study),
            "json": lambda v: json.dumps(v, separators=(",", ":")),
        },
    )


@guarded(roles=RESEARCHER)
async def download(request: Request, actor: Actor) -> Response:
    name = request.path_params["name"]
    if name not in EXPORTS:
        raise errors.WebError(404, "not_found", f"There is no export {name!r}; try {', '.join(EXPORTS)}.")
    study = await uc.study_for(request, actor, f"export:{name}")
    opts = await _export_options(request, actor, study)
    media, chunks = export_stream(request.app.state, study, name, opts)
    await uc.auditor(request, actor)(None, f"research:{study.code}:export:{name}", True, _describe(opts))
    filename = f"{study.code}-{name}"
    return StreamingResponse(
        chunks, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


def _describe(opts: uc.ExportOptions) -> str:
    return f"export; shifted dates: {opts.shift_dates}; answer text: {opts.text}"


async def _export_options(request: Request, actor: Actor, study: uc.Study) -> uc.ExportOptions:
    q = request.query_params
    unknown = set(q) - {"shift", "text"}
    if unknown or any(q.get(k) not in (None, "0", "1") for k in ("shift", "text")):
        raise errors.WebError(
            422, "invalid_field", "Options are shift=0|1 and text=0|1.", sorted(unknown or {"shift"})[0]
        )
    text = q.get("text") == "1"
    if text:
        try:
            await uc.require_text(study, uc.auditor(request, actor), f"research:{study.code}:export-text")
        except uc.Refused as e:
            raise uc.as_web_error(e) from None
    return uc.ExportOptions(shift_dates=q.get("shift") == "1", text=text)


# ------------------------------------------------------------------ admin: studies


@guarded(roles=ADMIN)
async def admin_studies(request: Request, actor: Actor) -> Response:
    return render(request, "research/admin.html", _admin_ctx(request))


def _admin_ctx(request: Request, **extra: Any) -> dict[str, Any]:
    views = request.app.state.projections
    return {
        "studies": [{**s, "enrolled": len(views.research.members(s["study_id"]))} for s in views.research.studies()],
        "researchers": views.directory.accounts(role="researcher"),
        "sus": views.directory.accounts(role="service_user"),
        "done": request.query_params.get("done") == "1",
        **extra,
    }


async def _admin_form(request: Request, work: Any) -> Response:
    try:
        position = await work
    except (CommandError, errors.WebError) as e:
        status = e.status if isinstance(e, errors.WebError) else errors.from_command(e).status
        msg = f"{e.field}: {e.message}" if e.field else e.message
        return render(request, "research/admin.html", _admin_ctx(request, error=msg), status_code=status)
    await asyncio.to_thread(request.app.state.projections.wait_for, position, 2.0)
    return RedirectResponse("/admin/studies?done=1", status_code=303)


async def create_study(request: Request, actor: Actor, data: dict[str, Any]) -> tuple[str, int]:
    f = uc.parse_study_form(data)
    tandem = request.app.state.tandem
    sid = await asyncio.to_thread(
        tandem.create_study,
        f["code"],
        f["name"],
        f["arms"],
        f["start"],
        f["end"],
        f["researchers"],
        f["allow_text"],
        actor.user_id,
    )
    return str(sid), tandem.head()


async def enrol(request: Request, actor: Actor, study_ref: str, data: dict[str, Any]) -> int:
    study = access.parse_uuid(study_ref, "study_id")
    su_id = access.parse_uuid(str(data.get("su_id", "")), "su_id")
    arm = data.get("arm")
    if not isinstance(arm, str):
        raise errors.WebError(422, "invalid_field", "Choose an arm.", "arm")
    rec = await asyncio.to_thread(request.app.state.tandem.enrol, study, su_id, arm, actor.user_id)
    return int(rec.position)


@guarded(roles=ADMIN, mutates=True)
async def admin_create(request: Request, actor: Actor) -> Response:
    form = await request.form(max_files=0, max_fields=50)
    data: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str) and k != "researchers"}
    data["researchers"] = [v for v in form.getlist("researchers") if isinstance(v, str)]

    async def work() -> int:
        return (await create_study(request, actor, data))[1]

    return await _admin_form(request, work())


@guarded(roles=ADMIN, mutates=True)
async def admin_enrol(request: Request, actor: Actor) -> Response:
    data = await form_body(request)
    return await _admin_form(request, enrol(request, actor, request.path_params["study_id"], data))


# ------------------------------------------------------------------ the SU's own choice


async def change_consent(
    request: Request, actor: Actor, study_ref: str, provision: Any, give: bool, cid: Any
) -> dict[str, Any]:
    study = access.parse_uuid(study_ref, "study_id")
    if provision not in ("engagement", "answer_text"):
        raise errors.WebError(422, "invalid_field", "Choose what the choice is about.", "provision")
    return await record(
        request,
        actor,
        "StudyConsentGiven" if give else "StudyConsentWithdrawn",
        {"study_id": str(study), "provision": provision},
        cid if isinstance(cid, str) and cid else None,
    )


@guarded(roles=SU, mutates=True)
async def consent_form(request: Request, actor: Actor) -> Response:
    form = await form_body(request)
    if form.get("action") not in ("give", "withdraw"):
        raise errors.WebError(422, "invalid_field", "Choose to agree or to stop.", "action")
    await change_consent(
        request,
        actor,
        request.path_params["study_id"],
        form.get("provision"),
        form["action"] == "give",
        form.get("client_event_id"),
    )
    return RedirectResponse("/consent?saved=1", status_code=303)


routes = [
    Route("/research", studies_page, methods=["GET"]),
    Route("/research/{study_id}", dashboard, methods=["GET"]),
    Route("/research/{study_id}/participants/{pseudonym}", participant_page, methods=["GET"]),
    Route("/research/{study_id}/export/{name}", download, methods=["GET"]),
    Route("/admin/studies", admin_studies, methods=["GET"]),
    Route("/admin/studies", admin_create, methods=["POST"]),
    Route("/admin/studies/{study_id}/enrol", admin_enrol, methods=["POST"]),
    Route("/consent/studies/{study_id}", consent_form, methods=["POST"]),
]
