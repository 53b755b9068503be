"""The indicium record: what a meter signs for each printed piece (pure, no I/O).

Canonical bytes, version 1 (integers big-endian)::

    size  field
    1     version (1)
    1+n   meter serial (length byte, ASCII)
    4     piece count after this piece
    4     postage in mills
    3     currency (ISO 4217)
    4     date of mailing as the integer YYYYMMDD
    1+n   origin ZIP (length byte, ASCII)
    1+n   rate category (length byte, ASCII; the service code)
    8     ascending register after the debit (mills)
    8     descending register after the debit (mills)
    32    SHA-256 digest of the rate table in force

The device signs these bytes with ECDSA P-256 / SHA-256 (DER signature); the Data
Matrix symbol carries the record followed by the signature.
"""

from __future__ import annotations

import struct
from datetime import date

import attrs

from postroom.core.errors import ValidationError
from postroom.core.money import Money

VERSION = 1
_NUMBERS = struct.Struct(">II3sI")
_REGISTERS = struct.Struct(">QQ32s")


def _short(text: str, field: str) -> bytes:
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise ValidationError(f"{field} must be ASCII", code="invalid_indicium") from None
    if not 1 <= len(raw) <= 64:
        raise ValidationError(f"{field} must be 1 to 64 characters", code="invalid_indicium")
    return bytes((len(raw),)) + raw


@attrs.frozen
class IndiciumRecord:
    serial: str
    piece: int
    postage: Money
    mailing_date: date
    origin_zip: str
    rate_category: str
    ascending: int
    descending: int
    rate_digest: bytes
    version: int = VERSION

    def to_bytes(self) -> bytes:
        if len(self.rate_digest) != 32:
            raise ValidationError("rate digest is 32 bytes", code="invalid_indicium")
        day = self.mailing_date
        return (
            bytes((self.version,))
            + _short(self.serial, "serial")
            + _NUMBERS.pack(
                self.piece,
                self.postage.mills,
                self.postage.currency.encode("ascii"),
                day.year * 10000 + day.month * 100 + day.day,
            )
            + _short(self.origin_zip, "origin ZIP")
            + _short(self.rate_category, "rate category")
            + _REGISTERS.pack(self.ascending, self.descending, self.rate_digest)
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> IndiciumRecord:
        def bad(why: str) -> ValidationError:
            return ValidationError(f"malformed indicium record: {why}", code="invalid_indicium")

        try:
            if data[0] != VERSION:
                raise bad("unknown version")
            at = 1

            def short() -> str:
                nonlocal at
                n = data[at]
                text = data[at + 1 : at + 1 + n]
                if len(text) != n:
                    raise bad("truncated")
                at += 1 + n
                return text.decode("ascii")

            serial = short()
            piece, mills, currency, ymd = _NUMBERS.unpack_from(data, at)
            at += _NUMBERS.size
            origin, category = short(), short()
            ascending, descending, digest = _REGISTERS.unpack_from(data, at)
            if at + _REGISTERS.size != len(data):
                raise bad("trailing bytes")
            return cls(
                serial,
                piece,
                Money(mills, currency.decode("ascii")),
                date(ymd // 10000, ymd // 100 % 100, ymd % 100),
                origin,
                category,
                ascending,
                descending,
                digest,
            )
        except (IndexError, struct.error, UnicodeDecodeError, ValueError) as error:
            raise bad(str(error)) from None
