"""An admin manages accounts: a new password for someone who forgot theirs, deactivation
and erasure. Each ends the person's sessions; erasure makes their free text unreadable."""

from __future__ import annotations

from core import aggregates as A
from core.commands import Actor, Command
from tests.web.conftest import PASSWORDS, Site


def test_admin_sets_a_new_password_for_someone_who_forgot_theirs(sqlite_site: Site) -> None:
    sue, _ = sqlite_site.login("sue")
    admin, token = sqlite_site.login("adam")
    sue_id = sqlite_site.ids["sue"]
    r = admin.post(f"/admin/accounts/{sue_id}/password", data={"csrf": token, "password": "sues-fresh-start"})
    assert r.status_code == 303 and r.headers["location"] == "/admin?done=password"
    assert "New password set and their sessions ended" in admin.get(r.headers["location"]).text
    assert sue.get("/api/topics").status_code == 401  # her old session has ended
    assert sqlite_site.log_in_status("sue", PASSWORDS["sue"]) == 400
    assert sqlite_site.log_in_status("sue", "sues-fresh-start") == 303
    [reset] = [e for _, e in sqlite_site.tandem.read(0, 100_000) if isinstance(e, A.Account.PasswordReset)]
    assert reset.originator_id == sue_id and reset.by == sqlite_site.ids["adam"]
    # Too short: said clearly, nothing changes.
    r = admin.post(f"/admin/accounts/{sue_id}/password", data={"csrf": token, "password": "short"})
    assert r.status_code == 422 and "must be 8 to 1024 characters" in r.text
    assert sqlite_site.log_in_status("sue", "sues-fresh-start") == 303


def test_admin_deactivates_an_account_but_not_their_own(sqlite_site: Site) -> None:
    walt, _ = sqlite_site.login("walt")
    admin, token = sqlite_site.login("adam")
    r = admin.post(f"/admin/accounts/{sqlite_site.ids['adam']}/deactivate", data={"csrf": token})
    assert r.status_code == 422 and "your own account" in r.text
    assert admin.get("/admin").status_code == 200
    r = admin.post(f"/admin/accounts/{sqlite_site.ids['walt']}/deactivate", data={"csrf": token})
    assert r.status_code == 303
    assert walt.get("/api/caseload").status_code == 401
    assert sqlite_site.log_in_status("walt", PASSWORDS["walt"]) == 400
    page = admin.get("/admin").text
    row = page[page.index('<th scope="row">walt</th>') :]
    assert row[: row.index("</tr>")].count("inactive") == 1


def test_admin_erases_a_service_users_free_text_only_when_confirmed(sqlite_site: Site) -> None:
    t = sqlite_site.tandem
    sue_id = sqlite_site.ids["sue"]
    t.record_blocking(
        Actor(sue_id, "service_user"),
        Command("AnswerSaved", {"question_id": "recovery/hope/q1", "answer": "something private"}, "sue-answer-0001"),
    )
    [saved] = [
        e
        for _, e in t.read(0, 100_000)
        if isinstance(e, A.Journey.AnswerSaved) and e.originator_id == A.journey_id(sue_id)
    ]
    assert t.reveal(sue_id, saved.answer) == "something private"
    admin, token = sqlite_site.login("adam")
    r = admin.post(f"/admin/accounts/{sue_id}/erase", data={"csrf": token, "confirm": "sam"})
    assert r.status_code == 422 and "Type the username (sue)" in r.text
    assert t.reveal(sue_id, saved.answer) == "something private"
    r = admin.post(f"/admin/accounts/{sqlite_site.ids['walt']}/erase", data={"csrf": token, "confirm": "walt"})
    assert r.status_code == 422 and "Only service users" in r.text
    r = admin.post(f"/admin/accounts/{sue_id}/erase", data={"csrf": token, "confirm": "Sue"})
    assert r.status_code == 303 and "can no longer be read" in admin.get(r.headers["location"]).text
    assert t.reveal(sue_id, saved.answer) is None
    assert sqlite_site.log_in_status("sue", PASSWORDS["sue"]) == 400
    # Gone is gone: a second erasure finds no such account.
    r = admin.post(f"/admin/accounts/{sue_id}/erase", data={"csrf": token, "confirm": "sue"})
    assert r.status_code == 404


def test_the_same_actions_as_json(sqlite_site: Site) -> None:
    admin, token = sqlite_site.login("adam")
    headers = {"X-CSRF-Token": token}
    sue, walt = sqlite_site.ids["sue"], sqlite_site.ids["walt"]
    r = admin.post(f"/api/admin/accounts/{sue}/password", json={"password": 12345678}, headers=headers)
    assert r.status_code == 422 and r.json()["error"]["field"] == "password"
    r = admin.post(f"/api/admin/accounts/{sue}/password", json={"password": "sues-fresh-start"}, headers=headers)
    assert r.status_code == 200 and r.json()["done"] == "password" and r.json()["position"] > 0
    assert sqlite_site.log_in_status("sue", "sues-fresh-start") == 303
    r = admin.post("/api/admin/accounts/not-a-uuid/deactivate", headers=headers)
    assert r.status_code == 404
    r = admin.post(f"/api/admin/accounts/{walt}/deactivate", headers=headers)
    assert r.status_code == 200 and sqlite_site.log_in_status("walt", PASSWORDS["walt"]) == 400
    r = admin.post(f"/api/admin/accounts/{sue}/erase", json={"confirm": "walt"}, headers=headers)
    assert r.status_code == 422 and r.json()["error"]["field"] == "confirm"
    r = admin.post(f"/api/admin/accounts/{sue}/erase", json={"confirm": "sue"}, headers=headers)
    assert r.status_code == 200 and sqlite_site.tandem.account(sue).erased
    assert admin.post(f"/api/admin/accounts/{sue}/erase", json={"confirm": "sue"}, headers=headers).status_code == 404
