"""Admin takeover: an admin's password reset must never give the admin a password that
opens the person's account (and with it every answer they wrote)."""

from __future__ import annotations

import re

from core import aggregates as A
from tests.web.conftest import PASSWORDS, Site, csrf_of


def test_an_admin_reset_yields_no_usable_password(sqlite_site: Site) -> None:
    site = sqlite_site
    sam_id = site.ids["sam"]
    sam_phone, _ = site.login("sam")
    admin, token = site.login("adam")
    chosen = "admin-knows-this-one"
    # The form and the JSON API both ignore any password the admin sends.
    r = admin.post(f"/admin/accounts/{sam_id}/password", data={"csrf": token, "password": chosen})
    assert r.status_code == 200 and chosen not in r.text
    form_link = re.search(r'<code id="reset-link">([^<]+)</code>', r.text).group(1)
    r = admin.post(f"/api/admin/accounts/{sam_id}/password", json={"password": chosen}, headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and set(r.json()) >= {"link"} and chosen not in r.text
    api_link = r.json()["link"]
    for password in (chosen, PASSWORDS["sam"], ""):
        assert site.log_in_status("sam", password) in (400, 422)
    assert site.tandem.authenticate("sam", chosen) is None
    assert sam_phone.get("/api/topics").status_code == 401  # Sam's old session has ended
    # The second reset replaced the first link.
    path = form_link.removeprefix("http://testserver")
    assert site.client().get(path).status_code == 410
    # The reset is an audited access to Sam's account.
    audits = [
        e
        for _, e in site.tandem.read(0, 100_000)
        if isinstance(e, A.AuditTrail.DataAccessed) and e.subject_id == sam_id and "password" in e.resource
    ]
    assert len(audits) == 2 and all(a.allowed and a.originator_id == A.audit_id(site.ids["adam"]) for a in audits)
    # Sam uses the link once and is told on his account page.
    sam = site.client()
    path = api_link.removeprefix("http://testserver")
    form = {
        "csrf": csrf_of(sam.get(path).text),
        "new_password": "sams-own-choice",
        "new_password_again": "sams-own-choice",
    }
    assert sam.post(path, data=form).status_code == 303
    assert sam.post(path, data=form).status_code == 410
    page = sam.get(path)
    assert page.status_code == 410 and "already been used or has expired" in page.text
    c = site.client()
    c.post("/login", data={"csrf": csrf_of(c.get("/login").text), "username": "sam", "password": "sams-own-choice"})
    account = c.get("/account")
    assert account.status_code == 200 and "An administrator reset your password on" in account.text
    assert account.text.count("An administrator reset your password on") == 2


def test_an_expired_link_is_refused(sqlite_site: Site) -> None:
    from datetime import timedelta

    from core import service

    site = sqlite_site
    old = service.RESET_LINK_LIFETIME
    service.RESET_LINK_LIFETIME = timedelta(seconds=-1)  # issued already expired
    try:
        token, _ = site.tandem.issue_reset_link(site.ids["sue"], site.ids["adam"])
    finally:
        service.RESET_LINK_LIFETIME = old
    c = site.client()
    path = f"/password/set/{site.ids['sue']}.{token}"
    page = c.get(path)
    assert page.status_code == 410
    head = site.tandem.head()
    form = {
        "csrf": csrf_of(c.get("/login").text),
        "new_password": "too-late-pass",
        "new_password_again": "too-late-pass",
    }
    assert c.post(path, data=form).status_code == 410 and site.tandem.head() == head
    assert site.log_in_status("sue", "too-late-pass") == 400
