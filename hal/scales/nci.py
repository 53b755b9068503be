"""NCI General Serial Protocol (Weigh-Tronix / Avery Weigh-Tronix SCP-01, Brecknell).

Commands end with CR. ``W`` requests the weight; the scale answers::

    <LF> weight+units <CR> <LF> status bytes <CR> <ETX>

for instance ``\\n0001.20lb\\r\\n00\\r\\x03``. The weight is the displayed decimal and
its unit (lb, kg, oz, g), or in pounds-and-ounces mode ``02lb 03.5oz``. When no weight
can be shown (over capacity...) only ``<LF> status <CR> <ETX>`` may come. ``S`` asks for
the status alone and ``Z`` zeroes the scale and answers its status; an unknown command
gets ``<LF>?<CR><ETX>``.

Status bytes (bit 7 is parity and ignored; bits 4 and 5 are always 1):

=====  ====================  =======================  ==========================
bit    byte 1                byte 2                   byte 3 (optional)
=====  ====================  =======================  ==========================
0      1 = in motion         1 = under capacity       range (bits 0-1)
1      1 = at zero           1 = over capacity
2      1 = RAM error         1 = ROM error            1 = net weight
3      1 = EEPROM error      1 = faulty calibration   1 = initial zero error
6      always 0              1 = another byte follows 1 = another byte follows
=====  ====================  =======================  ==========================
"""

from __future__ import annotations

import re
import time
from decimal import Decimal

import attrs

from postroom.core.errors import DeviceError

from .base import (
    ScaleReading,
    SerialScale,
    normalise,
    parse_decimal,
    protocol_error,
)

CR, LF, ETX = b"\r", b"\n", b"\x03"

_WEIGHT = re.compile(r"^\s*(?P<value>[-+]?\s*(?:\d+\.?\d*|\.\d+))\s*(?P<unit>[A-Za-z#]+)\s*$")
_LB_OZ = re.compile(r"^\s*(?P<lb>\d+)\s*lb\s+(?P<oz>\d+(?:\.\d+)?)\s*oz\s*$", re.IGNORECASE)


@attrs.frozen
class NciStatus:
    motion: bool = False
    at_zero: bool = False
    under_capacity: bool = False
    over_capacity: bool = False
    ram_error: bool = False
    eeprom_error: bool = False
    rom_error: bool = False
    calibration_error: bool = False
    net: bool = False
    initial_zero_error: bool = False

    @classmethod
    def parse(cls, data: bytes, raw: bytes) -> NciStatus:
        bits = [byte & 0x7F for byte in data]  # bit 7 is parity
        if len(bits) < 2 or any(b & 0x30 != 0x30 for b in bits):
            raise protocol_error(f"bad NCI status bytes {data!r}", raw)
        first, second = bits[0], bits[1]
        third = bits[2] if len(bits) > 2 else 0x30
        return cls(
            motion=bool(first & 0x01),
            at_zero=bool(first & 0x02),
            ram_error=bool(first & 0x04),
            eeprom_error=bool(first & 0x08),
            under_capacity=bool(second & 0x01),
            over_capacity=bool(second & 0x02),
            rom_error=bool(second & 0x04),
            calibration_error=bool(second & 0x08),
            net=bool(third & 0x04),
            initial_zero_error=bool(third & 0x08),
        )

    def encode(self) -> bytes:
        """The status bytes as a scale sends them (two bytes, or three when needed)."""
        first = 0x30 | self.motion | self.at_zero << 1 | self.ram_error << 2
        first |= self.eeprom_error << 3
        second = 0x30 | self.under_capacity | self.over_capacity << 1 | self.rom_error << 2
        second |= self.calibration_error << 3
        if not (self.net or self.initial_zero_error):
            return bytes((first, second))
        third = 0x30 | self.net << 2 | self.initial_zero_error << 3
        return bytes((first, second | 0x40, third))

    def check(self) -> None:
        """Raise the DeviceError this status means, if any (motion is not an error here)."""
        if self.ram_error or self.eeprom_error or self.rom_error or self.calibration_error:
            raise DeviceError(
                "the scale reports a hardware fault; service it",
                code="scale_fault",
                status=attrs.asdict(self),
            )
        if self.over_capacity:
            raise DeviceError("the load is over the scale's capacity", code="scale_overload")
        if self.under_capacity:
            raise DeviceError("the scale is under capacity (below zero)", code="scale_underload")


def parse_reply(raw: bytes) -> tuple[str | None, NciStatus]:
    """Split a reply into its weight text (None when absent) and its status."""
    if not raw.endswith(ETX):
        raise protocol_error("NCI reply without ETX", raw)
    fields = [f for f in re.split(rb"[\r\n]+", raw[:-1]) if f]
    if fields == [b"?"]:
        raise DeviceError("the scale did not recognise the command", code="scale_protocol_error")
    if not fields or len(fields) > 2:
        raise protocol_error("unexpected NCI reply", raw)
    status = NciStatus.parse(fields[-1], raw)
    weight = fields[0].decode("latin-1") if len(fields) == 2 else None
    return weight, status


def parse_weight(text: str, raw: bytes) -> tuple[Decimal, str]:
    lb_oz = _LB_OZ.match(text)
    if lb_oz:
        ounces = Decimal(lb_oz["lb"]) * 16 + Decimal(lb_oz["oz"])
        return ounces, "oz"
    match = _WEIGHT.match(text)
    if not match:
        raise protocol_error(f"not an NCI weight: {text!r}", raw)
    return parse_decimal(match["value"], raw), match["unit"]


class NciScale(SerialScale):
    protocol = "nci"
    poll_interval = 0.1

    def read(self, *, stable: bool = True) -> ScaleReading:
        deadline = self._clock() + self.stable_timeout
        while True:
            raw = self.transact(b"W" + CR, ETX)
            text, status = parse_reply(raw)
            status.check()
            if not status.motion or not stable:
                if text is None or not any(c.isdigit() for c in text):
                    raise protocol_error("the scale sent no weight", raw)
                value, unit = parse_weight(text, raw)
                return normalise(value, unit, raw, not status.motion, status.at_zero)
            if self._clock() >= deadline:
                raise DeviceError(
                    f"the scale did not settle within {self.stable_timeout}s",
                    code="scale_in_motion",
                )
            time.sleep(self.poll_interval)

    def status(self) -> NciStatus:
        _, status = parse_reply(self.transact(b"S" + CR, ETX))
        return status

    def zero(self) -> None:
        _, status = parse_reply(self.transact(b"Z" + CR, ETX))
        status.check()
        if status.motion:
            raise DeviceError("cannot zero a scale in motion", code="scale_in_motion")
