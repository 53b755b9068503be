"""The terminal's piece log: what an operator printed on the account's own postage meter.

The meter debits its own funds and signs the indicium; its piece log reaches the data
center at the next sync, with the cost centre but not the person. The terminal reports
each piece as it prints it, with the signed indicium, so the data center books it to the
operator and the cost centre at once. Values and pure rules, no I/O.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from postroom.core.errors import Conflict, PermissionDenied, ValidationError
from postroom.core.meters.indicium import IndiciumRecord
from postroom.core.meters.printing import check_cost_center, check_request_id, load_public_key
from postroom.core.money import Money

#: The longest signed indicium record and DER signature a terminal may hand in.
MAX_RECORD_BYTES = 512
MAX_SIGNATURE_BYTES = 80
MAX_NAME = 80
MAX_TERMINAL = 100
MAX_REFUND_ID = 40
_REFUND_ID_TEXT = re.compile(r"[A-Za-z0-9._:@-]+")


@attrs.frozen
class MeterPrint:
    """A piece as the terminal reports it: the meter's signed record and who printed it."""

    record: bytes = attrs.field(repr=False)
    signature: bytes = attrs.field(repr=False)
    carrier: str
    cost_center: str | None = attrs.field(converter=check_cost_center)
    request_id: str = attrs.field(converter=check_request_id)

    def __attrs_post_init__(self) -> None:
        if not 0 < len(self.record) <= MAX_RECORD_BYTES:
            raise ValidationError("the indicium record is too long", code="invalid_indicium")
        if not 0 < len(self.signature) <= MAX_SIGNATURE_BYTES:
            raise ValidationError("the signature is too long", code="invalid_signature")
        text = self.carrier
        if not text or len(text) > MAX_NAME or not text.isascii() or not text.isprintable():
            raise ValidationError("a carrier code is 1 to 80 letters", code="invalid_carrier")

    @property
    def indicium(self) -> IndiciumRecord:
        return IndiciumRecord.from_bytes(self.record)

    def verified(self, public_key_pem: str) -> IndiciumRecord:
        """The record, once its signature verifies under the meter's registered key: a
        terminal books only what the meter itself signed."""
        key = load_public_key(public_key_pem)
        try:
            key.verify(self.signature, self.record, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise PermissionDenied(
                "the indicium's signature does not verify with the meter's registered key",
                code="indicium_signature_invalid",
            ) from None
        return self.indicium


@attrs.frozen
class LoggedMeterPiece:
    """One piece of the terminal's piece log, booked to an operator and a cost centre."""

    customer_number: str
    serial: str
    piece: int
    postage: Money
    carrier: str
    service: str
    cost_center: str | None
    operator_id: int
    operator_name: str
    request_id: str
    printed_at: datetime
    misprint_at: datetime | None = None
    refund_id: str | None = None
    #: The terminal that reported it, as the reports name it ("" when unknown).
    terminal: str = attrs.field(default="", eq=False)

    @classmethod
    def of(
        cls,
        customer_number: str,
        record: IndiciumRecord,
        printed: MeterPrint,
        operator_id: int,
        operator_name: str,
        at: datetime,
        terminal: str = "",
    ) -> LoggedMeterPiece:
        return cls(
            customer_number,
            record.serial,
            record.piece,
            record.postage,
            printed.carrier,
            record.rate_category,
            printed.cost_center,
            operator_id,
            operator_name[:MAX_NAME],
            printed.request_id,
            at,
            terminal=terminal[:MAX_TERMINAL],
        )

    def same_print(self, other: LoggedMeterPiece) -> bool:
        """Whether ``other`` reports the same print (a retry), whoever sends it again."""
        return (
            self.postage,
            self.carrier,
            self.service,
            self.cost_center,
            self.request_id,
        ) == (other.postage, other.carrier, other.service, other.cost_center, other.request_id)


def check_replay(earlier: LoggedMeterPiece, again: LoggedMeterPiece) -> LoggedMeterPiece:
    """The piece already logged, when ``again`` reports the same print; a different report
    of the same meter's piece is refused (a meter prints each number once)."""
    if not earlier.same_print(again):
        raise Conflict(
            f"piece {earlier.piece} of meter {earlier.serial} is logged with another print",
            code="meter_piece_conflict",
        )
    return earlier


def misprint_refund_id(serial: str, piece: int) -> str:
    """The refund id of a misprint flagged at a terminal: one per piece, so flagging it
    again asks nothing twice (a digest when the serial makes it too long for an id)."""
    text = f"kiosk-{serial}-{piece}"
    if len(text) <= MAX_REFUND_ID and _REFUND_ID_TEXT.fullmatch(text):
        return text
    return "kiosk-" + hashlib.sha256(text.encode()).hexdigest()[:24]
