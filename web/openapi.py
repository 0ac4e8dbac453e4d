"""The OpenAPI 3.1 document for /api, served at /api/openapi.json.

Written by hand from a compact table: the API is small and its bodies are simple,
and a hand-kept schema is what clients (and schemathesis) test against.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from core.commands import JOURNEY

ERR = {"$ref": "#/components/responses/Error"}
OBJ: dict[str, Any] = {"type": "object"}
STR = {"type": "string"}
BOOL = {"type": "boolean"}
UUID_STR = {"type": "string", "format": "uuid"}
CID = {
    "type": "string",
    "minLength": 8,
    "maxLength": 100,
    "description": "client-generated event id; a retry is recorded once",
}
ACK = {"$ref": "#/components/schemas/Ack"}


def _body(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object", "properties": props, "required": required, "additionalProperties": False}
            }
        },
    }


def _path_param(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or STR}


JOURNEY_FILTERS = ("kind", "topic", "together", "from", "to", "before", "limit")
# The SU's own journey, and a linked worker's view of it.
_JOURNEY_VIEWERS: list[tuple[str, str, list[dict[str, Any]]]] = [
    ("/api", "service_user", []),
    ("/api/caseload/{su_id}", "worker", [_path_param("su_id", UUID_STR)]),
]

# (method, path, summary, roles, body, ok status, ok schema, parameters)
OPS: list[tuple[str, str, str, str, dict[str, Any] | None, int, dict[str, Any], list[dict[str, Any]]]] = [
    ("get", "/api/session", "Who is logged in, and this session's CSRF token", "anyone", None, 200, OBJ, []),
    (
        "post",
        "/api/login",
        "Log in (rate-limited per account and per address)",
        "anyone",
        _body({"username": STR, "password": STR}, ["username", "password"]),
        200,
        OBJ,
        [],
    ),
    ("post", "/api/logout", "Log out this session", "anyone", None, 200, OBJ, []),
    ("post", "/api/logout-everywhere", "End every session of this account", "logged in", None, 200, OBJ, []),
    (
        "post",
        "/api/account/password",
        "Change my password: every other session ends, this one gets a fresh cookie",
        "logged in",
        _body({"current_password": STR, "new_password": STR}, ["current_password", "new_password"]),
        200,
        OBJ,
        [],
    ),
    ("get", "/api/topics", "The seven topics with my progress", "service_user", None, 200, OBJ, []),
    (
        "get",
        "/api/topics/{topic_id}",
        "A topic's sections and which I have viewed",
        "service_user",
        None,
        200,
        OBJ,
        [_path_param("topic_id")],
    ),
    (
        "get",
        "/api/sections/{topic_id}/{slug}",
        "A section with my answers and worksheet items",
        "service_user",
        None,
        200,
        OBJ,
        [_path_param("topic_id"), _path_param("slug")],
    ),
    ("get", "/api/progress", "My progress per topic and video", "service_user", None, 200, OBJ, []),
    (
        "get",
        "/api/answers",
        "My saved answers (newest per question)",
        "service_user",
        None,
        200,
        OBJ,
        [{"name": "section_id", "in": "query", "required": False, "schema": STR}],
    ),
    (
        "get",
        "/api/trackers/{tracker_id}",
        "My tracker points and weekly summary",
        "service_user",
        None,
        200,
        OBJ,
        [_path_param("tracker_id")],
    ),
    (
        "get",
        "/api/worksheets/{worksheet_id}",
        "My worksheet items",
        "service_user",
        None,
        200,
        OBJ,
        [_path_param("worksheet_id")],
    ),
    (
        "post",
        "/api/events",
        "Record one journey action (a worker only inside a joint session)",
        "service_user, worker",
        _body(
            {
                "type": {"type": "string", "enum": list(JOURNEY)},
                "payload": OBJ,
                "client_event_id": CID,
                "session_id": {"type": ["string", "null"], "format": "uuid"},
                "client_time": {"type": ["string", "null"], "format": "date-time"},
            },
            ["type", "payload", "client_event_id"],
        ),
        201,
        ACK,
        [],
    ),
    ("get", "/api/sharing", "What I share with my linked worker", "service_user", None, 200, OBJ, []),
    (
        "post",
        "/api/sharing",
        "Share or un-share a topic, answer, tracker or worksheet",
        "service_user",
        _body(
            {
                "scope": {"type": "string", "enum": ["topic", "answer", "tracker", "worksheet"]},
                "ref": STR,
                "shared": BOOL,
                "client_event_id": CID,
            },
            ["scope", "ref", "shared"],
        ),
        200,
        ACK,
        [],
    ),
    ("get", "/api/consent", "My research consent", "service_user", None, 200, OBJ, []),
    (
        "post",
        "/api/consent",
        "Give or withdraw research consent",
        "service_user",
        _body({"research": BOOL, "client_event_id": CID}, ["research"]),
        200,
        ACK,
        [],
    ),
    ("get", "/api/links", "The workers linked to me", "service_user", None, 200, OBJ, []),
    ("get", "/api/caseload", "My linked service users and what each shares", "worker", None, 200, OBJ, []),
    (
        "get",
        "/api/caseload/{su_id}",
        "What one linked service user shares with me (audited)",
        "worker",
        None,
        200,
        OBJ,
        [_path_param("su_id", {"type": "string", "format": "uuid"})],
    ),
    *[
        (
            "get",
            prefix + "/journey",
            "The journey timeline, newest first (keyset-paged; a worker sees only what is shared)",
            role,
            None,
            200,
            OBJ,
            [*su_param, *[{"name": q, "in": "query", "required": False, "schema": STR} for q in JOURNEY_FILTERS]],
        )
        for prefix, role, su_param in _JOURNEY_VIEWERS
    ],
    *[
        (
            "get",
            prefix + "/journey/sessions/{ref}",
            "A session's events and the screen at `position` (replay)",
            role,
            None,
            200,
            OBJ,
            [
                *su_param,
                _path_param("ref"),
                {"name": "position", "in": "query", "required": False, "schema": STR},
                {"name": "events", "in": "query", "required": False, "schema": STR},
            ],
        )
        for prefix, role, su_param in _JOURNEY_VIEWERS
    ],
    *[
        (
            "get",
            prefix + "/journey/answers/{question_id}",
            "Every saved version of an answer (then and now)",
            role,
            None,
            200,
            OBJ,
            [*su_param, _path_param("question_id")],
        )
        for prefix, role, su_param in _JOURNEY_VIEWERS
    ],
    *[
        (
            "get",
            prefix + "/journey/charts",
            "Each tracker across the journey (zoom week, month or quarter)",
            role,
            None,
            200,
            OBJ,
            [
                *su_param,
                {"name": "zoom", "in": "query", "required": False, "schema": STR},
                {"name": "tracker", "in": "query", "required": False, "schema": STR},
            ],
        )
        for prefix, role, su_param in _JOURNEY_VIEWERS
    ],
    (
        "get",
        "/api/admin/accounts",
        "All accounts",
        "admin",
        None,
        200,
        OBJ,
        [
            {
                "name": "role",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "enum": ["service_user", "worker", "researcher", "admin"]},
            }
        ],
    ),
    (
        "post",
        "/api/admin/accounts",
        "Create an account",
        "admin",
        _body(
            {
                "username": {"type": "string", "minLength": 2, "maxLength": 64},
                "display_name": STR,
                "role": {"type": "string", "enum": ["service_user", "worker", "researcher", "admin"]},
                "password": {"type": "string", "minLength": 8},
            },
            ["username", "display_name", "role", "password"],
        ),
        201,
        OBJ,
        [],
    ),
    (
        "post",
        "/api/admin/links",
        "Link a worker to a service user",
        "admin",
        _body(
            {"worker_id": {"type": "string", "format": "uuid"}, "su_id": {"type": "string", "format": "uuid"}},
            ["worker_id", "su_id"],
        ),
        200,
        OBJ,
        [],
    ),
    (
        "post",
        "/api/admin/unlink",
        "Unlink a worker from a service user",
        "admin",
        _body(
            {"worker_id": {"type": "string", "format": "uuid"}, "su_id": {"type": "string", "format": "uuid"}},
            ["worker_id", "su_id"],
        ),
        200,
        OBJ,
        [],
    ),
    (
        "post",
        "/api/admin/accounts/{user_id}/password",
        "Reset the password of someone who forgot theirs: their password and sessions stop working, and the"
        " answer's `link` (single-use, valid 24 h, shown only here) lets them choose a new one",
        "admin",
        None,
        200,
        {
            "type": "object",
            "properties": {
                "user_id": UUID_STR,
                "done": STR,
                "position": {"type": "integer"},
                "link": {"type": "string", "format": "uri"},
                "username": STR,
            },
            "required": ["user_id", "done", "position", "link"],
        },
        [_path_param("user_id", UUID_STR)],
    ),
    (
        "post",
        "/api/admin/accounts/{user_id}/deactivate",
        "Stop an account from logging in (not your own)",
        "admin",
        None,
        200,
        OBJ,
        [_path_param("user_id", UUID_STR)],
    ),
    (
        "post",
        "/api/admin/accounts/{user_id}/erase",
        "Destroy a service user's key after confirming their username: their free text becomes unreadable",
        "admin",
        _body({"confirm": STR}, ["confirm"]),
        200,
        OBJ,
        [_path_param("user_id", UUID_STR)],
    ),
]

SID = _path_param("study_id", UUID_STR)
PSEUDO = _path_param("pseudonym", {"type": "string", "pattern": "^p-[0-9a-f]{12}$"})
ARM = {"type": "object", "properties": {"id": STR, "label": STR, "description": STR}, "required": ["id", "label"]}
OPS += [
    ("get", "/api/research/studies", "The studies I am on (researcher)", "researcher", None, 200, OBJ, []),
    (
        "get",
        "/api/research/studies/{study_id}/metrics",
        "Every metric of docs/metrics.md by arm and solo vs joint (consenting participants; audited)",
        "researcher on the study",
        None,
        200,
        OBJ,
        [SID],
    ),
    (
        "get",
        "/api/research/studies/{study_id}/participants",
        "Consenting participants by study pseudonym and arm (audited)",
        "researcher on the study",
        None,
        200,
        OBJ,
        [SID],
    ),
    (
        "get",
        "/api/research/studies/{study_id}/participants/{pseudonym}",
        "One participant's solo and joint sessions with their events (audited; raw ids refused)",
        "researcher on the study",
        None,
        200,
        OBJ,
        [SID, PSEUDO],
    ),
    (
        "get",
        "/api/research/studies/{study_id}/export/{name}",
        "Download an export, streamed (audited): events.csv, sessions.csv, events.jsonl, xapi.jsonl, parquet.zip",
        "researcher on the study",
        None,
        200,
        OBJ,
        [
            SID,
            _path_param(
                "name",
                {"type": "string", "enum": ["events.csv", "sessions.csv", "events.jsonl", "xapi.jsonl", "parquet.zip"]},
            ),
            {"name": "shift", "in": "query", "required": False, "schema": {"type": "string", "enum": ["0", "1"]}},
            {"name": "text", "in": "query", "required": False, "schema": {"type": "string", "enum": ["0", "1"]}},
        ],
    ),
    ("get", "/api/admin/studies", "All studies", "admin", None, 200, OBJ, []),
    (
        "post",
        "/api/admin/studies",
        "Create a study",
        "admin",
        _body(
            {
                "code": STR,
                "name": STR,
                "arms": {"type": "array", "items": ARM},
                "start": {"type": "string", "format": "date"},
                "end": {"type": "string", "format": "date"},
                "researchers": {"type": "array", "items": UUID_STR},
                "allow_text": BOOL,
            },
            ["code", "name", "arms", "start", "end"],
        ),
        201,
        OBJ,
        [],
    ),
    (
        "post",
        "/api/admin/studies/{study_id}/enrolments",
        "Enrol a service user into an arm (once per study)",
        "admin",
        _body({"su_id": UUID_STR, "arm": STR}, ["su_id", "arm"]),
        201,
        OBJ,
        [SID],
    ),
    (
        "get",
        "/api/consent/studies",
        "The studies I am enrolled in and what I agreed to",
        "service_user",
        None,
        200,
        OBJ,
        [],
    ),
    (
        "post",
        "/api/consent/studies/{study_id}",
        "Give or withdraw one provision of a study's consent (engagement, answer_text)",
        "service_user",
        _body(
            {
                "provision": {"type": "string", "enum": ["engagement", "answer_text"]},
                "given": BOOL,
                "client_event_id": CID,
            },
            ["provision", "given"],
        ),
        200,
        ACK,
        [SID],
    ),
]

MUTATING_NOTE = "State-changing calls need the header X-CSRF-Token (from GET /api/session)."

TOKEN = {
    "type": "object",
    "required": ["token", "user_id", "role"],
    "properties": {
        "token": {"type": "string", "description": "signed; valid 12 hours, and only while its log-in is live"},
        "user_id": UUID_STR,
        "role": {"type": "string", "enum": ["service_user", "worker", "researcher", "admin"]},
    },
}
INVITE = {
    "type": "object",
    "required": ["session_id", "code", "link", "expires_in_min"],
    "properties": {"session_id": UUID_STR, "code": STR, "link": STR, "expires_in_min": {"type": "integer"}},
}
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
# Set-up for native live clients (docs/protocol.md, "Set-up"): bearer token, no cookie, no CSRF.
# (method, path, summary, body, ok status, ok schema, security)
LIVE_OPS: list[tuple[str, str, str, dict[str, Any] | None, int, dict[str, Any], list[dict[str, list[str]]]]] = [
    (
        "post",
        "/live/token",
        "Log in for a native client: a bearer token for one new log-in (rate-limited like /api/login)",
        _body({"username": STR, "password": STR}, ["username", "password"]),
        200,
        TOKEN,
        [],
    ),
    ("post", "/live/token/logout", "End the token's log-in (the token stops working)", None, 200, OBJ, BEARER),
    (
        "post",
        "/sessions",
        "The worker starts a joint session with a linked service user; returns the join code",
        _body({"su_id": UUID_STR, "same_device": BOOL}, ["su_id"]),
        201,
        INVITE,
        BEARER,
    ),
    (
        "post",
        "/live/join",
        "The service user redeems the join code (10 wrong codes per 10 minutes)",
        _body({"code": STR}, ["code"]),
        200,
        {"type": "object", "required": ["session_id"], "properties": {"session_id": UUID_STR}},
        BEARER,
    ),
]


def build() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for method, path, summary, roles, body, ok, schema, params in OPS:
        op: dict[str, Any] = {
            "summary": summary,
            "description": f"Roles: {roles}." + (f" {MUTATING_NOTE}" if method == "post" else ""),
            "operationId": f"{method}_{path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}",
            "responses": {
                str(ok): {"description": "OK", "content": {"application/json": {"schema": schema}}},
                "400": ERR,
                "401": ERR,
                "403": ERR,
                "404": ERR,
                "409": ERR,
                "413": ERR,
                "415": ERR,
                "422": ERR,
                "429": ERR,
            },
        }
        if params:
            op["parameters"] = params
        if body:
            op["requestBody"] = body
        paths.setdefault(path, {})[method] = op
    for method, path, summary, body, ok, schema, security in LIVE_OPS:
        responses = {str(ok): {"description": "OK", "content": {"application/json": {"schema": schema}}}}
        paths.setdefault(path, {})[method] = {
            "summary": summary,
            "description": "For native live clients (send Accept: application/json); see docs/protocol.md.",
            "operationId": f"{method}_{path.strip('/').replace('/', '_')}",
            "security": security,
            "responses": responses | {str(c): ERR for c in (400, 401, 403, 404, 409, 415, 422, 429)},
            **({"requestBody": body} if body else {}),
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tandem API",
            "version": "1",
            "description": "The JSON API behind Tandem's pages. "
            "Authenticate with the session cookie from POST /api/login. The realtime channel is documented in docs/protocol.md.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "tandem_session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
                "bearer": {"type": "http", "scheme": "bearer", "description": "a token from POST /live/token"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {"code": STR, "field": {"type": ["string", "null"]}, "message": STR},
                        }
                    },
                },
                "Ack": {
                    "type": "object",
                    "required": ["position", "event_id", "duplicate", "fresh"],
                    "properties": {
                        "position": {"type": "integer"},
                        "event_id": STR,
                        "duplicate": BOOL,
                        "fresh": {
                            "type": "boolean",
                            "description": "false: the read models had not caught up within 2 s",
                        },
                    },
                },
            },
            "responses": {
                "Error": {
                    "description": "A clear reason",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
            },
        },
        "security": [{"session": []}],
    }


_DOC = build()


async def document(request: Request) -> JSONResponse:
    return JSONResponse(_DOC)


document.policy = None  # type: ignore[attr-defined]  # public
