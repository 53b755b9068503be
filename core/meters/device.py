"""Values exchanged with a postage meter device through ``ports.MeterDevice`` (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import attrs

from postroom.core.meters.indicium import IndiciumRecord
from postroom.core.money import Money


@attrs.frozen
class MeterRegisters:
    """The postal registers of one meter; ``control == ascending + descending``."""

    serial: str
    descending: Money
    ascending: Money
    pieces: int
    control: Money

    @classmethod
    def from_device(cls, data: Mapping[str, Any]) -> MeterRegisters:
        currency = str(data["currency"])
        return cls(
            serial=str(data["serial"]),
            descending=Money(int(data["descending"]), currency),
            ascending=Money(int(data["ascending"]), currency),
            pieces=int(data["pieces"]),
            control=Money(int(data["control"]), currency),
        )

    @property
    def balanced(self) -> bool:
        return bool(self.ascending + self.descending == self.control)


@attrs.frozen
class PrintJob:
    """What the host asks the device to debit and sign for one piece."""

    postage: Money
    rate_digest: str
    service: str
    mailing_date: date
    origin_zip: str
    cost_center: str | None = None


@attrs.frozen
class PrintedPiece:
    """The device's answer to a print: the signed indicium record and the registers after."""

    record: IndiciumRecord
    record_bytes: bytes
    signature: bytes
    registers: MeterRegisters


@attrs.frozen
class LoggedPiece:
    piece: int
    postage: Money
    mailing_date: date
    service: str
    origin_zip: str
    cost_center: str | None
    printed_at: datetime
    request_id: str
