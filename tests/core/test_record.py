"""The command API on both stores: what is recorded, what is refused, and retries."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core import aggregates as A
from core.commands import Actor, Command
from core.errors import Forbidden, InvalidField, NotInSession, SessionClosed, UnknownCommand


@pytest.fixture
def people(tandem):
    su = tandem.register("sam", "Sam", "service_user", "correct horse")
    other = tandem.register("olu", "Olu", "service_user", "correct horse")
    worker = tandem.register("wendy", "Wendy", "worker", "correct horse")
    researcher = tandem.register("rita", "Rita", "researcher", "correct horse")
    tandem.link(worker, su, by=worker)
    return {
        "su": Actor(su, "service_user", "phone-1"),
        "other": Actor(other, "service_user"),
        "worker": Actor(worker, "worker", "tablet-1"),
        "researcher": Actor(researcher, "researcher"),
    }


def cmd(type_: str, cid: str, **payload) -> Command:
    return Command(type_, payload, cid, client_time=datetime(2025, 1, 2, 10, 0, tzinfo=UTC), content_version="c0ffee")


def test_an_action_is_stored_with_its_envelope(tandem, people):
    ack = tandem.record_blocking(people["su"], cmd("TopicOpened", "client-0001", topic_id="recovery"))
    assert ack.position == tandem.head()
    [(position, event)] = tandem.read(ack.position - 1)
    assert position == ack.position
    assert isinstance(event, A.Journey.TopicOpened)
    assert event.originator_id == A.journey_id(people["su"].user_id)
    assert (event.actor_id, event.actor_role, event.device) == (people["su"].user_id, "service_user", "phone-1")
    assert event.topic_id == "recovery" and event.session_id is None
    assert event.client_event_id == "client-0001" and event.event_id == ack.event_id
    assert event.content_version == "c0ffee"
    assert event.client_time == datetime(2025, 1, 2, 10, 0, tzinfo=UTC)
    assert event.timestamp > event.client_time  # the server's own clock


def test_a_retried_client_event_id_is_recorded_once(tandem, people):
    first = tandem.record_blocking(people["su"], cmd("TopicOpened", "client-0002", topic_id="recovery"))
    head = tandem.head()
    again = tandem.record_blocking(people["su"], cmd("TopicOpened", "client-0002", topic_id="recovery"))
    assert (again.position, again.event_id, again.duplicate) == (first.position, first.event_id, True)
    assert tandem.head() == head


async def test_the_same_id_twice_in_one_batch_is_recorded_once(tandem, people):
    acks = await asyncio.gather(
        *[tandem.record(people["su"], cmd("TopicOpened", "client-0003", topic_id="me")) for _ in range(5)]
    )
    assert len({a.position for a in acks}) == 1
    assert sum(not a.duplicate for a in acks) == 1
    assert sum(isinstance(e, A.Journey.TopicOpened) for _, e in tandem.read(0)) == 1


@pytest.mark.parametrize(
    "actor,command,error,field",
    [
        ("su", cmd("TopicDeleted", "client-1001"), UnknownCommand, "type"),
        ("su", cmd("TopicOpened", "client-1002"), InvalidField, "topic_id"),
        (
            "su",
            cmd("AnswerSaved", "client-1003", question_id="recovery/a/q1", answer="x" * 10_001),
            InvalidField,
            "answer",
        ),
        ("su", cmd("TopicOpened", "short", topic_id="recovery"), InvalidField, "client_event_id"),
        ("su", cmd("TopicOpened", "has a space", topic_id="recovery"), InvalidField, "client_event_id"),
        ("su", cmd("TopicOpened", "tab\tseparated", topic_id="recovery"), InvalidField, "client_event_id"),
        ("su", cmd("TopicOpened", "client-1004", topic_id="<script>"), InvalidField, "topic_id"),
        (
            "su",
            cmd("ChartPointRecorded", "client-1005", tracker_id="mood", values={"mood": "high"}, for_date="2026-11-29"),
            InvalidField,
            "values",
        ),
        ("su", cmd("VideoProgressed", "client-1006", video_id="v", percent=140, position_s=3), InvalidField, "percent"),
        ("su", cmd("TopicOpened", "client-1007", topic_id="recovery", extra=1), InvalidField, "extra"),
        ("researcher", cmd("TopicOpened", "client-1008", topic_id="recovery"), Forbidden, "type"),
        ("worker", cmd("TopicOpened", "client-1009", topic_id="recovery"), Forbidden, "session_id"),
        ("worker", cmd("ConsentGiven", "client-1010", scope="research"), Forbidden, "type"),
    ],
)
def test_an_invalid_command_is_refused_with_a_typed_error_and_nothing_stored(
    tandem, people, actor, command, error, field
):
    head = tandem.head()
    with pytest.raises(error) as info:
        tandem.record_blocking(people[actor], command)
    assert info.value.field == field and info.value.message
    assert tandem.head() == head


def test_unknown_content_ids_are_refused_when_a_catalogue_is_given(tandem, people):
    tandem.catalogue = lambda kind, ref: ref == "recovery"
    tandem.record_blocking(people["su"], cmd("TopicOpened", "client-1101", topic_id="recovery"))
    with pytest.raises(InvalidField, match="unknown topic"):
        tandem.record_blocking(people["su"], cmd("TopicOpened", "client-1102", topic_id="gardening"))


def test_joint_session_rules(tandem, people):
    su, worker, other = people["su"], people["worker"], people["other"]
    sid = tandem.start_session(worker, su.user_id)
    in_session = lambda t, cid, **p: Command(t, p, cid, session_id=sid)  # noqa: E731

    # The worker records a chart point with the SU: it lands in the SU's journey, once.
    ack = tandem.record_blocking(
        worker,
        in_session("ChartPointRecorded", "client-2001", tracker_id="mood", values={"mood": 6}, for_date="2026-11-29"),
    )
    [(_, point)] = tandem.read(ack.position - 1)
    assert point.originator_id == A.journey_id(su.user_id) and point.session_id == sid and point.actor_role == "worker"

    # Suggestions: the worker suggests, only the SU accepts.
    tandem.record_blocking(
        worker, in_session("SuggestionMade", "client-2002", suggestion_id="s1", topic_id="health", section_id=None)
    )
    with pytest.raises(Forbidden):
        tandem.record_blocking(worker, in_session("SuggestionAccepted", "client-2003", suggestion_id="s1"))
    tandem.record_blocking(su, in_session("SuggestionAccepted", "client-2004", suggestion_id="s1"))
    with pytest.raises(InvalidField):
        tandem.record_blocking(su, in_session("SuggestionDismissed", "client-2005", suggestion_id="s1"))

    # Control: the SU holds it, hands it to the worker, and takes it back.
    assert tandem.session(sid).control_holder == su.user_id
    with pytest.raises(Forbidden):
        tandem.record_blocking(worker, in_session("ControlHandedOver", "client-2006", to_user=str(worker.user_id)))
    tandem.record_blocking(su, in_session("ControlHandedOver", "client-2007", to_user=str(worker.user_id)))
    tandem.record_blocking(su, in_session("ControlHandedOver", "client-2008", to_user=str(su.user_id)))
    s = tandem.session(sid)
    assert (s.control_holder, s.control_epoch) == (su.user_id, 3)

    # Someone else cannot act in this session; after it ends nobody can.
    with pytest.raises(NotInSession):
        tandem.record_blocking(other, in_session("TopicOpened", "client-2009", topic_id="me"))
    tandem.record_blocking(worker, in_session("SessionEnded", "client-2010"))
    with pytest.raises(SessionClosed):
        tandem.record_blocking(su, in_session("TopicOpened", "client-2011", topic_id="me"))


def test_an_unlinked_worker_loses_access(tandem, people):
    su, worker = people["su"], people["worker"]
    sid = tandem.start_session(worker, su.user_id)
    tandem.unlink(worker.user_id, su.user_id, by=worker.user_id)
    with pytest.raises(Forbidden):
        tandem.record_blocking(worker, Command("TopicOpened", {"topic_id": "me"}, "client-3001", session_id=sid))
    with pytest.raises(Forbidden):
        tandem.start_session(worker, su.user_id)


PERSONAL = {
    "AnswerSaved": {"question_id": "recovery/a/q1", "answer": "the sea at dawn"},
    "WorksheetItemAdded": {"worksheet_id": "me/w1", "item_id": "i-1", "text": "the sea at dawn"},
    "WorksheetItemChanged": {"worksheet_id": "me/w1", "item_id": "i-1", "text": "the sea at dawn"},
    "ChartPointRecorded": {"tracker_id": "sleep", "values": {"hours": 7.5}, "for_date": "2026-11-29"},
}


def test_every_field_an_event_class_declares_personal_is_stored_sealed(tandem, people, store_settings):
    """The event classes are the one list of personal fields: each is unreadable in the store's file."""
    assert set(A.SEALED_FIELDS) == set(PERSONAL)  # a new personal field needs a case here
    su = people["su"]
    for n, (type_, payload) in enumerate(PERSONAL.items()):
        ack = tandem.record_blocking(su, cmd(type_, f"client-seal-{n}", **payload))
        [(_, saved)] = tandem.read(ack.position - 1, limit=1)
        stored = getattr(saved, A.SEALED_FIELDS[type_])
        assert set(stored) == {"n", "c"}  # ciphertext, not the value
        revealed = tandem.reveal(su.user_id, stored)
        plain = payload[A.SEALED_FIELDS[type_]]
        assert (json.loads(revealed) if type_ in A.JSON_SEALED else revealed) == plain
    if store_settings.backend == "sqlite":
        db = Path(store_settings.database_url.removeprefix("sqlite:///"))
        raw = b"".join(f.read_bytes() for f in db.parent.glob(db.name + "*"))  # the file and its WAL
        assert b"the sea at dawn" not in raw and b"hours" not in raw


def test_free_text_is_sealed_and_erasure_shreds_it(tandem, people):
    su = people["su"]
    ack = tandem.record_blocking(
        su, cmd("AnswerSaved", "client-4001", question_id="recovery/a/q1", answer="I want to walk by the sea again")
    )
    [(_, saved)] = tandem.read(ack.position - 1)
    assert "sea" not in repr(saved.answer)  # ciphertext in the store
    assert tandem.reveal(su.user_id, saved.answer) == "I want to walk by the sea again"
    tandem.erase(su.user_id, by=people["researcher"].user_id)
    [(_, still_there)] = tandem.read(ack.position - 1, limit=1)  # the log is untouched ...
    assert tandem.reveal(su.user_id, still_there.answer) is None  # ... and unreadable
    assert tandem.account(su.user_id).erased


async def test_concurrent_writers_are_grouped_into_few_transactions(tandem, people):
    su = people["su"]
    batches = tandem.writer.batches
    acks = await asyncio.gather(
        *[
            tandem.record(su, cmd("SectionViewed", f"client-5{i:04d}", section_id="recovery/hope", seconds_on_screen=3))
            for i in range(200)
        ]
    )
    assert len({a.position for a in acks}) == 200
    assert tandem.writer.batches - batches < 100
    versions = [e.originator_version for _, e in tandem.read(0) if isinstance(e, A.Journey.SectionViewed)]
    assert sorted(versions) == list(range(min(versions), min(versions) + 200))


def test_passwords_are_argon2_and_checked(tandem, people):
    account = tandem.account(people["su"].user_id)
    assert account.password_hash.startswith("$argon2")
    assert tandem.authenticate("Sam", "correct horse").id == account.id
    assert tandem.authenticate("sam", "wrong horse") is None
    assert tandem.authenticate("nobody", "correct horse") is None


def test_a_service_user_can_start_a_same_device_session_with_their_worker(tandem, people):
    su, worker, other = people["su"], people["worker"], people["other"]
    sid = tandem.start_session(su, worker_id=worker.user_id)
    s = tandem.session(sid)
    assert (s.su_id, s.worker_id, s.same_device) == (su.user_id, worker.user_id, True)
    with pytest.raises(Forbidden):  # only with a worker they are linked to
        tandem.start_session(other, worker_id=worker.user_id)
    with pytest.raises(Forbidden):
        tandem.start_session(people["researcher"], su.user_id)


def test_what_another_process_changes_is_not_judged_from_a_stale_copy(tandem, people, store_settings):
    """The writer keeps aggregates between batches; a change made through another
    process's writer (here a second Tandem on the same store) must still count."""
    from core.service import Tandem

    su, worker = people["su"], people["worker"]
    sid = tandem.start_session(worker, su.user_id)
    tandem.record_blocking(
        worker, Command("TopicOpened", {"topic_id": "me"}, "client-4001", session_id=sid)
    )  # link and session now cached
    other = Tandem(store_settings)
    try:
        other.unlink(worker.user_id, su.user_id, by=worker.user_id)
    finally:
        other.close()
    with pytest.raises(Forbidden):
        tandem.record_blocking(worker, Command("TopicOpened", {"topic_id": "me"}, "client-4002", session_id=sid))
    assert [type(e).__name__ for _, e in tandem.read(0) if getattr(e, "client_event_id", None) == "client-4002"] == []
