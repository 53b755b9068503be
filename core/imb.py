"""USPS Intelligent Mail barcode (IMb) encoder, per USPS-B-3200.

A pure postal algorithm with no I/O: five numeric fields (barcode identifier,
service type identifier, mailer identifier, serial number and an optional
routing ZIP code) become the 65-character bar string printed on a letter,
one letter per bar: ``A`` ascender, ``D`` descender, ``F`` full, ``T`` tracker.

The steps follow the specification's sections: binary conversion of the
tracking and routing codes into a 102-bit number, an 11-bit CRC frame check
sequence, conversion into ten codewords, codewords into 13-bit characters
through the 5-of-13 and 2-of-13 tables (generated here as the specification
describes), and the bar-to-character mapping table.
"""

from __future__ import annotations

from typing import Final

from postroom.core.errors import ValidationError

BAR_COUNT: Final = 65

_CRC_POLYNOMIAL: Final = 0x0F35
_CRC_INIT: Final = 0x07FF


def _reverse13(value: int) -> int:
    result = 0
    for _ in range(13):
        result = (result << 1) | (value & 1)
        value >>= 1
    return result


def _n_of_13_table(n: int, length: int) -> tuple[int, ...]:
    """The N-of-13 character table of USPS-B-3200 (Appendix D).

    Every 13-bit value with ``n`` bits set, paired with its bit-reversal from the
    front of the table; the palindromes (equal to their own reversal) fill the
    table from the back.
    """
    table = [0] * length
    lower, upper = 0, length - 1
    for count in range(1 << 13):
        if count.bit_count() != n:
            continue
        reverse = _reverse13(count)
        if reverse < count:
            continue
        if reverse == count:
            table[upper] = count
            upper -= 1
        else:
            table[lower] = count
            table[lower + 1] = reverse
            lower += 2
    if lower != upper + 1:  # the two ends must meet exactly
        raise AssertionError(f"{n}-of-13 table is inconsistent")
    return tuple(table)


_TABLE_5_OF_13: Final = _n_of_13_table(5, 1287)
_TABLE_2_OF_13: Final = _n_of_13_table(2, 78)

# USPS-B-3200 Table 22 (bar to character mapping): for each of the 65 bars, left to
# right, (character index, bit) of its descender then (character index, bit) of its
# ascender. Characters A..J are indices 0..9.
_BAR_MAP: Final[tuple[tuple[int, int, int, int], ...]] = (
    (7, 2, 4, 3), (1, 10, 0, 0), (9, 12, 2, 8), (5, 5, 6, 11), (8, 9, 3, 1),
    (0, 1, 5, 12), (2, 5, 1, 8), (4, 4, 9, 11), (6, 3, 8, 10), (3, 9, 7, 6),
    (5, 11, 1, 4), (8, 5, 2, 12), (9, 10, 0, 2), (7, 1, 6, 7), (3, 6, 4, 9),
    (0, 3, 8, 6), (6, 4, 2, 7), (1, 1, 9, 9), (7, 10, 5, 2), (4, 0, 3, 8),
    (6, 2, 0, 4), (8, 11, 1, 0), (9, 8, 3, 12), (2, 6, 7, 7), (5, 1, 4, 10),
    (1, 12, 6, 9), (7, 3, 8, 0), (5, 8, 9, 7), (4, 6, 2, 10), (3, 4, 0, 5),
    (8, 4, 5, 7), (7, 11, 1, 9), (6, 0, 9, 6), (0, 6, 4, 8), (2, 1, 3, 2),
    (5, 9, 8, 12), (4, 11, 6, 1), (9, 5, 7, 4), (3, 3, 1, 2), (0, 7, 2, 0),
    (1, 3, 4, 1), (6, 10, 3, 5), (8, 7, 9, 4), (2, 11, 5, 6), (0, 8, 7, 12),
    (4, 2, 8, 1), (5, 10, 3, 0), (9, 3, 0, 9), (6, 5, 2, 4), (7, 8, 1, 7),
    (5, 0, 4, 5), (2, 3, 0, 10), (6, 12, 9, 2), (3, 11, 1, 6), (8, 8, 7, 9),
    (5, 4, 0, 11), (1, 5, 2, 2), (9, 1, 4, 12), (8, 3, 6, 6), (7, 0, 3, 7),
    (4, 7, 7, 5), (0, 12, 1, 11), (2, 9, 9, 0), (6, 8, 5, 3), (3, 10, 8, 2),
)  # fmt: skip


def _digits(name: str, value: str, lengths: tuple[int, ...], code: str) -> str:
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        raise ValidationError(f"{name} must be digits", code=code, field=name)
    if len(value) not in lengths:
        expected = " or ".join(str(n) for n in lengths)
        raise ValidationError(
            f"{name} must have {expected} digits, not {len(value)}", code=code, field=name
        )
    return value


def validate(
    barcode_id: str, service_type: str, mailer_id: str, serial: str, routing: str = ""
) -> None:
    """Raise ValidationError (with a stable code) unless the fields form a valid IMb."""
    _digits("barcode_id", barcode_id, (2,), "imb_invalid_barcode_id")
    if barcode_id[1] not in "01234":
        raise ValidationError(
            "the second digit of barcode_id must be 0-4",
            code="imb_invalid_barcode_id",
            field="barcode_id",
        )
    _digits("service_type", service_type, (3,), "imb_invalid_service_type")
    _digits("mailer_id", mailer_id, (6, 9), "imb_invalid_mailer_id")
    if len(mailer_id) == 6 and mailer_id[0] == "9":
        raise ValidationError(
            "a 6-digit mailer_id never starts with 9 (9-digit mailer ids do)",
            code="imb_invalid_mailer_id",
            field="mailer_id",
        )
    if len(mailer_id) == 9 and mailer_id[0] != "9":
        raise ValidationError(
            "a 9-digit mailer_id starts with 9", code="imb_invalid_mailer_id", field="mailer_id"
        )
    _digits("serial", serial, (15 - len(mailer_id),), "imb_invalid_serial")
    if routing:
        _digits("routing", routing, (5, 9, 11), "imb_invalid_routing")


def binary_data(
    barcode_id: str, service_type: str, mailer_id: str, serial: str, routing: str = ""
) -> int:
    """Step 1, binary conversion: the tracking and routing codes as one 102-bit integer."""
    if len(routing) == 0:
        value = 0
    elif len(routing) == 5:
        value = int(routing) + 1
    elif len(routing) == 9:
        value = int(routing) + 100000 + 1
    else:
        value = int(routing) + 1000000000 + 100000 + 1
    value = value * 10 + int(barcode_id[0])
    value = value * 5 + int(barcode_id[1])
    for digit in service_type + mailer_id + serial:
        value = value * 10 + int(digit)
    return value


def frame_check_sequence(data: int) -> int:
    """Step 2, the 11-bit CRC over the 102 data bits (as 13 bytes, top 2 bits skipped)."""
    raw = data.to_bytes(13, "big")
    fcs = _CRC_INIT
    shifted = raw[0] << 5
    for _ in range(6):
        fcs = ((fcs << 1) ^ _CRC_POLYNOMIAL) if (fcs ^ shifted) & 0x400 else fcs << 1
        fcs &= 0x7FF
        shifted <<= 1
    for byte in raw[1:]:
        shifted = byte << 3
        for _ in range(8):
            fcs = ((fcs << 1) ^ _CRC_POLYNOMIAL) if (fcs ^ shifted) & 0x400 else fcs << 1
            fcs &= 0x7FF
            shifted <<= 1
    return fcs


def codewords(data: int, fcs: int) -> list[int]:
    """Step 3: ten codewords A..J, with the orientation in J and FCS bit 10 in A."""
    words = [0] * 10
    words[9], data = data % 636, data // 636
    for index in range(8, 0, -1):
        words[index], data = data % 1365, data // 1365
    words[0] = data
    if words[0] > 658:
        raise AssertionError("binary data out of range for codeword A")
    words[9] *= 2
    if fcs & 0x400:
        words[0] += 659
    return words


def characters(words: list[int], fcs: int) -> list[int]:
    """Step 4: codewords to 13-bit characters, inverted where FCS bits 0-9 are set."""
    chars = [_TABLE_5_OF_13[w] if w < 1287 else _TABLE_2_OF_13[w - 1287] for w in words]
    for index in range(10):
        if fcs & (1 << index):
            chars[index] ^= 0x1FFF
    return chars


def bars(chars: list[int]) -> str:
    """Step 5: the 65 bars, through the bar-to-character mapping table."""
    letters = []
    for desc_char, desc_bit, asc_char, asc_bit in _BAR_MAP:
        descender = (chars[desc_char] >> desc_bit) & 1
        ascender = (chars[asc_char] >> asc_bit) & 1
        letters.append("TDAF"[ascender * 2 + descender])
    return "".join(letters)


def encode(
    barcode_id: str, service_type: str, mailer_id: str, serial: str, routing: str = ""
) -> str:
    """The 65-letter bar string (A, D, F, T) of an Intelligent Mail barcode.

    All fields are strings of digits: ``barcode_id`` 2 (second digit 0-4),
    ``service_type`` 3, ``mailer_id`` 6 or 9 with ``serial`` 9 or 6 accordingly,
    ``routing`` empty or a 5, 9 or 11 digit ZIP code. Raises ValidationError.
    """
    validate(barcode_id, service_type, mailer_id, serial, routing)
    data = binary_data(barcode_id, service_type, mailer_id, serial, routing)
    fcs = frame_check_sequence(data)
    return bars(characters(codewords(data, fcs), fcs))
