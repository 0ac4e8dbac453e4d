"""Each "Private to you" / "Shared with ..." label the SU reads says what their worker really sees."""

from __future__ import annotations

import html
import re

from tests.web.conftest import Site

LABEL = re.compile(r'data-visibility="(\w+):([^"]+)" data-shared="(yes|no)">([^<]+)<')
ANSWERS = {
    "recovery/hope/q1": "What kept me going was my dog.",  # in a topic Sam shares
    "health/sleep/q1": "I might try a wind-down hour.",  # private
    "health/sleep/q2": "Less screen time in bed.",  # shared on its own
}
PAGES = ["/topics/recovery/hope", "/topics/health/sleep", "/topics/me/finding-your-strengths", "/sharing"]


def _labels(page: str) -> list[tuple[str, str, bool, str]]:
    return [(s, r, yes == "yes", html.unescape(t).strip()) for s, r, yes, t in LABEL.findall(page)]


def test_every_label_matches_what_the_worker_sees(site: Site) -> None:
    sam, token = site.login("sam")
    wendy, _ = site.login("wendy")
    sam_id = site.ids["sam"]
    for n, (q, text) in enumerate(ANSWERS.items()):
        r = sam.post(
            "/api/events",
            json={
                "type": "AnswerSaved",
                "payload": {"question_id": q, "answer": text},
                "client_event_id": f"c-label-{n:04d}",
            },
            headers={"X-CSRF-Token": token},
        )
        assert r.status_code == 201, r.text
    for scope, ref in (("topic", "recovery"), ("answer", "health/sleep/q2"), ("tracker", "sleep")):
        r = sam.post("/api/sharing", json={"scope": scope, "ref": ref, "shared": True}, headers={"X-CSRF-Token": token})
        assert r.status_code == 200

    view = wendy.get(f"/api/caseload/{sam_id}").json()
    page = wendy.get(f"/caseload/{sam_id}").text
    sees = {
        "answer": lambda ref: ref in view["answers"] and html.escape(ANSWERS.get(ref, ""), quote=True) in page,
        "tracker": lambda ref: ref in view["trackers"],
        "worksheet": lambda ref: ref in view["worksheets"],
    }
    checked = set()
    for path in PAGES:
        labels = _labels(sam.get(path).text)
        assert labels, path
        for scope, ref, shared, text in labels:
            assert text == ("Shared with Wendy Clarke" if shared else "Private to you") or text == (
                "Shared with Wendy Clarke, with the whole topic"
            ), (path, ref, text)
            if scope in sees:
                assert sees[scope](ref) == shared, (path, scope, ref, text)
                checked.add((scope, ref, shared))
    # The cases the issue names were among those checked: an answer in a shared topic, a
    # private one, one shared on its own, a shared chart and a private worksheet.
    for case in [
        ("answer", "recovery/hope/q1", True),
        ("answer", "health/sleep/q1", False),
        ("answer", "health/sleep/q2", True),
        ("tracker", "sleep", True),
        ("worksheet", "strengths", False),
    ]:
        assert case in checked, case
    topic_label = [t for s, r, _, t in _labels(sam.get("/topics/recovery/hope").text) if r == "recovery/hope/q1"]
    assert topic_label == ["Shared with Wendy Clarke, with the whole topic"]
