"""Sessions, CSRF, rate limits, bad bodies and sharing: clear 4xx answers, nothing stored."""

from __future__ import annotations

import json
import time
from base64 import b64encode

import itsdangerous
import pytest

from core import aggregates as A
from tests.web.conftest import PASSWORDS, Site, csrf_of
from web.auth import SESSION_COOKIE, SESSION_MAX_AGE


def _cookie(site: Site, session: dict) -> str:
    signer = itsdangerous.TimestampSigner(str(site.app.state.settings.secret_key))
    return signer.sign(b64encode(json.dumps(session).encode())).decode()


def test_expired_session_is_refused(sqlite_site: Site) -> None:
    c = sqlite_site.client()
    old = {
        "uid": str(sqlite_site.ids["sam"]),
        "role": "service_user",
        "issued": time.time() - SESSION_MAX_AGE - 5,
        "csrf": "t" * 43,
    }
    c.cookies.set(SESSION_COOKIE, _cookie(sqlite_site, old))
    r = c.get("/api/topics")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    r = c.get("/topics/recovery")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    head = sqlite_site.tandem.head()
    r = c.post(
        "/api/events",
        json={"type": "TopicOpened", "payload": {"topic_id": "recovery"}, "client_event_id": "c-expired1"},
        headers={"X-CSRF-Token": "t" * 43},
    )
    assert r.status_code == 401 and sqlite_site.tandem.head() == head


def test_forged_role_in_cookie_is_refused(sqlite_site: Site) -> None:
    c = sqlite_site.client()
    forged = {"uid": str(sqlite_site.ids["sam"]), "role": "admin", "issued": time.time(), "csrf": "t" * 43}
    c.cookies.set(SESSION_COOKIE, _cookie(sqlite_site, forged))
    assert c.get("/api/admin/accounts").status_code == 401


def test_cookie_flags(sqlite_site: Site) -> None:
    c = sqlite_site.client()
    token = csrf_of(c.get("/login").text)
    r = c.post("/login", data={"csrf": token, "username": "sam", "password": PASSWORDS["sam"]})
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    https = sqlite_site.client()
    https.base_url = https.base_url.copy_with(scheme="https")  # type: ignore[attr-defined]
    token = csrf_of(https.get("https://testserver/login").text)
    r = https.post("https://testserver/login", data={"csrf": token, "username": "sam", "password": PASSWORDS["sam"]})
    assert "secure" in r.headers["set-cookie"].lower()


def test_log_out_everywhere_ends_other_sessions(sqlite_site: Site) -> None:
    phone, _ = sqlite_site.login("sam")
    laptop, token = sqlite_site.login("sam")
    assert phone.get("/api/topics").status_code == 200
    time.sleep(0.01)
    r = laptop.post("/logout-everywhere", data={"csrf": token})
    assert r.status_code == 303
    assert phone.get("/api/topics").status_code == 401
    assert laptop.get("/api/topics").status_code == 401
    again, _ = sqlite_site.login("sam")  # a new log-in works
    assert again.get("/api/topics").status_code == 200


def test_changing_the_password_ends_other_sessions_and_keeps_this_one(sqlite_site: Site) -> None:
    phone, _ = sqlite_site.login("sam")
    laptop, token = sqlite_site.login("sam")
    time.sleep(0.01)
    new = "a-longer-new-pass"
    r = laptop.post(
        "/account/password",
        data={"csrf": token, "current_password": PASSWORDS["sam"], "new_password": new, "new_password_again": new},
    )
    assert r.status_code == 303 and r.headers["location"] == "/account?password=changed"
    page = laptop.get(r.headers["location"])
    assert page.status_code == 200 and "Your password is changed" in page.text
    assert laptop.get("/api/topics").status_code == 200  # this device stays logged in
    assert phone.get("/api/topics").status_code == 401  # the other one does not
    assert sqlite_site.log_in_status("sam", PASSWORDS["sam"]) == 400
    assert sqlite_site.log_in_status("sam", new) == 303


@pytest.mark.parametrize(
    ("form", "status", "says"),
    [
        (
            {
                "current_password": "not-the-password",
                "new_password": "a-longer-new-pass",
                "new_password_again": "a-longer-new-pass",
            },
            400,
            "not your current password",
        ),
        (
            {
                "current_password": PASSWORDS["sam"],
                "new_password": "a-longer-new-pass",
                "new_password_again": "a-different-pass",
            },
            422,
            "not the same",
        ),
        (
            {"current_password": PASSWORDS["sam"], "new_password": "short", "new_password_again": "short"},
            422,
            "The new password must be 8 to 1024 characters",
        ),
        (
            {
                "current_password": PASSWORDS["sam"],
                "new_password": PASSWORDS["sam"],
                "new_password_again": PASSWORDS["sam"],
            },
            422,
            "must differ",
        ),
    ],
)
def test_a_refused_password_change_says_why_and_changes_nothing(
    sqlite_site: Site, form: dict, status: int, says: str
) -> None:
    phone, _ = sqlite_site.login("sam")
    laptop, token = sqlite_site.login("sam")
    r = laptop.post("/account/password", data={"csrf": token, **form})
    assert r.status_code == status and says in r.text, r.text
    assert 'aria-invalid="true"' in r.text  # the field at fault is marked
    assert phone.get("/api/topics").status_code == 200 and laptop.get("/api/topics").status_code == 200
    assert sqlite_site.log_in_status("sam", PASSWORDS["sam"]) == 303


def test_password_change_api_and_its_guess_limit(sqlite_site: Site) -> None:
    c, token = sqlite_site.login("wendy")
    headers = {"X-CSRF-Token": token}
    r = c.post("/api/account/password", json={"current_password": 12, "new_password": None}, headers=headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_field"
    for _ in range(5):
        r = c.post(
            "/api/account/password",
            json={"current_password": "a-wrong-guess", "new_password": "whatever-new-1"},
            headers=headers,
        )
        assert r.status_code == 400 and r.json()["error"] == {
            "code": "bad_credentials",
            "field": "current_password",
            "message": "That is not your current password.",
        }
    # Guessing is limited like logging in: even the right password now waits.
    r = c.post(
        "/api/account/password",
        json={"current_password": PASSWORDS["wendy"], "new_password": "whatever-new-1"},
        headers=headers,
    )
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    other, other_token = sqlite_site.login("walt")
    r = other.post(
        "/api/account/password",
        json={"current_password": PASSWORDS["walt"], "new_password": "walts-new-pass"},
        headers={"X-CSRF-Token": other_token},
    )
    assert r.status_code == 200 and r.json()["ok"] is True and r.json()["position"] > 0
    assert other.get("/api/caseload").status_code == 200  # the fresh cookie works
    assert sqlite_site.log_in_status("walt", "walts-new-pass") == 303


def test_login_rate_limit_per_account_with_clear_message(sqlite_site: Site) -> None:
    c = sqlite_site.client()
    token = csrf_of(c.get("/login").text)
    for _ in range(5):
        r = c.post("/login", data={"csrf": token, "username": "sam", "password": "not-the-password"})
        assert r.status_code == 400 and "do not match" in r.text
    r = c.post("/login", data={"csrf": token, "username": "sam", "password": PASSWORDS["sam"]})
    assert r.status_code == 429 and "too many attempts" in r.text.lower() and "wait 15 minutes" in r.text
    r = c.post("/api/login", json={"username": "SAM", "password": PASSWORDS["sam"]}, headers={"X-CSRF-Token": token})
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited" and int(r.headers["retry-after"]) > 0
    # Another account from the same address is still fine (below the per-address limit).
    r = c.post("/login", data={"csrf": token, "username": "wendy", "password": PASSWORDS["wendy"]})
    assert r.status_code == 303


def test_login_rate_limit_per_address(sqlite_site: Site) -> None:
    c = sqlite_site.client()
    token = csrf_of(c.get("/login").text)
    for i in range(20):
        c.post("/login", data={"csrf": token, "username": f"guess{i}", "password": "wrong-password"})
    r = c.post("/login", data={"csrf": token, "username": "rita", "password": PASSWORDS["rita"]})
    assert r.status_code == 429 and "this device or network" in r.text


def test_login_needs_csrf_and_rejects_open_redirects(sqlite_site: Site) -> None:
    c = sqlite_site.client()
    r = c.post("/login", data={"username": "sam", "password": PASSWORDS["sam"]})
    assert r.status_code == 403
    token = csrf_of(c.get("/login").text)
    r = c.post(
        "/login", data={"csrf": token, "username": "sam", "password": PASSWORDS["sam"], "next": "//evil.example/x"}
    )
    assert r.status_code == 303 and r.headers["location"] == "/"


@pytest.mark.parametrize(
    "body,status,code",
    [
        (b"{not json", 400, "malformed"),
        (b"[1, 2]", 422, "invalid_field"),
        (json.dumps({"type": "Nope", "payload": {}, "client_event_id": "c-12345678"}).encode(), 422, "unknown_type"),
        (
            json.dumps(
                {
                    "type": "AnswerSaved",
                    "payload": {"question_id": "recovery/hope/q1", "answer": "x" * 10_001},
                    "client_event_id": "c-12345678",
                }
            ).encode(),
            422,
            "invalid_field",
        ),
        (
            json.dumps(
                {
                    "type": "AnswerSaved",
                    "payload": {"question_id": "nope/nope/q1", "answer": "x"},
                    "client_event_id": "c-12345678",
                }
            ).encode(),
            422,
            "invalid_field",
        ),
        (
            json.dumps(
                {"type": "TopicOpened", "payload": {"topic_id": "recovery"}, "client_event_id": "short"}
            ).encode(),
            422,
            "invalid_field",
        ),
        (
            json.dumps(
                {
                    "type": "TopicOpened",
                    "payload": {"topic_id": "recovery"},
                    "client_event_id": "c-12345678",
                    "session_id": "nope",
                }
            ).encode(),
            422,
            "invalid_field",
        ),
        (b"x" * 200_000, 413, "too_large"),
    ],
)
def test_bad_bodies_get_clear_errors_and_store_nothing(sqlite_site: Site, body: bytes, status: int, code: str) -> None:
    c, token = sqlite_site.login("sam")
    head = sqlite_site.tandem.head()
    r = c.post("/api/events", content=body, headers={"X-CSRF-Token": token, "Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["message"]
    assert sqlite_site.tandem.head() == head


def test_wrong_content_type_is_415(sqlite_site: Site) -> None:
    c, token = sqlite_site.login("sam")
    r = c.post("/api/events", content=b"type=x", headers={"X-CSRF-Token": token, "Content-Type": "text/plain"})
    assert r.status_code == 415


def test_retried_client_event_id_is_recorded_once(sqlite_site: Site) -> None:
    c, token = sqlite_site.login("sam")
    body = {"type": "TopicOpened", "payload": {"topic_id": "recovery"}, "client_event_id": "c-retry-0001"}
    first = c.post("/api/events", json=body, headers={"X-CSRF-Token": token})
    again = c.post("/api/events", json=body, headers={"X-CSRF-Token": token})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["duplicate"] and again.json()["position"] == first.json()["position"]


def test_sharing_is_enforced_on_the_server(site: Site) -> None:
    sam, sam_token = site.login("sam")
    wendy, _ = site.login("wendy")
    sam_id = site.ids["sam"]
    q = "recovery/hope/q1"
    r = sam.post(
        "/api/events",
        json={
            "type": "AnswerSaved",
            "payload": {"question_id": q, "answer": "my private hope"},
            "client_event_id": "c-share-0001",
        },
        headers={"X-CSRF-Token": sam_token},
    )
    assert r.status_code == 201
    # Private by default.
    assert "my private hope" not in wendy.get(f"/api/caseload/{sam_id}").text
    assert "my private hope" not in wendy.get(f"/caseload/{sam_id}").text
    # Shared: the worker sees it (and the look is audited).
    r = sam.post(
        "/api/sharing", json={"scope": "answer", "ref": q, "shared": True}, headers={"X-CSRF-Token": sam_token}
    )
    assert r.status_code == 200 and r.json()["fresh"]
    head = site.tandem.head()
    assert wendy.get(f"/api/caseload/{sam_id}").json()["answers"][q]["text"] == "my private hope"
    audits = [e for _, e in site.tandem.read(head) if isinstance(e, A.AuditTrail.DataAccessed)]
    assert audits and audits[0].allowed and audits[0].subject_id == sam_id
    assert "my private hope" in wendy.get(f"/caseload/{sam_id}").text
    # Un-shared: gone again.
    sam.post("/api/sharing", json={"scope": "answer", "ref": q, "shared": False}, headers={"X-CSRF-Token": sam_token})
    assert q not in wendy.get(f"/api/caseload/{sam_id}").json()["answers"]
    # Sharing a topic covers its answers.
    sam.post(
        "/api/sharing", json={"scope": "topic", "ref": "recovery", "shared": True}, headers={"X-CSRF-Token": sam_token}
    )
    assert q in wendy.get(f"/api/caseload/{sam_id}").json()["answers"]
    # Walt is not linked to Sam: refused and audited, whatever Sam shares.
    walt, _ = site.login("walt")
    head = site.tandem.head()
    assert walt.get(f"/api/caseload/{sam_id}").status_code == 403
    refused = [e for _, e in site.tandem.read(head) if isinstance(e, A.AuditTrail.DataAccessed)]
    assert refused and not refused[0].allowed and refused[0].subject_id == sam_id


def test_a_worker_cannot_write_outside_a_joint_session(sqlite_site: Site) -> None:
    wendy, token = sqlite_site.login("wendy")
    head = sqlite_site.tandem.head()
    r = wendy.post(
        "/api/events",
        json={"type": "TopicOpened", "payload": {"topic_id": "recovery"}, "client_event_id": "c-worker-01"},
        headers={"X-CSRF-Token": token},
    )
    assert r.status_code == 403
    new = [e for _, e in sqlite_site.tandem.read(head)]
    assert all(isinstance(e, A.AuditTrail.DataAccessed) for e in new)


def test_su_sees_who_is_linked(sqlite_site: Site) -> None:
    sam, _ = sqlite_site.login("sam")
    assert [w["username"] for w in sam.get("/api/links").json()["workers"]] == ["wendy"]
    assert "Wendy Clarke" in sam.get("/linked").text
    sue, _ = sqlite_site.login("sue")
    assert [w["username"] for w in sue.get("/api/links").json()["workers"]] == ["walt"]


def test_every_page_has_the_crisis_notice(sqlite_site: Site) -> None:
    anon = sqlite_site.client()
    assert 'id="crisis-notice"' in anon.get("/login").text
    sam, _ = sqlite_site.login("sam")
    for url in (
        "/",
        "/topics/recovery",
        "/topics/recovery/hope",
        "/sharing",
        "/consent",
        "/linked",
        "/account",
        "/nope",
    ):
        r = sam.get(url)
        assert 'id="crisis-notice"' in r.text and "116 123" in r.text, url


@pytest.mark.parametrize(
    "body,field",
    [
        ({"scope": "diary", "ref": "recovery"}, "scope"),
        ({"scope": ["topic"], "ref": "recovery"}, "scope"),
        ({"scope": "topic", "ref": "no-such-topic"}, "ref"),
        ({"scope": "answer", "ref": "recovery"}, "ref"),  # a topic is not a question
        ({"scope": "topic", "ref": {"id": "recovery"}}, "ref"),
    ],
)
def test_sharing_something_that_is_not_an_item_is_422_and_records_nothing(
    sqlite_site: Site, body: dict[str, object], field: str
) -> None:
    sam, token = sqlite_site.login("sam")
    head = sqlite_site.tandem.head()
    r = sam.post("/api/sharing", json={**body, "shared": True}, headers={"X-CSRF-Token": token})
    assert r.status_code == 422 and r.json()["error"]["field"] == field
    assert sqlite_site.tandem.head() == head


def test_a_client_event_id_with_a_space_is_422_and_records_nothing(sqlite_site: Site) -> None:
    sam, token = sqlite_site.login("sam")
    head = sqlite_site.tandem.head()
    body = {"type": "TopicOpened", "payload": {"topic_id": "recovery"}, "client_event_id": "has a space"}
    r = sam.post("/api/events", json=body, headers={"X-CSRF-Token": token})
    assert r.status_code == 422 and r.json()["error"]["field"] == "client_event_id"
    assert sqlite_site.tandem.head() == head
