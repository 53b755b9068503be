"""Tracking numbers: normalisation, the formats of each carrier and their check digits.

Pure rules, no I/O. The formats (sources: USPS Publication 199 for IMpb, UPS's and
FedEx's label specifications, DHL Express's waybill rule, UPU standard S10):

- USPS: 20 digits (legacy), IMpb 22 and 26 digits, and 30 digits (``420`` + ZIP +
  a 22-digit IMpb); GS1 mod 10 (weights 3, 1 from the right).
- UPS: ``1Z`` + 15 characters + a check digit; letters count as ``(ord - 63) % 10``
  (A=2 ... Z=7), then odd positions once and even positions twice, mod 10.
- FedEx: 12 digits (weights 3, 1, 7 from the left, mod 11 then mod 10), 15 digits
  (Ground, GS1 mod 10) and 22 digits starting ``96`` (GS1 mod 10 over the last 15).
- DHL Express: 10 digits, the check digit is the first nine's value mod 7.
- UPU S10: two letters, eight digits, a check digit (weights 8, 6, 4, 2, 3, 5, 9, 7,
  ``11 - sum mod 11``, 10 -> 0, 11 -> 5) and an ISO 3166 country code.

The GS1 mod 10 is python-stdnum's (``stdnum.ean.calc_check_digit``, any length); the
ISO country codes are pycountry's.
"""

from __future__ import annotations

import re

import attrs
import pycountry
from stdnum import ean

#: What may separate groups of characters in a typed number: spaces and dashes.
_SEPARATORS = re.compile(r"[\s\-]+")
#: A number longer than this is not a tracking number of any known format.
MAX_LENGTH = 40


@attrs.frozen
class Identification:
    """What a typed number is: its normalised form, whether it is a valid number of a
    known format, and that format's carrier (``usps``, ``ups``, ``fedex``, ``dhl``,
    ``upu``) and name; ``carrier`` and ``format`` are None for an unknown format.
    A number of a known shape with a wrong check digit is ``valid=False`` with the
    carrier and format it was taken for."""

    number: str
    valid: bool
    carrier: str | None
    format: str | None
    reason: str | None = None


def normalise(raw: str) -> str:
    """``raw`` without spaces and dashes, in capitals."""
    return _SEPARATORS.sub("", raw).upper()


def gs1_valid(digits: str) -> bool:
    """GS1 mod 10 (weights 3, 1 from the right): the last digit checks the others."""
    return ean.calc_check_digit(digits[:-1]) == digits[-1]


def ups_check_digit(body: str) -> str:
    """The check digit of a UPS 1Z number's 15 characters after ``1Z``."""
    total = 0
    for position, char in enumerate(body, start=1):
        value = int(char) if char.isdigit() else (ord(char) - 63) % 10
        total += value * (2 if position % 2 == 0 else 1)
    return str((10 - total % 10) % 10)


def fedex12_check_digit(body: str) -> str:
    """The check digit of a FedEx Express 12-digit number's first 11 digits."""
    weights = (3, 1, 7)
    total = sum(int(digit) * weights[index % 3] for index, digit in enumerate(body))
    return str(total % 11 % 10)


def dhl_check_digit(body: str) -> str:
    """The check digit of a DHL Express waybill's first nine digits."""
    return str(int(body) % 7)


_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def s10_check_digit(serial: str) -> str:
    """The check digit of a UPU S10 number's eight serial digits."""
    check = 11 - sum(int(d) * w for d, w in zip(serial, _S10_WEIGHTS, strict=True)) % 11
    return {10: "0", 11: "5"}.get(check, str(check))


def is_country(code: str) -> bool:
    """``code`` is an ISO 3166-1 alpha-2 country code."""
    return pycountry.countries.get(alpha_2=code) is not None


_UPS = re.compile(r"1Z[0-9A-Z]{16}")
_S10 = re.compile(r"[A-Z]{2}([0-9]{8})([0-9])([A-Z]{2})")  # ASCII: \d takes any script's digits


def identify(raw: str) -> Identification:
    """What ``raw`` (as typed: spaces, dashes, any case) is."""
    number = normalise(raw)
    if not number or len(number) > MAX_LENGTH:
        return Identification(number[:MAX_LENGTH], False, None, None, "unknown_format")
    if _UPS.fullmatch(number):
        return _checked(number, "ups", "ups_1z", ups_check_digit(number[2:17]) == number[17])
    match = _S10.fullmatch(number)
    if match:
        serial, check, country = match.groups()
        if not is_country(country):
            return Identification(number, False, "upu", "upu_s10", "unknown_country")
        return _checked(number, "upu", "upu_s10", s10_check_digit(serial) == check)
    if number.isascii() and number.isdigit():
        return _numeric(number)
    return Identification(number, False, None, None, "unknown_format")


def _numeric(number: str) -> Identification:
    length = len(number)
    if length == 10:
        return _checked(number, "dhl", "dhl_express_10", dhl_check_digit(number[:9]) == number[9])
    if length == 12:
        valid = fedex12_check_digit(number[:11]) == number[11]
        return _checked(number, "fedex", "fedex_express_12", valid)
    if length == 15:
        return _checked(number, "fedex", "fedex_ground_15", gs1_valid(number))
    if length == 22 and number.startswith("96"):
        return _checked(number, "fedex", "fedex_ground_96", gs1_valid(number[-15:]))
    if length == 20:
        return _checked(number, "usps", "usps_20", gs1_valid(number))
    if length in (22, 26) and number[0] == "9":
        return _checked(number, "usps", f"usps_impb_{length}", gs1_valid(number))
    if length == 30 and number.startswith("420"):
        # 420 + the destination ZIP Code, then the package's 22-digit IMpb
        return _checked(number, "usps", "usps_impb_30", gs1_valid(number[8:]))
    return Identification(number, False, None, None, "unknown_format")


def _checked(number: str, carrier: str, name: str, valid: bool) -> Identification:
    return Identification(number, valid, carrier, name, None if valid else "bad_check_digit")
