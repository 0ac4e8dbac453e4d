"""Studies, per-study consent, pseudonyms and exports, over real stores and the real app.

The demo study (web/demo.py seed_study) is seeded with every site: 30 generated participants,
Sam enrolled (not consenting until he says so), Rita on it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest

from core import aggregates as A
from tests.web.conftest import Site
from tests.web.xapi import validate
from web.demo import DEMO_STUDY

ANSWER = "My secret answer about the bus stop."
QUESTION = "recovery/what-recovery-means/q1"
UUIDISH = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
EXPORTS = ("events.csv", "sessions.csv", "events.jsonl", "xapi.jsonl")


def study_id() -> str:
    return str(A.study_id(DEMO_STUDY))


def sam_acts(site: Site) -> None:
    c, token = site.login("sam")
    r = c.post(
        "/api/events",
        json={"type": "TopicOpened", "payload": {"topic_id": "health"}, "client_event_id": "c-sam-acts-01"},
        headers={"X-CSRF-Token": token},
    )
    assert r.status_code in (200, 201), r.text


def sam_consents(site: Site, provision: str, action: str) -> None:
    c, token = site.login("sam")
    r = c.post(
        f"/consent/studies/{study_id()}",
        data={"csrf": token, "provision": provision, "action": action},
    )
    assert r.status_code == 303, r.text


def pseudonyms(site: Site, rita: Any) -> set[str]:
    assert site.views.wait_for(site.tandem.head(), 60), "the read models caught up with the seeded study"
    r = rita.get(f"/api/research/studies/{study_id()}/participants")
    assert r.status_code == 200, r.text
    return {p["participant"] for p in r.json()["participants"]}


def refusals(site: Site, since: int) -> list[Any]:
    return [e for _, e in site.tandem.read(since, 1000) if isinstance(e, A.AuditTrail.DataAccessed) and not e.allowed]


def test_withdrawal_removes_a_participant_from_the_very_next_view_and_export(site: Site) -> None:
    rita, _ = site.login("rita")
    before = pseudonyms(site, rita)
    sam_acts(site)
    sam_consents(site, "engagement", "give")
    after = pseudonyms(site, rita)
    [sam] = after - before
    assert sam in rita.get(f"/research/{study_id()}").text
    assert rita.get(f"/research/{study_id()}/participants/{sam}").status_code == 200
    for name in EXPORTS:
        assert sam in rita.get(f"/research/{study_id()}/export/{name}").text, name

    sam_consents(site, "engagement", "withdraw")
    assert pseudonyms(site, rita) == before
    assert sam not in rita.get(f"/research/{study_id()}").text
    for name in EXPORTS:
        assert sam not in rita.get(f"/research/{study_id()}/export/{name}").text, name
    head = site.tandem.head()
    r = rita.get(f"/api/research/studies/{study_id()}/participants/{sam}")
    assert r.status_code == 403 and "consent" in r.json()["error"]["message"]
    assert refusals(site, head), "the refused look is audited"


def test_pseudonyms_differ_across_studies_and_are_stable_within_one(sqlite_site: Site) -> None:
    site = sqlite_site
    adam, token = site.login("adam")
    r = adam.post(
        "/api/admin/studies",
        json={
            "code": "second-study",
            "name": "A second study",
            "arms": [{"id": "only", "label": "Only arm"}],
            "start": "2020-01-01",
            "end": "2040-01-01",
            "researchers": [str(site.ids["rita"])],
        },
        headers={"X-CSRF-Token": token},
    )
    assert r.status_code == 201, r.text
    second = r.json()["study_id"]
    r = adam.post(
        f"/api/admin/studies/{second}/enrolments",
        json={"su_id": str(site.ids["sam"]), "arm": "only"},
        headers={"X-CSRF-Token": token},
    )
    assert r.status_code == 201, r.text
    sam, sam_token = site.login("sam")
    for sid in (study_id(), second):
        r = sam.post(
            f"/api/consent/studies/{sid}",
            json={"provision": "engagement", "given": True},
            headers={"X-CSRF-Token": sam_token},
        )
        assert r.status_code == 200, r.text
    rita, _ = site.login("rita")
    pseudonyms(site, rita)
    first_ids = [
        p["participant"] for p in rita.get(f"/api/research/studies/{study_id()}/participants").json()["participants"]
    ]
    again = [
        p["participant"] for p in rita.get(f"/api/research/studies/{study_id()}/participants").json()["participants"]
    ]
    [in_second] = [
        p["participant"] for p in rita.get(f"/api/research/studies/{second}/participants").json()["participants"]
    ]
    assert first_ids == again, "stable within a study"
    assert in_second not in first_ids, "Sam's pseudonym in the second study links to nobody in the first"
    assert all(re.fullmatch(r"p-[0-9a-f]{12}", p) for p in first_ids)
    accounts = adam.get("/api/admin/accounts").text
    assert in_second not in accounts and not any(p in accounts for p in first_ids), (
        "the admin's list does not re-identify"
    )


def test_no_name_username_id_or_free_text_reaches_a_researcher(sqlite_site: Site) -> None:
    site = sqlite_site
    sam, token = site.login("sam")
    r = sam.post(
        "/api/events",
        json={
            "type": "AnswerSaved",
            "payload": {"question_id": QUESTION, "answer": ANSWER},
            "client_event_id": "c-answer-0001",
        },
        headers={"X-CSRF-Token": token},
    )
    assert r.status_code == 201, r.text
    sam_consents(site, "engagement", "give")
    rita, _ = site.login("rita")
    outputs = {"/research": rita.get("/research").text}
    sid = study_id()
    for url in (
        f"/research/{sid}",
        f"/api/research/studies/{sid}/metrics",
        f"/api/research/studies/{sid}/participants",
        "/api/research/studies",
    ):
        outputs[url] = rita.get(url).text
    for p in pseudonyms(site, rita):
        outputs[p] = rita.get(f"/research/{sid}/participants/{p}").text
        outputs[p + ".json"] = rita.get(f"/api/research/studies/{sid}/participants/{p}").text
    for name in EXPORTS:
        for q in ("", "?shift=1"):
            r = rita.get(f"/research/{sid}/export/{name}{q}")
            assert r.status_code == 200
            outputs[name + q] = r.text
    people = site.views.directory.accounts()
    assert len(people) > 30
    secrets = {ANSWER}
    for a in people:
        if a["username"] == "rita":
            continue  # her own name is in the page header
        secrets |= {a["username"], a["display_name"], a["user_id"], a["pseudonym"]}
    for where, text in outputs.items():
        for s in secrets:
            assert s.lower() not in text.lower() or _only_as_substring_of_a_pseudonym(s, text), f"{s!r} in {where}"
        # Every UUID shown is a derived one (xAPI ids, registrations), never a person's or a session's id.
        known = {a["user_id"] for a in people} | {s["session_id"] for s in site.views.sessions.for_su(site.ids["sam"])}
        assert not known & set(UUIDISH.findall(text)), where


def _only_as_substring_of_a_pseudonym(s: str, text: str) -> bool:
    """Short usernames (e.g. "sam") may occur inside ordinary words; a word match is a leak."""
    return not re.search(rf"(?<![\w-]){re.escape(s)}(?![\w-])", text, re.I)


def test_every_exported_xapi_statement_is_valid(sqlite_site: Site) -> None:
    rita, _ = sqlite_site.login("rita")
    pseudonyms(sqlite_site, rita)
    r = rita.get(f"/research/{study_id()}/export/xapi.jsonl")
    assert r.status_code == 200
    statements = [json.loads(line) for line in r.text.splitlines()]
    assert len(statements) > 500
    for s in statements:
        validate(s)
    verbs = {s["verb"]["id"].rsplit("/", 1)[-1] for s in statements}
    assert {"initialized", "played", "paused", "completed", "terminated"} <= verbs
    joint = [s for s in statements if s.get("context", {}).get("team")]
    assert joint and all("registration" in s["context"] for s in joint)
    ids = [s["id"] for s in statements]
    assert len(ids) == len(set(ids))


def test_the_validator_rejects_broken_statements() -> None:
    from tests.web.xapi import Invalid

    good = {
        "id": "0d1f3f5e-4c1a-4d3e-9b2a-1c2d3e4f5a6b",
        "actor": {"objectType": "Agent", "account": {"homePage": "https://x.example", "name": "p-1"}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-GB": "completed"}},
        "object": {"objectType": "Activity", "id": "https://x.example/a"},
        "timestamp": "2026-01-01T10:00:00+00:00",
    }
    validate(good)
    broken = [
        {k: v for k, v in good.items() if k != "verb"},
        {**good, "id": "not-a-uuid"},
        {**good, "verb": {"id": "completed"}},
        {**good, "actor": {"objectType": "Agent", "mbox": "someone@example.org"}},
        {**good, "actor": {"objectType": "Agent"}},
        {**good, "timestamp": "2026-01-01 10:00"},
        {**good, "result": {"duration": "50 minutes"}},
        {**good, "result": {"extensions": {"progress": 0.5}}},
        {**good, "colour": "blue"},
    ]
    for b in broken:
        with pytest.raises(Invalid):
            validate(b)


def test_csv_cells_cannot_run_as_formulas() -> None:
    from web.usecases.research import csv_line

    row = next(csv.reader(io.StringIO(csv_line(["=HYPERLINK(1)", "+1", "-2", "@x", "plain", -3.5]))))
    assert row == ["'=HYPERLINK(1)", "'+1", "'-2", "'@x", "plain", "-3.5"]


# ------------------------------------------------------------------ refusals


def test_a_researcher_not_on_the_study_is_refused_and_recorded(sqlite_site: Site) -> None:
    site = sqlite_site
    site.tandem.register("rex", "Rex Other", "researcher", "rex-pass-12345")
    from tests.web.conftest import PASSWORDS

    PASSWORDS["rex"] = "rex-pass-12345"
    rex, _ = site.login("rex")
    for url in (
        f"/research/{study_id()}",
        f"/api/research/studies/{study_id()}/metrics",
        f"/research/{study_id()}/export/events.csv",
    ):
        head = site.tandem.head()
        r = rex.get(url)
        assert r.status_code == 403, url
        assert "not on this study" in r.text
        assert refusals(site, head), url
    assert rex.get("/api/research/studies").json() == {"studies": []}


def test_raw_ids_and_text_without_opt_in_are_refused_and_recorded(sqlite_site: Site) -> None:
    site = sqlite_site
    rita, _ = site.login("rita")
    sid = study_id()
    for ref in (str(site.ids["sam"]), site.ids["sam"].hex, "sam", "P-1234"):
        head = site.tandem.head()
        r = rita.get(f"/api/research/studies/{sid}/participants/{ref}")
        assert r.status_code == 403, ref
        assert "only reachable by their study pseudonym" in r.json()["error"]["message"], ref
        assert refusals(site, head)
    # A study that does not collect text: asking for it is refused.
    adam, token = site.login("adam")
    r = adam.post(
        "/api/admin/studies",
        json={
            "code": "no-text",
            "name": "No text",
            "arms": [{"id": "arm-a", "label": "A"}],
            "start": "2020-01-01",
            "end": "2040-01-01",
            "researchers": [str(site.ids["rita"])],
        },
        headers={"X-CSRF-Token": token},
    )
    no_text = r.json()["study_id"]
    head = site.tandem.head()
    r = rita.get(f"/research/{no_text}/export/events.csv?text=1")
    assert r.status_code == 403 and "does not collect answer text" in r.text
    assert refusals(site, head)
    assert rita.get(f"/research/{sid}/export/events.csv?shift=maybe").status_code == 422
    assert rita.get(f"/research/{sid}/export/everything.zip").status_code == 404


def test_answer_text_only_when_the_participant_agreed(sqlite_site: Site) -> None:
    site = sqlite_site
    sam, token = site.login("sam")
    r = sam.post(
        "/api/events",
        json={
            "type": "AnswerSaved",
            "payload": {"question_id": QUESTION, "answer": ANSWER},
            "client_event_id": "c-answer-0002",
        },
        headers={"X-CSRF-Token": token},
    )
    assert r.status_code == 201, r.text
    sam_consents(site, "engagement", "give")
    rita, _ = site.login("rita")
    url = f"/research/{study_id()}/export/events.csv?text=1"
    assert ANSWER not in rita.get(url).text
    sam_consents(site, "answer_text", "give")
    assert ANSWER in rita.get(url).text
    sam_consents(site, "engagement", "withdraw")  # withdrawing the study withdraws text too
    assert ANSWER not in rita.get(url).text


GOOD_STUDY = {"start": "2020-01-01", "end": "2030-01-01", "arms": [{"id": "arm-a", "label": "A"}], "researchers": []}


BAD_STUDIES = [
    ({"start": "2026-02-30"}, "start"),
    ({"end": "2019-01-01"}, "end"),
    ({"end": "soon"}, "end"),
    ({"arms": []}, "arms"),
    ({"arms": [{"id": "arm-a", "label": "A"}, {"id": "arm-a", "label": "B"}]}, "arms"),
    ({"code": "Bad Code!"}, "code"),
    ({"researchers": ["not-an-id"]}, "researchers"),
]


def test_malformed_studies_are_refused_and_store_nothing(sqlite_site: Site) -> None:
    site = sqlite_site
    adam, token = site.login("adam")
    for n, (change, field) in enumerate(BAD_STUDIES):
        _refused_then_fixed(site, adam, token, {**change, "code": change.get("code", f"bad-{n}")}, field)


def _refused_then_fixed(site: Site, adam: Any, token: str, change: dict, field: str) -> None:
    body = {
        "code": "bad-one",
        "name": "Bad",
        "arms": [{"id": "arm-a", "label": "A"}],
        "start": "2020-01-01",
        "end": "2030-01-01",
        "researchers": [],
        **change,
    }
    head = site.tandem.head()
    r = adam.post("/api/admin/studies", json=body, headers={"X-CSRF-Token": token})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field
    assert site.tandem.head() == head
    valid = {**body, **{k: v for k, v in GOOD_STUDY.items() if k == field}}
    if field == "code":
        valid["code"] = "fixed-code"
    assert adam.post("/api/admin/studies", json=valid, headers={"X-CSRF-Token": token}).status_code == 201


def test_unknown_arm_and_enrolling_twice_are_refused_and_store_nothing(sqlite_site: Site) -> None:
    site = sqlite_site
    adam, token = site.login("adam")
    url = f"/api/admin/studies/{study_id()}/enrolments"
    head = site.tandem.head()
    r = adam.post(url, json={"su_id": str(site.ids["sue"]), "arm": "placebo"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 422 and "unknown arm" in r.json()["error"]["message"]
    r = adam.post(url, json={"su_id": str(site.ids["sam"]), "arm": "therapy"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 409 and "already enrolled" in r.json()["error"]["message"]
    assert site.tandem.head() == head


def test_consent_rules(sqlite_site: Site) -> None:
    site = sqlite_site
    sam, token = site.login("sam")
    sue, sue_token = site.login("sue")
    url = f"/api/consent/studies/{study_id()}"
    head = site.tandem.head()
    # Text before agreeing to the study; Sue is not enrolled; a provision that does not exist.
    assert (
        sam.post(url, json={"provision": "answer_text", "given": True}, headers={"X-CSRF-Token": token}).status_code
        == 409
    )
    assert (
        sue.post(url, json={"provision": "engagement", "given": True}, headers={"X-CSRF-Token": sue_token}).status_code
        == 403
    )
    assert (
        sam.post(url, json={"provision": "everything", "given": True}, headers={"X-CSRF-Token": token}).status_code
        == 422
    )
    assert (
        sam.post(url, json={"provision": "engagement", "given": False}, headers={"X-CSRF-Token": token}).status_code
        == 409
    )
    stored = [e for _, e in site.tandem.read(head, 100) if not isinstance(e, A.AuditTrail.DataAccessed)]
    assert stored == []
    page = sam.get("/consent").text
    assert "I agree to help with Tandem pilot" in page
