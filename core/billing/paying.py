"""Paying invoices: now, from a payment instrument of the vault, or by automatic debit on
the due date; and what a payment's settlement, failure or return does to its invoice.

Billing never moves money itself: it asks the funding area's collection path
(``pr.funding.pay_invoice``, or ``pay_credit_line`` for the credit line's statement),
which writes the payment, charges the source with an idempotency key and posts the
ledger transfer. Billing keeps one attempt per try, written before the source is asked:
a second click, a retry or a concurrent request finds the attempt in flight and resumes
it with the same key, so the customer is charged once. A declined payment leaves the
invoice open; a returned one opens it again and tells the customer.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from datetime import date

import attrs

from postroom.core.billing import messages, model
from postroom.core.billing.mandate import debit_announced
from postroom.core.billing.model import (
    BillingProfile,
    Invoice,
    InvoiceKind,
    InvoicePayment,
    InvoiceStatus,
)
from postroom.core.billing.ports import (
    CustomerAccounts,
    CustomerMessages,
    Payments,
    Session,
    Transactions,
)
from postroom.core.billing.settings import BillingSettings
from postroom.core.billing.store import BillingRepository
from postroom.core.clock import Clock
from postroom.core.errors import Conflict, PostroomError
from postroom.core.funding.model import Payment
from postroom.core.funding.sources import PaymentDeclined
from postroom.core.idempotency import check_key
from postroom.core.ports import PaymentStatus

#: Funding statuses under which an invoice counts as paid (a bank debit is pending
#: until the bank settles it; a return opens the invoice again).
PAYING = (PaymentStatus.PENDING.value, PaymentStatus.SETTLED.value)
AUTO_DEBIT = "auto_debit"
PORTAL = "portal"


def funding_key(invoice_number: str, client_key: str) -> str:
    """The funding payment's idempotency key for a client's key on an invoice (within
    funding's 64 characters, the same for the same two)."""
    digest = hashlib.sha256(f"{invoice_number}\n{client_key}".encode()).hexdigest()
    return f"invoice:{digest[:40]}"


class Paying:
    def __init__(
        self,
        db: Transactions,
        clock: Clock,
        repository: Callable[[Session], BillingRepository],
        settings: BillingSettings,
        *,
        accounts: CustomerAccounts,
        payments: Payments,
        outbox: CustomerMessages,
    ) -> None:
        self._db = db
        self._clock = clock
        self._repository = repository
        self._settings = settings
        self._accounts = accounts
        self._payments = payments
        self._outbox = outbox

    def pay(
        self,
        customer_number: str,
        number: str,
        instrument_id: str,
        idempotency_key: str,
        *,
        via: str = PORTAL,
    ) -> Invoice:
        """Pay the customer's open invoice from one of its instruments. The same key
        again answers the paid invoice (charged once); a declined payment raises
        ``PaymentDeclined`` and the invoice stays open."""
        account = self._accounts.get(customer_number)
        client_key = check_key(idempotency_key)
        clean = model.known_number(number)
        now = self._clock.now()

        def start(uow: Session) -> tuple[Invoice, InvoicePayment, bool]:
            repository = self._repository(uow)
            invoice = model.owned(repository.get(clean), account.number, number)
            key = funding_key(invoice.number, client_key)
            attempts = repository.attempts(invoice.id)
            mine = next((a for a in attempts if a.key == key), None)
            if mine is not None and mine.status in PAYING:
                return invoice, mine, True  # answered already: a double click
            if not invoice.payable:
                raise Conflict(
                    f"invoice {invoice.number} is {invoice.status.value}",
                    code="invoice_not_payable",
                )
            in_flight = next((a for a in attempts if a.status == "started"), None)
            if in_flight is not None:
                return invoice, in_flight, False  # resumed with its own key: charged once
            if mine is not None:
                return invoice, mine, False  # declined before: the source answers again
            attempt = InvoicePayment(
                invoice_number=invoice.number,
                customer_number=account.number,
                key=key,
                payment_id=None,
                amount=invoice.total,
                via=via,
                status="started",
                created_at=now,
                updated_at=now,
            )
            repository.add_payment(attempt, invoice.id)
            uow.commit()
            return invoice, attempt, False

        invoice, attempt, answered = self._db.run(start)
        if answered:
            return self._read(clean)
        try:
            collect = (
                self._payments.pay_credit_line
                if invoice.kind is InvoiceKind.CREDIT_STATEMENT
                else self._payments.pay_invoice
            )
            payment = collect(account.number, instrument_id, attempt.amount, attempt.key)
        except PaymentDeclined as declined:
            self._record(attempt, "failed", declined.details.get("payment_id"))
            raise
        except Conflict as conflict:
            if conflict.code == "idempotency_key_reused":  # the attempt in flight differs
                raise Conflict(
                    f"a payment of invoice {invoice.number} is in progress; try again shortly",
                    code="invoice_payment_in_progress",
                ) from None
            self._record(attempt, "refused", None)
            raise
        except PostroomError as refused:
            if refused.code != "payment_source_unavailable":  # else: resumed by a retry
                self._record(attempt, "refused", None)
            raise
        return self._paid(invoice, attempt, payment)

    def _read(self, number: str) -> Invoice:
        found = self._db.run(lambda uow: self._repository(uow).get(number), readonly=True)
        assert found is not None
        return found

    def _record(self, attempt: InvoicePayment, status: str, payment_id: object) -> None:
        now = self._clock.now()

        def work(uow: Session) -> None:
            self._repository(uow).update_payment(
                attempt.key, status, now, payment_id if isinstance(payment_id, str) else None
            )
            uow.commit()

        self._db.run(work)

    def _paid(self, invoice: Invoice, attempt: InvoicePayment, payment: Payment) -> Invoice:
        """Record the funding payment's answer: a pending or settled payment pays it."""
        now = self._clock.now()

        def work(uow: Session) -> Invoice:
            repository = self._repository(uow)
            repository.update_payment(attempt.key, payment.status.value, now, payment.id)
            current = repository.get(invoice.number)
            assert current is not None
            if payment.status.value in PAYING and current.status is InvoiceStatus.OPEN:
                repository.set_status(
                    current.id, InvoiceStatus.PAID, payment_id=payment.id, paid_at=now
                )
                current = attrs.evolve(
                    current, status=InvoiceStatus.PAID, payment_id=payment.id, paid_at=now
                )
            uow.commit()
            return current

        return self._db.run(work)

    # ------------------------------------------------------------ automatic debit

    def run_auto_debit(self, day: date) -> int:
        """The worker's job: debit each open invoice due by ``day`` of the customers
        with automatic debit, once per invoice (a declined debit is not tried again:
        the customer is told and pays by hand), and not before the invoice, which
        announces the debit, is ``PRE_NOTIFICATION_DAYS`` old (the mandate promises it).
        Returns how many were collected."""

        def due(uow: Session) -> list[tuple[Invoice, BillingProfile]]:
            repository = self._repository(uow)
            invoices = repository.due_for_debit(day)
            profiles = repository.profiles({i.customer_number for i in invoices})
            return [
                (i, profiles[i.customer_number])
                for i in invoices
                if i.customer_number in profiles
                and profiles[i.customer_number].auto_debit_instrument is not None
                and debit_announced(i.issued_on, day)
            ]

        collected = 0
        for invoice, profile in self._db.run(due, readonly=True):
            if not self._db.run(functools.partial(self._claim, invoice=invoice)):
                continue  # another worker has it
            assert profile.auto_debit_instrument is not None
            try:
                self.pay(
                    invoice.customer_number,
                    invoice.number,
                    profile.auto_debit_instrument,
                    f"auto-debit-{invoice.number}",
                    via=AUTO_DEBIT,
                )
            except PostroomError as error:
                self._tell(
                    invoice,
                    "billing.auto-debit-declined",
                    messages.auto_debit_declined,
                    error.message,
                    profile.language,
                )
                continue
            collected += 1
        return collected

    def _claim(self, uow: Session, invoice: Invoice) -> bool:
        claimed = self._repository(uow).claim_debit(invoice.id, self._clock.now())
        if claimed:
            uow.commit()
        return claimed

    # ------------------------------------------------------------ settlement news

    def payment_changed(self, payment: Payment) -> Invoice | None:
        """Funding recorded a settlement, failure or return of ``payment``: keep the
        attempt's status, and open its invoice again when the money came back (the
        customer is told). Idempotent; None for a payment of no invoice."""
        now = self._clock.now()
        status = payment.status.value

        def work(uow: Session) -> tuple[Invoice | None, str, str]:
            repository = self._repository(uow)
            attempt = repository.attempt_of_payment(payment.id)
            if attempt is None:
                return None, "", ""
            invoice = repository.get(attempt.invoice_number)
            assert invoice is not None
            if attempt.status == status:
                return invoice, "", ""
            repository.update_payment(attempt.key, status, now)
            reopened = status in ("failed", "returned") and (
                invoice.status is InvoiceStatus.PAID and invoice.payment_id == payment.id
            )
            if reopened:
                repository.set_status(invoice.id, InvoiceStatus.OPEN, payment_id=None, paid_at=None)
                invoice = attrs.evolve(
                    invoice, status=InvoiceStatus.OPEN, payment_id=None, paid_at=None
                )
            profile = repository.profile(invoice.customer_number)
            uow.commit()
            language = profile.language if profile is not None else invoice.language
            return invoice, ("reopen" if reopened else ""), language

        invoice, what, language = self._db.run(work)
        if invoice is not None and what == "reopen":
            reason = payment.failure_message or payment.return_reason or status
            self._tell(
                invoice, "billing.payment-returned", messages.payment_returned, reason, language
            )
        return invoice

    def _tell(
        self,
        invoice: Invoice,
        kind: str,
        texts: Callable[[Invoice, str, str], messages.Texts],
        reason: str,
        language: str,
    ) -> None:
        def work(uow: Session) -> str:
            message_id = messages.write(
                self._outbox,
                uow,
                invoice.customer_number,
                kind,
                texts(invoice, reason, self._settings.invoice_link(invoice.number)),
                {"invoice": invoice.number, "reason": reason[:200]},
                language,
            )
            uow.commit()
            return message_id

        self._outbox.deliver([self._db.run(work)])
