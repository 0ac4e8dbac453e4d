"""Attack: after an erasure, read the person back out of the read models or the log."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from core import aggregates as A
from core.commands import Actor, Pending
from core.keystore import ERASED_NAME, is_sealed
from core.service import Tandem
from core.settings import Settings
from projections import ALL, ProjectionSet
from tests.security.erasure_scenario import NAME, cmd, live_through


def mentions(views: ProjectionSet, needles: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Every row of every projection table that contains one of `needles`, by table."""
    found: dict[str, list[dict[str, Any]]] = {}
    for p in views.projections.values():
        for spec in p.tables:
            for row in views.store.query(f"SELECT * FROM {spec.name}"):
                if any(n in json.dumps(row, default=str) for n in needles):
                    found.setdefault(spec.name, []).append(row)
    return found


def test_every_projection_forgets_an_erased_person(store_settings: Settings, tandem: Tandem) -> None:
    views = ProjectionSet(store_settings, tandem=tandem)
    views.prepare()
    person = live_through(tandem)
    other = live_through(tandem, "keeper", "Kept Person")
    views.catch_up()
    su = person.su.user_id
    needles = [str(su), su.hex, person.pseudonym, NAME]
    before = mentions(views, needles)
    # Every projection held something about them (so each one is really checked below).
    assert {p.name for p in views.projections.values() if any(s.name in before for s in p.tables)} == {
        c.name for c in ALL
    }

    tandem.erase(su, by=person.worker.user_id)
    views.catch_up()
    assert mentions(views, needles) == {}
    views.rebuild()
    assert mentions(views, needles) == {}
    # The other person is untouched.
    assert views.directory.account(other.su.user_id)["display_name"] == "Kept Person"
    assert [p["values"] for p in views.trackers.series(other.su.user_id, "mood")] == [{"mood": 7}]
    # Their worker's caseload still lists the link, as an erased account and nothing else.
    (entry,) = views.directory.caseload(person.worker.user_id)
    assert entry["erased"] and entry["display_name"] == ERASED_NAME and entry["user_id"] is None
    assert not any(v for k, v in entry.items() if k not in ("display_name", "erased", "link_active", "linked_at"))
    views.close()


def test_names_and_tracker_values_are_sealed_in_the_log(sqlite_settings: Settings) -> None:
    tandem = Tandem(sqlite_settings)
    live_through(tandem)
    events = [ev for _, ev in tandem.read(0, 100_000)]
    tandem.close()
    names = [ev.display_name for ev in events if isinstance(ev, A.Account.Registered)]
    points = [ev.values for ev in events if isinstance(ev, A.Journey.ChartPointRecorded)]
    assert names and all(is_sealed(n) for n in names)
    assert points and all(is_sealed(v) for v in points)
    for f in Path(sqlite_settings.var_dir).glob("tandem.sqlite*"):
        assert NAME.encode() not in f.read_bytes(), f


def _register_as_before(tandem: Tandem, username: str, name: str, role: str) -> UUID:
    """An account recorded before names were sealed: the name stored as plain text."""
    uid = A.account_id(username)

    def build(ctx: Any) -> list[Any]:
        acc = A.Account._create(
            A.Account.Registered,
            id=uid,
            username=username,
            display_name=name,
            role=role,
            password_hash="x",
            pseudonym="P-old00000",
        )
        objs: list[Any] = [acc]
        if role == "service_user":
            objs.append(A.Journey._create(A.Journey.Began, id=A.journey_id(uid), su_id=uid))
        return [e for o in objs for e in o.collect_events()]

    tandem.writer.submit(Pending(key=None, build=build)).result(30)
    return uid


def _point_as_before(tandem: Tandem, su: UUID, values: dict[str, float]) -> None:
    jid = A.journey_id(su)

    def build(ctx: Any) -> list[Any]:
        return [
            A.Journey.ChartPointRecorded(
                originator_id=jid,
                originator_version=ctx.next_version(jid),
                timestamp=datetime.now(UTC),
                event_id="e-old",
                actor_id=su,
                actor_role="service_user",
                device="",
                session_id=None,
                client_time=None,
                content_version=None,
                client_event_id="old-1",
                tracker_id="mood",
                values=values,
                for_date="2025-12-01",
            )
        ]

    tandem.writer.submit(Pending(key=None, build=build)).result(30)


def test_events_from_before_sealing_still_read_and_still_erase(store_settings: Settings, tandem: Tandem) -> None:
    w = _register_as_before(tandem, "old-worker", "Olive Worker", "worker")
    su = _register_as_before(tandem, "old-su", "Oscar Plain", "service_user")
    tandem.link(w, su, by=w)
    _point_as_before(tandem, su, {"mood": 4})
    tandem.record_blocking(
        Actor(su, "service_user"),
        cmd("ChartPointRecorded", {"tracker_id": "mood", "values": {"mood": 5}, "for_date": "2025-12-02"}),
    )
    views = ProjectionSet(store_settings, tandem=tandem)
    views.prepare()
    views.catch_up()
    account = tandem.account(su)
    assert account is not None and tandem.display_name(account) == "Oscar Plain"
    assert [r["display_name"] for r in views.directory.caseload(w)] == ["Oscar Plain"]
    assert [p["values"] for p in views.trackers.series(su, "mood")] == [{"mood": 4}, {"mood": 5}]

    tandem.erase(su, by=w)
    views.catch_up()
    account = tandem.account(su)
    assert account is not None and tandem.display_name(account) == ERASED_NAME
    assert [r["display_name"] for r in views.directory.caseload(w)] == [ERASED_NAME]
    assert views.trackers.series(su, "mood") == []
    views.rebuild()
    assert views.trackers.series(su, "mood") == [] and mentions(views, [str(su), "Oscar Plain"]) == {}
    views.close()
