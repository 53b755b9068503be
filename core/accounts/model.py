"""Customer accounts and their API keys: values and pure rules, no I/O."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from enum import StrEnum
from functools import cache

import attrs
from babel import Locale

from postroom.core.clock import iso_utc
from postroom.core.errors import Unauthenticated, ValidationError
from postroom.core.money import KNOWN_CURRENCIES
from postroom.core.text import check_no_control

#: Customer account numbers: 9 random digits (first never 0) and a Luhn check digit.
ACCOUNT_NUMBER_LENGTH = 10
KEY_SCHEME = "prk"  # postroom key
KEY_PREFIX_BYTES = 6  # 12 hex characters: the public, indexed part of a key
KEY_SECRET_BYTES = 32  # 256 bits of randomness: the part only the holder knows


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CLOSED = "closed"


def luhn_check_digit(digits: str) -> str:
    """The Luhn (mod 10) digit that makes ``digits + digit`` valid."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:  # doubled: the digit next to the check digit, and every other
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def is_valid_account_number(number: str) -> bool:
    return (
        len(number) == ACCOUNT_NUMBER_LENGTH
        and number.isascii()
        and number.isdigit()
        and number[0] != "0"
        and luhn_check_digit(number[:-1]) == number[-1]
    )


def new_account_number() -> str:
    body = str(
        secrets.randbelow(9 * 10 ** (ACCOUNT_NUMBER_LENGTH - 2)) + 10 ** (ACCOUNT_NUMBER_LENGTH - 2)
    )
    return body + luhn_check_digit(body)


def parse_account_number(text: str) -> str:
    number = text.strip().replace(" ", "").replace("-", "")
    if not is_valid_account_number(number):
        raise ValidationError(
            f"{text!r} is not a customer account number (10 digits with a check digit)",
            code="invalid_account_number",
        )
    return number


#: Regions babel lists that are not ISO 3166-1 countries (unknown, EU, eurozone, UN...).
NOT_COUNTRIES = frozenset({"ZZ", "QO", "EU", "EZ", "UN"})


@cache
def _countries() -> frozenset[str]:
    territories = [str(code) for code in Locale("en").territories]
    return frozenset(
        code
        for code in territories
        if len(code) == 2 and code.isalpha() and code not in NOT_COUNTRIES
    )


def parse_country(text: str) -> str:
    code = text.strip().upper()
    if code not in _countries():
        raise ValidationError(
            f"unknown country {text!r} (use an ISO 3166 alpha-2 code such as US or FR)",
            code="unknown_country",
        )
    return code


def parse_currency(text: str) -> str:
    code = text.strip().upper()
    if code not in KNOWN_CURRENCIES:
        raise ValidationError(
            f"unknown currency {text!r} (use an ISO 4217 code such as USD)",
            code="unknown_currency",
        )
    return code


def parse_name(text: str) -> str:
    name = check_no_control(" ".join(text.split()), "name")
    if not name or len(name) > 200:
        raise ValidationError(
            "a customer account needs a name of 1 to 200 characters", code="invalid_name"
        )
    return name


@attrs.define
class CustomerAccount:
    id: int
    number: str
    name: str
    country: str
    currency: str
    status: AccountStatus
    created_at: datetime

    def to_json(self) -> dict[str, str]:
        return {
            "number": self.number,
            "name": self.name,
            "country": self.country,
            "currency": self.currency,
            "status": self.status.value,
            "created_at": iso_utc(self.created_at),
        }


@attrs.define
class ApiKey:
    id: int
    account_id: int
    prefix: str
    label: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_json(self) -> dict[str, str | None]:
        return {
            "prefix": self.prefix,
            "label": self.label,
            "created_at": iso_utc(self.created_at),
            "revoked_at": None if self.revoked_at is None else iso_utc(self.revoked_at),
        }


@attrs.frozen
class IssuedKey:
    """A freshly created key: ``token`` is shown once and never stored."""

    key: ApiKey
    token: str = attrs.field(repr=False)


@attrs.frozen
class KeyMaterial:
    prefix: str
    token: str = attrs.field(repr=False)
    secret_hash: str = attrs.field(repr=False)


def hash_secret(secret: str) -> str:
    # A plain SHA-256 is the right tool here, not a slow password hash: the secret is
    # 256 bits from `secrets`, so there is nothing to brute-force or look up in a
    # dictionary, and authentication runs on every API request where bcrypt/argon2
    # would cost tens of milliseconds for no gain.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_key_material() -> KeyMaterial:
    prefix = secrets.token_hex(KEY_PREFIX_BYTES)
    secret = secrets.token_urlsafe(KEY_SECRET_BYTES)
    return KeyMaterial(prefix, f"{KEY_SCHEME}_{prefix}_{secret}", hash_secret(secret))


def split_token(token: str) -> tuple[str, str]:
    """(prefix, secret) of a bearer token; Unauthenticated when it is malformed."""
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_SCHEME or len(parts[1]) != 2 * KEY_PREFIX_BYTES:
        raise Unauthenticated("malformed API key", code="invalid_api_key")
    return parts[1], parts[2]


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
