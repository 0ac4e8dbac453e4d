"""My journey over HTTP, on a real SQLite file and a real PostgreSQL: the timeline in plain
words, its filters and keyset paging, a worker's shared-only view (audited), replay, then and
now, the download, bad input, and erasure."""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any

import pytest

from core import aggregates as A
from core.commands import Actor
from tests.web.conftest import Site
from web import demo


def _with_history(site: Site) -> None:
    assert demo.seed_history(site.tandem, site.ids["sam"], site.ids["wendy"])
    assert site.views.wait_for(site.tandem.head(), 30)


def _lines(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for d in body["days"] for g in d["groups"] for e in g["entries"]]


def _summaries(body: dict[str, Any]) -> list[str]:
    return [g["summary"] for d in body["days"] for g in d["groups"] if g["summary"]]


def _joint_replay(c: Any, base: str = "/api/journey") -> str:
    body = c.get(base, params={"kind": "sessions", "together": "together", "limit": "100"}).json()
    refs = [g["replay"] for d in body["days"] for g in d["groups"] if g["joint"] and g["replay"]]
    assert refs, body
    return refs[0]


def test_timeline_in_plain_words_with_filters_and_paging(site: Site) -> None:
    _with_history(site)
    c, _ = site.login("sam")
    body = c.get("/api/journey", params={"limit": "100"}).json()
    videos = c.get("/api/journey", params={"kind": "videos", "limit": "100"}).json()
    assert "You watched Amara's story ‘Recovery is not a straight line’, 80 %" in [e["text"] for e in _lines(videos)]
    question = site.app.state.content.question(demo.Q_RECOVERY).text
    answers = [e["text"] for e in _lines(c.get("/api/journey", params={"kind": "answers", "limit": "100"}).json())]
    assert answers.count(f"You changed your answer to ‘{question}’") == 3
    assert answers[-1] == f"You answered ‘{question}’"
    assert any(
        re.fullmatch(r"You and Wendy looked at Managing stress together for \d+ minutes", s) for s in _summaries(body)
    ), _summaries(body)

    assert _lines(videos) and {e["kind"] for e in _lines(videos)} == {"videos"}
    alone = c.get("/api/journey", params={"together": "alone", "limit": "100"}).json()
    assert not [g for d in alone["days"] for g in d["groups"] if g["joint"]]
    day = body["days"][3]["day"]
    one_day = c.get("/api/journey", params={"from": day, "to": day}).json()
    assert [d["day"] for d in one_day["days"]] == [day]

    # Keyset paging: pages follow on, newest first, with nothing twice and nothing missed.
    seen: list[int] = []
    before = None
    while True:
        params = {"limit": "7", **({"before": str(before)} if before else {})}
        page = c.get("/api/journey", params=params).json()
        seen += [e["position"] for d in page["days"] for g in d["groups"] for e in g["entries"]]
        before = page["next_before"]
        if before is None:
            break
    everything = site.views.journey.entries(site.ids["sam"], limit=10_000)
    assert seen == [r["position"] for r in everything if r["verb"] not in ("session", "visit")]

    page = c.get("/journey", params={"kind": "videos"})
    assert page.status_code == 200 and "watched" in page.text and "recorded mood" not in page.text
    # The page's "Older" link keeps the filters and moves on by position.
    page = c.get("/journey", params={"kind": "answers", "limit": "2"})
    older = re.search(r'rel="next" href="([^"]+)"', page.text)
    assert older, page.text[-2000:]
    link = older.group(1).replace("&amp;", "&")
    assert "kind=answers" in link and "before=" in link
    first = re.findall(r'data-position="(\d+)"', page.text)
    second = re.findall(r'data-position="(\d+)"', c.get(link).text)
    assert second and int(second[0]) < int(first[-1])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"kind": "films"}, "kind"),
        ({"topic": "no-such-topic"}, "topic"),
        ({"together": "maybe"}, "together"),
        ({"from": "2026-13-01"}, "from"),
        ({"from": "2026-11-20", "to": "2026-11-01"}, "to"),
        ({"before": "-5"}, "before"),
        ({"limit": "100000"}, "limit"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_filters_are_a_clear_422(sqlite_site: Site, params: dict[str, str], field: str) -> None:
    c, _ = sqlite_site.login("sam")
    r = c.get("/api/journey", params=params)
    assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    page = c.get("/journey", params=params)
    assert page.status_code == 422 and "Tandem" in page.text


def test_a_worker_sees_only_what_is_shared_and_each_look_is_audited(site: Site) -> None:
    _with_history(site)
    sam, token = site.login("sam")
    assert (
        sam.post(
            "/api/sharing", json={"scope": "tracker", "ref": "mood", "shared": True}, headers={"X-CSRF-Token": token}
        ).status_code
        == 200
    )
    site.views.wait_for(site.tandem.head(), 10)
    w, _ = site.login("wendy")
    head = site.tandem.head()
    body = w.get(f"/api/caseload/{site.ids['sam']}/journey", params={"limit": "100"}).json()
    kinds = {e["kind"] for e in _lines(body)}
    assert kinds == {"charts"}, kinds
    assert all("mood" in e["text"] for e in _lines(body))
    assert not any("answer" in e["text"] or "watched" in e["text"] for e in _lines(body))
    assert any(s.startswith("Sam and Wendy looked at") for s in _summaries(body))
    audits = [e for _, e in site.tandem.read(head) if isinstance(e, A.AuditTrail.DataAccessed)]
    assert any(a.allowed and a.resource == "journey:timeline" and a.subject_id == site.ids["sam"] for a in audits)

    # Answers were not shared: their history is refused (and audited), the page too.
    r = w.get(f"/api/caseload/{site.ids['sam']}/journey/answers/{demo.Q_RECOVERY}")
    assert r.status_code == 403
    # Another SU's journey: refused and audited.
    head = site.tandem.head()
    r = w.get(f"/caseload/{site.ids['sue']}/journey")
    assert r.status_code == 403
    refused = [e for _, e in site.tandem.read(head) if isinstance(e, A.AuditTrail.DataAccessed) and not e.allowed]
    assert refused and refused[0].subject_id == site.ids["sue"]
    # Wendy can replay the joint sessions she was in.
    ref = _joint_replay(w, f"/api/caseload/{site.ids['sam']}/journey")
    assert w.get("/api" + ref).status_code == 200


def test_replay_rebuilds_the_screen_and_refuses_bad_positions(site: Site) -> None:
    _with_history(site)
    c, _ = site.login("sam")
    ref = _joint_replay(c)
    body = c.get("/api" + ref).json()
    first, last = body["session"]["first"], body["session"]["last"]
    assert body["state"]["position"] == first
    played = next(e for e in body["events"] if e["type"] == "VideoPaused" or e["type"] == "VideoCompleted")
    state = c.get("/api" + ref, params={"position": played["position"], "events": "0"}).json()["state"]
    assert state["topic"]["title"] == "Managing stress"
    assert state["section"]["title"] == "Stress and mental health"
    assert state["video"]["id"] == "v-stress-tom" and not state["video"]["playing"]
    assert state["driver"] == "You"
    for bad in (str(first - 1), str(last + 1), "x1", "-3"):
        r = c.get("/api" + ref, params={"position": bad})
        assert r.status_code == 422 and r.json()["error"]["field"] == "position", (bad, r.text)
    # Sue's session (someone else's) and made-up ids: 404, nothing about it leaked.
    sue_session = site.tandem.start_session(Actor(site.ids["walt"], "worker"), site.ids["sue"])
    site.views.wait_for(site.tandem.head(), 10)
    for other in (str(sue_session), "solo-1", "not-a-session", "11111111-1111-1111-1111-111111111111"):
        r = c.get(f"/api/journey/sessions/{other}")
        assert r.status_code == 404 and "sue" not in r.text.lower(), (other, r.text)
    assert c.get(ref).status_code == 200


def test_then_and_now_lists_every_saved_version(sqlite_site: Site) -> None:
    _with_history(sqlite_site)
    c, _ = sqlite_site.login("sam")
    body = c.get(f"/api/journey/answers/{demo.Q_RECOVERY}").json()
    assert [v["text"] for v in body["versions"]] == demo.RECOVERY_ANSWERS[:4]
    page = c.get(f"/journey/answers/{demo.Q_RECOVERY}")
    assert page.status_code == 200
    for text in demo.RECOVERY_ANSWERS:
        assert text.replace("'", "&#39;") in page.text
    assert c.get("/api/journey/answers/recovery/nope/q9").status_code == 404


def test_download_has_every_event_decrypted_a_readme_and_an_offline_report(site: Site) -> None:
    _with_history(site)
    c, token = site.login("sam")
    r = c.post("/api/journey/export", headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(r.content))
    assert set(z.namelist()) == {"README.md", "events.json", "report.html"}
    events = json.loads(z.read("events.json"))
    journey_versions = site.tandem.log.recorder.last_version(A.journey_id(site.ids["sam"]))
    assert len([e for e in events if e["stream"] == "Journey"]) >= journey_versions - 1
    answers = [e["answer"] for e in events if e["type"] == "AnswerSaved"]
    assert demo.RECOVERY_ANSWERS[0] in answers and demo.STRESS_ANSWERS[1] in answers
    assert all("password_hash" not in e for e in events)
    readme = z.read("README.md").decode()
    for f in ("position", "session_id", "answer", "values", "content_version"):
        assert f"`{f}`" in readme
    report = z.read("report.html").decode()
    assert "You changed your answer" in report and "<svg" in report
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|/)""", report), "the report must open offline"
    site.views.wait_for(site.tandem.head(), 10)
    exported = site.tandem.log.stream(A.journey_id(site.ids["sam"]), [A.Journey.DataExported])
    assert len(exported) == 1
    # Without the CSRF token nothing is exported or recorded.
    head = site.tandem.head()
    assert c.post("/api/journey/export").status_code == 403 and site.tandem.head() == head


def test_erased_journey_reads_as_erased_and_its_rows_are_gone(site: Site) -> None:
    _with_history(site)
    w, _ = site.login("wendy")
    sam = site.ids["sam"]
    assert site.views.journey.entries(sam, limit=5)
    site.tandem.erase(sam, by=site.ids["adam"])
    assert site.views.wait_for(site.tandem.head(), 10)
    for url in (f"/api/caseload/{sam}/journey", f"/caseload/{sam}/journey", f"/api/caseload/{sam}/journey/charts"):
        r = w.get(url)
        # Erasure also ends the worker's link: refused either way, nothing of the journey shown.
        assert r.status_code in (403, 410) and "watched" not in r.text and "Managing stress" not in r.text, url
    store = site.views.journey

    def rows_left() -> int:
        return sum(
            store.q(f"SELECT COUNT(*) AS n FROM {t} WHERE su_id = ?", str(sam))[0]["n"]
            for t in ("jrn_entries", "jrn_visits", "jrn_cursor")
        )

    assert rows_left() == 0
    site.views.rebuild(["journey"], progress=False)  # a rebuild from the log forgets them too
    assert rows_left() == 0 and site.views.journey.entries(site.ids["sue"], limit=1) == []
    if site.tandem.settings.backend == "sqlite":
        from pathlib import Path

        stored = b"".join(p.read_bytes() for p in Path(store.store.path).parent.glob("*views.sqlite*"))
        for text in (*demo.RECOVERY_ANSWERS, *demo.STRESS_ANSWERS):
            assert text.encode() not in stored


def test_the_cli_writes_the_same_zip_and_refuses_an_erased_person(
    sqlite_site: Site, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from web import cli

    _with_history(sqlite_site)
    settings = sqlite_site.tandem.settings
    monkeypatch.setenv("TANDEM_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("TANDEM_SECRET_KEY", "test-secret")
    monkeypatch.setenv("TANDEM_MASTER_KEY", "11" * 32)
    out = tmp_path / "sam.zip"
    assert cli.main(["journey", "export", "sam", "--out", str(out)]) == 0
    events = json.loads(zipfile.ZipFile(out).read("events.json"))
    assert any(e["type"] == "AnswerSaved" and e["answer"] == demo.RECOVERY_ANSWERS[-1] for e in events)
    assert "100%" in capsys.readouterr().err  # the progress bar got to the end
    sqlite_site.tandem.erase(sqlite_site.ids["sam"], by=sqlite_site.ids["adam"])
    assert cli.main(["journey", "export", "sam", "--out", str(tmp_path / "again.zip")]) == 1
    assert not (tmp_path / "again.zip").exists()


def test_a_large_journey_streams_in_small_pieces(sqlite_site: Site) -> None:
    """The ZIP is handed out piece by piece: no piece near the size of the whole."""
    import secrets

    from web.usecases import export as X

    t, sam = sqlite_site.tandem, Actor(sqlite_site.ids["sam"], "service_user")
    futures = [
        t.submit(sam, _command("AnswerSaved", {"question_id": demo.Q_RECOVERY, "answer": secrets.token_hex(400)}))
        for _ in range(2500)
    ]
    for f in futures:
        f.result(60)
    assert sqlite_site.views.wait_for(t.head(), 60)
    plan = X.plan(t, sqlite_site.views, sam.user_id)
    sizes = [len(c) for c in X.zip_chunks(plan, sqlite_site.app.state.content)]
    assert sum(sizes) > 1_000_000 and max(sizes) < 100_000, (sum(sizes), max(sizes))


def _command(type_: str, payload: dict[str, Any]) -> Any:
    import uuid

    from core.commands import Command

    return Command(type_, payload, f"t-{uuid.uuid4().hex}")
