"""The frame codec: CRC, stuffing, round trips and every way a frame can be damaged."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.hal import framing
from postroom.hal.framing import KIND_ERROR, KIND_REPLY, KIND_REQUEST, Decoder, Frame

frames = st.builds(
    Frame,
    seq=st.integers(0, 255),
    kind=st.sampled_from([KIND_REQUEST, KIND_REPLY, KIND_ERROR]),
    payload=st.binary(max_size=300),
)


def test_crc_is_ccitt_false_with_its_check_value():
    assert framing.crc16_ccitt_false(b"123456789") == 0x29B1
    assert framing.crc16_ccitt_false(b"") == 0xFFFF


def test_wire_layout_of_a_small_frame():
    wire = framing.encode(Frame(5, KIND_REQUEST, b"ID"))
    # LEN 0x0002, SEQ 5, KIND request, "ID", CRC 0x7EF2 whose 0x7E byte is stuffed.
    assert framing.crc16_ccitt_false(b"\x00\x02\x05\x01ID") == 0x7EF2
    assert wire == b"\x7e\x00\x02\x05\x01ID\x7d\x5e\xf2"


def test_start_and_escape_bytes_are_stuffed():
    wire = framing.encode(Frame(0x7E, KIND_REPLY, b"\x7e\x7d"))
    assert wire.count(0x7E) == 1
    assert wire[0] == 0x7E
    assert b"\x7d\x5e\x02\x7d\x5e\x7d\x5d" in wire
    assert Decoder().feed(wire) == [Frame(0x7E, KIND_REPLY, b"\x7e\x7d")]


@given(st.lists(frames, max_size=5))
def test_round_trip_of_any_frames(items):
    wire = b"".join(framing.encode(f) for f in items)
    assert Decoder().feed(wire) == items


@given(st.lists(frames, min_size=1, max_size=4), st.data())
def test_round_trip_whatever_the_chunking(items, data):
    wire = b"".join(framing.encode(f) for f in items)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    decoder, got, start = Decoder(), [], 0
    for cut in [*cuts, len(wire)]:
        got += decoder.feed(wire[start:cut])
        start = cut
    assert got == items


@given(frames, st.binary(max_size=64), st.binary(max_size=64))
def test_noise_around_a_frame_never_hides_it(frame, before, after):
    # Noise may contain start bytes that open bogus frames; the real start resyncs.
    before = before.replace(b"\x7d", b"")  # an escape right before 0x7E is a protocol abort
    decoder = Decoder()
    got = decoder.feed(before + framing.encode(frame) + after)
    assert got == [frame]


@given(frames, st.data())
def test_any_single_corrupted_byte_is_never_delivered(frame, data):
    wire = bytearray(framing.encode(frame))
    index = data.draw(st.integers(1, len(wire) - 1))
    flip = data.draw(st.integers(1, 255))
    wire[index] ^= flip
    got = Decoder().feed(bytes(wire))
    # CRC-16 detects every error confined to one byte (burst <= 16 bits).
    assert got == []


@given(frames, st.data())
def test_truncated_frame_is_dropped_and_the_next_one_decoded(frame, data):
    wire = framing.encode(frame)
    cut = data.draw(st.integers(1, len(wire) - 1))
    following = Frame((frame.seq + 1) % 256, KIND_REPLY, b"next")
    decoder = Decoder()
    got = decoder.feed(wire[:cut] + framing.encode(following))
    assert got == [following]


def test_bad_crc_is_counted_and_discarded():
    wire = bytearray(framing.encode(Frame(1, KIND_REQUEST, b"PRINT 0.73")))
    wire[-1] ^= 0x01
    decoder = Decoder()
    assert decoder.feed(bytes(wire)) == []
    assert decoder.stats.crc_errors == 1
    assert decoder.feed(framing.encode(Frame(2, KIND_REQUEST, b"ok"))) == [
        Frame(2, KIND_REQUEST, b"ok")
    ]


def test_impossible_length_is_rejected_at_once():
    decoder = Decoder()
    assert decoder.feed(b"\x7e\xff\xff\x01\x01") == []
    assert decoder.stats.invalid == 1
    assert decoder.feed(framing.encode(Frame(3, KIND_REPLY, b""))) == [Frame(3, KIND_REPLY, b"")]


def test_invalid_escape_and_unknown_kind_are_rejected():
    decoder = Decoder()
    assert decoder.feed(b"\x7e\x00\x7d\x01") == []
    body = b"\x00\x00\x09\x09"
    assert decoder.feed(b"\x7e" + body + framing.crc16_ccitt_false(body).to_bytes(2, "big")) == []
    assert decoder.stats.invalid == 2


def test_frame_rejects_out_of_range_fields():
    with pytest.raises(ValueError):  # noqa: PT011
        Frame(256, KIND_REQUEST, b"")
    with pytest.raises(ValueError):  # noqa: PT011
        Frame(0, 9, b"")
    with pytest.raises(ValueError):  # noqa: PT011
        Frame(0, KIND_REQUEST, bytes(framing.MAX_PAYLOAD + 1))


def test_dispatcher_executes_once_and_replays_a_repeated_sequence_number():
    calls = []

    def handler(payload: bytes) -> bytes:
        calls.append(payload)
        return b"done " + payload

    dispatcher = framing.Dispatcher(handler)
    first = dispatcher.dispatch(Frame(7, KIND_REQUEST, b"debit 50"))
    again = dispatcher.dispatch(Frame(7, KIND_REQUEST, b"debit 50"))
    assert first == again == Frame(7, KIND_REPLY, b"done debit 50")
    assert calls == [b"debit 50"]
    assert (dispatcher.executed, dispatcher.replayed) == (1, 1)
    # A new sequence number, or the same number with another body, is a new request.
    dispatcher.dispatch(Frame(8, KIND_REQUEST, b"debit 50"))
    dispatcher.dispatch(Frame(8, KIND_REQUEST, b"identify"))
    assert calls == [b"debit 50", b"debit 50", b"identify"]
    assert dispatcher.dispatch(Frame(8, KIND_REPLY, b"x")) is None


def test_dispatcher_turns_a_handler_failure_into_a_remembered_error_frame():
    calls = []

    def handler(payload: bytes) -> bytes:
        calls.append(payload)
        raise RuntimeError("paper jam")

    dispatcher = framing.Dispatcher(handler)
    reply = dispatcher.dispatch(Frame(1, KIND_REQUEST, b"print"))
    assert reply == Frame(1, KIND_ERROR, b"RuntimeError: paper jam")
    assert dispatcher.dispatch(Frame(1, KIND_REQUEST, b"print")) == reply
    assert calls == [b"print"]
