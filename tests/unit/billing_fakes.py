"""In-memory fakes of what the billing use cases depend on: the repository, the
transactions (rolled back unless committed), the accounts, the contracts, the meters'
installation numbers, the funding area's payments and the customer messages. No I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import attrs
from fakes_transactions import StateDatabase

from postroom.core.accounts.model import AccountStatus, CustomerAccount
from postroom.core.billing.mandate import DebitMandate
from postroom.core.billing.model import (
    BillingProfile,
    Invoice,
    InvoiceKind,
    InvoicePayment,
    InvoiceStatus,
    OneLineInvoice,
    Party,
    Series,
    UnpaidInvoice,
)
from postroom.core.contracts.model import BillableContract, Contract
from postroom.core.errors import NotFound, ValidationError
from postroom.core.funding.model import Instrument, Payment, Statement
from postroom.core.funding.sources import PaymentDeclined
from postroom.core.money import Money
from postroom.core.ports import Attachment, PaymentStatus, Translation


@attrs.define
class State:
    """Everything the fakes keep; copied at the start of a transaction, restored on
    rollback."""

    invoices: dict[str, Invoice] = attrs.field(factory=dict)
    sequences: dict[tuple[str, int], int] = attrs.field(factory=dict)
    profiles: dict[str, BillingProfile] = attrs.field(factory=dict)
    payments: list[tuple[int, InvoicePayment]] = attrs.field(factory=list)
    debits: set[int] = attrs.field(factory=set)
    messages: list[dict[str, Any]] = attrs.field(factory=list)
    mandates: dict[str, DebitMandate] = attrs.field(factory=dict)
    #: the vault's bank accounts (FakeBankAccounts), in the same transaction as billing
    bank_accounts: dict[str, Instrument] = attrs.field(factory=dict)


class FakeDatabase(StateDatabase[State]):
    def __init__(self) -> None:
        super().__init__(State())


@attrs.define
class FakeBilling:
    """``BillingRepository`` on the fake database's state."""

    db: FakeDatabase

    @property
    def _s(self) -> State:
        return self.db.state

    def next_numbers(self, series: Series, year: int, count: int) -> int:
        last = self._s.sequences.get((series.value, year), 0)
        self._s.sequences[(series.value, year)] = last + count
        return last + 1

    def add(self, invoice: Invoice) -> Invoice:
        assert invoice.number not in self._s.invoices
        assert self.by_reference(invoice.customer_number, invoice.reference) is None
        stored = attrs.evolve(invoice, id=len(self._s.invoices) + 1)
        self._s.invoices[stored.number] = stored
        return stored

    def add_one_line(
        self, new: Sequence[OneLineInvoice], seller: Party, created_at: datetime
    ) -> None:
        for row in new:
            self.add(row.invoice(seller, created_at))

    def get(self, number: str) -> Invoice | None:
        return self._s.invoices.get(number)

    def by_reference(self, customer_number: str, reference: str) -> Invoice | None:
        for invoice in self._s.invoices.values():
            if invoice.customer_number == customer_number and invoice.reference == reference:
                return invoice
        return None

    def references_taken(self, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        have = {(i.customer_number, i.reference) for i in self._s.invoices.values()}
        return have & set(pairs)

    def contract_references_since(self, since: date) -> set[tuple[str, str]]:
        return {
            (i.customer_number, i.reference)
            for i in self._s.invoices.values()
            if i.issued_on >= since and i.reference.startswith("contract:")
        }

    def listed(
        self,
        customer_number: str,
        *,
        statuses: Iterable[InvoiceStatus] | None = None,
        since: date | None = None,
        until: date | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Invoice]:
        wanted = None if statuses is None else set(statuses)
        found = [
            i
            for i in self._s.invoices.values()
            if i.customer_number == customer_number
            and (wanted is None or i.status in wanted)
            and (since is None or i.issued_on >= since)
            and (until is None or i.issued_on <= until)
        ]
        found.sort(key=lambda i: (i.issued_on, i.id), reverse=True)
        return found[offset : offset + limit]

    def unpaid(self, customer_number: str) -> list[Invoice]:
        return sorted(
            (
                i
                for i in self._s.invoices.values()
                if i.customer_number == customer_number and i.status is InvoiceStatus.OPEN
            ),
            key=lambda i: (i.due_on, i.id),
        )

    def unpaid_summaries(self, customer_number: str) -> list[UnpaidInvoice]:
        return [
            UnpaidInvoice(i.number, i.total, i.due_on, i.is_credit_note)
            for i in self.unpaid(customer_number)
        ]

    def set_status(self, invoice_id: int, status: InvoiceStatus, **changes: Any) -> None:
        for number, invoice in self._s.invoices.items():
            if invoice.id == invoice_id:
                self._s.invoices[number] = attrs.evolve(invoice, status=status, **changes)

    def due_for_debit(self, day: date) -> list[Invoice]:
        return [
            i
            for i in self._s.invoices.values()
            if i.status is InvoiceStatus.OPEN
            and i.due_on <= day
            and i.id not in self._s.debits
            and i.kind is not InvoiceKind.CREDIT_NOTE
        ]

    def claim_debit(self, invoice_id: int, at: datetime) -> bool:
        if invoice_id in self._s.debits:
            return False
        self._s.debits.add(invoice_id)
        return True

    def profile(self, customer_number: str) -> BillingProfile | None:
        return self._s.profiles.get(customer_number)

    def profiles(self, numbers: Iterable[str]) -> dict[str, BillingProfile]:
        return {n: self._s.profiles[n] for n in numbers if n in self._s.profiles}

    def save_profile(self, profile: BillingProfile, at: datetime) -> None:
        self._s.profiles[profile.customer_number] = profile

    def add_payment(self, payment: InvoicePayment, invoice_id: int) -> None:
        assert all(p.key != payment.key for _, p in self._s.payments)
        self._s.payments.append((invoice_id, payment))

    def update_payment(
        self, key: str, status: str, at: datetime, payment_id: str | None = None
    ) -> None:
        def changed(p: InvoicePayment) -> InvoicePayment:
            return attrs.evolve(
                p, status=status, updated_at=at, payment_id=payment_id or p.payment_id
            )

        self._s.payments = [(i, changed(p) if p.key == key else p) for i, p in self._s.payments]

    def attempts(self, invoice_id: int) -> list[InvoicePayment]:
        return [p for i, p in reversed(self._s.payments) if i == invoice_id]

    def attempt_of_payment(self, payment_id: str) -> InvoicePayment | None:
        for _, p in self._s.payments:
            if p.payment_id == payment_id:
                return p
        return None

    def payments(self, customer_number: str, *, limit: int = 100) -> list[InvoicePayment]:
        found = [p for _, p in self._s.payments if p.customer_number == customer_number]
        return list(reversed(found))[:limit]

    def add_mandate(self, mandate: DebitMandate) -> None:
        assert mandate.reference not in self._s.mandates
        self._s.mandates[mandate.reference] = mandate

    def mandate(self, reference: str) -> DebitMandate | None:
        return self._s.mandates.get(reference)

    def mandates(self, customer_number: str) -> list[DebitMandate]:
        found = [m for m in self._s.mandates.values() if m.customer_number == customer_number]
        return sorted(found, key=lambda m: m.signed_at, reverse=True)

    def revoke_mandate(self, reference: str, at: datetime, by: str) -> None:
        found = self._s.mandates[reference]
        if found.revoked_at is None:
            self._s.mandates[reference] = attrs.evolve(found, revoked_at=at, revoked_by=by)


@attrs.define
class FakeBankAccounts:
    """The vault's bank accounts in the fake database's transaction: an IBAN or routing
    number ending in 0 is refused, as a payment source refuses a bad check digit."""

    db: FakeDatabase
    clock: Any

    def add_instrument_in(
        self, session: Any, customer_number: str, source_code: str, fields: Mapping[str, str]
    ) -> Instrument:
        number = fields.get("iban") or fields.get("routing_number") or ""
        if number.endswith("0"):
            code = "invalid_iban" if source_code == "sepa-debit" else "invalid_routing_number"
            raise ValidationError("refused", code=code)
        details = {k: v for k, v in fields.items() if v}
        instrument = Instrument(
            id=f"pi_{len(self.db.state.bank_accounts) + 1:020d}",
            customer_number=customer_number,
            source=source_code,
            label=source_code,
            details=details,
            status="active",
            created_at=self.clock.now(),
        )
        self.db.state.bank_accounts[instrument.id] = instrument
        return instrument

    def remove_instrument_in(
        self, session: Any, customer_number: str, instrument_id: str
    ) -> Instrument:
        found = self.db.state.bank_accounts.get(instrument_id)
        if found is None or found.customer_number != customer_number:
            raise NotFound("no instrument", code="instrument_not_found")
        removed = attrs.evolve(found, status="removed")
        self.db.state.bank_accounts[instrument_id] = removed
        return removed


@attrs.define
class FakeMessages:
    db: FakeDatabase
    delivered: list[str] = attrs.field(factory=list)

    def add_for_customer(
        self,
        connection: Any,
        customer_number: str,
        kind: str,
        subject: str,
        body: str,
        data: Mapping[str, str],
        *,
        language: str = "en",
        translations: Mapping[str, Translation] | None = None,
        attachments: Sequence[Attachment] = (),
    ) -> str:
        message_id = f"msg_{len(self.db.state.messages) + 1}"
        self.db.state.messages.append(
            {
                "id": message_id,
                "to": customer_number,
                "kind": kind,
                "subject": subject,
                "body": body,
                "data": dict(data),
                "language": language,
                "translations": dict(translations or {}),
                "attachments": list(attachments),
            }
        )
        return message_id

    def deliver(self, message_ids: Iterable[str]) -> int:
        ids = list(message_ids)
        self.delivered.extend(ids)
        return len(ids)


def account(number: str, country: str = "US", currency: str = "USD") -> CustomerAccount:
    return CustomerAccount(
        id=int(number[:4]),
        number=number,
        name=f"Customer {number}",
        country=country,
        currency=currency,
        status=AccountStatus.ACTIVE,
        created_at=datetime.fromisoformat("2026-01-01T00:00:00+00:00"),
    )


@attrs.define
class FakeAccounts:
    accounts: dict[str, CustomerAccount] = attrs.field(factory=dict)

    def add(self, customer: CustomerAccount) -> None:
        self.accounts[customer.number] = customer

    def get(self, number: str) -> CustomerAccount:
        if number not in self.accounts:
            raise NotFound(f"no customer account {number}", code="account_not_found")
        return self.accounts[number]

    def many(self, numbers: Iterable[str]) -> dict[str, CustomerAccount]:
        return {n: self.accounts[n] for n in numbers if n in self.accounts}


@attrs.define
class FakeSource:
    kind: str


@attrs.define
class FakePayments:
    """The funding area's collection path: charges by idempotency key, once."""

    clock: Any
    instruments_by_customer: dict[str, list[Instrument]] = attrs.field(factory=dict)
    declining: set[str] = attrs.field(factory=set)
    pending: set[str] = attrs.field(factory=set)  # instruments that are bank debits
    by_key: dict[tuple[str, str], Payment] = attrs.field(factory=dict)
    charges: list[Payment] = attrs.field(factory=list)

    def add_instrument(self, customer_number: str, source: str) -> Instrument:
        found = self.instruments_by_customer.setdefault(customer_number, [])
        instrument = Instrument(
            id=f"pi_{sum(map(len, self.instruments_by_customer.values())) + 1:020d}",
            customer_number=customer_number,
            source=source,
            label=source,
            details={},
            status="active",
            created_at=self.clock.now(),
        )
        found.append(instrument)
        if source in ("sepa-debit", "ach-debit"):
            self.pending.add(instrument.id)
        return instrument

    def _collect(
        self, customer_number: str, instrument_id: str, amount: Money, key: str, kind: str
    ) -> Payment:
        first = self.by_key.get((customer_number, key))
        if first is not None:
            if first.status is PaymentStatus.FAILED:
                raise PaymentDeclined("declined", code="card_declined", payment_id=first.id)
            return attrs.evolve(first, replayed=True)
        if instrument_id not in {i.id for i in self.instruments(customer_number)}:
            raise NotFound("no instrument", code="instrument_not_found")
        declined = instrument_id in self.declining
        status = (
            PaymentStatus.FAILED
            if declined
            else PaymentStatus.PENDING
            if instrument_id in self.pending
            else PaymentStatus.SETTLED
        )
        payment = Payment(
            id=f"pm_{len(self.by_key) + 1:020d}",
            customer_number=customer_number,
            instrument_id=instrument_id,
            source="fake",
            kind=kind,
            amount=amount,
            idempotency_key=key,
            status=status,
            source_reference="ref",
            transfer_id=None,
            failure_code="card_declined" if declined else None,
            failure_message="insufficient funds" if declined else "",
            return_reason=None,
            outstanding=0,
            created_at=self.clock.now(),
            updated_at=self.clock.now(),
        )
        self.by_key[(customer_number, key)] = payment
        if declined:
            raise PaymentDeclined("declined", code="card_declined", payment_id=payment.id)
        self.charges.append(payment)
        return payment

    def pay_invoice(
        self, customer_number: str, instrument_id: str, amount: Money, idempotency_key: str
    ) -> Payment:
        return self._collect(customer_number, instrument_id, amount, idempotency_key, "invoice")

    def pay_credit_line(
        self, customer_number: str, instrument_id: str, amount: Money, idempotency_key: str
    ) -> Payment:
        return self._collect(
            customer_number, instrument_id, amount, idempotency_key, "credit_payment"
        )

    def payment(self, customer_number: str, payment_id: str) -> Payment:
        for p in self.by_key.values():
            if p.id == payment_id and p.customer_number == customer_number:
                return p
        raise NotFound("no payment", code="payment_not_found")

    def instruments(self, customer_number: str) -> list[Instrument]:
        return list(self.instruments_by_customer.get(customer_number, []))

    def source(self, code: str) -> FakeSource:
        return FakeSource("bank_debit" if code in ("sepa-debit", "ach-debit") else "card")


@attrs.define
class FakeContracts:
    contracts: list[Contract] = attrs.field(factory=list)

    def billable_on(self, day: date) -> list[BillableContract]:
        return [c.billable() for c in self.contracts if c.start <= day and c.cancelled_at is None]


@attrs.define
class FakeInstallationNumbers:
    numbers: dict[str, str] = attrs.field(factory=dict)

    def installation_numbers(self, customer_number: str | None = None) -> dict[str, str]:
        return dict(self.numbers)


@attrs.define
class FakeStatements:
    statements: list[Statement] = attrs.field(factory=list)

    def statements_of_month(self, month: str | None = None) -> list[Statement]:
        return list(self.statements)
