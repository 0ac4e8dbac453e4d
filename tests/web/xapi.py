"""An xAPI 1.0.3 statement validator, written from the specification's rules (Part Two, §2.4).

It checks what an LRS must reject: required properties, one Inverse Functional Identifier
per Agent, account and mbox forms, IRIs where IRIs are required, UUID ids, ISO 8601
timestamps and durations, language maps, extensions keyed by IRIs, and property names
the spec does not define.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import UUID

IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$")
LANG = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")
DURATION = re.compile(
    r"^P(?!$)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$"
)
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
STATEMENT_KEYS = {
    "id",
    "actor",
    "verb",
    "object",
    "result",
    "context",
    "timestamp",
    "stored",
    "authority",
    "version",
    "attachments",
}
IFIS = ("mbox", "mbox_sha1sum", "openid", "account")


class Invalid(AssertionError):
    pass


def _fail(path: str, why: str) -> None:
    raise Invalid(f"{path}: {why}")


def _iri(v: Any, path: str) -> None:
    if not isinstance(v, str) or not IRI.match(v):
        _fail(path, f"must be an IRI, got {v!r}")


def _uuid(v: Any, path: str) -> None:
    try:
        if not isinstance(v, str) or str(UUID(v)) != v.lower():
            raise ValueError
    except ValueError:
        _fail(path, f"must be a UUID in its canonical form, got {v!r}")


def _lang_map(v: Any, path: str) -> None:
    if not isinstance(v, dict) or not v:
        _fail(path, "must be a non-empty language map")
    for k, text in v.items():
        if not LANG.match(k):
            _fail(path, f"{k!r} is not an RFC 5646 language tag")
        if not isinstance(text, str):
            _fail(path, "values must be strings")


def _extensions(v: Any, path: str) -> None:
    if not isinstance(v, dict):
        _fail(path, "must be an object")
    for k in v:
        _iri(k, f"{path}[{k!r}] key")


def _timestamp(v: Any, path: str) -> None:
    if not isinstance(v, str) or not TIMESTAMP.match(v):
        _fail(path, f"must be an ISO 8601 timestamp with a time zone, got {v!r}")
    datetime.fromisoformat(v.replace("Z", "+00:00"))


def _agent(v: Any, path: str, group_ok: bool = True) -> None:
    if not isinstance(v, dict):
        _fail(path, "must be an object")
    kind = v.get("objectType", "Agent")
    if kind not in ("Agent", "Group") or (kind == "Group" and not group_ok):
        _fail(path, f"objectType {kind!r} not allowed here")
    ifis = [k for k in IFIS if k in v]
    if kind == "Agent" and len(ifis) != 1:
        _fail(path, f"an Agent needs exactly one identifier, has {ifis}")
    if kind == "Group":
        if len(ifis) > 1:
            _fail(path, "a Group has at most one identifier")
        if not ifis and not isinstance(v.get("member"), list):
            _fail(path, "an anonymous Group needs a member list")
        for i, m in enumerate(v.get("member", [])):
            _agent(m, f"{path}.member[{i}]", group_ok=False)
    if "mbox" in v and not (isinstance(v["mbox"], str) and re.match(r"^mailto:[^@\s]+@[^@\s]+$", v["mbox"])):
        _fail(path + ".mbox", "must be mailto:address")
    if "mbox_sha1sum" in v and not re.match(r"^[0-9a-f]{40}$", str(v["mbox_sha1sum"])):
        _fail(path + ".mbox_sha1sum", "must be 40 hex digits")
    if "openid" in v:
        _iri(v["openid"], path + ".openid")
    if "account" in v:
        acc = v["account"]
        if not isinstance(acc, dict) or set(acc) != {"homePage", "name"}:
            _fail(path + ".account", "must have exactly homePage and name")
        _iri(acc["homePage"], path + ".account.homePage")
        if not isinstance(acc["name"], str) or not acc["name"]:
            _fail(path + ".account.name", "must be a non-empty string")


def _activity(v: Any, path: str) -> None:
    if v.get("objectType", "Activity") != "Activity":
        _fail(path, "must be an Activity")
    _iri(v.get("id"), path + ".id")
    d = v.get("definition")
    if d is not None:
        if not isinstance(d, dict):
            _fail(path + ".definition", "must be an object")
        for k in ("name", "description"):
            if k in d:
                _lang_map(d[k], f"{path}.definition.{k}")
        if "type" in d:
            _iri(d["type"], path + ".definition.type")
        if "moreInfo" in d:
            _iri(d["moreInfo"], path + ".definition.moreInfo")
        if "extensions" in d:
            _extensions(d["extensions"], path + ".definition.extensions")


def validate(s: Any) -> None:
    """Raise Invalid with the first broken rule; return None for a valid statement."""
    if not isinstance(s, dict):
        _fail("statement", "must be an object")
    extra = set(s) - STATEMENT_KEYS
    if extra:
        _fail("statement", f"unknown properties {sorted(extra)}")
    for req in ("actor", "verb", "object"):
        if req not in s:
            _fail("statement", f"{req} is required")
    if "id" in s:
        _uuid(s["id"], "id")
    _agent(s["actor"], "actor")
    verb = s["verb"]
    if not isinstance(verb, dict) or set(verb) - {"id", "display"}:
        _fail("verb", "must be an object with id and optional display")
    _iri(verb.get("id"), "verb.id")
    if "display" in verb:
        _lang_map(verb["display"], "verb.display")
    obj = s["object"]
    if not isinstance(obj, dict):
        _fail("object", "must be an object")
    kind = obj.get("objectType", "Activity")
    if kind == "Activity":
        _activity(obj, "object")
    elif kind in ("Agent", "Group"):
        _agent(obj, "object")
    elif kind == "StatementRef":
        _uuid(obj.get("id"), "object.id")
    else:
        _fail("object.objectType", f"{kind!r} is not supported here")
    if "result" in s:
        r = s["result"]
        if set(r) - {"score", "success", "completion", "response", "duration", "extensions"}:
            _fail("result", "unknown properties")
        for b in ("success", "completion"):
            if b in r and not isinstance(r[b], bool):
                _fail(f"result.{b}", "must be a boolean")
        if "response" in r and not isinstance(r["response"], str):
            _fail("result.response", "must be a string")
        if "duration" in r and not (isinstance(r["duration"], str) and DURATION.match(r["duration"])):
            _fail("result.duration", "must be an ISO 8601 duration")
        if "extensions" in r:
            _extensions(r["extensions"], "result.extensions")
    if "context" in s:
        c = s["context"]
        allowed = {
            "registration",
            "instructor",
            "team",
            "contextActivities",
            "revision",
            "platform",
            "language",
            "statement",
            "extensions",
        }
        if set(c) - allowed:
            _fail("context", f"unknown properties {sorted(set(c) - allowed)}")
        if "registration" in c:
            _uuid(c["registration"], "context.registration")
        if "instructor" in c:
            _agent(c["instructor"], "context.instructor")
        if "team" in c:
            if c["team"].get("objectType") != "Group":
                _fail("context.team", "must be a Group")
            _agent(c["team"], "context.team")
        if "contextActivities" in c:
            ca = c["contextActivities"]
            if set(ca) - {"parent", "grouping", "category", "other"}:
                _fail("context.contextActivities", "unknown keys")
            for k, acts in ca.items():
                for i, a in enumerate(acts if isinstance(acts, list) else [acts]):
                    _activity(a, f"context.contextActivities.{k}[{i}]")
        if "language" in c and not LANG.match(str(c["language"])):
            _fail("context.language", "must be a language tag")
        if "extensions" in c:
            _extensions(c["extensions"], "context.extensions")
    if "timestamp" in s:
        _timestamp(s["timestamp"], "timestamp")
    if "version" in s and not re.match(r"^1\.0(\.\d+)?$", str(s["version"])):
        _fail("version", "must be 1.0.x")
