"""The meter registry's values and rules (pure: no I/O, no clock of its own).

A meter in the registry is a postal security device the data center knows: which
customer it belongs to, its model and public key (pinned at registration or first
sync), what the data center wants installed on it (firmware, features, graphics, ad
slogan), the cost centres allowed on it, and what it last reported at a sync.

The 11-digit **installation account number** is issued by the data center when a
meter is provisioned for shipping (``pr.meters.provision``): ten random digits (the
first not 0) and a Luhn check digit, printed on the delivery note. A customer
registers the meter with it instead of typing its product code and serial; the check
digit catches a mistyped digit or two swapped neighbours.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import attrs

from postroom.core.accounts.model import luhn_check_digit
from postroom.core.errors import Unauthenticated, ValidationError
from postroom.core.meters.tokens import check_serial

INSTALLATION_DIGITS = 11

#: The postal operator of the vault's postage-used account, by carrier code.
OPERATORS = {"usps": "USPS", "laposte": "LAPOSTE", "canadapost": "CANADAPOST"}
#: The carrier a new meter uses by default, by the customer's country.
CARRIER_BY_COUNTRY = {"US": "usps", "FR": "laposte", "CA": "canadapost"}


def operator_of(carrier: str) -> str:
    return OPERATORS.get(carrier, carrier.upper())


#: Product codes the data center ships, and the device model each one is.
PRODUCTS: dict[str, str] = {
    "PR-VPSD1": "postroom-vpsd-1",
}

_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
_COST_CENTER = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._/-]{0,59}")
MAX_COST_CENTERS = 100
MAX_SLOGAN = 120
MAX_ASSET = 4 * 1024 * 1024  # what the device accepts in one install
METER_KEY_SCHEME = "prm"
METER_KEY_PREFIX_BYTES = 6
METER_KEY_SECRET_BYTES = 32


class MeterStatus(StrEnum):
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"


# ------------------------------------------------------------ installation number


def installation_check_digit(body: str) -> str:
    """The Luhn check digit of the first ten digits of an installation number."""
    return luhn_check_digit(body)


def is_valid_installation_number(number: str) -> bool:
    return (
        len(number) == INSTALLATION_DIGITS
        and number.isascii()
        and number.isdigit()
        and number[0] != "0"
        and installation_check_digit(number[:-1]) == number[-1]
    )


def new_installation_number() -> str:
    body = str(secrets.randbelow(9 * 10**9) + 10**9)
    return body + installation_check_digit(body)


def parse_installation_number(text: str) -> str:
    """The 11 digits of ``text`` (spaces and dashes allowed between them), checked."""
    if not isinstance(text, str):
        raise ValidationError("an installation number is text", code="invalid_installation_number")
    clean = text.strip().replace(" ", "").replace("-", "")
    if not (len(clean) == INSTALLATION_DIGITS and clean.isascii() and clean.isdigit()):
        raise ValidationError(
            "an installation account number is 11 digits", code="invalid_installation_number"
        )
    if not is_valid_installation_number(clean):
        raise ValidationError(
            "this installation account number is mistyped (its check digit does not match)",
            code="invalid_installation_number",
        )
    return clean


# ------------------------------------------------------------------ small parsers


def parse_serial(text: str) -> str:
    if not isinstance(text, str):
        raise ValidationError("a meter serial is text", code="invalid_serial")
    clean = text.strip()
    check_serial(clean)
    return clean


def parse_product_code(text: str) -> str:
    clean = text.strip().upper() if isinstance(text, str) else ""
    if clean not in PRODUCTS:
        known = ", ".join(sorted(PRODUCTS))
        raise ValidationError(
            f"unknown product code {text!r} (known: {known})", code="unknown_product_code"
        )
    return clean


def parse_name(text: str, what: str = "name") -> str:
    """A feature or graphic name as the device accepts it (1-32 of A-Z a-z 0-9 _ -)."""
    if not isinstance(text, str) or not _NAME.fullmatch(text):
        raise ValidationError(
            f"a {what} is 1 to 32 letters, digits, '_' or '-'", code=f"invalid_{what}"
        )
    return text


def parse_cost_centers(names: object) -> tuple[str, ...]:
    """Department names allowed on a meter: 1-60 characters, unique, at most 100."""
    if isinstance(names, str) or not isinstance(names, list | tuple):
        raise ValidationError("cost centres are a list of names", code="invalid_cost_center")
    clean: list[str] = []
    for name in names:
        text = " ".join(name.split()) if isinstance(name, str) else ""
        if not _COST_CENTER.fullmatch(text):
            raise ValidationError(
                f"invalid cost centre {name!r}: 1-60 letters, digits, spaces or . _ / -",
                code="invalid_cost_center",
            )
        if text not in clean:
            clean.append(text)
    if len(clean) > MAX_COST_CENTERS:
        raise ValidationError(
            f"at most {MAX_COST_CENTERS} cost centres", code="invalid_cost_center"
        )
    return tuple(clean)


def parse_features(features: object) -> dict[str, bool]:
    if not isinstance(features, Mapping):
        raise ValidationError("features map names to true or false", code="invalid_feature")
    clean = {}
    for name, on in features.items():
        if not isinstance(on, bool):
            raise ValidationError(f"feature {name!r} is true or false", code="invalid_feature")
        clean[parse_name(name, "feature")] = on
    if len(clean) > 64:
        raise ValidationError("at most 64 features", code="invalid_feature")
    return clean


def parse_slogan(text: str) -> str:
    clean = " ".join(text.split()) if isinstance(text, str) else ""
    if len(clean) > MAX_SLOGAN or not clean.isprintable():
        raise ValidationError(
            f"an ad slogan is printable text of at most {MAX_SLOGAN} characters",
            code="invalid_slogan",
        )
    return clean


def check_asset(data: bytes, what: str) -> bytes:
    if not isinstance(data, bytes) or not 0 < len(data) <= MAX_ASSET:
        raise ValidationError(
            f"a {what} is 1 byte to {MAX_ASSET // (1024 * 1024)} MiB", code=f"invalid_{what}"
        )
    return data


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


#: The graphic an ad slogan travels as (UTF-8 text); the indicium renderer prints it.
SLOGAN_GRAPHIC = "ad-slogan"


# ------------------------------------------------------------------- meter keys


@attrs.frozen
class MeterKeyMaterial:
    prefix: str
    token: str = attrs.field(repr=False)
    secret_hash: str = attrs.field(repr=False)


def new_meter_key() -> MeterKeyMaterial:
    """A per-meter API key ``prm_<prefix>_<secret>``; only the secret's SHA-256 is stored."""
    prefix = secrets.token_hex(METER_KEY_PREFIX_BYTES)
    secret = secrets.token_urlsafe(METER_KEY_SECRET_BYTES)
    return MeterKeyMaterial(prefix, f"{METER_KEY_SCHEME}_{prefix}_{secret}", _hash(secret))


def _hash(secret: str) -> str:
    # 256 random bits: nothing to brute-force, so a fast hash (see accounts.model).
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def split_meter_key(token: str) -> tuple[str, str]:
    parts = token.strip().split("_", 2) if isinstance(token, str) else []
    if (
        len(parts) != 3
        or parts[0] != METER_KEY_SCHEME
        or len(parts[1]) != 2 * METER_KEY_PREFIX_BYTES
    ):
        raise Unauthenticated("malformed meter key", code="invalid_meter_key")
    return parts[1], parts[2]


def meter_secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(_hash(secret), stored_hash)


def is_meter_key(token: str) -> bool:
    return token.strip().startswith(METER_KEY_SCHEME + "_")


# ------------------------------------------------------------------ inspection


@attrs.frozen
class InspectionRules:
    """When a meter is due for inspection, when it locks, when its customer is warned."""

    due_days: int = 90
    lock_days: int = 120
    warning_days: int = 14

    def __attrs_post_init__(self) -> None:
        if not 0 < self.due_days < self.lock_days or self.warning_days < 0:
            raise ValidationError(
                "inspection: 0 < due days < lock days, warning days >= 0",
                code="invalid_inspection_rules",
            )

    def due_at(self, inspected_at: datetime) -> datetime:
        return inspected_at + timedelta(days=self.due_days)

    def lock_at(self, inspected_at: datetime) -> datetime:
        return inspected_at + timedelta(days=self.lock_days)

    def status(self, inspected_at: datetime, now: datetime) -> str:
        if now >= self.lock_at(inspected_at):
            return "overdue"
        if now >= self.due_at(inspected_at):
            return "due"
        return "ok"

    def reminder(self, inspected_at: datetime, now: datetime) -> str | None:
        """``"warning"`` within ``warning_days`` of the deadline (the lock date),
        ``"overdue"`` past it, else None."""
        lock = self.lock_at(inspected_at)
        if now >= lock:
            return "overdue"
        if now >= lock - timedelta(days=self.warning_days):
            return "warning"
        return None


# -------------------------------------------------------------------- entities


@attrs.define
class Meter:
    serial: str
    customer_account: str
    product_code: str
    model: str
    carrier: str
    status: MeterStatus
    registered_at: datetime
    installation_number: str | None = None
    public_key_pem: str | None = None
    firmware: str | None = None
    features: dict[str, bool] = attrs.field(factory=dict)
    graphics: dict[str, str] = attrs.field(factory=dict)  # name -> digest (wanted)
    ad_slogan: str = ""
    cost_centers: tuple[str, ...] = ()
    last_sync_at: datetime | None = None
    last_piece: int = 0
    inspected_at: datetime | None = None
    inspection_due_at: datetime | None = None
    inspection_lock_at: datetime | None = None
    device: dict[str, Any] = attrs.field(factory=dict)  # what the device last reported
    key_prefix: str | None = None

    def to_json(self) -> dict[str, Any]:
        def when(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        return {
            "serial": self.serial,
            "customer_account": self.customer_account,
            "product_code": self.product_code,
            "model": self.model,
            "carrier": self.carrier,
            "status": self.status.value,
            "installation_number": self.installation_number,
            "registered_at": self.registered_at.isoformat(),
            "firmware": self.firmware,
            "features": dict(self.features),
            "graphics": dict(self.graphics),
            "ad_slogan": self.ad_slogan,
            "cost_centers": list(self.cost_centers),
            "last_sync_at": when(self.last_sync_at),
            "last_piece": self.last_piece,
            "inspected_at": when(self.inspected_at),
            "inspection_due_at": when(self.inspection_due_at),
            "inspection_lock_at": when(self.inspection_lock_at),
            "has_public_key": self.public_key_pem is not None,
        }


@attrs.frozen
class Provisioned:
    """A meter made ready for shipping, with the installation number on its delivery note."""

    installation_number: str
    product_code: str
    serial: str
    issued_at: datetime
    registered: bool = False


@attrs.frozen
class RegisteredMeter:
    """A fresh registration: ``api_key`` (the meter's own key) is shown once."""

    meter: Meter
    api_key: str = attrs.field(repr=False)


@attrs.frozen
class StoredPiece:
    serial: str
    piece: int
    mills: int
    currency: str
    mailing_date: str
    service: str
    origin_zip: str
    cost_center: str | None
    printed_at: datetime
    request_id: str
    usage_transfer_id: str
    recorded: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "piece": self.piece,
            "mills": self.mills,
            "currency": self.currency,
            "date": self.mailing_date,
            "service": self.service,
            "origin_zip": self.origin_zip,
            "cost_center": self.cost_center,
            "printed_at": self.printed_at.isoformat(),
            "rid": self.request_id,
            "usage_transfer_id": self.usage_transfer_id,
            "recorded": self.recorded,
        }


@attrs.frozen
class Alert:
    id: int
    serial: str
    kind: str
    message: str
    created_at: datetime
    details: Mapping[str, Any] = attrs.field(factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "serial": self.serial,
            "kind": self.kind,
            "message": self.message,
            "created_at": self.created_at.isoformat(),
            "details": dict(self.details),
        }


def usage_groups(serial: str, pieces: list[tuple[int, int, str | None]]) -> dict[int, str]:
    """The usage transfer id of each new piece ``(piece, mills, cost_center)``.

    One transfer per cost centre of one upload; its id names the serial, the upload's
    piece range and the cost centre's rank, so a retried upload or a resumed sync
    records each piece once (the vault answers a known id with its first result).
    """
    if not pieces:
        return {}
    first, last = pieces[0][0], pieces[-1][0]
    centers = sorted({c or "" for _, _, c in pieces})
    rank = {c: i for i, c in enumerate(centers)}
    ids = {}
    for piece, _, center in pieces:
        found = f"mu:{serial}:{first}-{last}:{rank[center or '']}"
        if len(found) > 64:  # a transfer id's limit: the same id, hashed
            found = "mu:" + hashlib.sha256(found.encode()).hexdigest()[:48]
        ids[piece] = found
    return ids
