"""Attack: a linked worker (or an admin) looks for an erased person in the pages and the API."""

from __future__ import annotations

from core.commands import Actor, Command
from core.keystore import ERASED_NAME
from tests.web.conftest import Site, sqlite_site  # noqa: F401  (the fixture)


def test_an_erased_person_is_only_an_erased_account_in_their_workers_caseload(sqlite_site: Site) -> None:  # noqa: F811
    site = sqlite_site
    sam, adam = site.ids["sam"], site.ids["adam"]
    me = Actor(sam, "service_user")
    for c in (
        Command("TopicOpened", {"topic_id": "recovery"}, "erase-view-1"),
        Command("ItemShared", {"scope": "topic", "ref": "recovery"}, "erase-view-2"),
        Command("ItemShared", {"scope": "tracker", "ref": "stress"}, "erase-view-3"),
        Command(
            "ChartPointRecorded",
            {"tracker_id": "stress", "values": {"level": 8}, "for_date": "2026-11-30"},
            "erase-view-4",
        ),
    ):
        ack = site.tandem.record_blocking(me, c)
    assert site.views.wait_for(ack.position, 30)
    wendy, _ = site.login("wendy")
    before = wendy.get("/caseload").text
    assert "Sam Taylor" in before and "Stress chart" in before and f"/caseload/{sam}" in before
    assert wendy.get("/api/session").json()["user"]["display_name"] == "Wendy Clarke"  # names still reveal

    ack = site.tandem.erase(sam, by=adam)
    assert site.views.wait_for(ack.position, 30)

    page = wendy.get("/caseload")
    assert page.status_code == 200
    assert ERASED_NAME in page.text
    main = page.text[page.text.index("<main") : page.text.index("</main>")]
    for trace in ("Sam", "Taylor", "Stress", "Recovery", "sections seen", "joint session", str(sam)):
        assert trace not in main, trace
    assert wendy.get("/api/caseload").json() == {"service_users": [{"display_name": ERASED_NAME, "erased": True}]}
    for path in (f"/caseload/{sam}", f"/api/caseload/{sam}"):
        assert wendy.get(path).status_code in (403, 404), path

    admin, _ = site.login("adam")
    assert "Sam Taylor" not in admin.get("/admin").text
    assert all(a["user_id"] != str(sam) for a in admin.get("/api/admin/accounts").json()["accounts"])
