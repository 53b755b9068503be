"""Values and pure rules of funding: payment instruments, payments, the auto-refill
rule, low-balance alerts and credit-line statements. No I/O; service.py runs them.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import attrs

from postroom.core.errors import NotFound, ValidationError
from postroom.core.money import Money
from postroom.core.ports import PaymentSource, PaymentStatus

INSTRUMENT_ID = re.compile(r"pi_[0-9a-f]{20}")
PAYMENT_ID = re.compile(r"pm_[0-9a-f]{20}")
MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")

#: A credit-line statement asks for at least this share of the closing balance...
MINIMUM_DUE_PERCENT = 10
#: ...and at least this many currency units (or the whole balance when smaller).
MINIMUM_DUE_FLOOR_UNITS = 25
#: The payment is due this many days after the statement period ends.
DUE_AFTER_DAYS = 21


class PaymentKind:
    DEPOSIT = "deposit"  # from an instrument into the postage account
    AUTO_REFILL = "auto_refill"  # the same, started by the auto-refill rule
    CREDIT_PAYMENT = "credit_payment"  # from an instrument to pay down the credit line
    PURCHASE = "purchase"  # from an instrument to the data center's sales (a shop order)
    INVOICE = "invoice"  # from an instrument to pay an invoice (billing): never postage


KINDS = (
    PaymentKind.DEPOSIT,
    PaymentKind.AUTO_REFILL,
    PaymentKind.CREDIT_PAYMENT,
    PaymentKind.PURCHASE,
    PaymentKind.INVOICE,
)
#: Payments that credit the customer's postage account.
POSTAGE_KINDS = (PaymentKind.DEPOSIT, PaymentKind.AUTO_REFILL)


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


#: How payments and balances write a moment in JSON (ISO 8601, UTC, ``Z``).
stamp = _stamp


def check_instrument_id(value: object) -> str:
    if not isinstance(value, str) or not INSTRUMENT_ID.fullmatch(value.strip()):
        raise NotFound(f"no payment instrument {value!r}", code="instrument_not_found")
    return value.strip()


def check_payment_id(value: object) -> str:
    if not isinstance(value, str) or not PAYMENT_ID.fullmatch(value.strip()):
        raise NotFound(f"no payment {value!r}", code="payment_not_found")
    return value.strip()


#: Longest staff name and reason a manual deposit records.
MAX_STAFF = 100
MAX_REASON = 500
#: A reason says why in words: "x" or "ok" explains nothing to an auditor.
MIN_REASON = 10


def _audit_text(value: object, field: str, shortest: int, longest: int) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{field} is text", code=f"invalid_{field}", field=field)
    text = value.strip()
    if not shortest <= len(text) <= longest or not text.isprintable():
        raise ValidationError(
            f"{field} is {shortest} to {longest} printable characters",
            code=f"invalid_{field}",
            field=field,
        )
    return text


def check_staff(value: object) -> str:
    """Who made a manual deposit: a staff member's name or login."""
    return _audit_text(value, "staff", 1, MAX_STAFF)


def check_reason(value: object) -> str:
    """Why a manual deposit was made: a sentence an auditor can check (a cheque number,
    a wire's reference, a goodwill credit's case number)."""
    return _audit_text(value, "reason", MIN_REASON, MAX_REASON)


@attrs.frozen
class ManualDeposit:
    """Funds a staff member credited by hand (funds received outside any payment source),
    with who did it, when and why: the audit row of its ledger transfer."""

    transfer_id: str
    customer_number: str
    amount: Money
    staff: str
    reason: str
    reference: str
    created_at: datetime


@attrs.frozen
class Instrument:
    """A customer's stored way to pay: what the source's ``validate_instrument`` kept."""

    id: str
    customer_number: str
    source: str
    label: str
    details: dict[str, str]
    status: str  # active | removed
    created_at: datetime


@attrs.frozen
class Payment:
    """One collection from an instrument, and what became of it."""

    id: str
    customer_number: str
    instrument_id: str
    source: str
    kind: str
    amount: Money
    idempotency_key: str
    status: PaymentStatus
    source_reference: str
    transfer_id: str | None  # the ledger transfer that credited the funds
    failure_code: str | None
    failure_message: str
    return_reason: str | None
    outstanding: int  # mills of a failed or returned payment not yet taken back or repaid
    created_at: datetime
    updated_at: datetime
    refunded: int = 0  # mills given back by payouts; ``refunded`` status once all of it
    #: Not part of the row: True when this answer is the first payment of an earlier
    #: request with the same idempotency key (frontends answer 200 instead of 201).
    replayed: bool = attrs.field(default=False, eq=False, repr=False)


def return_reason_code(reason: object) -> str:
    """A bank's return reason as given (``r02``, `` AC04``), cleaned: ``invalid_reason``
    when there is none or it is longer than a reason code."""
    code = reason.strip().upper() if isinstance(reason, str) else ""
    if not code or len(code) > 10:
        raise ValidationError("a return needs its reason code", code="invalid_reason")
    return code


def check_return_reason(source: PaymentSource, code: str) -> str:
    """What ``code`` means for ``source``'s returns; ``invalid_reason`` when it is not one
    of them."""
    meaning = source.return_codes.get(code)
    if meaning is None:
        known = ", ".join(sorted(source.return_codes))
        raise ValidationError(
            f"{code} is not a {source.name} return reason (one of {known})",
            code="invalid_reason",
        )
    return meaning


@attrs.frozen
class AutoRefillRule:
    """Per postage account: below ``threshold`` alert once per crossing, and (with an
    ``amount`` and ``instrument_id``) deposit ``amount`` from the instrument, at most
    ``daily_cap`` a UTC day. Without an amount the rule only alerts."""

    customer_number: str
    threshold: Money
    amount: Money | None
    daily_cap: Money | None
    instrument_id: str | None
    alerted: bool = False
    declines: int = 0  # declined auto-refills in a row
    retry_at: datetime | None = None  # the next try after a decline (None: at once)
    suspended: bool = False  # declined on every retry: waits for the customer

    def __attrs_post_init__(self) -> None:
        cur = self.threshold.currency
        if self.threshold.mills < 0:
            raise ValidationError("the threshold is not negative", code="invalid_amount")
        if (self.amount is None) != (self.instrument_id is None):
            raise ValidationError(
                "an auto-refill needs an amount and an instrument (or neither: alerts only)",
                code="invalid_auto_refill",
            )
        for value in (self.amount, self.daily_cap):
            if value is not None and value.currency != cur:
                raise ValidationError(
                    "threshold, amount and daily cap share one currency", code="currency_mismatch"
                )
            if value is not None and value.mills <= 0:
                raise ValidationError("amounts are positive", code="invalid_amount")
        if self.daily_cap is not None and self.amount is None:
            raise ValidationError("a daily cap needs an amount", code="invalid_auto_refill")
        if (
            self.amount is not None
            and self.daily_cap is not None
            and self.daily_cap.mills < self.amount.mills
        ):
            raise ValidationError(
                "the daily cap is smaller than one refill", code="invalid_auto_refill"
            )

    @property
    def refills(self) -> bool:
        return self.amount is not None

    def allows(self, refilled_today: int) -> bool:
        """Whether one more refill fits under the daily cap (None: no cap)."""
        assert self.amount is not None
        return self.daily_cap is None or refilled_today + self.amount.mills <= self.daily_cap.mills

    def after_decline(self, now: datetime) -> AutoRefillRule:
        """The rule after one more declined auto-refill at ``now``: tried again after
        each delay of ``AUTO_REFILL_RETRIES``, then suspended."""
        declines = self.declines + 1
        if declines > len(AUTO_REFILL_RETRIES):
            return attrs.evolve(self, declines=declines, retry_at=None, suspended=True)
        return attrs.evolve(
            self, declines=declines, retry_at=now + AUTO_REFILL_RETRIES[declines - 1]
        )


#: After a declined auto-refill, when to try again (from the decline before): then the
#: rule is suspended until the customer adds or changes an instrument or pays by hand.
AUTO_REFILL_RETRIES = (timedelta(hours=1), timedelta(hours=4), timedelta(hours=24))


def day_bounds(moment: datetime) -> tuple[datetime, datetime]:
    start = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def parse_month(text: str) -> tuple[int, int]:
    match = MONTH.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1970:
        raise ValidationError(f"invalid month {text!r}: use YYYY-MM", code="invalid_month")
    return int(match[1]), int(match[2])


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1, tzinfo=UTC)
    days = calendar.monthrange(year, month)[1]
    return start, start + timedelta(days=days)


def previous_month(moment: datetime) -> tuple[int, int]:
    return (moment.year - 1, 12) if moment.month == 1 else (moment.year, moment.month - 1)


def minimum_due(closing: int) -> int:
    """10 % of the balance rounded up to the cent, at least 25 units, at most the balance."""
    if closing <= 0:
        return 0
    share = -(-closing * MINIMUM_DUE_PERCENT // 100)
    share = -(-share // 10) * 10
    return min(closing, max(share, MINIMUM_DUE_FLOOR_UNITS * 1000))


@attrs.frozen
class Statement:
    """A credit line's month: what was owed, drawn, paid, and what is due."""

    customer_number: str
    month: str  # YYYY-MM
    currency: str
    opening: int  # owed at the start of the month (mills)
    draws: int
    payments: int
    closing: int
    minimum_due: int
    due_date: date
    credit_limit: int
    created_at: datetime

    @classmethod
    def build(
        cls,
        customer_number: str,
        year: int,
        month: int,
        currency: str,
        opening: int,
        draws: int,
        payments: int,
        credit_limit: int,
        now: datetime,
    ) -> Statement:
        closing = opening + draws - payments
        _, end = month_bounds(year, month)
        return cls(
            customer_number,
            f"{year:04d}-{month:02d}",
            currency,
            opening,
            draws,
            payments,
            closing,
            minimum_due(closing),
            (end + timedelta(days=DUE_AFTER_DAYS - 1)).date(),
            credit_limit,
            now,
        )

    def to_json(self) -> dict[str, Any]:
        def m(mills: int) -> dict[str, str]:
            return Money(mills, self.currency).to_json()

        return {
            "customer_number": self.customer_number,
            "month": self.month,
            "currency": self.currency,
            "opening_balance": m(self.opening),
            "draws": m(self.draws),
            "payments": m(self.payments),
            "closing_balance": m(self.closing),
            "minimum_due": m(self.minimum_due),
            "due_date": self.due_date.isoformat(),
            "credit_limit": m(self.credit_limit),
            "created_at": _stamp(self.created_at),
        }
