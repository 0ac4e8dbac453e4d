"""The authorisation matrix: each role × each route × own / another person's data.

Every route in `app.routes` must have an entry here (a new route without one fails
`test_every_route_has_a_matrix_entry`). For each entry and role the test makes a real
request and checks: allowed roles succeed on their own data; anyone else gets 401
(or the log-in page) / 403; another person's id gives 403/404 with an audit event;
and a refused request stores nothing but audit events.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.routing import Mount, Route, WebSocketRoute

from core import aggregates as A
from core.commands import Actor
from tests.web.conftest import Site

ANON, SU, WK, RS, AD = "anon", "service_user", "worker", "researcher", "admin"
ALL = frozenset({ANON, SU, WK, RS, AD})
LOGGED_IN = ALL - {ANON}
USER = {SU: "sam", WK: "wendy", RS: "rita", AD: "adam"}
_n = itertools.count()


@dataclass
class Ctx:
    site: Site
    own_session: str = ""  # wendy <-> sam joint session
    other_session: str = ""  # walt <-> sue joint session
    study: str = ""  # the demo study: Rita is on it, Sam is enrolled
    other_study: str = ""  # a study Rita is not on
    pseudonym: str = ""  # a consenting participant of the demo study

    def flip(self) -> str:
        """Sam's next consent change: the opposite of his current choice (a repeat is refused)."""
        m = self.site.views.research.member(self.study, str(self.site.ids["sam"]))
        return "withdraw" if m and m["engagement"] else "give"

    def id(self, username: str) -> str:
        return str(self.site.ids[username])


Req = tuple[str, dict[str, Any]]  # (url, request kwargs)
Sample = Callable[[Ctx, str], Req]


def plain(url: str) -> Sample:
    return lambda c, role: (url, {})


@dataclass
class Entry:
    allowed: frozenset[str]
    own: Sample
    other: Sample | None = None  # another person's data, for the allowed roles
    mutates: bool = False
    csrf: bool = True  # False: bearer-token routes (no cookie, so no CSRF risk)
    ok: frozenset[int] = frozenset({200, 201, 303})
    ends_session: bool = False
    declared: frozenset[str] | None = None  # the route's guard, when wider than `allowed` (checked inside)


def ev(type_: str, payload: dict[str, Any], session: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": type_, "payload": payload, "client_event_id": f"m-{next(_n):08d}-x"}
    if session:
        body["session_id"] = session
    return body


def events_sample(c: Ctx, role: str) -> Req:
    if role == WK:  # a worker records only inside their joint session
        return "/api/events", {"json": ev("TopicOpened", {"topic_id": "health"}, c.own_session)}
    return "/api/events", {"json": ev("TopicOpened", {"topic_id": "health"})}


def new_study() -> dict[str, Any]:
    return {
        "code": f"study-{next(_n)}",
        "name": "A study",
        "arms": "one: One arm",
        "start": "2026-01-01",
        "end": "2026-07-01",
    }


def new_user() -> dict[str, str]:
    return {
        "username": f"user{next(_n)}x",
        "display_name": "New Person",
        "role": "service_user",
        "password": "long-enough-pw",
    }


MATRIX: dict[tuple[str, str], Entry] = {
    ("GET", "/health"): Entry(ALL, plain("/health")),
    ("GET", "/login"): Entry(ALL, plain("/login")),
    ("POST", "/login"): Entry(
        ALL,
        lambda c, r: ("/login", {"data": {"username": f"nobody{next(_n)}", "password": "wrong-password"}}),
        mutates=True,
        ok=frozenset({400}),
    ),
    ("POST", "/logout"): Entry(ALL, plain("/logout"), mutates=True, ends_session=True),
    ("POST", "/logout-everywhere"): Entry(LOGGED_IN, plain("/logout-everywhere"), mutates=True, ends_session=True),
    ("GET", "/account"): Entry(LOGGED_IN, plain("/account")),
    # A wrong current password: reaching the check is what "allowed" means here.
    ("POST", "/account/password"): Entry(
        LOGGED_IN,
        lambda c, r: (
            "/account/password",
            {
                "data": {
                    "current_password": "not-it-at-all",
                    "new_password": "whatever-new-1",
                    "new_password_again": "whatever-new-1",
                }
            },
        ),
        mutates=True,
        ok=frozenset({400}),
    ),
    # A link that was never issued: anyone may try one, and gets the "used or expired" page.
    ("GET", "/password/set/{link}"): Entry(
        ALL, lambda c, r: (f"/password/set/{c.id('sue')}.not-a-real-token", {}), ok=frozenset({410})
    ),
    ("POST", "/password/set/{link}"): Entry(
        ALL,
        lambda c, r: (
            f"/password/set/{c.id('sue')}.not-a-real-token",
            {"data": {"new_password": "whatever-new-1", "new_password_again": "whatever-new-1"}},
        ),
        mutates=True,
        ok=frozenset({410}),
    ),
    ("GET", "/api/session"): Entry(ALL, plain("/api/session")),
    ("POST", "/api/login"): Entry(
        ALL,
        lambda c, r: ("/api/login", {"json": {"username": f"nobody{next(_n)}", "password": "wrong-password"}}),
        mutates=True,
        ok=frozenset({401}),
    ),
    ("POST", "/api/logout"): Entry(ALL, plain("/api/logout"), mutates=True, ends_session=True),
    ("POST", "/api/logout-everywhere"): Entry(
        LOGGED_IN, plain("/api/logout-everywhere"), mutates=True, ends_session=True
    ),
    ("POST", "/api/account/password"): Entry(
        LOGGED_IN,
        lambda c, r: (
            "/api/account/password",
            {"json": {"current_password": "not-it-at-all", "new_password": "whatever-new-1"}},
        ),
        mutates=True,
        ok=frozenset({400}),
    ),
    ("GET", "/"): Entry(ALL, plain("/")),
    ("GET", "/topics/{topic_id}"): Entry(frozenset({SU}), plain("/topics/recovery")),
    ("GET", "/topics/{topic_id}/{slug}"): Entry(frozenset({SU}), plain("/topics/recovery/hope")),
    ("GET", "/sharing"): Entry(frozenset({SU}), plain("/sharing")),
    ("POST", "/sharing"): Entry(
        frozenset({SU}),
        lambda c, r: ("/sharing", {"data": {"scope": "topic", "ref": "health", "share": "1"}}),
        mutates=True,
    ),
    ("GET", "/linked"): Entry(frozenset({SU}), plain("/linked")),
    ("GET", "/consent"): Entry(frozenset({SU}), plain("/consent")),
    ("POST", "/consent"): Entry(frozenset({SU}), lambda c, r: ("/consent", {"data": {"action": "give"}}), mutates=True),
    ("GET", "/caseload"): Entry(frozenset({WK}), plain("/caseload")),
    ("GET", "/caseload/{su_id}"): Entry(
        frozenset({WK}),
        lambda c, r: (f"/caseload/{c.id('sam')}", {}),
        other=lambda c, r: (f"/caseload/{c.id('sue')}", {}),
    ),
    ("GET", "/research"): Entry(frozenset({RS}), plain("/research")),
    # Research (web/pages/research.py, web/api/research.py): "other" is a study Rita is not on.
    ("GET", "/research/{study_id}"): Entry(
        frozenset({RS}),
        lambda c, r: (f"/research/{c.study}", {}),
        other=lambda c, r: (f"/research/{c.other_study}", {}),
    ),
    ("GET", "/research/{study_id}/participants/{pseudonym}"): Entry(
        frozenset({RS}),
        lambda c, r: (f"/research/{c.study}/participants/{c.pseudonym}", {}),
        other=lambda c, r: (f"/research/{c.other_study}/participants/{c.pseudonym}", {}),
    ),
    ("GET", "/research/{study_id}/export/{name}"): Entry(
        frozenset({RS}),
        lambda c, r: (f"/research/{c.study}/export/sessions.csv", {}),
        other=lambda c, r: (f"/research/{c.other_study}/export/sessions.csv", {}),
    ),
    ("GET", "/admin/studies"): Entry(frozenset({AD}), plain("/admin/studies")),
    ("POST", "/admin/studies"): Entry(
        frozenset({AD}), lambda c, r: ("/admin/studies", {"data": new_study()}), mutates=True
    ),
    # Enrolling Sam again: refused by the study's rule (409) even for the admin, so nothing changes.
    ("POST", "/admin/studies/{study_id}/enrol"): Entry(
        frozenset({AD}),
        lambda c, r: (f"/admin/studies/{c.study}/enrol", {"data": {"su_id": c.id("sam"), "arm": "therapy"}}),
        mutates=True,
        ok=frozenset({409}),
    ),
    ("POST", "/consent/studies/{study_id}"): Entry(
        frozenset({SU}),
        lambda c, r: (f"/consent/studies/{c.study}", {"data": {"provision": "engagement", "action": c.flip()}}),
        mutates=True,
    ),
    ("GET", "/api/research/studies"): Entry(frozenset({RS}), plain("/api/research/studies")),
    ("GET", "/api/research/studies/{study_id}/metrics"): Entry(
        frozenset({RS}),
        lambda c, r: (f"/api/research/studies/{c.study}/metrics", {}),
        other=lambda c, r: (f"/api/research/studies/{c.other_study}/metrics", {}),
    ),
    ("GET", "/api/research/studies/{study_id}/participants"): Entry(
        frozenset({RS}),
        lambda c, r: (f"/api/research/studies/{c.study}/participants", {}),
        other=lambda c, r: (f"/api/research/studies/{c.other_study}/participants", {}),
    ),
    ("GET", "/api/research/studies/{study_id}/participants/{pseudonym}"): Entry(
        frozenset({RS}),
        lambda c, r: (f"/api/research/studies/{c.study}/participants/{c.pseudonym}", {}),
        other=lambda c, r: (f"/api/research/studies/{c.study}/participants/{c.id('sam')}", {}),
    ),
    ("GET", "/api/research/studies/{study_id}/export/{name}"): Entry(
        frozenset({RS}),
        lambda c, r: (f"/api/research/studies/{c.study}/export/sessions.csv", {}),
        other=lambda c, r: (f"/api/research/studies/{c.other_study}/export/sessions.csv", {}),
    ),
    ("GET", "/api/admin/studies"): Entry(frozenset({AD}), plain("/api/admin/studies")),
    ("POST", "/api/admin/studies"): Entry(
        frozenset({AD}), lambda c, r: ("/api/admin/studies", {"json": new_study()}), mutates=True
    ),
    ("POST", "/api/admin/studies/{study_id}/enrolments"): Entry(
        frozenset({AD}),
        lambda c, r: (f"/api/admin/studies/{c.study}/enrolments", {"json": {"su_id": c.id("sam"), "arm": "therapy"}}),
        mutates=True,
        ok=frozenset({409}),
    ),
    ("GET", "/api/consent/studies"): Entry(frozenset({SU}), plain("/api/consent/studies")),
    ("POST", "/api/consent/studies/{study_id}"): Entry(
        frozenset({SU}),
        lambda c, r: (
            f"/api/consent/studies/{c.study}",
            {"json": {"provision": "engagement", "given": c.flip() == "give"}},
        ),
        mutates=True,
    ),
    ("GET", "/admin"): Entry(frozenset({AD}), plain("/admin")),
    ("POST", "/admin/accounts"): Entry(
        frozenset({AD}), lambda c, r: ("/admin/accounts", {"data": new_user()}), mutates=True
    ),
    ("POST", "/admin/links"): Entry(
        frozenset({AD}),
        lambda c, r: ("/admin/links", {"data": {"worker_id": c.id("walt"), "su_id": c.id("sam")}}),
        mutates=True,
    ),
    ("POST", "/admin/unlink"): Entry(
        frozenset({AD}),
        lambda c, r: ("/admin/unlink", {"data": {"worker_id": c.id("walt"), "su_id": c.id("sam")}}),
        mutates=True,
    ),
    # Sue is no role's client here, so resetting her password (a link, shown once) ends nobody's run.
    ("POST", "/admin/accounts/{user_id}/password"): Entry(
        frozenset({AD}),
        lambda c, r: (f"/admin/accounts/{c.id('sue')}/password", {"data": {}}),
        mutates=True,
        ok=frozenset({200}),
    ),
    ("POST", "/admin/accounts/{user_id}/deactivate"): Entry(
        frozenset({AD}),
        lambda c, r: (f"/admin/accounts/{c.id('adam')}/deactivate", {}),
        mutates=True,
        ok=frozenset({422}),
    ),
    ("POST", "/admin/accounts/{user_id}/reactivate"): Entry(
        frozenset({AD}),
        lambda c, r: (f"/admin/accounts/{c.id('adam')}/reactivate", {}),
        mutates=True,
        ok=frozenset({422}),
    ),
    ("POST", "/admin/accounts/{user_id}/erase"): Entry(
        frozenset({AD}),
        lambda c, r: (f"/admin/accounts/{c.id('sue')}/erase", {"data": {"confirm": "not-sue"}}),
        mutates=True,
        ok=frozenset({422}),
    ),
    ("POST", "/api/admin/accounts/{user_id}/password"): Entry(
        frozenset({AD}),
        lambda c, r: (f"/api/admin/accounts/{c.id('sue')}/password", {}),
        mutates=True,
        ok=frozenset({200}),
    ),
    ("POST", "/api/admin/accounts/{user_id}/deactivate"): Entry(
        frozenset({AD}),
        lambda c, r: (f"/api/admin/accounts/{c.id('adam')}/deactivate", {}),
        mutates=True,
        ok=frozenset({422}),
    ),
    ("POST", "/api/admin/accounts/{user_id}/reactivate"): Entry(
        frozenset({AD}),
        lambda c, r: (f"/api/admin/accounts/{c.id('adam')}/reactivate", {}),
        mutates=True,
        ok=frozenset({422}),
    ),
    ("POST", "/api/admin/accounts/{user_id}/erase"): Entry(
        frozenset({AD}),
        lambda c, r: (f"/api/admin/accounts/{c.id('sue')}/erase", {"json": {"confirm": "not-sue"}}),
        mutates=True,
        ok=frozenset({422}),
    ),
    ("GET", "/api/admin/accounts"): Entry(frozenset({AD}), plain("/api/admin/accounts")),
    ("POST", "/api/admin/accounts"): Entry(
        frozenset({AD}), lambda c, r: ("/api/admin/accounts", {"json": new_user()}), mutates=True
    ),
    ("POST", "/api/admin/links"): Entry(
        frozenset({AD}),
        lambda c, r: ("/api/admin/links", {"json": {"worker_id": c.id("walt"), "su_id": c.id("sam")}}),
        mutates=True,
    ),
    ("POST", "/api/admin/unlink"): Entry(
        frozenset({AD}),
        lambda c, r: ("/api/admin/unlink", {"json": {"worker_id": c.id("walt"), "su_id": c.id("sam")}}),
        mutates=True,
    ),
    ("GET", "/api/topics"): Entry(frozenset({SU}), plain("/api/topics")),
    ("GET", "/api/topics/{topic_id}"): Entry(frozenset({SU}), plain("/api/topics/recovery")),
    ("GET", "/api/sections/{topic_id}/{slug}"): Entry(frozenset({SU}), plain("/api/sections/recovery/hope")),
    ("GET", "/api/progress"): Entry(frozenset({SU}), plain("/api/progress")),
    ("GET", "/api/answers"): Entry(frozenset({SU}), plain("/api/answers")),
    ("GET", "/api/trackers/{tracker_id}"): Entry(frozenset({SU}), plain("/api/trackers/mood")),
    ("GET", "/api/worksheets/{worksheet_id}"): Entry(frozenset({SU}), plain("/api/worksheets/strengths")),
    ("POST", "/api/events"): Entry(
        frozenset({SU, WK}),
        events_sample,
        mutates=True,
        other=lambda c, r: ("/api/events", {"json": ev("TopicOpened", {"topic_id": "health"}, c.other_session)}),
    ),
    ("GET", "/api/sharing"): Entry(frozenset({SU}), plain("/api/sharing")),
    ("POST", "/api/sharing"): Entry(
        frozenset({SU}),
        lambda c, r: ("/api/sharing", {"json": {"scope": "tracker", "ref": "mood", "shared": True}}),
        mutates=True,
    ),
    ("GET", "/api/consent"): Entry(frozenset({SU}), plain("/api/consent")),
    ("POST", "/api/consent"): Entry(
        frozenset({SU}), lambda c, r: ("/api/consent", {"json": {"research": True}}), mutates=True
    ),
    ("GET", "/api/links"): Entry(frozenset({SU}), plain("/api/links")),
    ("GET", "/api/caseload"): Entry(frozenset({WK}), plain("/api/caseload")),
    ("GET", "/api/caseload/{su_id}"): Entry(
        frozenset({WK}),
        lambda c, r: (f"/api/caseload/{c.id('sam')}", {}),
        other=lambda c, r: (f"/api/caseload/{c.id('sue')}", {}),
    ),
    ("GET", "/api/openapi.json"): Entry(ALL, plain("/api/openapi.json")),
    # My journey (web/pages/journey.py, web/api/journey.py). The worker's answer sample is in
    # "health", which the ("POST", "/sharing") entry above shares; worksheets are not shared.
    ("GET", "/journey"): Entry(frozenset({SU}), plain("/journey")),
    ("GET", "/journey/sessions/{ref}"): Entry(
        frozenset({SU}),
        lambda c, r: (f"/journey/sessions/{c.own_session}", {}),
        other=lambda c, r: (f"/journey/sessions/{c.other_session}", {}),
    ),
    ("GET", "/journey/answers/{question_id:path}"): Entry(frozenset({SU}), plain("/journey/answers/recovery/hope/q1")),
    ("GET", "/journey/worksheets/{worksheet_id}/{item_id}"): Entry(
        frozenset({SU}), plain("/journey/worksheets/strengths/i-none"), ok=frozenset({404})
    ),
    ("GET", "/journey/charts"): Entry(frozenset({SU}), plain("/journey/charts")),
    ("POST", "/journey/export"): Entry(frozenset({SU}), plain("/journey/export"), mutates=True),
    ("GET", "/caseload/{su_id}/journey"): Entry(
        frozenset({WK}),
        lambda c, r: (f"/caseload/{c.id('sam')}/journey", {}),
        other=lambda c, r: (f"/caseload/{c.id('sue')}/journey", {}),
    ),
    ("GET", "/caseload/{su_id}/journey/sessions/{ref}"): Entry(
        frozenset({WK}),
        lambda c, r: (f"/caseload/{c.id('sam')}/journey/sessions/{c.own_session}", {}),
        other=lambda c, r: (f"/caseload/{c.id('sue')}/journey/sessions/{c.other_session}", {}),
    ),
    ("GET", "/caseload/{su_id}/journey/answers/{question_id:path}"): Entry(
        frozenset({WK}),
        lambda c, r: (f"/caseload/{c.id('sam')}/journey/answers/health/body-and-mind/q1", {}),
        other=lambda c, r: (f"/caseload/{c.id('sue')}/journey/answers/health/body-and-mind/q1", {}),
    ),
    ("GET", "/caseload/{su_id}/journey/worksheets/{worksheet_id}/{item_id}"): Entry(
        frozenset({WK}),
        lambda c, r: (f"/caseload/{c.id('sam')}/journey/worksheets/strengths/i-none", {}),
        other=lambda c, r: (f"/caseload/{c.id('sue')}/journey/worksheets/strengths/i-none", {}),
        ok=frozenset({403}),
    ),
    ("GET", "/caseload/{su_id}/journey/charts"): Entry(
        frozenset({WK}),
        lambda c, r: (f"/caseload/{c.id('sam')}/journey/charts", {}),
        other=lambda c, r: (f"/caseload/{c.id('sue')}/journey/charts", {}),
    ),
    ("GET", "/api/journey"): Entry(frozenset({SU}), plain("/api/journey")),
    ("GET", "/api/journey/sessions/{ref}"): Entry(
        frozenset({SU}),
        lambda c, r: (f"/api/journey/sessions/{c.own_session}", {}),
        other=lambda c, r: (f"/api/journey/sessions/{c.other_session}", {}),
    ),
    ("GET", "/api/journey/answers/{question_id:path}"): Entry(
        frozenset({SU}), plain("/api/journey/answers/recovery/hope/q1")
    ),
    ("GET", "/api/journey/charts"): Entry(frozenset({SU}), plain("/api/journey/charts")),
    ("POST", "/api/journey/export"): Entry(frozenset({SU}), plain("/api/journey/export"), mutates=True),
    ("GET", "/api/caseload/{su_id}/journey"): Entry(
        frozenset({WK}),
        lambda c, r: (f"/api/caseload/{c.id('sam')}/journey", {}),
        other=lambda c, r: (f"/api/caseload/{c.id('sue')}/journey", {}),
    ),
    ("GET", "/api/caseload/{su_id}/journey/sessions/{ref}"): Entry(
        frozenset({WK}),
        lambda c, r: (f"/api/caseload/{c.id('sam')}/journey/sessions/{c.own_session}", {}),
        other=lambda c, r: (f"/api/caseload/{c.id('sue')}/journey/sessions/{c.other_session}", {}),
    ),
    ("GET", "/api/caseload/{su_id}/journey/answers/{question_id:path}"): Entry(
        frozenset({WK}),
        lambda c, r: (f"/api/caseload/{c.id('sam')}/journey/answers/health/body-and-mind/q1", {}),
        other=lambda c, r: (f"/api/caseload/{c.id('sue')}/journey/answers/health/body-and-mind/q1", {}),
    ),
    ("GET", "/api/caseload/{su_id}/journey/charts"): Entry(
        frozenset({WK}),
        lambda c, r: (f"/api/caseload/{c.id('sam')}/journey/charts", {}),
        other=lambda c, r: (f"/api/caseload/{c.id('sue')}/journey/charts", {}),
    ),
    # Joint sessions (web/live_routes.py).
    ("POST", "/sessions"): Entry(
        frozenset({WK}),
        lambda c, r: ("/sessions", {"data": {"su_id": c.id("sam")}}),
        mutates=True,
        other=lambda c, r: ("/sessions", {"data": {"su_id": c.id("sue")}}),
    ),
    ("POST", "/sessions/{session_id}/code"): Entry(
        frozenset({WK}),
        lambda c, r: (f"/sessions/{c.own_session}/code", {}),
        mutates=True,
        other=lambda c, r: (f"/sessions/{c.other_session}/code", {}),
    ),
    ("GET", "/join"): Entry(frozenset({SU}), plain("/join")),
    ("POST", "/join"): Entry(
        frozenset({SU}), lambda c, r: ("/join", {"data": {"code": "000000"}}), mutates=True, ok=frozenset({404})
    ),
    ("POST", "/live/join"): Entry(
        frozenset(), lambda c, r: ("/live/join", {"json": {"code": "000000"}}), mutates=True, csrf=False
    ),
    ("POST", "/live/token"): Entry(
        ALL,
        lambda c, r: ("/live/token", {"json": {"username": f"nobody{next(_n)}", "password": "wrong-password"}}),
        mutates=True,
        csrf=False,
        ok=frozenset({401}),
    ),
    ("POST", "/live/token/logout"): Entry(
        frozenset(), lambda c, r: ("/live/token/logout", {"json": {}}), mutates=True, csrf=False
    ),
    ("GET", "/sessions/{session_id}"): Entry(
        frozenset({SU, WK}),
        lambda c, r: (f"/sessions/{c.own_session}", {}),
        other=lambda c, r: (f"/sessions/{c.other_session}", {}),
    ),
    ("GET", "/sessions/{session_id}/topics/{topic_id}"): Entry(
        frozenset({SU, WK}),
        lambda c, r: (f"/sessions/{c.own_session}/topics/recovery", {}),
        other=lambda c, r: (f"/sessions/{c.other_session}/topics/recovery", {}),
    ),
    ("GET", "/sessions/{session_id}/topics/{topic_id}/{slug}"): Entry(
        frozenset({SU, WK}),
        lambda c, r: (f"/sessions/{c.own_session}/topics/recovery/hope", {}),
        other=lambda c, r: (f"/sessions/{c.other_session}/topics/recovery/hope", {}),
    ),
    # A worker sees a chart in a session only while the SU shows it on the shared screen.
    ("GET", "/sessions/{session_id}/charts/{tracker_id}"): Entry(
        frozenset({SU}),
        lambda c, r: (f"/sessions/{c.own_session}/charts/mood", {}),
        other=lambda c, r: (f"/sessions/{c.other_session}/charts/mood", {}),
        declared=frozenset({SU, WK}),
    ),
    ("POST", "/sessions/{session_id}/leave"): Entry(
        frozenset({SU, WK}),
        lambda c, r: (f"/sessions/{c.own_session}/leave", {}),
        mutates=True,
        other=lambda c, r: (f"/sessions/{c.other_session}/leave", {}),
    ),
    ("POST", "/sessions/{session_id}/end"): Entry(
        frozenset({WK}),
        lambda c, r: (f"/sessions/{c.fresh_session()}/end", {}) if hasattr(c, "fresh_session") else ("", {}),
        mutates=True,
        other=lambda c, r: (f"/sessions/{c.other_session}/end", {}),
    ),
    ("WS", "/ws/sessions/{session_id}"): Entry(frozenset({SU, WK}), plain("")),  # covered by tests/realtime
    ("MOUNT", "/static"): Entry(ALL, plain("/static/tandem.css")),
    ("MOUNT", "/media"): Entry(ALL, plain("/media/v-recovery-amara.vtt")),
}


def research_ctx(site: Site, ctx: Ctx) -> None:
    from web.demo import DEMO_STUDY
    from web.usecases.research import pseudonym

    t = site.tandem
    ctx.study = str(A.study_id(DEMO_STUDY))
    ctx.other_study = str(
        t.create_study(
            "not-ritas",
            "Not Rita's",
            [{"id": "one", "label": "One"}],
            "2026-01-01",
            "2026-07-01",
            [],
            False,
            site.ids["adam"],
        )
    )
    assert site.views.wait_for(t.head(), 60)
    row = site.views.research.study(ctx.study)
    ctx.pseudonym = pseudonym(row["secret"], _first_consenting(site, ctx.study))


def _first_consenting(site: Site, study: str) -> str:
    return next(m["su_id"] for m in site.views.research.members(study) if m["engagement"])


def app_routes(app: Any) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for r in app.routes:
        if isinstance(r, Route):
            found |= {(m, r.path) for m in (r.methods or set()) - {"HEAD"}}
        elif isinstance(r, WebSocketRoute):
            found.add(("WS", r.path))
        elif isinstance(r, Mount):
            found.add(("MOUNT", r.path))
        else:
            found.add((type(r).__name__, getattr(r, "path", "?")))
    return found


def test_every_route_has_a_matrix_entry(sqlite_site: Site) -> None:
    routes = app_routes(sqlite_site.app)
    missing = sorted(routes - set(MATRIX))
    assert not missing, f"routes without an authorisation-matrix entry: {missing}"
    stale = sorted(set(MATRIX) - routes)
    assert not stale, f"matrix entries for routes that no longer exist: {stale}"


def test_declared_policies_match_the_matrix(sqlite_site: Site) -> None:
    """Each guarded endpoint's own declaration agrees with the matrix (roles and CSRF)."""
    for r in sqlite_site.app.routes:
        policy = getattr(getattr(r, "endpoint", None), "policy", "absent")
        if not isinstance(r, Route) or policy is None:
            continue
        for m in (r.methods or set()) - {"HEAD"}:
            entry = MATRIX[(m, r.path)]
            assert policy != "absent", f"{m} {r.path} is not declared with web.guard.guarded"
            if policy.roles is not None:
                expected = entry.declared if entry.declared is not None else entry.allowed
                assert set(policy.roles) == set(expected) or not expected, (m, r.path, policy.roles, expected)
            assert policy.mutates == entry.mutates, (m, r.path)


class Probe:
    """Logged-in clients per role, and the store's head to see what a request stored."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.clients: dict[str, tuple[Any, str]] = {}

    def client(self, role: str) -> tuple[Any, str]:
        if role not in self.clients:
            self.clients[role] = self.site.login(USER.get(role))
        return self.clients[role]

    def forget(self, role: str) -> None:
        self.clients.pop(role, None)

    def call(self, role: str, method: str, url: str, kwargs: dict[str, Any], csrf: bool = True) -> Any:
        c, token = self.client(role)
        kw = dict(kwargs)
        if method == "POST" and csrf:
            if "data" in kw:
                kw["data"] = {**kw["data"], "csrf": token}
            else:
                kw["headers"] = {"X-CSRF-Token": token}
        return c.request(method, url, **kw)

    def stored_since(self, head: int) -> list[Any]:
        t = self.site.tandem
        return [e for _, e in t.read(head, 1000)]


def _refused(resp: Any, role: str, url: str) -> bool:
    if role == ANON:
        if resp.status_code == 401:
            return True
        return resp.status_code in (302, 303) and "/login" in resp.headers.get("location", "")
    return resp.status_code in (401, 403)


def _only_audits(events: list[Any]) -> bool:
    return all(isinstance(e, A.AuditTrail.DataAccessed) for e in events)


LIVE = ("/sessions", "/join", "/live/", "/ws/")  # web/live_routes.py


def _group(path: str) -> str:
    return "live" if path.startswith(LIVE) else "web"


@pytest.mark.parametrize("group", ["web", "live"])
def test_matrix(site: Site, group: str) -> None:
    t = site.tandem
    ctx = Ctx(site)
    ctx.own_session = str(t.start_session(Actor(site.ids["wendy"], "worker"), site.ids["sam"]))
    ctx.other_session = str(t.start_session(Actor(site.ids["walt"], "worker"), site.ids["sue"]))
    ctx.fresh_session = lambda: str(t.start_session(Actor(site.ids["wendy"], "worker"), site.ids["sam"]))  # type: ignore[attr-defined]
    research_ctx(site, ctx)
    probe = Probe(site)
    problems: list[str] = []
    for (method, path), entry in MATRIX.items():
        if method in ("WS",) or _group(path) != group:
            continue
        verb = "GET" if method == "MOUNT" else method
        for role in sorted(ALL):
            url, kwargs = entry.own(ctx, role)
            probe.client(role)  # logged in before the head is read: a log-in stores its session
            head = t.head()
            resp = probe.call(role, verb, url, kwargs, csrf=entry.csrf)
            new = probe.stored_since(head)
            label = f"{role:<12} {verb} {path} -> {resp.status_code}"
            if role in entry.allowed:
                if resp.status_code not in entry.ok:
                    problems.append(f"{label}: expected one of {sorted(entry.ok)}: {resp.text[:200]}")
            else:
                if not _refused(resp, role, url):
                    problems.append(f"{label}: expected refusal")
                if not _only_audits(new):
                    problems.append(f"{label}: refused request stored {[type(e).__qualname__ for e in new]}")
            if entry.ends_session:
                probe.forget(role)
            # Another person's data, for the roles that may use this route on their own.
            if entry.other and role in entry.allowed:
                url, kwargs = entry.other(ctx, role)
                head = t.head()
                resp = probe.call(role, verb, url, kwargs, csrf=entry.csrf)
                new = probe.stored_since(head)
                label = f"{role:<12} {verb} {path} (other's) -> {resp.status_code}"
                if resp.status_code not in (403, 404):
                    problems.append(f"{label}: expected 403/404: {resp.text[:200]}")
                if not _only_audits(new):
                    problems.append(f"{label}: stored {[type(e).__qualname__ for e in new]}")
                audits = [e for e in new if isinstance(e, A.AuditTrail.DataAccessed) and not e.allowed]
                if not audits:
                    problems.append(f"{label}: no audit event for touching another person's data")
    assert not problems, "\n".join(problems)


def test_state_changing_calls_need_a_current_csrf_token(site: Site) -> None:
    t = site.tandem
    ctx = Ctx(site)
    ctx.own_session = str(t.start_session(Actor(site.ids["wendy"], "worker"), site.ids["sam"]))
    ctx.other_session = ctx.own_session
    ctx.fresh_session = lambda: ctx.own_session  # type: ignore[attr-defined]
    research_ctx(site, ctx)
    probe = Probe(site)
    # A token from an earlier session of the same person is stale.
    old_client, stale = site.login("sam")
    old_client.post("/logout", data={"csrf": stale})
    problems = []
    for (method, path), entry in MATRIX.items():
        if not entry.mutates or not entry.csrf:
            continue
        for role in sorted(entry.allowed):
            url, kwargs = entry.own(ctx, role)
            for bad in (None, stale, "x" * 43):
                c, _ = probe.client(role)
                kw = dict(kwargs)
                if "data" in kw:
                    kw["data"] = {**kw["data"], **({"csrf": bad} if bad else {})}
                elif bad:
                    kw["headers"] = {"X-CSRF-Token": bad}
                head = t.head()
                resp = c.request(method, url, **kw)
                if resp.status_code != 403 or t.head() != head:
                    problems.append(
                        f"{role} {method} {path} csrf={bad and bad[:6]!r} -> {resp.status_code}, stored {t.head() - head}"
                    )
    assert not problems, "\n".join(problems)
