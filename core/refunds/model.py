"""Refunds of spoiled or misprinted metered postage, and closing a postage account:
values and pure rules (no I/O). ``service.py`` runs them inside one transaction.

The rules (docs/vault.md "Refunds"):

- a request is made within ``window_days`` calendar days of each piece's indicium date:
  day 0 is the indicium date, day ``window_days`` is the last day allowed (judged on the
  UTC date of the injected clock);
- the fee is ``fee_percent`` of the request's total face value while that total is at most
  ``fee_threshold``, and ``fixed_fee`` above it; the percentage is rounded half up to the
  cent (10 mills), and the fee never exceeds the face value;
- the customer is credited the face value less the fee.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from postroom.core.errors import Conflict, PermissionDenied, ValidationError
from postroom.core.ledger.model import MeterRegisters, Phase, Transfer
from postroom.core.meters.indicium import IndiciumRecord
from postroom.core.money import MILLS_PER_UNIT, Money
from postroom.core.text import check_no_control

#: A refund id: chosen by the client, unique per customer account (like a transfer id,
#: shorter, because the ledger transfer ids are derived from it).
REFUND_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,39}")
#: The fee is rounded to this many mills: one cent.
FEE_ROUNDING_MILLS = 10
MAX_PIECES = 500
MAX_NOTE = 500
MAX_PIECE_NUMBER = 2**32 - 1  # the indicium record's 4-byte piece count
MAX_FACE_MILLS = 2**32 - 1  # the indicium record's 4-byte postage in mills
MAX_INDICIUM_HEX = 2048
MAX_SIGNATURE_HEX = 300
MAX_PUBLIC_KEY_PEM = 2000


class RefundReason(StrEnum):
    SPOILED = "spoiled"  # printed, then damaged before mailing
    MISPRINTED = "misprinted"  # illegible, wrong amount or wrong date
    UNUSED = "unused"  # printed and never mailed
    DUPLICATE = "duplicate"  # printed twice for one mail piece


class RefundStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"


def check_refund_id(value: object) -> str:
    if not isinstance(value, str) or not REFUND_ID.fullmatch(value):
        raise ValidationError(
            "a refund id is 1 to 40 letters, digits or ._:@- and starts with a letter or digit",
            code="invalid_refund_id",
        )
    return value


def check_note(value: object, field: str = "note", *, required: bool = False) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{field} is text", code=f"invalid_{field}")
    clean = check_no_control(value.strip(), field, multiline=True)
    if len(clean) > MAX_NOTE:
        raise ValidationError(f"{field} is at most {MAX_NOTE} characters", code=f"invalid_{field}")
    if required and not clean:
        raise ValidationError(f"{field} is required", code=f"missing_{field}")
    return clean


def parse_reason(value: object) -> RefundReason:
    if isinstance(value, str):
        try:
            return RefundReason(value.strip().lower())
        except ValueError:
            pass
    allowed = ", ".join(r.value for r in RefundReason)
    raise ValidationError(
        f"unknown refund reason {value!r} (one of {allowed})", code="invalid_reason"
    )


def parse_indicium_date(value: object) -> date:
    """A piece's indicium (mailing) date from outside: ``YYYY-MM-DD`` text or a ``date``."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValidationError(f"invalid indicium date {value!r}: use YYYY-MM-DD", code="invalid_date")


def _decimal_setting(value: object, name: str) -> Decimal:
    if isinstance(value, float | bool):
        raise ValidationError(f"{name} is a decimal string, not {value!r}", code="invalid_setting")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationError(
            f"{name} is not a number: {value!r}", code="invalid_setting"
        ) from None
    if not number.is_finite() or number < 0:
        raise ValidationError(f"{name} must be 0 or more: {value!r}", code="invalid_setting")
    return number


def _mills_setting(value: object, name: str) -> int:
    number = _decimal_setting(value, name)
    mills = number * MILLS_PER_UNIT
    if mills != mills.to_integral_value() or mills > 10**15:
        raise ValidationError(
            f"{name} has more than 3 decimal places or is too large: {value!r}",
            code="invalid_setting",
        )
    return int(mills)


@attrs.frozen
class RefundPolicy:
    """The configurable refund rules (settings ``POSTROOM_REFUND_*``).

    Amounts are in mills of the account's currency: ``fee_threshold`` 350000 is 350.00.
    """

    window_days: int = 60
    fee_percent: Fraction = Fraction(10)
    fee_threshold: int = 350_000
    fixed_fee: int = 35_000

    def __attrs_post_init__(self) -> None:
        if isinstance(self.window_days, bool) or not isinstance(self.window_days, int):
            raise ValidationError("the refund window is a whole number of days")
        if not 0 <= self.window_days <= 3660:
            raise ValidationError("the refund window is 0 to 3660 days", code="invalid_setting")
        if not 0 <= self.fee_percent <= 100:
            raise ValidationError("the refund fee is 0 to 100 percent", code="invalid_setting")
        for name in ("fee_threshold", "fixed_fee"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationError(f"{name} is mills, 0 or more", code="invalid_setting")

    @classmethod
    def from_settings(
        cls, window_days: object, fee_percent: object, fee_threshold: object, fixed_fee: object
    ) -> RefundPolicy:
        """The policy from setting values as configured (text, or numbers from TOML)."""
        days = _decimal_setting(window_days, "POSTROOM_REFUND_WINDOW_DAYS")
        if days != days.to_integral_value():
            raise ValidationError(
                "POSTROOM_REFUND_WINDOW_DAYS is a whole number", code="invalid_setting"
            )
        percent = _decimal_setting(fee_percent, "POSTROOM_REFUND_FEE_PERCENT")
        return cls(
            window_days=int(days),
            fee_percent=Fraction(percent),
            fee_threshold=_mills_setting(fee_threshold, "POSTROOM_REFUND_FEE_THRESHOLD"),
            fixed_fee=_mills_setting(fixed_fee, "POSTROOM_REFUND_FIXED_FEE"),
        )

    def fee(self, face_mills: int) -> int:
        """The fee on a request whose pieces add up to ``face_mills``.

        Up to the threshold (inclusive): ``fee_percent`` of the face value, rounded half up
        to the cent. Above it: the fixed fee. Never more than the face value.
        """
        if isinstance(face_mills, bool) or not isinstance(face_mills, int) or face_mills <= 0:
            raise ValidationError("a refund's face value is positive", code="invalid_amount")
        if face_mills <= self.fee_threshold:
            exact = Fraction(face_mills) * self.fee_percent / 100
            cents = (exact / FEE_ROUNDING_MILLS + Fraction(1, 2)).__floor__()
            fee = int(cents) * FEE_ROUNDING_MILLS
        else:
            fee = self.fixed_fee
        return min(fee, face_mills)

    def day_of_window(self, indicium_date: date, today: date) -> int:
        """How many calendar days after its indicium date a piece is asked back (0 = same day)."""
        return (today - indicium_date).days

    def check_window(self, piece: int, indicium_date: date, today: date) -> None:
        day = self.day_of_window(indicium_date, today)
        if day < 0:
            raise ValidationError(
                f"piece {piece}: indicium date {indicium_date} is in the future",
                code="indicium_date_in_future",
                piece=piece,
            )
        if day > self.window_days:
            raise ValidationError(
                f"piece {piece}: a refund must be asked within {self.window_days} days of the"
                f" indicium date {indicium_date} (this is day {day})",
                code="refund_window_passed",
                piece=piece,
                day=day,
            )


@attrs.frozen
class IndiciumProof:
    """The signed indicium a caller may attach to a piece: record bytes and DER signature."""

    record: bytes
    signature: bytes | None = None

    @classmethod
    def from_hex(cls, record_hex: object, signature_hex: object = None) -> IndiciumProof:
        record = _hex(record_hex, "indicium", MAX_INDICIUM_HEX)
        signature = None if signature_hex is None else _hex(signature_hex, "signature", 300)
        return cls(record, signature)


def _hex(value: object, field: str, limit: int) -> bytes:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ValidationError(
            f"{field} is hexadecimal text of at most {limit} digits", code=f"invalid_{field}"
        )
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ValidationError(f"{field} is not hexadecimal", code=f"invalid_{field}") from None


def load_public_key(pem: object) -> ec.EllipticCurvePublicKey:
    if not isinstance(pem, str) or not pem.strip() or len(pem) > MAX_PUBLIC_KEY_PEM:
        raise ValidationError("the meter's public key is PEM text", code="invalid_public_key")
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ValidationError(
            "the meter's public key is not a PEM public key", code="invalid_public_key"
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValidationError(
            "the meter's public key is not an ECDSA P-256 key", code="invalid_public_key"
        )
    return key


@attrs.frozen
class PieceClaim:
    """One printed piece asked back: its number on the meter, face value and indicium date."""

    piece: int
    face: int  # mills
    indicium_date: date
    proof: IndiciumProof | None = None

    def __attrs_post_init__(self) -> None:
        if isinstance(self.piece, bool) or not isinstance(self.piece, int):
            raise ValidationError("a piece number is a whole number", code="invalid_piece")
        if not 1 <= self.piece <= MAX_PIECE_NUMBER:
            raise ValidationError(
                f"piece number {self.piece} is out of range", code="invalid_piece"
            )
        if isinstance(self.face, float):
            raise ValidationError("amounts are never floats", code="float_not_allowed")
        if isinstance(self.face, bool) or not isinstance(self.face, int):
            raise ValidationError("a face value is integer mills", code="invalid_amount")
        if not 1 <= self.face <= MAX_FACE_MILLS:
            raise ValidationError(
                f"piece {self.piece}: the face value must be positive and at most"
                f" {MAX_FACE_MILLS} mills",
                code="invalid_amount",
                piece=self.piece,
            )

    def verify(self, serial: str, currency: str, key: ec.EllipticCurvePublicKey | None) -> bool:
        """Check the attached indicium against this claim; True when its signature was
        verified with ``key``. A record that disagrees with the claim, or a signature
        that does not verify, is refused."""
        if self.proof is None:
            return False
        record = IndiciumRecord.from_bytes(self.proof.record)
        expected = (serial, self.piece, Money(self.face, currency), self.indicium_date)
        found = (record.serial, record.piece, record.postage, record.mailing_date)
        if found != expected:
            raise ValidationError(
                f"piece {self.piece}: the indicium says meter {record.serial}, piece"
                f" {record.piece}, {record.postage}, {record.mailing_date}",
                code="indicium_mismatch",
                piece=self.piece,
            )
        if key is None or self.proof.signature is None:
            return False
        try:
            key.verify(self.proof.signature, self.proof.record, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise PermissionDenied(
                f"piece {self.piece}: the indicium signature does not verify with the meter's key",
                code="indicium_signature_invalid",
                piece=self.piece,
            ) from None
        return True


def check_claims(claims: Sequence[PieceClaim]) -> tuple[PieceClaim, ...]:
    found = tuple(claims)
    if not found:
        raise ValidationError("a refund names at least one piece", code="no_pieces")
    if len(found) > MAX_PIECES:
        raise ValidationError(f"at most {MAX_PIECES} pieces a request", code="too_many_pieces")
    numbers = [c.piece for c in found]
    if len(set(numbers)) != len(numbers):
        raise ValidationError("a piece appears twice in the request", code="duplicate_piece")
    return tuple(sorted(found, key=lambda c: c.piece))


def request_body(
    serial: str, reason: RefundReason, note: str, claims: Sequence[PieceClaim]
) -> list[object]:
    """What a request's fingerprint covers (``idempotency.fingerprint``): all but its id."""
    body: list[object] = [serial, reason.value, note]
    for c in claims:
        proof = c.proof
        body.append(
            [
                c.piece,
                c.face,
                c.indicium_date.isoformat(),
                None if proof is None else proof.record.hex(),
                None if proof is None or proof.signature is None else proof.signature.hex(),
            ]
        )
    return body


def refund_id_reused(refund_id: str) -> Conflict:
    return Conflict(
        f"refund id {refund_id} was used before with another request", code="refund_id_reused"
    )


def check_counted(meter: MeterRegisters, claim: PieceClaim) -> None:
    """A metered piece is asked back only once the meter's usage reports counted it."""
    if claim.piece > meter.pieces:
        raise ValidationError(
            f"meter {meter.serial} has printed {meter.pieces} pieces, not piece {claim.piece}",
            code="piece_not_printed",
            piece=claim.piece,
        )


def check_unclaimed(serial: str, taken: set[int]) -> None:
    """No piece is asked back twice while a live refund claims it."""
    if taken:
        raise Conflict(
            f"piece(s) {', '.join(map(str, sorted(taken)))} of meter {serial}"
            " are refunded or asked back already",
            code="piece_already_refunded",
            pieces=sorted(taken),
        )


def check_covered(serial: str, claim: PieceClaim, usage: Transfer | None) -> Transfer:
    """The usage report that counted ``claim``'s piece (its postage left the meter)."""
    if usage is None:
        raise ValidationError(
            f"no usage report of meter {serial} counts piece {claim.piece}",
            code="piece_not_printed",
            piece=claim.piece,
        )
    return usage


def check_charge(
    meter: MeterRegisters,
    claim: PieceClaim,
    charge: Transfer | None,
    postage_account_id: int,
    postage_used_id: int | None,
) -> Transfer:
    """The posted transfer that charged a virtual meter's piece: from the postage account
    out to the meter operator's postage used (where an approval takes the refund from),
    of the claimed face value."""
    if (
        charge is None
        or postage_used_id is None
        or charge.phase is not Phase.POST
        or charge.debit_account_id != postage_account_id
        or charge.credit_account_id != postage_used_id
    ):
        raise ValidationError(
            f"no charge of meter {meter.serial}'s piece {claim.piece} to the postage account"
            f" out to {meter.operator}",
            code="piece_not_printed",
            piece=claim.piece,
        )
    if charge.amount != claim.face:
        raise ValidationError(
            f"piece {claim.piece}: face value {claim.face} mills but {charge.amount} mills"
            " were charged for it",
            code="face_value_mismatch",
            piece=claim.piece,
        )
    return charge


def check_usage_left(
    claims: Sequence[PieceClaim],
    usage_of: Mapping[int, Transfer],
    claimed_face: Mapping[str, int],
) -> None:
    """The claims on each usage report fit in it: a one-piece report is asked back at its
    exact amount, and no report gives back more than live refunds have left of it."""
    for usage in {u.id: u for u in usage_of.values()}.values():
        mine = [c for c in claims if usage_of[c.piece].id == usage.id]
        asked = sum(c.face for c in mine)
        if usage.pieces == 1 and asked != usage.amount:
            raise ValidationError(
                f"piece {mine[0].piece}: face value {asked} mills but the meter recorded"
                f" {usage.amount} mills for it",
                code="face_value_mismatch",
                piece=mine[0].piece,
            )
        left = usage.amount - claimed_face.get(usage.id, 0)
        if asked > left:
            raise ValidationError(
                f"pieces {', '.join(str(c.piece) for c in mine)}: face values of"
                f" {asked} mills exceed the {left} mills left of the meter's usage"
                f" report {usage.id} ({usage.pieces} pieces, {usage.amount} mills)",
                code="face_value_mismatch",
            )


@attrs.frozen
class RefundedPiece:
    """A piece of a stored refund."""

    piece: int
    face: int
    indicium_date: date
    usage_transfer_id: str
    verified: bool


@attrs.frozen
class Refund:
    """A refund request and its decision."""

    id: str
    customer_account_id: int
    customer_number: str
    serial: str
    operator: str
    currency: str
    reason: RefundReason
    note: str
    pieces: tuple[RefundedPiece, ...]
    face: int
    fee: int
    status: RefundStatus
    requested_at: datetime
    body_hash: str
    decided_at: datetime | None = None
    agent: str | None = None
    decision_note: str | None = None
    #: this answer is a replay of the request that made the refund (not stored)
    replayed: bool = attrs.field(default=False, eq=False, repr=False)

    @classmethod
    def requested(
        cls,
        refund_id: str,
        customer: tuple[int, str],
        meter: MeterRegisters,
        reason: RefundReason,
        note: str,
        pieces: Sequence[RefundedPiece],
        policy: RefundPolicy,
        now: datetime,
        body_hash: str,
    ) -> Refund:
        """A new request of ``customer`` (account id, number) for ``pieces`` of ``meter``:
        face value the pieces' sum, the policy's fee on it, awaiting an agent."""
        face = sum(p.face for p in pieces)
        return cls(
            id=refund_id,
            customer_account_id=customer[0],
            customer_number=customer[1],
            serial=meter.serial,
            operator=meter.operator,
            currency=meter.currency,
            reason=reason,
            note=note,
            pieces=tuple(pieces),
            face=face,
            fee=policy.fee(face),
            status=RefundStatus.REQUESTED,
            requested_at=now,
            body_hash=body_hash,
        )

    @property
    def net(self) -> int:
        return self.face - self.fee

    @property
    def refund_transfer_id(self) -> str:
        return f"refund:{self.customer_number}:{self.id}"

    @property
    def fee_transfer_id(self) -> str:
        return f"refund-fee:{self.customer_number}:{self.id}"


def claims_from_json(items: object, currency: str) -> tuple[PieceClaim, ...]:
    """Pieces as the API and the CLI receive them: a list of objects ``{"piece": 12,
    "face": {"amount": "0.73", "currency": "USD"}, "indicium_date": "2026-03-01",
    "indicium": HEX?, "signature": HEX?}``; ``face`` must be in ``currency``."""
    if not isinstance(items, list) or not items:
        raise ValidationError("pieces is a non-empty list", code="no_pieces")
    if len(items) > MAX_PIECES:
        raise ValidationError(f"at most {MAX_PIECES} pieces a request", code="too_many_pieces")
    claims = []
    for item in items:
        if not isinstance(item, dict):
            raise ValidationError("each piece is an object", code="invalid_piece")
        for field in ("piece", "face", "indicium_date"):
            if field not in item:
                raise ValidationError(f"a piece needs {field!r}", code="missing_field", field=field)
        face = item["face"]
        if isinstance(face, int | float) or (
            isinstance(face, dict) and isinstance(face.get("amount"), int | float)
        ):
            raise ValidationError(
                'face is {"amount": "0.73", "currency": "USD"} with the amount as a string',
                code="amount_not_a_string",
            )
        money = Money.from_json(face)
        if money.currency != currency:
            raise ValidationError(
                f"face value in {money.currency} but the account is in {currency}",
                code="currency_mismatch",
            )
        proof = None
        if item.get("indicium") is not None:
            proof = IndiciumProof.from_hex(item["indicium"], item.get("signature"))
        elif item.get("signature") is not None:
            raise ValidationError("a signature comes with its indicium", code="invalid_indicium")
        claims.append(
            PieceClaim(
                item["piece"], money.mills, parse_indicium_date(item["indicium_date"]), proof
            )
        )
    return check_claims(claims)
