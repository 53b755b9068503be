"""People who sign in: portal users of a customer account and staff. Values and pure
rules, no I/O (docs/identity.md)."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache, lru_cache
from importlib import resources
from typing import Any, TypeVar, cast

import attrs
import email_validator
import phonenumbers
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from postroom.core.errors import ValidationError
from postroom.core.timezones import default_time_zone

T = TypeVar("T")

PASSWORD_MIN = 12
PASSWORD_MAX = 128
MAX_NAME = 200
MAX_QUESTION = 200
MAX_ANSWER = 200
MAX_EMAIL = 254
LANGUAGES = ("en", "fr")

#: argon2id at OWASP's Password Storage Cheat Sheet's first setting (19 MiB, 2 passes,
#: 1 lane); docs/performance.md has its cost on the reference machine.
PASSWORD_HASHER = PasswordHasher(
    time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
)

#: Verification, reset and invitation links: 256 random bits, only their SHA-256 stored.
TOKEN_BYTES = 32
VERIFY_TOKEN_LIFETIME = timedelta(days=2)
RESET_TOKEN_LIFETIME = timedelta(hours=1)
INVITATION_LIFETIME = timedelta(days=7)
EMAIL_CHANGE_LIFETIME = timedelta(days=2)
#: A person who registered and did not verify within this long is deleted (the seeds' rule).
UNVERIFIED_KEPT = timedelta(days=30)

#: Failures in a row allowed before sign-in is locked, per account and per client
#: address; past them each failure locks twice as long as the one before, up to
#: LONGEST_LOCK, so guessing crawls and nobody is ever locked out for good.
ACCOUNT_FREE_FAILURES = 5
ADDRESS_FREE_FAILURES = 20
FIRST_LOCK = timedelta(seconds=30)
LONGEST_LOCK = timedelta(minutes=15)
#: Failures older than this are forgotten: a busy office's occasional typos never add up.
FORGET_FAILURES_AFTER = timedelta(hours=1)

#: Unasked-for mail to one address (reset links, new verification links, "someone tried
#: to register"): at most this many an hour, so nobody can flood an inbox through us.
MAILS_PER_HOUR = 5

#: A session's last use is written at most this often (not on every request).
SESSION_TOUCH_EVERY = timedelta(seconds=60)


class PortalRole(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    USER = "user"


class StaffRole(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ACCOUNT_MANAGER = "account-manager"
    ADMIN = "admin"


#: Portal roles that manage the account's people and API keys.
MANAGERS = frozenset({PortalRole.OWNER.value, PortalRole.ADMIN.value})


class TokenPurpose(StrEnum):
    VERIFY = "verify"
    RESET = "reset"
    INVITATION = "invitation"
    EMAIL_CHANGE = "email-change"


TOKEN_LIFETIMES = {
    TokenPurpose.VERIFY: VERIFY_TOKEN_LIFETIME,
    TokenPurpose.RESET: RESET_TOKEN_LIFETIME,
    TokenPurpose.INVITATION: INVITATION_LIFETIME,
    TokenPurpose.EMAIL_CHANGE: EMAIL_CHANGE_LIFETIME,
}


def invalid(field: str, code: str, message: str) -> ValidationError:
    """A bad value of one form field: ``field`` says where its message goes."""
    return ValidationError(message, code=code, field=field)


# ------------------------------------------------------------------ parsing input


def _text(value: str, field: str, *, limit: int, required: bool = True) -> str:
    text = " ".join(value.split())
    if required and not text:
        raise invalid(field, "required", f"{field} is required")
    if len(text) > limit:
        raise invalid(field, "too_long", f"{field} is longer than {limit} characters")
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in text):
        raise invalid(field, "control_characters", f"{field} has control characters")
    return text


def parse_name(value: str) -> str:
    return _text(value, "name", limit=MAX_NAME)


def parse_company(value: str) -> str:
    return _text(value, "company", limit=MAX_NAME)


def parse_question(value: str) -> str:
    return _text(value, "security_question", limit=MAX_QUESTION)


def parse_email(value: str) -> str:
    """The address as postroom keeps it: syntax checked, domain lower-cased, no DNS look-up;
    the whole address is lower-cased too, so that it names one login."""
    text = value.strip()
    if not text:
        raise invalid("email", "required", "email is required")
    if len(text) > MAX_EMAIL:
        raise invalid("email", "invalid_email", "this is not an email address")
    try:
        checked = email_validator.validate_email(text, check_deliverability=False)
    except email_validator.EmailNotValidError as error:
        raise invalid("email", "invalid_email", str(error)) from None
    return checked.normalized.lower()


def parse_phone(value: str, region: str | None) -> str:
    """E.164 (``+33142685300``); without a leading ``+`` the number is read in ``region``."""
    text = value.strip()
    if not text:
        raise invalid("phone", "required", "phone is required")
    if len(text) > 40:
        raise invalid("phone", "invalid_phone", "this is not a phone number")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise invalid("phone", "invalid_phone", "this is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise invalid("phone", "invalid_phone", "this is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=1024)
def phone_country(e164: str) -> str | None:
    """The ISO country of an E.164 number (``+33...`` → ``FR``). Kept per number: every
    request of a person without a chosen zone asks (``User.shown_time_zone``), and
    phonenumbers parses in about 0.1 ms."""
    region = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    return region if region and region != "001" else None


@cache
def common_passwords() -> frozenset[str]:
    """The most common passwords (package data, see its header), lower-cased."""
    text = resources.files("postroom.core.identity").joinpath("common_passwords.txt")
    lines = text.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line and not line.startswith("#"))


def check_password(value: str, field: str = "password") -> str:
    """12 to 128 characters, not one of the common passwords; kept exactly as typed."""
    if len(value) < PASSWORD_MIN:
        raise invalid(
            field, "password_too_short", f"a password has at least {PASSWORD_MIN} characters"
        )
    if len(value) > PASSWORD_MAX:
        raise invalid(
            field, "password_too_long", f"a password has at most {PASSWORD_MAX} characters"
        )
    if value.lower() in common_passwords():
        raise invalid(field, "password_common", "this password is one of the most common ones")
    return value


def parse_language(value: str) -> str:
    text = value.strip().lower()
    if text not in LANGUAGES:
        raise invalid("language", "invalid_language", "the language is en or fr")
    return text


def parse_portal_role(value: str) -> PortalRole:
    try:
        return PortalRole(value.strip().lower())
    except ValueError:
        raise invalid("role", "invalid_role", "the role is owner, admin or user") from None


def parse_staff_role(value: str) -> StaffRole:
    try:
        return StaffRole(value.strip().lower())
    except ValueError:
        raise invalid(
            "role", "invalid_role", "the role is agent, supervisor, account-manager or admin"
        ) from None


def normalise_answer(value: str) -> str:
    """A security answer as compared: accents dropped, case folded, spaces collapsed, so
    that "  Saint-Étienne " and "saint-etienne" are the same answer."""
    decomposed = unicodedata.normalize("NFKD", value)
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(bare.casefold().split())


def parse_answer(value: str) -> str:
    answer = normalise_answer(value)
    if not answer:
        raise invalid("security_answer", "required", "security_answer is required")
    if len(answer) > MAX_ANSWER:
        raise invalid(
            "security_answer", "too_long", f"an answer is at most {MAX_ANSWER} characters"
        )
    return answer


# ----------------------------------------------------------------- secrets


def hash_secret(secret: str) -> str:
    """argon2id of a password or a normalised security answer."""
    return PASSWORD_HASHER.hash(secret)


@cache
def _decoy_hash() -> str:
    """Verified against when no user matches, so an unknown email costs the same time
    as a wrong password and the two cannot be told apart."""
    return PASSWORD_HASHER.hash(secrets.token_hex(16))


def secret_matches(secret: str, stored_hash: str | None) -> bool:
    """Whether ``secret`` is the one hashed; with no hash a decoy of the same cost is checked."""
    try:
        return PASSWORD_HASHER.verify(stored_hash or _decoy_hash(), secret) and bool(stored_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether a hash was made with older parameters (upgraded at the next sign-in)."""
    return PASSWORD_HASHER.check_needs_rehash(stored_hash)


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    # 256 random bits: nothing to brute-force, a plain SHA-256 suffices (as for API keys)
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# ----------------------------------------------------------------- rules


def lock_after(failures: int, free: int) -> timedelta | None:
    """How long sign-in stays locked after ``failures`` failures in a row (None: not)."""
    if failures < free:
        return None
    lock: timedelta = FIRST_LOCK * 2 ** min(failures - free, 16)
    return min(lock, LONGEST_LOCK)


@attrs.frozen
class SessionRules:
    idle: timedelta
    absolute: timedelta

    def expired(self, started: datetime, last_seen: datetime, now: datetime) -> bool:
        return now - last_seen >= self.idle or now - started >= self.absolute


def may_manage(role: str) -> bool:
    return role in MANAGERS


def may_grant(actor_role: str | None, role: PortalRole) -> bool:
    """Only an owner (or an admin on the CLI, ``actor_role`` None) makes owners."""
    if actor_role is None:
        return True
    if role is PortalRole.OWNER:
        return actor_role == PortalRole.OWNER.value
    return actor_role in MANAGERS


# ----------------------------------------------------------------- entities


@attrs.define
class User:
    """A person who signs in: a portal user of one customer account, or staff."""

    id: int
    email: str
    name: str
    role: str
    staff: bool
    language: str
    created_at: datetime
    account_number: str | None = None
    company: str = ""
    phone: str = ""
    security_question: str = ""
    verified_at: datetime | None = None
    #: an invited person who has not accepted yet has no password
    has_password: bool = True
    #: the IANA zone the person chose; "" until they do (see ``shown_time_zone``)
    time_zone: str = ""

    @property
    def shown_time_zone(self) -> str:
        """The zone the portal shows this person's times in: their choice, else the
        usual one of their phone's country, else UTC."""
        if self.time_zone:
            return self.time_zone
        country = phone_country(self.phone) if self.phone else None
        return default_time_zone(country) if country else "UTC"

    @property
    def verified(self) -> bool:
        return self.verified_at is not None

    @property
    def status(self) -> str:
        if not self.has_password:
            return "invited"
        return "active" if self.verified else "unverified"


@attrs.frozen
class Registration:
    """What a person typed on the registration form, as text."""

    email: str
    password: str = attrs.field(repr=False)
    security_question: str
    security_answer: str = attrs.field(repr=False)
    name: str
    company: str
    phone: str
    language: str = "en"
    customer_number: str = ""
    serial: str = ""


@attrs.frozen
class SignIn:
    """A new session: ``token`` goes into the browser's cookie, only its hash is stored."""

    user: User
    token: str = attrs.field(repr=False)


@attrs.frozen
class IssuedLink:
    """A single-use link's token for a person (returned to the CLI and tests; mailed)."""

    user: User
    token: str = attrs.field(repr=False)


@attrs.frozen
class StoredToken:
    user_id: int
    purpose: TokenPurpose
    expires_at: datetime
    used_at: datetime | None
    payload: str = ""


@attrs.frozen
class StoredSession:
    user_id: int
    started_at: datetime
    last_seen: datetime


class InvalidForm(ValidationError):
    """Several fields of one form are wrong; ``errors`` says which and why."""

    code = "invalid_form"

    def __init__(self, errors: dict[str, ValidationError]) -> None:
        # one wrong field keeps its own code (what a CLI user or API client branches on)
        only = next(iter(errors.values())).code if len(errors) == 1 else None
        super().__init__(
            "; ".join(f"{field}: {error.message}" for field, error in errors.items()),
            code=only,
            fields={field: error.code for field, error in errors.items()},
        )
        self.errors = errors


class FormCheck:
    """Runs each field's parser and keeps every failure, to report them all at once."""

    def __init__(self) -> None:
        self.errors: dict[str, ValidationError] = {}

    def parse(self, field: str, parser: Callable[..., T], *args: Any) -> T:
        """``parser(*args)``; on a ValidationError it is kept for ``field`` and the
        returned value (never used: ``done`` raises) is None."""
        try:
            return parser(*args)
        except ValidationError as error:
            self.errors.setdefault(field, error)
            return cast(T, None)

    def add(self, field: str, error: ValidationError) -> None:
        self.errors.setdefault(field, error)

    def done(self) -> None:
        if self.errors:
            raise InvalidForm(self.errors)
