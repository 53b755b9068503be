"""What the billing area offers other areas, and what it needs from them, as Protocols.

``Invoicing`` is billing's side for issuers (the shop, meter add-ons): the composition
root hands ``pr.billing`` to them as that Protocol, so they never import billing's
service. The others are the parts of other areas' services billing calls
(``pr.accounts``, ``pr.contracts``, ``pr.meters``, ``pr.funding``, ``pr.outbox``),
narrowed so that the use cases run on fakes (tests/unit/billing_fakes.py).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from typing import Protocol, TypeVar

from sqlalchemy.engine import Connection

from postroom.core.accounts.model import CustomerAccount
from postroom.core.billing.model import Invoice, LineItem
from postroom.core.contracts.model import BillableContract
from postroom.core.funding.model import Instrument, Payment, Statement
from postroom.core.money import Money
from postroom.core.ports import Attachment, PaymentSource, Translation

T = TypeVar("T")


class Invoicing(Protocol):
    """Billing as an issuer sees it (``pr.billing``).

    ``kind`` is one of ``model.ISSUABLE_KINDS`` (``supplies``, ``addon``...);
    ``reference`` is the issuer's key for what is billed (``order:SO-2026-000123``): the
    same customer and reference again answers the invoice issued the first time, never a
    second one. Lines are ``LineItem(description, quantity, unit_price)`` in the account's
    currency; billing adds the taxes of the customer's country and region, numbers the
    invoice (``INV-YYYY-NNNNNN``) and tells the customer. Errors: ``ValidationError``
    (``invalid_quantity``, ``invalid_unit_price``, ``currency_mismatch``,
    ``billing_region_required``...), ``NotFound`` (``account_not_found``).
    """

    def issue_invoice(
        self,
        customer_number: str,
        lines: Sequence[LineItem],
        *,
        kind: str,
        reference: str,
        due_days: int | None = None,
        installation_number: str | None = None,
    ) -> Invoice: ...

    def issue_invoice_in(
        self,
        session: Session,
        customer_number: str,
        lines: Sequence[LineItem],
        *,
        kind: str,
        reference: str,
        due_days: int | None = None,
        installation_number: str | None = None,
    ) -> Invoice:
        """``issue_invoice`` inside the caller's unit of work (the issuer's order and its
        invoice commit together); the caller commits. The customer's email goes out with
        the next outbox delivery."""
        ...

    def get(self, customer_number: str, number: str) -> Invoice:
        """The customer's invoice; another account's is ``invoice_not_found``."""
        ...


class Session(Protocol):
    @property
    def connection(self) -> Connection: ...

    def commit(self) -> None: ...


class Transactions(Protocol):
    """``Database.run``: ``work`` in one transaction, rolled back unless it commits."""

    def run(self, work: Callable[[Session], T], *, readonly: bool = False) -> T: ...


class CustomerAccounts(Protocol):
    def get(self, number: str) -> CustomerAccount: ...

    def many(self, numbers: Iterable[str]) -> dict[str, CustomerAccount]:
        """The accounts of ``numbers`` by number (unknown ones left out), in one read."""
        ...


class Contracts(Protocol):
    def billable_on(self, day: date) -> builtins.list[BillableContract]:
        """Every contract running on ``day`` (not cancelled, started, not ended)."""
        ...


class InstallationNumbers(Protocol):
    def installation_numbers(self, customer_number: str | None = None) -> dict[str, str]:
        """Serial -> the 11-digit installation account number of each registered meter
        (of one customer when given)."""
        ...


class Payments(Protocol):
    """The funding area's collection path: the only way billing takes money."""

    def pay_invoice(
        self,
        customer_number: str,
        instrument_id: str,
        amount: Money,
        idempotency_key: str,
    ) -> Payment: ...

    def pay_credit_line(
        self, customer_number: str, instrument_id: str, amount: Money, idempotency_key: str
    ) -> Payment: ...

    def payment(self, customer_number: str, payment_id: str) -> Payment: ...

    def instruments(self, customer_number: str) -> builtins.list[Instrument]: ...

    def source(self, code: str) -> PaymentSource: ...


class BankAccounts(Protocol):
    """The funding area's vault, for the bank accounts that mandates debit: added and
    removed inside billing's unit of work, so that an instrument and its mandate (and
    the automatic-debit choice) commit together or not at all."""

    def add_instrument_in(
        self,
        session: Session,
        customer_number: str,
        source_code: str,
        fields: Mapping[str, str],
    ) -> Instrument:
        """Validate ``fields`` with the source (``invalid_iban``,
        ``invalid_routing_number``...) and store the customer's instrument; the caller
        commits."""
        ...

    def remove_instrument_in(
        self, session: Session, customer_number: str, instrument_id: str
    ) -> Instrument:
        """Stop using the instrument (``instrument_in_use`` while auto-refill uses it)."""
        ...


class CreditStatements(Protocol):
    def statements_of_month(self, month: str | None = None) -> builtins.list[Statement]:
        """Every credit line's statement of ``month`` (YYYY-MM), produced if needed."""
        ...


class CustomerMessages(Protocol):
    def add_for_customer(
        self,
        connection: Connection,
        customer_number: str,
        kind: str,
        subject: str,
        body: str,
        data: Mapping[str, str],
        *,
        language: str = "en",
        translations: Mapping[str, Translation] | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> str: ...

    def deliver(self, message_ids: Iterable[str]) -> int: ...
