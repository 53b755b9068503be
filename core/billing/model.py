"""Invoices and credit notes: values and pure rules, no I/O.

An invoice is issued once and never changes: its lines, taxes, totals and dates are
fixed when it is numbered. What happens to it afterwards is its status (paid, cancelled,
credited) and, for a correction, a credit note: a document of its own that carries the
same lines negated and names the invoice it corrects.

Amounts: a line's unit price is in mills; the line's net (quantity x unit price) and each
of its taxes are rounded to the cent, half away from zero, line by line
(``round_to_cents``). The invoice's totals are the sums of its lines, so a document's
figures always add up as printed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

import attrs

from postroom.core.contracts.model import add_months
from postroom.core.errors import Conflict, NotFound, ValidationError
from postroom.core.money import Money
from postroom.core.text import check_no_control

#: An invoice is due this many days after it is issued, unless its issuer says otherwise.
DEFAULT_DUE_DAYS = 30
MAX_LINES = 200
MAX_DESCRIPTION = 200
MAX_QUANTITY = 1_000_000
#: The largest unit price a line takes (mills): a million units of the currency.
MAX_UNIT_PRICE = 1_000_000 * 1000
MAX_REASON = 500
MAX_REFERENCE = 120
LANGUAGES = ("en", "fr")
MILLS_PER_CENT = 10

INVOICE_NUMBER = re.compile(r"(INV|CRN)-([0-9]{4})-([0-9]{6})")


class InvoiceKind(StrEnum):
    """What an invoice bills."""

    LEASE = "lease"
    RENTAL = "rental"
    MAINTENANCE = "maintenance"
    SUPPLIES = "supplies"
    ADDON = "addon"
    CREDIT_STATEMENT = "credit_statement"  # the postage line of credit's monthly statement
    OTHER = "other"
    CREDIT_NOTE = "credit_note"  # a correction of an issued invoice


#: What other areas may issue (a credit note is only made by ``credit``).
ISSUABLE_KINDS = frozenset(InvoiceKind) - {InvoiceKind.CREDIT_NOTE}


class InvoiceStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    #: open after its due date: never stored, computed for the day asked about
    OVERDUE = "overdue"
    CANCELLED = "cancelled"
    CREDITED = "credited"


#: The series of gap-free numbers: invoices and credit notes count separately.
class Series(StrEnum):
    INVOICE = "INV"
    CREDIT_NOTE = "CRN"


def format_number(series: Series, year: int, sequence: int) -> str:
    return f"{series.value}-{year:04d}-{sequence:06d}"


def parse_invoice_number(text: object) -> str | None:
    """The number in canonical form, or None when ``text`` cannot be one."""
    clean = text.strip().upper() if isinstance(text, str) else ""
    return clean if INVOICE_NUMBER.fullmatch(clean) else None


# ------------------------------------------------------------------ rounding


def round_to_cents(mills: int | Decimal) -> int:
    """``mills`` rounded to a whole cent, half away from zero (so a credit note is
    exactly the negation of its invoice); returned in mills."""
    magnitude = abs(Decimal(mills))
    cents = int(
        (magnitude / MILLS_PER_CENT + Decimal("0.5")).to_integral_value(rounding="ROUND_FLOOR")
    )
    return (-cents if mills < 0 else cents) * MILLS_PER_CENT


def known_number(text: str) -> str:
    """The number in canonical form; ``invoice_not_found`` when no invoice can have it."""
    clean = parse_invoice_number(text)
    if clean is None:
        raise NotFound(f"no invoice {text!r}", code="invoice_not_found")
    return clean


def owned(found: Invoice | None, customer_number: str, asked: str) -> Invoice:
    """``found`` when it is the customer's; else ``invoice_not_found`` (another
    account's invoice does not exist for this one)."""
    if found is None or found.customer_number != customer_number:
        raise NotFound(f"no invoice {asked!r}", code="invoice_not_found")
    return found


# --------------------------------------------------------------------- taxes


@attrs.frozen
class TaxRate:
    """One tax a line carries: its name as printed (``TVA``, ``GST``) and its rate in
    percent, exact."""

    name: str
    percent: Decimal

    def on(self, net_mills: int) -> int:
        """The tax on a net amount, rounded to the cent."""
        return round_to_cents(Decimal(net_mills) * self.percent / 100)


@attrs.frozen
class TaxAmount:
    name: str
    percent: Decimal
    amount: Money


# --------------------------------------------------------------------- lines


@attrs.frozen
class LineText:
    """What a line says, as a stable code and its parameters, so that it reads in each
    reader's language (``line_text``): ``contract`` (a contract's period),
    ``credit_statement`` (a month's statement), ``catalogue`` (a shop item: its SKU and
    its name in each language, ``name_en``, ``name_fr``), ``addon`` (a meter add-on:
    its name in each language and the meter). The line's stored ``description`` is
    the text in the invoice's language when it was issued."""

    code: str
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, code: str, **params: str) -> LineText:
        return cls(code, tuple(sorted(params.items())))

    def param(self, name: str) -> str:
        return dict(self.params).get(name, "")


@attrs.frozen
class LineItem:
    """What an issuer asks to bill: ``quantity`` x ``unit_price`` for ``description``
    (and, so that it reads in the customer's language, its ``text``). Checked by
    ``check_items``; taxes are added by billing."""

    description: str
    quantity: int
    unit_price: Money
    text: LineText | None = None


@attrs.frozen
class InvoiceLine:
    position: int
    description: str
    quantity: int
    unit_price: Money
    net: Money
    taxes: tuple[TaxAmount, ...]
    text: LineText | None = None

    def describe(self, language: str) -> str:
        """The line in ``language``: from its code when it has one, else as stored
        (invoices issued before lines had codes, an issuer's free text)."""
        if self.text is None:
            return self.description
        return line_text(self.text, language) or self.description

    @property
    def tax(self) -> Money:
        return Money(sum(t.amount.mills for t in self.taxes), self.net.currency)

    @property
    def total(self) -> Money:
        return Money(self.net.mills + sum(t.amount.mills for t in self.taxes), self.net.currency)


def check_items(items: object, currency: str) -> list[LineItem]:
    """The lines of a new invoice, checked: 1 to ``MAX_LINES``, each a description, a
    positive whole quantity and a unit price of at least zero in the invoice's currency."""
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise ValidationError("an invoice has lines", code="invalid_lines")
    found = list(items)
    if not 1 <= len(found) <= MAX_LINES:
        raise ValidationError(f"an invoice has 1 to {MAX_LINES} lines", code="invalid_lines")
    checked = []
    for item in found:
        if not isinstance(item, LineItem):
            raise ValidationError("each line is a LineItem", code="invalid_lines")
        description = (
            " ".join(item.description.split()) if isinstance(item.description, str) else ""
        )
        if not description.isprintable():  # printable text holds no control character
            check_no_control(description, "description")
        if not 1 <= len(description) <= MAX_DESCRIPTION:
            raise ValidationError(
                f"a line's description is 1 to {MAX_DESCRIPTION} characters",
                code="invalid_description",
            )
        quantity = item.quantity
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            raise ValidationError(
                "a quantity is a whole number above zero", code="invalid_quantity"
            )
        if quantity > MAX_QUANTITY:
            raise ValidationError(f"a quantity is at most {MAX_QUANTITY}", code="invalid_quantity")
        price = item.unit_price
        if not isinstance(price, Money) or not 0 <= price.mills <= MAX_UNIT_PRICE:
            raise ValidationError("a unit price is zero or more", code="invalid_unit_price")
        if price.currency != currency:
            raise ValidationError(
                f"the invoice is in {currency}, not {price.currency}", code="currency_mismatch"
            )
        checked.append(LineItem(description, quantity, price, _check_text(item.text)))
    return checked


def _check_text(text: object) -> LineText | None:
    if text is None:
        return None
    if (
        not isinstance(text, LineText)
        or text.code not in LINE_CODES
        or len(text.params) > 10
        or not all(
            isinstance(k, str) and isinstance(v, str) and len(v) <= MAX_DESCRIPTION
            for k, v in text.params
        )
    ):
        raise ValidationError("a line's text is a known code and its values", code="invalid_lines")
    for _, value in text.params:
        check_no_control(value, "description")
    return text


def price_lines(items: Sequence[LineItem], rates: Sequence[TaxRate]) -> tuple[InvoiceLine, ...]:
    """The invoice's lines: each net and each tax rounded to the cent, line by line."""
    lines = []
    for position, item in enumerate(items, start=1):
        currency = item.unit_price.currency
        net = round_to_cents(item.quantity * item.unit_price.mills)
        lines.append(
            InvoiceLine(
                position=position,
                description=item.description,
                quantity=item.quantity,
                unit_price=item.unit_price,
                net=Money(net, currency),
                taxes=tuple(
                    TaxAmount(rate.name, rate.percent, Money(rate.on(net), currency))
                    for rate in rates
                ),
                text=item.text,
            )
        )
    return tuple(lines)


def check_receipt(lines: Sequence[InvoiceLine], currency: str, paid: Money) -> None:
    """An invoice issued paid totals exactly what was paid."""
    total = sum(line.total.mills for line in lines)
    if paid.currency != currency or paid.mills != total:
        raise Conflict(
            f"the sale was paid {paid}, its invoice would total {Money(total, currency)}",
            code="receipt_total_mismatch",
        )


def negated(lines: Sequence[InvoiceLine]) -> tuple[InvoiceLine, ...]:
    """The lines of a credit note for ``lines``: every amount the other way."""
    return tuple(
        attrs.evolve(
            line,
            unit_price=-line.unit_price,
            net=-line.net,
            taxes=tuple(attrs.evolve(t, amount=-t.amount) for t in line.taxes),
        )
        for line in lines
    )


def parse_reason(text: object) -> str:
    clean = " ".join(text.split()) if isinstance(text, str) else ""
    check_no_control(clean, "reason")
    if not 1 <= len(clean) <= MAX_REASON:
        raise ValidationError(
            f"give a reason of 1 to {MAX_REASON} characters", code="invalid_reason"
        )
    return clean


def check_reference(text: object) -> str:
    """An issuer's key for what an invoice bills (``contract:LS-2026-000001:2026-03-01``,
    ``order:…``): the same key again answers the invoice issued for it."""
    clean = text.strip() if isinstance(text, str) else ""
    check_no_control(clean, "reference")
    if not 1 <= len(clean) <= MAX_REFERENCE:
        raise ValidationError(
            f"an invoice's reference is 1 to {MAX_REFERENCE} characters", code="invalid_reference"
        )
    return clean


def parse_kind(text: object) -> InvoiceKind:
    clean = text.strip().lower() if isinstance(text, str) else ""
    if clean not in {k.value for k in ISSUABLE_KINDS}:
        known = ", ".join(sorted(k.value for k in ISSUABLE_KINDS))
        raise ValidationError(f"an invoice's kind is one of {known}", code="invalid_kind")
    return InvoiceKind(clean)


def parse_status(text: object) -> InvoiceStatus:
    clean = text.strip().lower() if isinstance(text, str) else ""
    try:
        return InvoiceStatus(clean)
    except ValueError:
        known = ", ".join(s.value for s in InvoiceStatus)
        raise ValidationError(f"a status is one of {known}", code="invalid_status") from None


def parse_language(text: object) -> str:
    clean = text.strip().lower() if isinstance(text, str) else ""
    if clean not in LANGUAGES:
        raise ValidationError("the language is en or fr", code="invalid_language")
    return clean


# ------------------------------------------------------------------ invoices


@attrs.frozen
class Party:
    """Who an invoice is from or to, as printed on it."""

    name: str
    address: tuple[str, ...] = ()
    tax_id: str = ""


@attrs.define
class Invoice:
    """An issued invoice or credit note. Everything but ``status``, ``paid_at`` and
    ``payment_id`` is fixed when it is issued."""

    id: int
    number: str
    kind: InvoiceKind
    customer_number: str
    customer: Party
    seller: Party
    currency: str
    issued_on: date
    due_on: date
    lines: tuple[InvoiceLine, ...]
    #: the issuer's key (unique per customer): the same request answers this invoice
    reference: str
    #: the 11-digit installation account number of the equipment billed, when one is
    installation_number: str | None
    language: str
    created_at: datetime
    status: InvoiceStatus = InvoiceStatus.OPEN
    #: a credit note: the invoice it corrects; an invoice: its credit note
    related_number: str | None = None
    reason: str = ""
    payment_id: str | None = None
    paid_at: datetime | None = None

    @property
    def net(self) -> Money:
        return Money(sum(line.net.mills for line in self.lines), self.currency)

    @property
    def tax(self) -> Money:
        return Money(sum(t.amount.mills for line in self.lines for t in line.taxes), self.currency)

    @property
    def total(self) -> Money:
        return Money(self.net.mills + self.tax.mills, self.currency)

    @property
    def is_credit_note(self) -> bool:
        return self.kind is InvoiceKind.CREDIT_NOTE

    def tax_summary(self) -> list[TaxAmount]:
        """Each tax (name and rate) with its sum over the lines, in the lines' order."""
        sums: dict[tuple[str, Decimal], int] = {}
        for line in self.lines:
            for tax in line.taxes:
                key = (tax.name, tax.percent)
                sums[key] = sums.get(key, 0) + tax.amount.mills
        return [TaxAmount(n, p, Money(m, self.currency)) for (n, p), m in sums.items()]

    def status_on(self, day: date) -> InvoiceStatus:
        """The status for ``day``: an open invoice past its due date is overdue."""
        if self.status is InvoiceStatus.OPEN and day > self.due_on:
            return InvoiceStatus.OVERDUE
        return self.status

    @property
    def payable(self) -> bool:
        """Whether the customer still owes it (open or overdue, not a credit note)."""
        return self.status is InvoiceStatus.OPEN and not self.is_credit_note


def due_date(issued_on: date, due_days: int | None) -> date:
    days = DEFAULT_DUE_DAYS if due_days is None else due_days
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 365:
        raise ValidationError(
            "an invoice is due 0 to 365 days after it is issued", code="invalid_due_days"
        )
    return issued_on + timedelta(days=days)


# ------------------------------------------------------------------ contracts

#: Months in each contract billing period.
PERIOD_MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}

_CONTRACT_KIND_NAMES = {
    "lease": {"en": "Lease", "fr": "Location-bail"},
    "rental": {"en": "Rental", "fr": "Location"},
    "maintenance": {"en": "Maintenance", "fr": "Maintenance"},
}


@functools.lru_cache(maxsize=4096)  # contracts start on few days: a run asks again and again
def contract_period(start: date, months: int, day: date) -> tuple[date, date]:
    """The billing period of a contract started on ``start`` that ``day`` falls in:
    periods of ``months`` months from the start, both ends included."""
    elapsed = (day.year - start.year) * 12 + day.month - start.month
    index = max(0, elapsed // months)
    while index > 0 and add_months(start, index * months) > day:
        index -= 1
    first = add_months(start, index * months)
    return first, add_months(start, (index + 1) * months) - timedelta(days=1)


def contract_line(
    kind: str,
    serial: str,
    product_code: str,
    contract_number: str,
    period: tuple[date, date],
    language: str,
) -> str:
    """A contract period's line, in the customer's language."""
    name = _CONTRACT_KIND_NAMES.get(kind, {"en": kind, "fr": kind})[language]
    first, last = period
    if language == "fr":
        return (
            f"{name} du compteur {serial} ({product_code}), contrat {contract_number}, "
            f"du {first:%d/%m/%Y} au {last:%d/%m/%Y}"
        )
    return (
        f"{name} of meter {serial} ({product_code}), contract {contract_number}, "
        f"{first.isoformat()} to {last.isoformat()}"
    )


def contract_text(
    kind: str, serial: str, product_code: str, contract_number: str, period: tuple[date, date]
) -> LineText:
    """A contract period's line as a code (``contract_line`` in each language)."""
    first, last = period
    return LineText(
        "contract",
        (
            ("contract", contract_number),
            ("first", first.isoformat()),
            ("kind", kind),
            ("last", last.isoformat()),
            ("product", product_code),
            ("serial", serial),
        ),
    )


def statement_text(month: str) -> LineText:
    return LineText("credit_statement", (("month", month),))


def line_text(text: LineText, language: str) -> str | None:
    """The text of a coded line in ``language`` (None for a code this version does not
    know, or parameters it cannot read: the stored description is shown then)."""
    lang = language if language in LANGUAGES else "en"
    p = dict(text.params)
    try:
        if text.code == "contract":
            period = (date.fromisoformat(p["first"]), date.fromisoformat(p["last"]))
            return contract_line(p["kind"], p["serial"], p["product"], p["contract"], period, lang)
        if text.code == "credit_statement":
            return statement_line(p["month"], lang)
        if text.code == "catalogue":
            return f"{p['sku']} {p.get('name_' + lang) or p['name_en']}"
        if text.code == "addon":
            return f"{p.get('name_' + lang) or p['name_en']} ({p['meter']})"
    except (KeyError, ValueError):
        return None
    return None


#: The codes ``line_text`` renders.
LINE_CODES = frozenset({"contract", "credit_statement", "catalogue", "addon"})


#: A line's taxes, flat: (name as printed, percent, amount in mills).
FlatTaxes = tuple[tuple[str, Decimal, int], ...]
#: One unit priced: its net, its taxes and their sum, in mills.
PricedUnit = tuple[int, FlatTaxes, int]


def check_description(description: str) -> None:
    """What ``check_items`` asks of a line's description, for a text made by billing."""
    if not description.isprintable():  # printable text holds no control character
        check_no_control(description, "description")
    if not 1 <= len(description) <= MAX_DESCRIPTION:
        raise ValidationError(
            f"a line's description is 1 to {MAX_DESCRIPTION} characters",
            code="invalid_description",
        )


def price_one(unit_price_mills: int, rates: Sequence[TaxRate]) -> PricedUnit:
    """One unit at ``unit_price_mills``: its net, its taxes and their sum, rounded as
    ``price_lines`` rounds them (a billing run prices each contract amount once)."""
    net = round_to_cents(unit_price_mills)
    taxes = tuple((rate.name, rate.percent, rate.on(net)) for rate in rates)
    return net, taxes, sum(t[2] for t in taxes)


class OneLineInvoice(NamedTuple):
    """A new invoice of one unit on one line, as the billing run issues it: flat
    values, no ``Invoice``, ``InvoiceLine`` or ``Money`` each (a run issues a hundred
    thousand). The seller and the moment of issue are the run's, the same for all;
    ``invoice`` builds the full document when one is needed (a paperless email)."""

    number: str
    kind: str
    customer_number: str
    customer_name: str
    customer_address: tuple[str, ...]
    currency: str
    issued_on: date
    due_on: date
    reference: str
    installation_number: str | None
    language: str
    description: str
    unit_price_mills: int
    net_mills: int
    taxes: FlatTaxes
    tax_mills: int
    text: LineText | None = None

    def invoice(self, seller: Party, created_at: datetime) -> Invoice:
        money = functools.partial(Money, currency=self.currency)
        return Invoice(
            id=0,
            number=self.number,
            kind=InvoiceKind(self.kind),
            customer_number=self.customer_number,
            customer=Party(self.customer_name, self.customer_address),
            seller=seller,
            currency=self.currency,
            issued_on=self.issued_on,
            due_on=self.due_on,
            lines=(
                InvoiceLine(
                    position=1,
                    description=self.description,
                    quantity=1,
                    unit_price=money(self.unit_price_mills),
                    net=money(self.net_mills),
                    taxes=tuple(TaxAmount(n, p, money(m)) for n, p, m in self.taxes),
                    text=self.text,
                ),
            ),
            reference=self.reference,
            installation_number=self.installation_number,
            language=self.language,
            created_at=created_at,
        )


def statement_line(month: str, language: str) -> str:
    if language == "fr":
        return f"Ligne de crédit d'affranchissement, relevé {month}"
    return f"Postage line of credit, statement {month}"


# ------------------------------------------------------------------ profile


@attrs.frozen
class BillingProfile:
    """How a customer account is billed: the region whose taxes apply (a US state or
    Canadian province), the language of its documents, paperless billing (an email
    with the PDF for each new invoice), and the payment instrument invoices are debited
    from on their due date (automatic debit; None: the customer pays each one)."""

    customer_number: str
    region: str | None = None
    language: str = "en"
    paperless: bool = False
    auto_debit_instrument: str | None = None
    billing_address: tuple[str, ...] = ()


#: The language of the documents of an account whose billing profile says none yet,
#: by its country; the others' are in English.
COUNTRY_LANGUAGES = {"FR": "fr"}


def default_profile(customer_number: str, country: str) -> BillingProfile:
    """An account's billing before anybody set it: documents in its country's language
    (French in France), on paper, without automatic debit."""
    return BillingProfile(customer_number, language=COUNTRY_LANGUAGES.get(country, "en"))


def parse_region(text: object) -> str | None:
    if text is None:
        return None
    clean = text.strip().upper() if isinstance(text, str) else "?"
    if clean == "":
        return None
    if not re.fullmatch(r"[A-Z]{2}", clean):
        raise ValidationError(
            "a region is a two-letter state or province code", code="invalid_region"
        )
    return clean


# ------------------------------------------------------------------ payments


@attrs.frozen
class InvoicePayment:
    """One attempt to pay an invoice, as billing recorded it: ``started`` until the
    payment source answered, then the funding payment's status (``pending``,
    ``settled``, ``failed``, ``returned``)."""

    invoice_number: str
    customer_number: str
    key: str
    payment_id: str | None
    amount: Money
    via: str
    status: str
    created_at: datetime
    updated_at: datetime

    @property
    def active(self) -> bool:
        """Started, or collected (pending or settled): the invoice is being paid."""
        return self.status in ACTIVE_ATTEMPTS


ACTIVE_ATTEMPTS = ("started", "pending", "settled")


# ------------------------------------------------------------- account status


@attrs.frozen
class AccountStatement:
    """Where a customer account stands on ``day``: what it owes (open and overdue
    invoices less any open credit), and the invoices of the period asked about."""

    customer_number: str
    currency: str
    day: date
    balance_due: Money
    overdue: Money
    invoices: tuple[Invoice, ...]


@attrs.frozen
class UnpaidInvoice:
    """An unpaid invoice or credit note as a summary lists it: no lines, no parties."""

    number: str
    total: Money
    due_on: date
    is_credit_note: bool

    def status_on(self, day: date) -> InvoiceStatus:
        """Open, or overdue once ``day`` is past its due date."""
        return InvoiceStatus.OVERDUE if day > self.due_on else InvoiceStatus.OPEN

    @property
    def payable(self) -> bool:
        return not self.is_credit_note


@attrs.frozen
class AmountsOwed:
    """What a customer account owes on ``day`` and the unpaid invoices first due (the
    dashboard's card; ``AccountStatement`` is the full statement)."""

    day: date
    balance_due: Money
    overdue: Money
    invoices: tuple[UnpaidInvoice, ...]


def amounts_owed(
    currency: str, day: date, owing: Sequence[UnpaidInvoice], *, latest: int
) -> AmountsOwed:
    """``owing`` are all the account's unpaid invoices, oldest due first; the first
    ``latest`` are listed."""
    due = sum(i.total.mills for i in owing if i.payable)
    overdue = sum(
        i.total.mills for i in owing if i.payable and i.status_on(day) is InvoiceStatus.OVERDUE
    )
    return AmountsOwed(day, Money(due, currency), Money(overdue, currency), tuple(owing[:latest]))


def account_statement(
    customer_number: str,
    currency: str,
    day: date,
    invoices: Sequence[Invoice],
    owing: Sequence[Invoice],
) -> AccountStatement:
    """``owing`` are the account's unpaid invoices; ``invoices`` the ones listed."""
    due = sum(i.total.mills for i in owing if i.payable)
    overdue = sum(
        i.total.mills for i in owing if i.payable and i.status_on(day) is InvoiceStatus.OVERDUE
    )
    return AccountStatement(
        customer_number,
        currency,
        day,
        Money(due, currency),
        Money(overdue, currency),
        tuple(invoices),
    )
