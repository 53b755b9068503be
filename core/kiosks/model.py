"""Kiosk keys and the services a terminal may print: values and pure rules, no I/O.

A kiosk key is the credential of one mailroom terminal: issued per terminal, scoped to one
customer account, revocable, and listed with its last contact. Like an API key, only a
hash of its secret is kept; the token is shown once. Its scheme (``prt``, postroom
terminal) differs from an API key's (``prk``), so neither is taken for the other.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Final

import attrs

from postroom.core.accounts.model import hash_secret, secret_matches
from postroom.core.errors import Unauthenticated, ValidationError
from postroom.core.money import Money
from postroom.core.rates.model import Piece, Quote
from postroom.core.text import check_no_control

KEY_SCHEME = "prt"  # postroom terminal
KEY_PREFIX_BYTES = 6  # 12 hex characters: the public, indexed part of a key
KEY_SECRET_BYTES = 32  # 256 bits: the part only the terminal knows
MAX_LABEL = 100
#: A terminal's last contact is written at most this often (each request would be a write).
CONTACT_RESOLUTION = timedelta(minutes=1)


@attrs.define
class KioskKey:
    """The key of one terminal of a customer account."""

    id: int
    customer_number: str
    prefix: str
    label: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_contact_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@attrs.frozen
class IssuedKioskKey:
    """A fresh key: ``token`` is shown once (to be set on the terminal), never stored."""

    key: KioskKey
    token: str = attrs.field(repr=False)


@attrs.frozen
class KioskKeyMaterial:
    prefix: str
    token: str = attrs.field(repr=False)
    secret_hash: str = attrs.field(repr=False)


def new_key_material() -> KioskKeyMaterial:
    prefix = secrets.token_hex(KEY_PREFIX_BYTES)
    secret = secrets.token_urlsafe(KEY_SECRET_BYTES)
    return KioskKeyMaterial(prefix, f"{KEY_SCHEME}_{prefix}_{secret}", hash_secret(secret))


def split_token(token: str) -> tuple[str, str]:
    """(prefix, secret) of a kiosk key; Unauthenticated ``invalid_kiosk_key`` when it is
    malformed (an API key, say)."""
    parts = token.strip().split("_", 2) if isinstance(token, str) else []
    if (
        len(parts) != 3
        or parts[0] != KEY_SCHEME
        or len(parts[1]) != 2 * KEY_PREFIX_BYTES
        or not parts[2]
    ):
        raise Unauthenticated("malformed kiosk key", code="invalid_kiosk_key")
    return parts[1], parts[2]


def key_matches(secret: str, stored_hash: str | None) -> bool:
    """Whether ``secret`` is the stored one; with none stored (unknown prefix), the same
    work against a decoy, so that an unknown key takes as long as a wrong one."""
    return secret_matches(secret, stored_hash or _DECOY_HASH) and stored_hash is not None


_DECOY_HASH = hash_secret("no such kiosk key")


def parse_label(text: str) -> str:
    """Where the terminal stands ("Mailroom, 2nd floor"): 1 to 100 printable characters."""
    label = check_no_control(" ".join(str(text).split()), "label")
    if not label or len(label) > MAX_LABEL:
        raise ValidationError(
            f"a kiosk key needs a label of 1 to {MAX_LABEL} characters (where the terminal is)",
            code="invalid_label",
            field="label",
        )
    return label


def parse_prefix(text: str) -> str:
    """A key's public prefix (12 hex characters), or the prefix of a whole token."""
    value = str(text).strip()
    if value.startswith(f"{KEY_SCHEME}_"):
        value = value.split("_", 2)[1]
    if len(value) != 2 * KEY_PREFIX_BYTES or any(c not in "0123456789abcdef" for c in value):
        raise ValidationError(
            "a kiosk key is named by its 12-character prefix", code="invalid_kiosk_key_prefix"
        )
    return value


def contact_due(last: datetime | None, now: datetime) -> bool:
    """Whether a request at ``now`` is worth recording as the terminal's last contact."""
    return last is None or now - last >= CONTACT_RESOLUTION


#: What the operator says a piece is, and the rate tables' shapes (``rates.model.SHAPES``)
#: that price it: a letter on letter tables, a large envelope on flat ones, a parcel on
#: parcel ones. A postcard is a letter at the terminal (a card's price needs its size).
PIECE_SHAPES: Final[dict[str, tuple[str, ...]]] = {
    "letter": ("letter",),
    "large_envelope": ("flat",),
    "parcel": ("parcel",),
}
#: The shapes measured at the terminal (length x width x height): their limits are sizes.
MEASURED_SHAPES: Final = frozenset({"large_envelope", "parcel"})
#: Why a service of the piece's shape is not offered, when the operator can act on it.
SHOWN_REFUSALS: Final = frozenset({"over_limit", "dimensions_required"})


def piece_shape(value: object) -> str:
    """The piece's shape as the terminal names it; ``invalid_shape`` otherwise."""
    if not isinstance(value, str) or value not in PIECE_SHAPES:
        raise ValidationError(
            f"shape must be one of {', '.join(PIECE_SHAPES)}",
            code="invalid_shape",
        )
    return value


def check_measured(shape: str, piece: Piece) -> None:
    """A large envelope or a parcel is priced with its size: ``dimensions_required``."""
    if shape in MEASURED_SHAPES and piece.dimensions is None:
        raise ValidationError(
            "a large envelope or a parcel needs its length, width and height",
            code="dimensions_required",
        )


def printable(options: tuple[Quote, ...], currency: str) -> tuple[Quote, ...]:
    """The priced services a terminal of an account paying in ``currency`` can print,
    cheapest first (then by carrier and service, for a stable order). A service priced in
    another currency is not offered at all: its postage could never be booked to the
    account (the ledger refuses it as ``currency_mismatch``)."""
    mine = [quote for quote in options if quote.total.currency == currency]
    return tuple(sorted(mine, key=lambda q: (q.total.mills, q.table.carrier, q.table.service)))


# ------------------------------------------------------------------ the piece log


class PieceSource(StrEnum):
    """Where a terminal's piece was printed: the account's virtual meter (the data
    center charged it) or the meter attached to the terminal (charged on the device)."""

    VIRTUAL = "virtual"
    METER = "meter"


@attrs.frozen
class KioskPiece:
    """One piece a terminal printed, as its piece log keeps it for the reports."""

    serial: str
    piece: int
    printed_at: datetime
    postage: Money
    carrier: str
    service: str
    cost_center: str | None
    operator_id: int | None
    operator_name: str
    terminal: str
    source: PieceSource = PieceSource.VIRTUAL
    #: A meter's piece whose signed report the log has (``pr.kiosk_pieces.record``): its
    #: operator, cost centre and service are the report's (not part of equality).
    signed: bool = attrs.field(default=False, eq=False)


MAX_LOG_TEXT = 100


def same_logged_piece(logged: KioskPiece, again: KioskPiece) -> bool:
    """Whether ``again`` logs the piece ``logged`` is (a retry changes nothing). A meter's
    piece is its serial and number, signed by the meter: once its signed report came, the
    log keeps that report's operator, cost centre and service, and the terminal's queued
    copy (sent after it) only needs the same postage; otherwise a piece must be sent
    exactly again."""
    if logged.signed and again.source is PieceSource.METER:
        return (logged.serial, logged.piece, logged.postage) == (
            again.serial,
            again.piece,
            again.postage,
        )
    return logged == again


def check_piece(piece: KioskPiece) -> KioskPiece:
    """A piece as a terminal reports it: a positive piece number, a serial, postage of
    zero or more, text of bounded length."""
    texts = (piece.serial, piece.carrier, piece.service, piece.operator_name, piece.terminal)
    if (
        piece.piece < 1
        or piece.postage.mills < 0
        or not piece.serial
        or any(len(t) > MAX_LOG_TEXT or not t.isprintable() for t in texts)
        or (piece.cost_center is not None and len(piece.cost_center) > MAX_LOG_TEXT)
    ):
        raise ValidationError("this piece cannot be logged as sent", code="invalid_piece")
    return piece


@attrs.frozen
class ReportLine:
    """The pieces and postage of one cost centre or one operator."""

    name: str
    pieces: int
    postage: Money


@attrs.frozen
class PieceReport:
    """A day of a terminal's (or all the account's terminals') pieces."""

    day: date
    currency: str
    pieces: tuple[KioskPiece, ...]
    by_cost_center: tuple[ReportLine, ...]
    by_operator: tuple[ReportLine, ...]
    total: Money


#: How a piece booked to no cost centre is named in a report.
NO_COST_CENTER = ""


def report_of(day: date, currency: str, pieces: Sequence[KioskPiece]) -> PieceReport:
    """The day's pieces (oldest first) summed by cost centre and by operator (each by
    name; lines by most postage, then name)."""
    ordered = tuple(sorted(pieces, key=lambda p: (p.printed_at, p.serial, p.piece)))

    def lines(name_of: Callable[[KioskPiece], str]) -> tuple[ReportLine, ...]:
        counts: dict[str, list[int]] = {}
        for piece in ordered:
            entry = counts.setdefault(name_of(piece), [0, 0])
            entry[0] += 1
            entry[1] += piece.postage.mills
        found = [ReportLine(n, c, Money(m, currency)) for n, (c, m) in counts.items()]
        return tuple(sorted(found, key=lambda line: (-line.postage.mills, line.name)))

    return PieceReport(
        day,
        currency,
        ordered,
        lines(lambda p: p.cost_center or NO_COST_CENTER),
        lines(lambda p: p.operator_name),
        Money(sum(p.postage.mills for p in ordered), currency),
    )


# -------------------------------------------------------------------- notices


class NoticeKind(StrEnum):
    FUNDS_LOW = "funds_low"
    INSPECTION_DUE = "inspection_due"
    INSPECTION_OVERDUE = "inspection_overdue"


@attrs.frozen
class Notice:
    """Something the terminal says on every screen until it is fixed, with the fix."""

    kind: NoticeKind
    #: The meter concerned (an inspection), or None (the account's funds).
    serial: str | None = None
    #: The account's available funds (funds low), or the date due (an inspection).
    available: Money | None = None
    due_at: datetime | None = None


#: Without an alert threshold of their own (the auto-refill rule's), funds are low below
#: this many units of the account's currency: a day or two of a small mailroom's postage.
DEFAULT_LOW_FUNDS_UNITS = 20


def funds_notice(available: Money, threshold: Money | None) -> Notice | None:
    limit = threshold.mills if threshold is not None else DEFAULT_LOW_FUNDS_UNITS * 1000
    return Notice(NoticeKind.FUNDS_LOW, available=available) if available.mills < limit else None


def inspection_notice(
    serial: str, due_at: datetime | None, lock_at: datetime | None, now: datetime
) -> Notice | None:
    """A meter past its inspection date says so; past its lock date, that it is overdue
    (the data center locks it until it is inspected: a sync does that)."""
    if lock_at is not None and now >= lock_at:
        return Notice(NoticeKind.INSPECTION_OVERDUE, serial=serial, due_at=lock_at)
    if due_at is not None and now >= due_at:
        return Notice(NoticeKind.INSPECTION_DUE, serial=serial, due_at=due_at)
    return None


MAX_REQUEST_KEY = 64


def check_request_key(value: str) -> str:
    """A terminal's idempotency key: 8 to 64 printable ASCII characters."""
    key = str(value).strip()
    if not (8 <= len(key) <= MAX_REQUEST_KEY and key.isascii() and key.isprintable()):
        raise ValidationError(
            "an idempotency key is 8 to 64 printable characters", code="invalid_idempotency_key"
        )
    return key
