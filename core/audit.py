"""A hash chain over the global log, and signed checkpoints of its head.

Each stored event gets a link: SHA-256 of the previous link and of the event's
stored bytes (position, stream, version, topic and the encoded state, ciphertext
included). The recorders write the links in the transaction that stores the
events, so a committed event always has its link. Every CHECKPOINT_EVERY events
(and on demand) the head is signed with the deployment's Ed25519 key.

`verify` walks the whole log and names the first position where what is stored
no longer matches the chain, and every checkpoint the chain or the key disowns.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple, Protocol
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

GENESIS = bytes(32)  # the "previous link" of the first event
CHECKPOINT_EVERY = 10_000
WINDOW = 20_000  # positions read per query while verifying
_HEADER = struct.Struct(">Q16sQ")
_SIGNED = b"tandem audit checkpoint v1\n"


class Row(NamedTuple):
    """One stored event as the chain sees it."""

    position: int
    originator_id: UUID | str
    originator_version: int
    topic: str
    state: bytes


class Checkpoint(NamedTuple):
    position: int
    head: bytes
    signature: bytes
    created_at: str


_ids: dict[UUID | str, bytes] = {}
_topics: dict[str, bytes] = {}


def _id_bytes(originator_id: UUID | str) -> bytes:
    """16 bytes for a stream id (a UUID, or SQLite's 32 hex digits), remembered: a log has
    few streams and many events, and verify hashes a million of them."""
    found = _ids.get(originator_id)
    if found is None:
        if isinstance(originator_id, UUID):
            found = originator_id.bytes
        else:
            found = bytes.fromhex(originator_id) if len(originator_id) == 32 else UUID(originator_id).bytes
        if len(_ids) > 100_000:
            _ids.clear()
        _ids[originator_id] = found
    return found


def _topic_bytes(topic: str) -> bytes:
    found = _topics.get(topic)
    if found is None:
        encoded = topic.encode()
        found = _topics[topic] = struct.pack(">I", len(encoded)) + encoded
    return found


def link(prev: bytes, row: Row) -> bytes:
    """The link of `row`, following `prev`. Fixed-width fields, then the length-prefixed
    topic, then the state, so no two different rows encode to the same input."""
    position, originator_id, version, topic, state = row
    header = _HEADER.pack(position, _id_bytes(originator_id), version)
    return hashlib.sha256(b"".join((prev, header, _topic_bytes(topic), state))).digest()


def chain(prev: bytes, rows: Iterable[Row]) -> list[tuple[int, bytes]]:
    """(position, link) for each row in order, starting after `prev`."""
    links = []
    for row in rows:
        prev = link(prev, row)
        links.append((row[0], prev))
    return links


def checkpoint_due(first: int, last: int) -> bool:
    """Whether positions first..last cross a multiple of CHECKPOINT_EVERY."""
    return last // CHECKPOINT_EVERY > (first - 1) // CHECKPOINT_EVERY


# ------------------------------------------------------------------ signing


def signing_key(hex_seed: str) -> Ed25519PrivateKey:
    """The deployment key from its 32-byte seed written as 64 hex characters."""
    seed = bytes.fromhex(hex_seed.strip())
    if len(seed) != 32:
        raise ValueError("the audit key must be 64 hex characters (a 32-byte Ed25519 seed)")
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def public_key(hex_key: str) -> Ed25519PublicKey:
    raw = bytes.fromhex(hex_key.strip())
    if len(raw) != 32:
        raise ValueError("a public key is 64 hex characters")
    return Ed25519PublicKey.from_public_bytes(raw)


def _message(position: int, head: bytes, created_at: str) -> bytes:
    return _SIGNED + struct.pack(">Q", position) + head + created_at.encode()


def sign(key: Ed25519PrivateKey, position: int, head: bytes) -> Checkpoint:
    created_at = datetime.now(UTC).isoformat(timespec="seconds")
    return Checkpoint(position, head, key.sign(_message(position, head, created_at)), created_at)


def signature_holds(key: Ed25519PublicKey, cp: Checkpoint) -> bool:
    try:
        key.verify(cp.signature, _message(cp.position, cp.head, cp.created_at))
    except InvalidSignature:
        return False
    return True


# ------------------------------------------------------------------ verifying


class ChainStore(Protocol):
    """What a recorder offers the verifier (core/recorders.py implements it for both stores)."""

    def chain_end(self) -> int: ...
    def select_rows(self, after: int, upto: int) -> Sequence[Row]: ...
    def select_links(self, after: int, upto: int) -> Sequence[tuple[int, bytes]]: ...
    def select_checkpoints(self) -> Sequence[Checkpoint]: ...


@dataclass
class Problem:
    position: int
    what: str
    expected: str = ""
    found: str = ""

    def __str__(self) -> str:
        text = f"position {self.position}: {self.what}"
        if self.expected or self.found:
            text += f"\n  expected {self.expected}\n  found    {self.found}"
        return text


@dataclass
class Report:
    position: int = 0  # the last position checked and found intact
    head: bytes = GENESIS
    events: int = 0
    checkpoints: int = 0  # signed checkpoints that verified
    problems: list[Problem] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def _merged(store: ChainStore, upto: int) -> Iterator[tuple[int, Row | None, bytes | None]]:
    """Every position that has an event or a link, in order, with what is stored there."""
    after = 0
    while after < upto:
        top = min(upto, after + WINDOW)
        rows = {r[0]: r for r in store.select_rows(after, top)}
        links = dict(store.select_links(after, top))
        for position in sorted(rows.keys() | links.keys()):
            yield position, rows.get(position), links.get(position)
        after = top


def verify(
    store: ChainStore,
    key: Ed25519PublicKey | None,
    *,
    at: int | None = None,
    progress: Callable[[int], object] = lambda n: None,  # its return value is ignored (tqdm.update returns one)
) -> Report:
    """Walk the log up to `at` (default: its end) and check every link and checkpoint."""
    end = store.chain_end()
    upto = end if at is None else at
    report = Report()
    if at is not None and at > end:
        report.problems.append(Problem(at, f"the log ends at position {end}"))
        return report
    checkpoints = sorted(store.select_checkpoints())
    pending = [cp for cp in checkpoints if cp.position <= upto]
    heads: dict[int, bytes] = {}
    wanted = {cp.position for cp in pending}
    prev, prev_position = GENESIS, 0
    for position, row, stored in _merged(store, upto):
        report.events += row is not None
        if row is None:
            report.problems.append(Problem(position, "the chain has a link here but no event is stored (deleted row)"))
            break
        if stored is None:
            report.problems.append(Problem(position, "this event has no chain link (written behind Tandem's back)"))
            break
        expected = link(prev, row)
        if expected != stored:
            follows = f" after position {prev_position}" if prev_position else ""
            report.problems.append(
                Problem(
                    position,
                    f"the stored event does not match its chain link{follows} (changed, reordered or deleted rows)",
                    expected.hex(),
                    stored.hex(),
                )
            )
            break
        prev, prev_position = stored, position
        report.position, report.head = position, stored
        if position in wanted:
            heads[position] = stored
        if report.events % 1000 == 0:
            progress(1000)
    progress(report.events % 1000)
    broken_at = report.problems[0].position if report.problems else None
    for cp in pending:
        if broken_at is not None and cp.position >= broken_at:
            break
        found = _check_checkpoint(cp, heads.get(cp.position), key)
        report.problems.extend(found)
        report.checkpoints += not found
    if at is None and broken_at is None:
        for cp in checkpoints:
            if cp.position > report.position:
                report.problems.append(
                    Problem(
                        cp.position, f"a signed checkpoint is beyond the log's end at {report.position} (rows deleted)"
                    )
                )
    report.problems.sort(key=lambda p: p.position)
    return report


def _check_checkpoint(cp: Checkpoint, head: bytes | None, key: Ed25519PublicKey | None) -> list[Problem]:
    if key is None:
        return [Problem(cp.position, "a checkpoint is stored but no public key was given to check it")]
    if not signature_holds(key, cp):
        return [Problem(cp.position, "the checkpoint's signature does not verify with the deployment key")]
    if head is None:
        return [Problem(cp.position, "a signed checkpoint names a position the chain has no link for")]
    if head != cp.head:
        return [Problem(cp.position, "the chain's head here is not the signed one", cp.head.hex(), head.hex())]
    return []
