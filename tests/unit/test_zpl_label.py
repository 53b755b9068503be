"""The ZPL of a postage label (no I/O): the indicium's bytes survive the ``^FH`` escapes,
text cannot start a ZPL command, and the printer's host status is read strictly."""

from __future__ import annotations

import pytest

from postroom.core.errors import DeviceError, ValidationError
from postroom.hal.labels.printer import parse_host_status
from postroom.hal.labels.zpl import datamatrix_contents, indicium_label, labels_in

SYMBOL = bytes(range(256)) + b"^XZ~HS_"


def test_the_symbol_comes_back_byte_for_byte() -> None:
    label = indicium_label(SYMBOL, ["US POSTAGE", "$0.74"])
    assert labels_in(b"noise" + label + label) == [label.strip(), label.strip()]
    assert datamatrix_contents(label) == [SYMBOL]
    assert b"^BXN,6,200^FH_^FD" in label
    assert label.count(b"^XZ") == 1  # the symbol's own "^XZ" is escaped


def test_text_lines_cannot_start_a_command() -> None:
    label = indicium_label(b"x", ["FROM ^XZ~JR\x00 10001", "é" * 100])
    assert b"FROM XZJR 10001" in label
    assert label.count(b"^XZ") == 1
    assert "é" * 60 in label.decode("utf-8")
    assert "é" * 61 not in label.decode("utf-8")


@pytest.mark.parametrize("copies", [0, 100])
def test_bad_labels_are_refused(copies: int) -> None:
    with pytest.raises(ValidationError):
        indicium_label(b"x", [], copies=copies)
    with pytest.raises(ValidationError):
        indicium_label(b"", [])


def test_the_host_status_flags() -> None:
    ready = parse_host_status(b"\x02030,0,0,1218,000,0,0,0,000,0,0,0\x03\r\n")
    assert (ready.paper_out, ready.paused) == (False, False)
    out = parse_host_status(b"\x02030,1,0,1218\x03")
    assert out.paper_out
    assert parse_host_status(b"\x02030,0,1,1218\x03").paused
    for garbage in (b"", b"\x02\x03", b"\x02030,x,0\x03", b"hello"):
        with pytest.raises(DeviceError) as refused:
            parse_host_status(garbage)
        assert refused.value.code == "printer_protocol_error"
