"""The hash chain over the global log, checked as an auditor would: rows changed,
deleted or reordered behind Tandem's back in the real SQLite file or PostgreSQL
schema, and forged checkpoints, are each named by `tandem audit verify`."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core import aggregates as A
from core import audit
from core.commands import Actor, Command
from core.service import Tandem
from core.settings import Settings
from web.cli import main as tandem_cli


@pytest.fixture
def cli(store_settings: Settings, monkeypatch: pytest.MonkeyPatch):
    """`tandem ...` against this test's store, as the console runs it; returns (exit code, stdout)."""
    monkeypatch.setenv("TANDEM_VAR_DIR", str(store_settings.var_dir))
    monkeypatch.setenv("TANDEM_DATABASE_URL", store_settings.database_url)
    monkeypatch.setenv("TANDEM_MASTER_KEY", store_settings.master_key.hex())
    monkeypatch.delenv("TANDEM_AUDIT_KEY", raising=False)  # the key generated into the var dir

    def run(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
        capsys.readouterr()
        code = tandem_cli(list(args))
        return code, capsys.readouterr().out

    return run


@contextmanager
def raw_sql(settings: Settings) -> Iterator[tuple[Any, dict[str, str]]]:
    """A connection of our own, behind Tandem's back, and the table and column names."""
    if settings.backend == "sqlite":
        conn = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"))
        names = {"events": "stored_events", "pos": "rowid", "chain": "tandem_chain", "cps": "tandem_checkpoints"}
        try:
            yield conn, names
            conn.commit()
        finally:
            conn.close()
        return
    schema = settings.postgres_schema
    names = {
        "events": f'"{schema}".tandem_events',
        "pos": "notification_id",
        "chain": f'"{schema}".tandem_chain',
        "cps": f'"{schema}".tandem_checkpoints',
    }
    with psycopg.connect(settings.database_url.split("?")[0]) as conn:
        yield conn, names


def sql(settings: Settings, statement: str, params: tuple = ()) -> list[tuple]:
    with raw_sql(settings) as (conn, n):
        cur = conn.execute(statement.format(**n).replace("?", "%s" if settings.backend == "postgres" else "?"), params)
        return cur.fetchall() if cur.description else []


def positions(tandem: Tandem, cls: type) -> list[int]:
    return [p for p, e in tandem.read(0, 100_000) if isinstance(e, cls)]


@pytest.fixture
def story(tandem: Tandem) -> dict[str, Any]:
    """A small log: accounts, a link, answers (sealed free text), a worker looking at the
    service user's data (an audit event), then the service user erased."""
    su = tandem.register("sam", "Sam", "service_user", "correct horse")
    worker = tandem.register("wendy", "Wendy", "worker", "correct horse")
    admin = tandem.register("adam", "Adam", "admin", "correct horse")
    tandem.link(worker, su, by=admin)
    actor = Actor(su, "service_user")
    for i in range(3):
        tandem.record_blocking(
            actor, Command("AnswerSaved", {"question_id": "me/q1", "answer": f"hope {i}"}, f"answer-{i:04d}")
        )
        tandem.record_blocking(actor, Command("SectionViewed", {"section_id": "me-summary"}, f"viewed-{i:04d}"))
    asyncio.run(tandem.audit(Actor(worker, "worker"), su, "journey", allowed=True))
    tandem.erase(su, by=admin)
    return {"su": su, "admin": admin}


def test_an_intact_log_verifies_up_to_its_head_after_an_erasure(tandem, story, cli, capsys):
    code, out = cli("audit", "verify", capsys=capsys)
    assert code == 0, out
    head = tandem.head()
    position, link = tandem.log.recorder.last_link()
    assert position == head
    assert f"intact up to position {head}, head {link.hex()}" in out
    assert "events/s" in out
    # The erasure destroyed the key, not the rows: the sealed answers still verify, unreadable.
    [(_, answer)] = tandem.read(positions(tandem, A.Journey.AnswerSaved)[0] - 1, 1)
    assert tandem.reveal(story["su"], answer.answer) is None
    code, out = cli("audit", "head", capsys=capsys)
    assert (code, out.strip()) == (0, f"position {head} head {link.hex()}")


def test_every_event_has_its_link_written_with_it_audit_events_included(tandem, story, store_settings):
    links = dict(sql(store_settings, "SELECT position, link FROM {chain}"))
    assert sorted(links) == [p for p, _ in tandem.read(0, 10_000)]
    [accessed] = positions(tandem, A.AuditTrail.DataAccessed)
    assert accessed in links


@pytest.mark.parametrize(
    "target", [A.AuditTrail.DataAccessed, A.Journey.AnswerSaved, A.Account.Erased], ids=lambda c: c.__qualname__
)
def test_a_changed_byte_in_a_stored_event_is_named(tandem, story, store_settings, cli, capsys, target):
    position = positions(tandem, target)[0]
    [(state,)] = sql(store_settings, "SELECT state FROM {events} WHERE {pos} = ?", (position,))
    state = bytearray(state)
    state[len(state) // 2] ^= 0x01
    sql(store_settings, "UPDATE {events} SET state = ? WHERE {pos} = ?", (bytes(state), position))
    code, out = cli("audit", "verify", capsys=capsys)
    assert code == 1
    assert f"BROKEN at position {position} " in out
    assert f"position {position}: the stored event does not match its chain link" in out
    assert "expected " in out and "found " in out


def test_a_deleted_row_is_named(tandem, story, store_settings, cli, capsys):
    position = positions(tandem, A.Journey.SectionViewed)[1]
    sql(store_settings, "DELETE FROM {events} WHERE {pos} = ?", (position,))
    code, out = cli("audit", "verify", capsys=capsys)
    assert code == 1
    assert f"position {position}: the chain has a link here but no event is stored" in out
    # A deleter who takes the link away too is caught at the next event, whose link followed it.
    sql(store_settings, "DELETE FROM {chain} WHERE position = ?", (position,))
    code, out = cli("audit", "verify", capsys=capsys)
    assert code == 1
    assert f"BROKEN at position {position + 1} " in out
    assert f"does not match its chain link after position {position - 1}" in out


def test_a_reordered_pair_is_named(tandem, story, store_settings, cli, capsys):
    first = positions(tandem, A.Journey.AnswerSaved)[1]
    with raw_sql(store_settings) as (conn, n):
        q = "%s" if store_settings.backend == "postgres" else "?"
        for old, new in ((first, -1), (first + 1, first), (-1, first + 1)):
            conn.execute(f"UPDATE {n['events']} SET {n['pos']} = {q} WHERE {n['pos']} = {q}", (new, old))
    code, out = cli("audit", "verify", capsys=capsys)
    assert code == 1
    assert f"BROKEN at position {first} " in out


def test_a_row_added_behind_tandems_back_is_named_and_never_linked_later(tandem, story, store_settings, cli, capsys):
    [(oid, _, topic, state)] = sql(
        store_settings,
        "SELECT originator_id, originator_version, topic, state FROM {events} WHERE {pos} = ?",
        (positions(tandem, A.Journey.SectionViewed)[-1],),
    )
    sql(
        store_settings,
        "INSERT INTO {events} (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)",
        (oid, 999, topic, state),
    )
    added = tandem.head()
    # Tandem writes on afterwards: its commit must not take the added row into the chain.
    olu = Actor(tandem.register("olu", "Olu", "service_user", "pw-123456"), "service_user")
    tandem.record_blocking(olu, Command("TopicOpened", {"topic_id": "me"}, "after-0001"))
    code, out = cli("audit", "verify", capsys=capsys)
    assert code == 1
    assert f"BROKEN at position {added} " in out
    assert f"position {added}: this event has no chain link" in out


def test_a_store_from_before_the_chain_is_linked_once_when_opened(store_settings, cli, capsys):
    from core.log import open_log

    older = Tandem(store_settings)
    older.log.recorder.sealing = False  # as the code before the chain wrote
    su = older.register("sam", "Sam", "service_user", "correct horse")
    older.record_blocking(Actor(su, "service_user"), Command("TopicOpened", {"topic_id": "me"}, "before-0001"))
    older.close()
    assert sql(store_settings, "SELECT COUNT(*) FROM {chain}") == [(0,)]
    open_log(store_settings).close()
    code, out = cli("audit", "verify", capsys=capsys)
    assert code == 0, out
    assert "intact up to position 5," in out


def test_checkpoints_are_signed_in_the_write_transaction_and_verified(tandem, store_settings, cli, capsys, monkeypatch):
    monkeypatch.setattr(audit, "CHECKPOINT_EVERY", 4)
    su = tandem.register("sam", "Sam", "service_user", "correct horse")
    for i in range(9):
        tandem.record_blocking(Actor(su, "service_user"), Command("TopicOpened", {"topic_id": "me"}, f"topic-{i:04d}"))
    stored = sorted(p for (p,) in sql(store_settings, "SELECT position FROM {cps}"))
    # One commit per action here, so each multiple of 4 is a checkpoint's position.
    assert stored == list(range(4, tandem.head() + 1, 4))
    code, out = cli("audit", "verify", capsys=capsys)
    assert code == 0, out
    assert f"{len(stored)} signed checkpoint(s) verified" in out


def test_a_forged_checkpoint_is_named(tandem, story, store_settings, cli, capsys):
    position, head = tandem.log.recorder.last_link()
    forged = audit.sign(Ed25519PrivateKey.generate(), position, head)  # not the deployment's key
    sql(store_settings, "INSERT INTO {cps} VALUES (?, ?, ?, ?)", tuple(forged))
    code, out = cli("audit", "verify", capsys=capsys)
    assert code == 1
    assert f"position {position}: the checkpoint's signature does not verify with the deployment key" in out


def test_a_checkpoint_with_its_head_changed_is_named(tandem, story, store_settings, cli, capsys):
    assert cli("audit", "checkpoint", capsys=capsys)[0] == 0
    position, _ = tandem.log.recorder.last_link()
    sql(store_settings, "UPDATE {cps} SET head = ? WHERE position = ?", (bytes(32), position))
    code, out = cli("audit", "verify", capsys=capsys)
    assert code == 1
    assert f"position {position}: the checkpoint's signature does not verify" in out


def test_a_rewriter_who_recomputes_the_links_is_caught_by_the_signed_checkpoint(
    tandem, story, store_settings, cli, capsys
):
    """Someone with database access but not the signing key changes an answer and
    rewrites every link after it: the chain is self-consistent, the signature is not."""
    assert cli("audit", "checkpoint", capsys=capsys)[0] == 0
    signed_at, _ = tandem.log.recorder.last_link()
    target = positions(tandem, A.Journey.AnswerSaved)[0]
    [(state,)] = sql(store_settings, "SELECT state FROM {events} WHERE {pos} = ?", (target,))
    sql(store_settings, "UPDATE {events} SET state = ? WHERE {pos} = ?", (state + b"\x00", target))
    recorder = tandem.log.recorder
    prev = dict(recorder.select_links(0, target - 1)).get(target - 1, audit.GENESIS)
    for position, new_link in audit.chain(prev, recorder.select_rows(target - 1, signed_at)):
        sql(store_settings, "UPDATE {chain} SET link = ? WHERE position = ?", (new_link, position))
    code, out = cli("audit", "verify", capsys=capsys)
    assert code == 1
    assert f"position {signed_at}: the chain's head here is not the signed one" in out


def test_rows_deleted_at_the_end_are_caught_by_a_later_checkpoint(tandem, story, store_settings, cli, capsys):
    assert cli("audit", "checkpoint", capsys=capsys)[0] == 0
    head = tandem.head()
    sql(store_settings, "DELETE FROM {events} WHERE {pos} >= ?", (head - 1,))
    sql(store_settings, "DELETE FROM {chain} WHERE position >= ?", (head - 1,))
    code, out = cli("audit", "verify", capsys=capsys)
    assert code == 1
    assert f"position {head}: a signed checkpoint is beyond the log's end at {head - 2}" in out


def test_verify_at_a_noted_head_proves_which_data_was_used(tandem, story, store_settings, cli, capsys):
    code, out = cli("audit", "head", capsys=capsys)
    _, at, _, head = out.split()
    # Later writes do not change what was cut at `at`.
    olu = Actor(tandem.register("olu", "Olu", "service_user", "pw-123456"), "service_user")
    tandem.record_blocking(olu, Command("TopicOpened", {"topic_id": "me"}, "later-0001"))
    code, out = cli("audit", "verify", "--at", at, "--head", head, capsys=capsys)
    assert code == 0, out
    assert f"intact up to position {at}, head {head}" in out
    code, out = cli("audit", "verify", "--at", str(int(at) - 1), "--head", head, capsys=capsys)
    assert code == 1 and "the chain's head here is not the one given" in out
    # A change before the noted position breaks it; the researcher's hash no longer matches.
    first = positions(tandem, A.Journey.AnswerSaved)[0]
    sql(store_settings, "UPDATE {events} SET topic = topic || 'x' WHERE {pos} = ?", (first,))
    code, out = cli("audit", "verify", "--at", at, "--head", head, capsys=capsys)
    assert code == 1 and f"BROKEN at position {first} " in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--head", "ab" * 32], "--head needs --at"),
        (["--at", "0"], "--at must be a position of 1 or more"),
        (["--at", "3", "--head", "nothex"], "--head must be 64 hex characters"),
        (["--at", "3", "--head", "ab" * 31], "--head must be 64 hex characters"),
        (["--public-key", "12"], "a public key is 64 hex characters"),
    ],
)
def test_bad_arguments_are_refused_with_exit_2_and_change_nothing(tandem, cli, capsys, args, message):
    before = tandem.log.recorder.select_checkpoints(), tandem.head()
    code = tandem_cli(["audit", "verify", *args])
    assert code == 2
    assert message in capsys.readouterr().err
    assert (tandem.log.recorder.select_checkpoints(), tandem.head()) == before


def test_verify_beyond_the_end_of_the_log_fails(tandem, story, cli, capsys):
    code, out = cli("audit", "verify", "--at", str(tandem.head() + 5), "--head", "ab" * 32, capsys=capsys)
    assert code == 1 and f"the log ends at position {tandem.head()}" in out


def test_two_processes_writing_at_once_keep_one_chain(store_settings, cli, capsys):
    """Two Tandem instances (as two server processes) append concurrently: the chain
    follows the log's order, not either writer's."""
    a, b = Tandem(store_settings), Tandem(store_settings)
    try:
        sus = [a.register(f"su{i}", "SU", "service_user", "correct horse") for i in range(2)]

        def write(t: Tandem, su: Any) -> None:
            for _ in range(60):
                t.record_blocking(Actor(su, "service_user"), Command("TopicOpened", {"topic_id": "me"}, uuid4().hex))

        threads = [threading.Thread(target=write, args=pair) for pair in ((a, sus[0]), (b, sus[1]))]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        code, out = cli("audit", "verify", capsys=capsys)
        assert code == 0, out
        assert f"intact up to position {a.head()}," in out
    finally:
        a.close()
        b.close()
