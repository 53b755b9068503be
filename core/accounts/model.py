"""Customer accounts and their API keys: values and pure rules, no I/O."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache

import attrs
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from babel import Locale

from postroom.core.errors import PermissionDenied, Unauthenticated, ValidationError
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


# ----------------------------------------------------------------- kiosk operators

#: A PIN is 6 to 12 ASCII digits: typed on a keypad, and long enough that the throttle
#: below makes guessing one hopeless (10^6 PINs at a few tries per lock period).
PIN_MIN_DIGITS = 6
PIN_MAX_DIGITS = 12
MAX_OPERATOR_NAME = 100

#: argon2id at OWASP's first recommended setting (19 MiB, 2 passes, 1 lane): a PIN has
#: little entropy, so a stolen hash must be slow to try against every PIN.
PIN_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)

#: Failed sign-ins allowed in a row before a lock, per operator and per kiosk; each
#: failure past them locks for twice as long as the one before, never longer than the cap.
OPERATOR_FREE_FAILURES = 5
KIOSK_FREE_FAILURES = 10
FIRST_LOCK = timedelta(seconds=30)
LONGEST_LOCK = timedelta(minutes=15)


def parse_operator_name(text: str) -> str:
    name = " ".join(text.split())
    if not name or len(name) > MAX_OPERATOR_NAME or not name.isprintable():
        raise ValidationError(
            f"an operator needs a display name of 1 to {MAX_OPERATOR_NAME} printable characters",
            code="invalid_operator_name",
        )
    return name


def parse_pin(text: str) -> str:
    pin = text.strip()
    if not (PIN_MIN_DIGITS <= len(pin) <= PIN_MAX_DIGITS and pin.isascii() and pin.isdigit()):
        raise ValidationError(
            f"a PIN is {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} digits", code="invalid_pin"
        )
    if len(set(pin)) == 1 or pin in "01234567890123" or pin in "98765432109876":
        raise ValidationError(
            "a PIN of one repeated digit or a run of digits is the first one guessed",
            code="weak_pin",
        )
    return pin


def hash_pin(pin: str) -> str:
    return PIN_HASHER.hash(pin)


@cache
def _decoy_hash() -> str:
    """Verified against when no operator matches, so that an unknown operator costs the
    same time as a wrong PIN and the two cannot be told apart."""
    return PIN_HASHER.hash(secrets.token_hex(16))


def pin_matches(pin: str, stored_hash: str | None) -> bool:
    """Whether ``pin`` is the one hashed; with no hash (no such operator), a decoy
    verification of the same cost answers False."""
    try:
        return PIN_HASHER.verify(stored_hash or _decoy_hash(), pin) and stored_hash is not None
    except (VerifyMismatchError, InvalidHashError):
        return False


def lock_after(failures: int, free: int) -> timedelta | None:
    """How long sign-in stays locked after ``failures`` failures in a row (None: not)."""
    if failures < free:
        return None
    lock: timedelta = FIRST_LOCK * 2 ** min(failures - free, 16)
    return min(lock, LONGEST_LOCK)


#: A badge is what a barcode or NFC reader types before its Enter: 4 to 64 printable
#: ASCII characters (reader prefixes and suffixes included, as they are typed each time).
BADGE_MIN = 4
BADGE_MAX = 64
#: The cost centres one operator may be limited to (an account has a handful).
MAX_OPERATOR_COST_CENTERS = 50
MAX_COST_CENTER = 64


def parse_badge(text: str) -> str:
    badge = text.strip()
    if not (BADGE_MIN <= len(badge) <= BADGE_MAX and badge.isascii() and badge.isprintable()):
        raise ValidationError(
            f"a badge code is {BADGE_MIN} to {BADGE_MAX} printable characters",
            code="invalid_badge",
        )
    return badge


def badge_hash(secret: str, badge: str) -> str:
    """The badge's keyed hash: looked up as is (a badge is the whole credential, like a
    key), and keyed with the installation's secret, which is not in the database, so
    that a copy of the table cannot be turned back into badges by trying every number."""
    return hmac.new(secret.encode(), b"kiosk-badge:" + badge.encode(), hashlib.sha256).hexdigest()


def parse_operator_cost_centers(values: object) -> tuple[str, ...]:
    """The cost centres an operator may book to (none: all of the account's), each
    named once, in order."""
    if isinstance(values, str) or not isinstance(values, list | tuple):
        raise ValidationError("cost centres are a list of names", code="invalid_cost_center")
    names = tuple(dict.fromkeys(" ".join(str(v).split()) for v in values))
    if len(names) > MAX_OPERATOR_COST_CENTERS or any(
        not n or len(n) > MAX_COST_CENTER or not n.isprintable() for n in names
    ):
        raise ValidationError(
            f"up to {MAX_OPERATOR_COST_CENTERS} cost centres of 1 to {MAX_COST_CENTER} "
            "printable characters",
            code="invalid_cost_center",
        )
    return names


def check_cost_centers_exist(chosen: tuple[str, ...], account_centers: tuple[str, ...]) -> None:
    """An operator is limited to cost centres the account has."""
    unknown = [name for name in chosen if name not in account_centers]
    if unknown:
        raise ValidationError(
            f"not cost centres of the account: {', '.join(unknown)}",
            code="unknown_cost_center",
        )


@attrs.define
class KioskOperator:
    """A person who may print on the kiosks of one customer account."""

    id: int
    account_id: int
    name: str
    created_at: datetime
    #: The account's cost centres this operator may book to; empty: all of them.
    cost_centers: tuple[str, ...] = ()
    #: Whether a badge signs them in (its code is never kept, only its keyed hash).
    has_badge: bool = False

    def usable_cost_centers(self, account_centers: tuple[str, ...]) -> tuple[str, ...]:
        """The account's cost centres this operator may choose among, in its order."""
        if not self.cost_centers:
            return account_centers
        return tuple(c for c in account_centers if c in self.cost_centers)

    def check_cost_center(self, center: str | None) -> None:
        """An operator limited to some cost centres books every print to one of them."""
        if self.cost_centers and center not in self.cost_centers:
            raise PermissionDenied(
                f"operator {self.id} may book only to: {', '.join(self.cost_centers)}",
                code="cost_center_not_allowed",
            )

    @property
    def label(self) -> str:
        """How the operator is named where a print is booked."""
        return f"kiosk operator {self.id} ({self.name})"


@attrs.frozen
class KioskSignIn:
    """A signed-in operator; ``token`` (kept in the kiosk's browser session) is shown
    once and only its hash stored."""

    operator: KioskOperator
    token: str = attrs.field(repr=False)
