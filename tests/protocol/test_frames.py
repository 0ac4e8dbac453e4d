"""Frame-level rules: decoding, size limits, UTF-8, and the error frames they get."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import msgpack
import pytest
import websockets

from tests.protocol.conftest import Peer


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def errors_logged() -> Iterator[list[logging.LogRecord]]:
    """ERROR records from the server (uvicorn's loggers do not propagate to the root)."""
    h = Records()
    names = ["", "uvicorn", "uvicorn.error", "tandem"]
    for n in names:
        logging.getLogger(n).addHandler(h)
    yield h.records
    for n in names:
        logging.getLogger(n).removeHandler(h)


@pytest.mark.parametrize("number", ["18446744073709551616", "-9223372036854775809", "1" + "0" * 30])
async def test_integer_beyond_64_bits_is_bad_frame_and_not_relayed(live, number):
    sid = await live.start_session()
    su, worker = await Peer.open(live, "sam", sid), await Peer.open(live, "wendy", sid)
    await su.hello()
    await worker.hello()
    await su.raw('{"type": "pointer", "seq": 3, "payload": {"x": ' + number + ', "y": 0.5}}')
    assert (await su.error())["code"] == "bad_frame"
    # The socket keeps working, and the peer got nothing but the next valid pointer.
    await su.send({"type": "pointer", "payload": {"x": 0.25, "y": 0.5}})
    got = await worker.of_type("pointer")
    assert got["payload"]["x"] == 0.25


async def test_largest_64_bit_integers_are_read_as_integers(live):
    sid = await live.start_session()
    su = await Peer.open(live, "sam", sid)
    await su.hello()
    # Within 64 bits the frame decodes: a too-big seq then fails the envelope's own rule.
    await su.raw('{"type": "ping", "seq": 18446744073709551615, "payload": {}}')
    err = await su.error()
    assert (err["code"], err["field"]) == ("invalid_field", "seq")


async def test_digits_inside_strings_are_not_numbers(live):
    sid = await live.start_session()
    su, worker = await Peer.open(live, "sam", sid), await Peer.open(live, "wendy", sid)
    await su.hello()
    await worker.hello()
    text = "call 123456789012345678901234567890"
    await su.send({"type": "draft", "payload": {"question_id": "recovery/hope/q1", "text": text}})
    assert (await worker.of_type("draft"))["payload"]["text"] == text


async def test_msgpack_cannot_carry_integers_beyond_64_bits(live):
    sid = await live.start_session()
    su = await Peer.open(live, "sam", sid, binary=True)
    await su.hello()
    await su.raw(b"\x81\xa4type")  # a map cut short
    assert (await su.error())["code"] == "bad_frame"
    with pytest.raises(OverflowError):
        msgpack.packb(2**64)


@pytest.mark.parametrize("binary", [False, True])
async def test_frame_just_over_one_mib_always_closes_with_1009(live, binary):
    """Also when the client is still writing as the server refuses the frame: unread data
    at the close must not turn it into a reset (1006)."""
    sid = await live.start_session()
    codes = []
    for _ in range(8):
        su = await Peer.open(live, "sam", sid, binary=binary)
        await su.hello()
        big, more = (
            (b"\x00" * (1024 * 1024 + 1), b"\x00" * 60_000) if binary else ("x" * (1024 * 1024 + 1), "y" * 60_000)
        )
        try:
            await su.raw(big)
            for _ in range(20):
                await su.raw(more)
        except websockets.ConnectionClosed:
            pass
        codes.append((await su.closed())[0])
    assert codes == [1009] * 8


async def test_frame_over_64_kib_is_too_large_and_the_socket_stays(live):
    sid = await live.start_session()
    su = await Peer.open(live, "sam", sid)
    await su.hello()
    await su.raw(json.dumps({"type": "draft", "payload": {"question_id": "q", "text": "x" * 70_000}}))
    assert (await su.error())["code"] == "too_large"
    await su.send({"type": "ping", "seq": 1, "payload": {"t": 1.5}})
    assert (await su.of_type("pong"))["payload"] == {"t": 1.5}


async def test_invalid_utf8_text_closes_1007_without_an_error_in_the_log(live, errors_logged):
    sid = await live.start_session()
    for _ in range(3):
        su = await Peer.open(live, "sam", sid)
        await su.hello()
        # A text frame whose bytes are not UTF-8 (websockets sends bytes given as text as-is).
        await su.ws.send(b'{"type": "ping", "payload": {"t": "\xff\xfe"}}', text=True)
        code, _ = await su.closed()
        assert code == 1007
    assert [r.getMessage() for r in errors_logged] == []
