"""Parsing NCI and MT-SICS replies, byte by byte, without a serial line."""

from __future__ import annotations

from decimal import Decimal

import pytest

from postroom.core.errors import DeviceError
from postroom.core.units import Weight
from postroom.hal.scales import nci, sics
from postroom.hal.scales.base import ScaleReading


def test_nci_weight_reply():
    text, status = nci.parse_reply(b"\n0001.20lb\r\n00\r\x03")
    assert text == "0001.20lb"
    assert status == nci.NciStatus()
    assert nci.parse_weight(text, b"") == (Decimal("1.20"), "lb")


def test_nci_status_bits():
    # byte 1: motion (bit 0) + zero (bit 1); byte 2: over capacity (bit 1); parity bit set.
    status = nci.NciStatus.parse(bytes((0x33, 0xB2)), b"")
    assert status.motion
    assert status.at_zero
    assert status.over_capacity
    assert not status.under_capacity
    with pytest.raises(DeviceError) as caught:
        status.check()
    assert caught.value.code == "scale_overload"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (nci.NciStatus(under_capacity=True), "scale_underload"),
        (nci.NciStatus(over_capacity=True), "scale_overload"),
        (nci.NciStatus(ram_error=True), "scale_fault"),
        (nci.NciStatus(calibration_error=True), "scale_fault"),
    ],
)
def test_nci_status_errors(status, code):
    assert nci.NciStatus.parse(status.encode(), b"") == status
    with pytest.raises(DeviceError) as caught:
        status.check()
    assert caught.value.code == code


def test_nci_third_status_byte_round_trips():
    status = nci.NciStatus(net=True, initial_zero_error=True)
    assert len(status.encode()) == 3
    assert nci.NciStatus.parse(status.encode(), b"") == status


def test_nci_pounds_and_ounces_mode():
    assert nci.parse_weight("02lb 03.5oz", b"") == (Decimal("35.5"), "oz")


@pytest.mark.parametrize(
    "raw",
    [b"\n0001.20lb\r\n00\r", b"\n1.2lb\r\n0\r\x03", b"\n\x01\x02\r\x03", b"\r\x03", b"\n?\r\x03"],
)
def test_nci_malformed_replies(raw):
    with pytest.raises(DeviceError) as caught:
        nci.parse_reply(raw)
    assert caught.value.code == "scale_protocol_error"


@pytest.mark.parametrize(
    ("raw", "reading"),
    [
        (b"S S     100.00 g\r\n", ScaleReading(Decimal("100.00"), "g", True)),
        (b"S D      12.5 kg\r\n", ScaleReading(Decimal("12.5"), "kg", False)),
        (b"S S       0.00 lb\r\n", ScaleReading(Decimal("0.00"), "lb", True, True)),
        (b"S S    1500 mg\r\n", ScaleReading(Decimal("1.500"), "g", True)),
        (b"S S      -0.00 oz\r\n", ScaleReading(Decimal("0.00"), "oz", True, True)),
    ],
)
def test_sics_weight_replies(raw, reading):
    assert sics.parse_weight_reply(raw) == reading


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"S I\r\n", "scale_in_motion"),
        (b"S +\r\n", "scale_overload"),
        (b"S -\r\n", "scale_underload"),
        (b"ES\r\n", "scale_syntax_error"),
        (b"ET\r\n", "scale_transmission_error"),
        (b"EL\r\n", "scale_logical_error"),
        (b"S S      -0.40 g\r\n", "scale_under_zero"),
        (b"S S      10.00 ct\r\n", "scale_unit_unsupported"),
        (b"S S      1O.00 g\r\n", "scale_protocol_error"),
        (b"S X      10.00 g\r\n", "scale_protocol_error"),
        (b"Z A\r\n", "scale_protocol_error"),
    ],
)
def test_sics_error_replies(raw, code):
    with pytest.raises(DeviceError) as caught:
        sics.parse_weight_reply(raw)
    assert caught.value.code == code


def test_reading_is_an_exact_weight_and_serialises_as_the_cli_prints_it():
    reading = ScaleReading(Decimal("1.20"), "oz", True)
    assert reading.weight == Weight.of(Decimal("1.2"), "oz")
    assert reading.to_dict() == {"weight": {"value": "1.20", "unit": "oz"}, "stable": True}
