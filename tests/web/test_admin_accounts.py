"""An admin manages accounts: a password reset (a set-password link) for someone who
forgot theirs, deactivation and erasure. Each ends the person's sessions; erasure makes their free text unreadable."""

from __future__ import annotations

import re

from core import aggregates as A
from core.commands import Actor, Command
from tests.web.conftest import PASSWORDS, Site, csrf_of


def test_admin_reset_gives_a_single_use_link_and_no_password(sqlite_site: Site) -> None:
    sue, _ = sqlite_site.login("sue")
    admin, token = sqlite_site.login("adam")
    sue_id = sqlite_site.ids["sue"]
    r = admin.post(f"/admin/accounts/{sue_id}/password", data={"csrf": token, "password": "admin-chosen-pass"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    link = re.search(r'<code id="reset-link">([^<]+)</code>', r.text).group(1)
    assert link.startswith("http://testserver/password/set/")
    assert sue.get("/api/topics").status_code == 401  # her old session has ended
    assert sqlite_site.log_in_status("sue", PASSWORDS["sue"]) == 400
    assert sqlite_site.log_in_status("sue", "admin-chosen-pass") == 400
    [reset] = [e for _, e in sqlite_site.tandem.read(0, 100_000) if isinstance(e, A.Account.ResetLinkIssued)]
    assert reset.originator_id == sue_id and reset.by == sqlite_site.ids["adam"]
    assert link.rsplit(".", 1)[1] not in repr(vars(reset))  # only a hash of the link is stored
    # The admin page lists the link once; reloading it shows no link.
    assert "reset-link" not in admin.get("/admin").text


def test_the_set_password_link_works_once(sqlite_site: Site) -> None:
    admin, token = sqlite_site.login("adam")
    r = admin.post(f"/api/admin/accounts/{sqlite_site.ids['sue']}/password", headers={"X-CSRF-Token": token})
    path = r.json()["link"].removeprefix("http://testserver")
    sue = sqlite_site.client()
    page = sue.get(path)
    assert page.status_code == 200 and page.headers["referrer-policy"] == "no-referrer"
    form = {"csrf": csrf_of(page.text), "new_password": "sues-own-choice", "new_password_again": "sues-own-choice"}
    assert sue.post(path, data={**form, "csrf": "x" * 43}).status_code == 403  # CSRF-protected
    short = sue.post(path, data={**form, "new_password": "short", "new_password_again": "short"})
    assert short.status_code == 422 and "must be 8 to 1024 characters" in short.text
    r = sue.post(path, data=form)
    assert r.status_code == 303 and r.headers["location"] == "/login?password=set"
    assert sqlite_site.log_in_status("sue", "sues-own-choice") == 303
    # A second use, of the page or the form, is refused and changes nothing.
    head = sqlite_site.tandem.head()
    again = sue.post(path, data={**form, "new_password": "another-choice", "new_password_again": "another-choice"})
    assert again.status_code == 410 and "already been used or has expired" in again.text
    assert sue.get(path).status_code == 410 and sqlite_site.tandem.head() == head
    assert sqlite_site.log_in_status("sue", "another-choice") == 400
    assert sue.get("/password/set/not-a-link").status_code == 404


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
    r = admin.post(f"/api/admin/accounts/{sue}/password", json={"password": "admin-chosen-pass"}, headers=headers)
    assert r.status_code == 200 and r.json()["done"] == "password" and r.json()["position"] > 0
    assert "/password/set/" in r.json()["link"] and "password" not in r.json()
    assert sqlite_site.log_in_status("sue", "admin-chosen-pass") == 400
    r = admin.post("/api/admin/accounts/not-a-uuid/deactivate", headers=headers)
    assert r.status_code == 404
    r = admin.post(f"/api/admin/accounts/{walt}/deactivate", headers=headers)
    assert r.status_code == 200 and sqlite_site.log_in_status("walt", PASSWORDS["walt"]) == 400
    r = admin.post(f"/api/admin/accounts/{sue}/erase", json={"confirm": "walt"}, headers=headers)
    assert r.status_code == 422 and r.json()["error"]["field"] == "confirm"
    r = admin.post(f"/api/admin/accounts/{sue}/erase", json={"confirm": "sue"}, headers=headers)
    assert r.status_code == 200 and sqlite_site.tandem.account(sue).erased
    assert admin.post(f"/api/admin/accounts/{sue}/erase", json={"confirm": "sue"}, headers=headers).status_code == 404


def test_a_deactivated_worker_is_not_offered_for_linking_until_reactivated(sqlite_site: Site) -> None:
    admin, token = sqlite_site.login("adam")
    walt, sue = sqlite_site.ids["walt"], sqlite_site.ids["sue"]
    offered = lambda: f'<option value="{walt}"' in admin.get("/admin").text  # noqa: E731
    assert offered()
    assert admin.post(f"/admin/accounts/{walt}/deactivate", data={"csrf": token}).status_code == 303
    assert not offered()
    # Linking by hand is refused too, and stores nothing.
    head = sqlite_site.tandem.head()
    r = admin.post("/admin/unlink", data={"csrf": token, "worker_id": str(walt), "su_id": str(sue)})
    assert r.status_code == 303
    r = admin.post(
        "/api/admin/links", json={"worker_id": str(walt), "su_id": str(sue)}, headers={"X-CSRF-Token": token}
    )
    assert r.status_code == 422 and "deactivated" in r.text
    assert sqlite_site.tandem.head() == head + 1  # only the unlink above
    # Reactivated: walt logs in again and is offered again; twice is a clear 409.
    assert admin.post(f"/admin/accounts/{walt}/reactivate", data={"csrf": token}).status_code == 303
    assert "Account reactivated" in admin.get("/admin?done=reactivated").text
    assert sqlite_site.log_in_status("walt", PASSWORDS["walt"]) == 303
    assert offered()
    r = admin.post(f"/api/admin/accounts/{walt}/reactivate", headers={"X-CSRF-Token": token})
    assert r.status_code == 409
