"""Equipment contracts and installation addresses: values and pure rules, no I/O.

A contract (lease, rental or maintenance) binds one customer account and one piece of
equipment (a meter's serial and product code) for terms of ``term_months`` months from
``start``. A contract that renews automatically runs term after term until it is
cancelled; any other ends with its first term. Which term a day falls in, the end, the
renewal date and the status are all computed from the stored facts and the day asked
about, so nothing has to be rewritten when a term rolls over.
"""

from __future__ import annotations

import calendar
import re
import secrets
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

import attrs

from postroom.core.accounts.model import parse_country
from postroom.core.errors import ValidationError
from postroom.core.money import Money
from postroom.core.text import check_no_control

#: The renewal reminder goes out this many days before a term's end.
REMINDER_DAYS = 60
MAX_TERM_MONTHS = 120
MAX_NOTICE_DAYS = 365
MAX_REASON = 500
MAX_ADDRESS_LINE = 100
MAX_CITY = 80
MAX_POSTAL_CODE = 12
MAX_REQUESTED_BY = 200
#: How far ahead a move may be announced (a request further out is a typo).
MAX_MOVE_AHEAD = timedelta(days=366)


class ContractKind(StrEnum):
    LEASE = "lease"
    RENTAL = "rental"
    MAINTENANCE = "maintenance"


#: The readable prefix of a contract number, by kind.
NUMBER_PREFIX = {
    ContractKind.LEASE: "LS",
    ContractKind.RENTAL: "RT",
    ContractKind.MAINTENANCE: "MT",
}
_NUMBER_RE = re.compile(r"(LS|RT|MT)-[0-9]{4}-[0-9]{6}")


class ContractStatus(StrEnum):
    ACTIVE = "active"
    #: within REMINDER_DAYS of an end that will not renew by itself
    EXPIRING = "expiring"
    ENDED = "ended"
    CANCELLED = "cancelled"


class BillingPeriod(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"


# ------------------------------------------------------------------ parsers


def _choice(enum: type[StrEnum], text: object, code: str, what: str) -> str:
    clean = text.strip().lower() if isinstance(text, str) else ""
    known = [member.value for member in enum]
    if clean not in known:
        raise ValidationError(f"{what} is one of {', '.join(known)}", code=code)
    return clean


def parse_kind(text: object) -> ContractKind:
    return ContractKind(_choice(ContractKind, text, "invalid_contract_kind", "a contract kind"))


def parse_billing_period(text: object) -> BillingPeriod:
    return BillingPeriod(_choice(BillingPeriod, text, "invalid_billing_period", "a billing period"))


def parse_contract_number(text: object) -> str:
    clean = text.strip().upper() if isinstance(text, str) else ""
    if not _NUMBER_RE.fullmatch(clean):
        raise ValidationError(
            "a contract number looks like LS-2026-123456", code="invalid_contract_number"
        )
    return clean


def new_contract_number(kind: ContractKind, start: date) -> str:
    return f"{NUMBER_PREFIX[kind]}-{start.year:04d}-{secrets.randbelow(10**6):06d}"


def check_term_months(months: object) -> int:
    if isinstance(months, bool) or not isinstance(months, int):
        raise ValidationError("a term is a whole number of months", code="invalid_term")
    if not 1 <= months <= MAX_TERM_MONTHS:
        raise ValidationError(f"a term is 1 to {MAX_TERM_MONTHS} months", code="invalid_term")
    return months


def check_notice_days(days: object) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_NOTICE_DAYS:
        raise ValidationError(
            f"a notice period is 0 to {MAX_NOTICE_DAYS} days", code="invalid_notice_period"
        )
    return days


def check_amount(amount: object) -> Money:
    if not isinstance(amount, Money) or amount.mills <= 0:
        raise ValidationError("a contract's amount is more than zero", code="invalid_amount")
    return amount


def parse_reason(text: object) -> str:
    clean = " ".join(text.split()) if isinstance(text, str) else ""
    check_no_control(clean, "reason")
    if not clean or len(clean) > MAX_REASON:
        raise ValidationError(
            f"give a reason of 1 to {MAX_REASON} characters", code="invalid_reason"
        )
    return clean


def add_months(day: date, months: int) -> date:
    """``day`` moved by ``months`` calendar months; the 31st becomes the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# ---------------------------------------------------------------- contracts


@attrs.frozen
class Terms:
    """What the customer pays, how often, and how early notice must be given."""

    billing_period: BillingPeriod
    #: per billing period
    amount: Money
    notice_days: int


@attrs.frozen
class Term:
    """One term of a contract: ``start`` to ``end``, both days included."""

    number: int
    start: date
    end: date


class BillableContract(NamedTuple):
    """A running contract as the billing run reads it: the columns its invoice needs and
    nothing more (a run reads a hundred thousand of them; a ``Contract`` with its
    ``Terms`` and ``Money`` each would cost more than the invoice)."""

    number: str
    customer_number: str
    serial: str
    product_code: str
    kind: str
    start: date
    billing_period: str
    amount_mills: int
    currency: str


@attrs.define
class Contract:
    id: int
    number: str
    customer_number: str
    serial: str
    product_code: str
    kind: ContractKind
    start: date
    term_months: int
    terms: Terms
    auto_renew: bool
    created_at: datetime
    cancelled_at: datetime | None = None
    cancel_reason: str = ""

    def term(self, number: int) -> Term:
        first = add_months(self.start, self.term_months * (number - 1))
        after = add_months(self.start, self.term_months * number)
        return Term(number, first, after - timedelta(days=1))

    @property
    def first_term(self) -> Term:
        return self.term(1)

    def term_on(self, day: date) -> Term:
        """The term ``day`` falls in: the first before the start, the last one when a
        contract that does not renew has ended."""
        if not self.auto_renew or day <= self.first_term.end:
            return self.first_term
        months = (day.year - self.start.year) * 12 + day.month - self.start.month
        number = max(1, months // self.term_months)  # at most one term short
        while self.term(number).end < day:
            number += 1
        return self.term(number)

    def billable(self) -> BillableContract:
        return BillableContract(
            self.number,
            self.customer_number,
            self.serial,
            self.product_code,
            self.kind.value,
            self.start,
            self.terms.billing_period.value,
            self.terms.amount.mills,
            self.terms.amount.currency,
        )

    @property
    def cancelled(self) -> bool:
        return self.cancelled_at is not None

    def status_on(self, day: date) -> ContractStatus:
        if self.cancelled:
            return ContractStatus.CANCELLED
        term = self.term_on(day)
        if self.auto_renew:
            return ContractStatus.ACTIVE
        if day > term.end:
            return ContractStatus.ENDED
        if day >= term.end - timedelta(days=REMINDER_DAYS):
            return ContractStatus.EXPIRING
        return ContractStatus.ACTIVE

    def renewal_date(self, day: date) -> date | None:
        """The first day of the next term (renewed by itself or by the customer), while
        the contract runs; None once it ended or was cancelled."""
        if self.status_on(day) in (ContractStatus.ENDED, ContractStatus.CANCELLED):
            return None
        return self.term_on(day).end + timedelta(days=1)

    def notice_deadline(self, day: date) -> date:
        """The last day to give notice before the current term's end."""
        return self.term_on(day).end - timedelta(days=self.terms.notice_days)

    def reminder_due(self, day: date) -> Term | None:
        """The term whose renewal reminder is due on ``day`` (in its last REMINDER_DAYS
        days), or None."""
        if self.cancelled or day < self.start:
            return None
        term = self.term_on(day)
        if term.end - timedelta(days=REMINDER_DAYS) <= day <= term.end:
            return term
        return None


# --------------------------------------------------------- installation address


@attrs.frozen
class InstallationAddress:
    """Where a piece of equipment stands."""

    line1: str
    line2: str
    postal_code: str
    city: str
    country: str

    def lines(self) -> list[str]:
        return [
            line
            for line in (self.line1, self.line2, f"{self.postal_code} {self.city}".strip())
            if line
        ] + [self.country]


def _text(value: object, field: str, label: str, limit: int, *, required: bool) -> str:
    """One line of text: spaces folded, no control character, within ``limit``;
    errors are ``invalid_<field>``."""
    clean = " ".join(value.split()) if isinstance(value, str) else ""
    check_no_control(clean, field)
    if (required and not clean) or len(clean) > limit:
        need = f"1 to {limit}" if required else f"at most {limit}"
        raise ValidationError(f"the {label} is {need} characters", code=f"invalid_{field}")
    return clean


def parse_address(
    line1: object, line2: object, postal_code: object, city: object, country: object
) -> InstallationAddress:
    clean_postal = _text(postal_code, "postal_code", "postal code", MAX_POSTAL_CODE, required=True)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 -]*", clean_postal):
        raise ValidationError(
            "a postal code is letters, digits, spaces and dashes", code="invalid_postal_code"
        )
    return InstallationAddress(
        line1=_text(line1, "address_line1", "address", MAX_ADDRESS_LINE, required=True),
        line2=_text(
            line2, "address_line2", "second address line", MAX_ADDRESS_LINE, required=False
        ),
        postal_code=clean_postal.upper(),
        city=_text(city, "city", "city", MAX_CITY, required=True),
        country=parse_country(country if isinstance(country, str) else ""),
    )


def parse_requested_by(text: object) -> str:
    return _text(text, "requested_by", "requester's name", MAX_REQUESTED_BY, required=True)


def check_move_date(move_on: object, today: date) -> date:
    if not isinstance(move_on, date) or isinstance(move_on, datetime):
        raise ValidationError("the moving date is a date", code="invalid_move_date")
    if move_on < today:
        raise ValidationError("the moving date is today or later", code="invalid_move_date")
    if move_on > today + MAX_MOVE_AHEAD:
        raise ValidationError("the moving date is at most a year ahead", code="invalid_move_date")
    return move_on


class AddressRequestStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    REJECTED = "rejected"


@attrs.frozen
class AddressChange:
    """A customer's request to move a piece of equipment, as handed to support."""

    customer_number: str
    serial: str
    address: InstallationAddress
    move_on: date
    requested_by: str
    requested_at: datetime


@attrs.frozen
class AddressRequest:
    """An address change kept for staff (the default hand-over): its reference and
    where it stands."""

    reference: str
    change: AddressChange
    status: AddressRequestStatus
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    note: str = ""


def new_request_reference(today: date) -> str:
    return f"AR-{today.year:04d}-{secrets.randbelow(10**6):06d}"


# ------------------------------------------------------------------ products


@attrs.frozen
class Product:
    """A piece of equipment of a customer: what the meter registry knows of it, where it
    stands, and its contracts."""

    serial: str
    product_code: str
    model: str
    status: str
    registered_at: datetime
    installation_number: str | None
    address: InstallationAddress | None
    contracts: tuple[Contract, ...] = ()
    open_request: AddressRequest | None = None


@attrs.frozen
class RegisteredProduct:
    """A product registered now: ``meter_key`` (the meter's own API key) is shown once."""

    product: Product
    meter_key: str = attrs.field(repr=False)
