"""What becomes of a collected bank debit: settled (its pending credit posted), failed
or returned (its credit voided before settlement, taken back after it), and the debt a
return leaves, which locks the customer's meter refills until paid (39 CFR 501.16).

- settling posts the pending ``pay:<payment>`` (``settle:<payment>``) and pays debts;
- a failure or return before that voids it (``void:<payment>``): nothing was spent,
  so nothing is owed;
- a return after settlement takes back what it credited (``return:<payment>``) as far
  as the balance allows, never below zero; the rest stays ``outstanding`` and locks
  refills until a later settled payment pays it (``recover:<payment>``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import attrs

from postroom.core.accounts.model import CustomerAccount
from postroom.core.errors import Conflict, PostroomError
from postroom.core.funding.collect import recover_debts
from postroom.core.funding.context import (
    REFILL_LOCK_RULE,
    FundingContext,
    clearing,
    credit_line_code,
    must,
    payment_for_update,
)
from postroom.core.funding.model import (
    POSTAGE_KINDS,
    Payment,
    PaymentKind,
    check_payment_id,
    check_return_reason,
    return_reason_code,
)
from postroom.core.funding.ports import FundingRepos
from postroom.core.ledger.model import AccountKind, Phase, TransferCode, TransferRequest
from postroom.core.ledger.service import postage_code
from postroom.core.money import Money
from postroom.core.ports import PaymentStatus

log = logging.getLogger(__name__)


class Settlement:
    def __init__(
        self, context: FundingContext, after_return: Callable[[str], object] | None = None
    ) -> None:
        """``after_return(customer_number)`` runs once a return or failure committed
        (the balance fell: the auto-refill check)."""
        self._c = context
        self._after_return = after_return
        #: called with the payment once a settlement, failure or return committed (the
        #: billing area reopens a returned invoice); a listener's error is logged
        self.listeners: list[Callable[[Payment], object]] = []

    def add_listener(self, listener: Callable[[Payment], object]) -> None:
        self.listeners.append(listener)

    def _tell_listeners(self, payment: Payment) -> None:
        for listener in self.listeners:
            try:
                listener(payment)
            except PostroomError as error:
                log.warning("listener of payment %s failed: %s", payment.id, error.message)

    def settle(self, payment_id: str) -> Payment:
        """The bank confirmed a submitted debit: its pending credit is posted (now
        spendable), and it pays outstanding debts."""
        clean = check_payment_id(payment_id)

        def work(repos: FundingRepos) -> tuple[Payment, str | None]:
            customer, payment = payment_for_update(repos, clean)
            if payment.status is PaymentStatus.SETTLED:
                return payment, None
            if payment.status is not PaymentStatus.PENDING or payment.transfer_id is None:
                raise Conflict(
                    f"payment {clean} is {payment.status.value}", code="payment_not_pending"
                )
            if _on_hold(repos, payment.transfer_id):
                _end_hold(repos, payment, Phase.POST)
            now = self._c.clock.now()
            repos.funding.update_payment(clean, now, status=PaymentStatus.SETTLED.value)
            # an invoice's money is the vendor's, not postage: it pays no postage debt
            unlocked = (
                None
                if payment.kind == PaymentKind.INVOICE
                else recover_debts(repos, customer, clean, now)
            )
            repos.commit()
            return attrs.evolve(payment, status=PaymentStatus.SETTLED), unlocked

        payment, unlocked = self._c.write_racing(work)
        self._c.deliver(unlocked)
        self._tell_listeners(payment)
        return payment

    def settle_due(self, *, limit: int = 1000) -> int:
        """The worker's job: settle pending payments older than their source's
        ``settlement_days`` (idempotent); returns how many settled now."""
        now = self._c.clock.now()
        candidates = self._c.read(lambda repos: repos.funding.submitted_before(now, limit))
        settled = 0
        for payment_id, code, created_at in candidates:
            source = self._c.sources.all().get(code)
            if source is None or created_at + timedelta(days=source.settlement_days) > now:
                continue
            try:
                self.settle(payment_id)
            except Conflict:  # failed or returned meanwhile
                continue
            settled += 1
        return settled

    def record_return(self, payment_id: str, reason: str) -> Payment:
        """The debtor's bank returned a debit (SEPA R-transaction, ACH return ``R01``...).

        Before settlement the pending credit is voided: nothing was spendable, so
        nothing is owed. After it, what the payment credited is taken back as far as the
        balance allows (never below zero); the rest stays as debt and locks refills
        until paid. The customer is told. Recording the same return again changes
        nothing.
        """
        return self._reverse(payment_id, reason, PaymentStatus.RETURNED)

    def record_failure(self, payment_id: str, reason: str) -> Payment:
        """A submitted debit failed before settling: its pending credit is voided."""
        return self._reverse(payment_id, reason, PaymentStatus.FAILED)

    def expected_settlement(self, payment: Payment) -> datetime | None:
        """When a pending payment is expected to settle (its source's settlement days
        after it was submitted); None once it is no longer pending."""
        source = self._c.sources.all().get(payment.source)
        if payment.status is not PaymentStatus.PENDING or source is None:
            return None
        return payment.created_at + timedelta(days=source.settlement_days)

    def expected_by(self, customer_number: str) -> datetime | None:
        """When the last of the customer's pending deposits is expected to settle
        (None when none is pending): the date of the postage account's pending credits."""

        def work(repos: FundingRepos) -> list[Payment]:
            customer = repos.customers.customer(customer_number)
            return repos.funding.pending_payments(customer.id, customer.number)

        dates = [self.expected_settlement(p) for p in self._c.read(work) if p.kind in POSTAGE_KINDS]
        return max((d for d in dates if d is not None), default=None)

    def debt(self, customer_number: str) -> Money:
        """What failed or returned payments still owe (zero when refills are unlocked)."""

        def work(repos: FundingRepos) -> Money:
            customer = repos.customers.customer(customer_number)
            debts = repos.funding.debts(customer.id, customer.number)
            return Money(sum(p.outstanding for p in debts), customer.currency)

        return self._c.read(work)

    def refills_locked(self, customer_number: str) -> bool:
        """Whether a failed or returned payment is unpaid (refills refused)."""
        return self._c.read(
            lambda repos: repos.funding.refills_locked(repos.customers.customer(customer_number).id)
        )

    # ------------------------------------------------------------------ steps

    def _reverse(self, payment_id: str, reason: str, status: PaymentStatus) -> Payment:
        clean = check_payment_id(payment_id)
        code = return_reason_code(reason)

        def work(repos: FundingRepos) -> tuple[Payment, str | None]:
            customer, payment = payment_for_update(repos, clean)
            if payment.status is status and payment.return_reason == code:
                return payment, None  # recorded already
            if payment.status not in (PaymentStatus.PENDING, PaymentStatus.SETTLED) or (
                payment.transfer_id is None
            ):
                raise Conflict(
                    f"payment {clean} is {payment.status.value}; it cannot be {status.value} now",
                    code="payment_not_returnable",
                )
            if status is PaymentStatus.FAILED and payment.status is not PaymentStatus.PENDING:
                raise Conflict(
                    "a settled payment can be returned, not failed", code="payment_not_pending"
                )
            source = self._c.sources.get(payment.source)
            if not source.return_codes:
                raise Conflict(
                    f"{source.name} payments are not returned", code="payment_not_returnable"
                )
            meaning = check_return_reason(source, code)
            if payment.kind == PaymentKind.INVOICE:
                return _reverse_invoice_payment(
                    repos, payment, status, code, meaning, self._c.clock.now()
                )
            if _on_hold(repos, payment.transfer_id):
                return self._void(repos, payment, status, code, meaning)
            return self._take_back(repos, customer, payment, status, code, meaning)

        payment, told = self._c.write_racing(work)
        self._tell_listeners(payment)
        if told is not None:
            self._c.deliver(told)
            if self._after_return is not None:
                try:
                    self._after_return(payment.customer_number)
                except PostroomError as error:
                    log.warning(
                        "check after the return of %s failed: %s", payment.id, error.message
                    )
        return payment

    def _take_back(
        self,
        repos: FundingRepos,
        customer: CustomerAccount,
        payment: Payment,
        status: PaymentStatus,
        code: str,
        meaning: str,
    ) -> tuple[Payment, str | None]:
        """A settled debit came back: take back what it credited, as far as the balance
        allows; the rest is debt and locks refills."""
        target_code = (
            credit_line_code(customer.number)
            if payment.kind == PaymentKind.CREDIT_PAYMENT
            else postage_code(customer.number)
        )
        target = must(repos.ledger.account_by_code(target_code))
        target = repos.ledger.lock_accounts([target.id])[target.id]
        room = target.balances.available + (
            target.credit_limit if target.kind is AccountKind.CREDIT_LINE else 0
        )
        take = min(payment.amount.mills, max(0, room))
        if take > 0:
            repos.ledger.post(
                [
                    TransferRequest(
                        id=f"return:{payment.id}",
                        debit=target.id,
                        credit=clearing(repos, customer.currency).id,
                        amount=take,
                        currency=customer.currency,
                        code=TransferCode.ADJUSTMENT,
                        reference=f"payment {payment.id} {status.value}: {code}",
                    )
                ],
            )
        repos.funding.update_payment(
            payment.id,
            self._c.clock.now(),
            status=status.value,
            return_reason=code,
            failure_code=code,
            failure_message=meaning[:300],
            outstanding=payment.amount.mills - take,
        )
        done = repos.funding.payment(payment.id, customer.id, customer.number)
        assert done is not None
        debt = Money(done.outstanding, done.amount.currency)
        locked = done.outstanding > 0
        told = repos.messages.to_customer(
            done.customer_number,
            f"payment_{status.value}",
            f"Your payment of {done.amount} was {status.value} ({done.return_reason})",
            f"Your bank {status.value} payment {done.id} of {done.amount}: "
            f"{done.failure_message} ({done.return_reason}). "
            + (
                f"{debt} could not be taken back from your postage balance and is now "
                f"due. Meter refills are locked until it is paid ({REFILL_LOCK_RULE})."
                if locked
                else "The amount was taken back from your postage balance."
            ),
            {
                "payment_id": done.id,
                "reason": str(done.return_reason),
                "amount": str(done.amount),
                "outstanding": str(debt),
                "refills_locked": "yes" if locked else "no",
            },
        )
        repos.commit()
        return done, told

    def _void(
        self,
        repos: FundingRepos,
        payment: Payment,
        status: PaymentStatus,
        code: str,
        meaning: str,
    ) -> tuple[Payment, str | None]:
        """A debit failed or returned before it settled: release its pending credit.
        Nothing of it could be spent, so there is no debt and refills stay unlocked."""
        _end_hold(repos, payment, Phase.VOID)
        repos.funding.update_payment(
            payment.id,
            self._c.clock.now(),
            status=status.value,
            return_reason=code,
            failure_code=code,
            failure_message=meaning[:300],
            outstanding=0,
        )
        done = repos.funding.payment(payment.id, None, payment.customer_number)
        assert done is not None
        told = repos.messages.to_customer(
            done.customer_number,
            f"payment_{status.value}",
            f"Your payment of {done.amount} was {status.value} ({done.return_reason})",
            f"Your bank {status.value} payment {done.id} of {done.amount}: "
            f"{done.failure_message} ({done.return_reason}). It had not settled, so it "
            "was never added to your available postage balance and nothing is due.",
            {
                "payment_id": done.id,
                "reason": str(done.return_reason),
                "amount": str(done.amount),
                "outstanding": str(Money(0, done.amount.currency)),
                "refills_locked": "no",
            },
        )
        repos.commit()
        return done, told


def _reverse_invoice_payment(
    repos: FundingRepos,
    payment: Payment,
    status: PaymentStatus,
    code: str,
    meaning: str,
    now: datetime,
) -> tuple[Payment, str | None]:
    """An invoice's debit failed or came back: its pending credit is voided, or what it
    paid into the invoice receipts is taken back whole. Nothing is owed to postage: the
    invoice itself is open again (billing reopens it and tells the customer)."""
    if _on_hold(repos, payment.transfer_id):
        _end_hold(repos, payment, Phase.VOID)
    else:
        receipts = repos.ledger.system_account(
            AccountKind.INVOICE_RECEIPTS, payment.amount.currency
        )
        repos.ledger.post(
            [
                TransferRequest(
                    id=f"return:{payment.id}",
                    debit=receipts.id,
                    credit=clearing(repos, payment.amount.currency).id,
                    amount=payment.amount.mills,
                    currency=payment.amount.currency,
                    code=TransferCode.ADJUSTMENT,
                    reference=f"invoice payment {payment.id} {status.value}: {code}",
                )
            ],
        )
    repos.funding.update_payment(
        payment.id,
        now,
        status=status.value,
        return_reason=code,
        failure_code=code,
        failure_message=meaning[:300],
        outstanding=0,
    )
    done = repos.funding.payment(payment.id, None, payment.customer_number)
    assert done is not None
    repos.commit()
    return done, None


def _on_hold(repos: FundingRepos, transfer_id: str | None) -> bool:
    """Whether ``transfer_id`` is a pending credit nobody posted or voided yet (a debit
    booked before credits were held is posted already)."""
    if transfer_id is None:
        return False
    found = repos.ledger.transfers_by_id([transfer_id]).get(transfer_id)
    if found is None or found.phase is not Phase.PENDING:
        return False
    return transfer_id not in repos.ledger.resolutions_of([transfer_id])


def _end_hold(repos: FundingRepos, payment: Payment, phase: Phase) -> None:
    """Post (the bank paid: ``settle:``) or void (it did not: ``void:``) the pending
    credit of a bank debit, once: the id makes a rerun a replay."""
    assert payment.transfer_id is not None
    prefix = "settle" if phase is Phase.POST else "void"
    request = TransferRequest(
        id=f"{prefix}:{payment.id}", phase=phase, pending_id=payment.transfer_id
    )
    repos.ledger.post([request])
