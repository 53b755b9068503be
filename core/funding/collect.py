"""Collecting a payment: a deposit into the postage account (by the customer or the
auto-refill rule) or a payment of the credit line, through a payment source.

The payment row is written first, then the source is charged with the payment id as
its idempotency key (between two transactions, never while rows are locked), then the
outcome is recorded. A retry with the same client key resumes where a crash left off
and never charges twice; it answers the first payment, marked ``replayed``.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

import attrs

from postroom.core.accounts.model import CustomerAccount
from postroom.core.errors import (
    Conflict,
    InsufficientFunds,
    NotFound,
    PostroomError,
    ValidationError,
)
from postroom.core.funding.context import (
    FundingContext,
    available,
    clearing,
    credit_line_code,
    find_instrument,
    must,
    payment_for_update,
)
from postroom.core.funding.model import (
    PAYMENT_ID,
    POSTAGE_KINDS,
    Instrument,
    Payment,
    PaymentKind,
    check_instrument_id,
)
from postroom.core.funding.ports import FundingRepos
from postroom.core.funding.sources import (
    CREDIT_LINE_KIND,
    PaymentDeclined,
    PaymentSourceUnavailable,
)
from postroom.core.idempotency import check_key, fingerprint, is_replay
from postroom.core.ledger.model import (
    AccountKind,
    Phase,
    TransferCode,
    TransferRequest,
    check_amount,
)
from postroom.core.ledger.service import postage_code
from postroom.core.money import Money
from postroom.core.ports import PaymentResult, PaymentSource, PaymentStatus

log = logging.getLogger(__name__)


class Collect:
    def __init__(self, context: FundingContext) -> None:
        self._c = context

    def deposit(
        self, customer_number: str, instrument_id: str, amount: Money, idempotency_key: str
    ) -> Payment:
        """Collect ``amount`` from the instrument into the customer's postage account.

        Settled payments (card, credit-line draw) first pay any outstanding debt; a
        bank debit is ``pending`` until ``settle``. A declined payment is recorded as
        ``failed`` and raises ``PaymentDeclined`` with the source's code; the same key
        again answers the same payment (``replayed``, or the same refusal), never a
        second charge.
        """
        return self.collect(
            customer_number, instrument_id, amount, idempotency_key, PaymentKind.DEPOSIT
        )

    def pay_credit_line(
        self, customer_number: str, instrument_id: str, amount: Money, idempotency_key: str
    ) -> Payment:
        """Pay down the postage line of credit from another instrument."""
        return self.collect(
            customer_number, instrument_id, amount, idempotency_key, PaymentKind.CREDIT_PAYMENT
        )

    def purchase(
        self, customer_number: str, instrument_id: str, amount: Money, idempotency_key: str
    ) -> Payment:
        """Collect ``amount`` for something the customer bought (a shop order, a meter
        add-on) into the data center's sales account. Only cards pay purchases: a bank
        debit could come back after the goods left, and the credit line pays postage.
        Declines and replays as ``deposit``."""
        return self.collect(
            customer_number, instrument_id, amount, idempotency_key, PaymentKind.PURCHASE
        )

    def refund_purchase(
        self, customer_number: str, payment_id: str, idempotency_key: str
    ) -> Payment:
        """Give all of a settled purchase back to the instrument it came from (a cancelled
        order): the source refunds the charge, then the ledger moves the money out of
        sales. Once only: a purchase refunded already answers as it is; a refusal of
        the source raises ``PaymentDeclined`` and changes nothing."""
        key = check_key(idempotency_key)

        def read(repos: FundingRepos) -> tuple[Payment, Instrument]:
            customer = repos.customers.customer(customer_number)
            found = None
            if isinstance(payment_id, str) and PAYMENT_ID.fullmatch(payment_id.strip()):
                found = repos.funding.payment(payment_id.strip(), customer.id, customer.number)
            if found is None or found.kind != PaymentKind.PURCHASE:
                raise NotFound(f"no purchase {payment_id!r}", code="payment_not_found")
            return found, find_instrument(repos, customer, found.instrument_id)

        payment, instrument = self._c.read(read)
        if payment.status is PaymentStatus.REFUNDED:
            return payment
        if payment.status is not PaymentStatus.SETTLED:
            raise Conflict(
                f"payment {payment.id} is {payment.status.value}", code="payment_not_refundable"
            )
        source = self._c.sources.get(instrument.source)
        try:
            result = source.refund(
                instrument.details,
                payment.source_reference,
                payment.amount.mills,
                payment.amount.currency,
                key,
                now=self._c.clock.now(),
            )
        except PostroomError:
            raise
        except Exception as error:  # the source's own failure: retry with the same key
            log.exception("payment source %s failed to refund", source.code)
            raise PaymentSourceUnavailable(
                f"{source.name} could not be reached; retry", payment_id=payment.id
            ) from error
        if not isinstance(result, PaymentResult) or result.status is PaymentStatus.FAILED:
            raise PaymentDeclined(
                getattr(result, "message", "") or "the refund was refused",
                code=getattr(result, "failure_code", None) or "refund_declined",
                payment_id=payment.id,
            )

        def record(repos: FundingRepos) -> Payment:
            customer, current = payment_for_update(repos, payment.id)
            if current.refunded >= current.amount.mills:  # recorded by a concurrent retry
                return current
            sales = repos.ledger.system_account(AccountKind.SALES, current.amount.currency)
            origin = clearing(repos, current.amount.currency)  # purchases come by card
            repos.ledger.post(
                [
                    TransferRequest(
                        id=f"refund-purchase:{current.id}",
                        debit=sales.id,
                        credit=origin.id,
                        amount=current.amount.mills - current.refunded,
                        currency=current.amount.currency,
                        code=TransferCode.REFUND,
                        reference=f"purchase {current.id} refunded ({source.code})",
                    )
                ],
            )
            repos.funding.add_refunded(
                current.id, current.amount.mills - current.refunded, self._c.clock.now()
            )
            done = repos.funding.payment(current.id, customer.id, customer.number)
            assert done is not None
            repos.commit()
            return done

        return self._c.write_racing(record)

    def pay_invoice(
        self, customer_number: str, instrument_id: str, amount: Money, idempotency_key: str
    ) -> Payment:
        """Collect an invoice's amount (billing's collection path): the money goes to the
        invoice receipts, never to the postage account. A bank debit is ``pending``
        until settled; a return is recorded like any other (``record_return``)."""
        return self.collect(
            customer_number, instrument_id, amount, idempotency_key, PaymentKind.INVOICE
        )

    def payments(self, customer_number: str, *, limit: int = 50, offset: int = 0) -> list[Payment]:
        """The customer's payments, newest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ValidationError("limit is 1 to 1000", code="invalid_limit")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValidationError("offset is 0 or more", code="invalid_offset")

        def work(repos: FundingRepos) -> list[Payment]:
            customer = repos.customers.customer(customer_number)
            return repos.funding.payments(customer.id, customer.number, limit=limit, offset=offset)

        return self._c.read(work)

    def payment(self, customer_number: str, payment_id: str) -> Payment:
        """The customer's payment; another customer's is ``payment_not_found``."""

        def work(repos: FundingRepos) -> Payment:
            customer = repos.customers.customer(customer_number)
            found = None
            if isinstance(payment_id, str) and PAYMENT_ID.fullmatch(payment_id.strip()):
                found = repos.funding.payment(payment_id.strip(), customer.id, customer.number)
            if found is None:
                raise NotFound(f"no payment {payment_id!r}", code="payment_not_found")
            return found

        return self._c.read(work)

    # ------------------------------------------------------------------ steps

    def collect(
        self,
        customer_number: str,
        instrument_id: str,
        amount: Money,
        idempotency_key: str,
        kind: str,
    ) -> Payment:
        """Start (or find) the payment of ``idempotency_key``, charge it if no source
        answered it yet, and answer it; ``replayed`` when the key was seen before."""
        key = check_key(idempotency_key)
        if not isinstance(amount, Money):
            raise ValidationError("amount is a Money", code="invalid_amount")
        check_amount(amount.mills)
        clean_instrument = check_instrument_id(instrument_id)
        body = fingerprint([clean_instrument, amount.mills, amount.currency, kind])
        payment, instrument, customer = self._c.write_racing(
            lambda repos: self._start(
                repos, customer_number, clean_instrument, amount, key, kind, body
            )
        )
        if payment.status is PaymentStatus.PENDING and not payment.source_reference:
            payment = attrs.evolve(
                self._charge(customer, payment, instrument), replayed=payment.replayed
            )
        if payment.status is PaymentStatus.FAILED and payment.return_reason is None:
            raise PaymentDeclined(
                payment.failure_message or "the payment was declined",
                code=payment.failure_code or "payment_declined",
                payment_id=payment.id,
            )
        return payment

    def _start(
        self,
        repos: FundingRepos,
        customer_number: str,
        instrument_id: str,
        amount: Money,
        key: str,
        kind: str,
        body: str,
    ) -> tuple[Payment, Instrument, CustomerAccount]:
        """The payment of ``key``: the first one (a replay), or a new one, checked."""
        customer = repos.customers.customer(customer_number)
        existing = repos.funding.payment_by_key(customer.id, key, customer.number)
        first, stored = (None, None) if existing is None else existing
        if is_replay(
            stored,
            body,
            lambda: Conflict(
                f"idempotency key {key} was used for another payment",
                code="idempotency_key_reused",
                payment_id=None if first is None else first.id,
            ),
        ):
            assert first is not None
            instrument = find_instrument(repos, customer, first.instrument_id)
            return attrs.evolve(first, replayed=True), instrument, customer
        instrument = find_instrument(repos, customer, instrument_id)
        if instrument.status != "active":
            raise Conflict("the instrument was removed", code="instrument_removed")
        if amount.currency != customer.currency:
            raise ValidationError(
                f"amount in {amount.currency} but the account is in {customer.currency}",
                code="currency_mismatch",
            )
        source = self._c.sources.usable(instrument.source)
        if source.currencies and amount.currency not in source.currencies:
            raise ValidationError(
                f"{source.name} collects {', '.join(source.currencies)}",
                code="currency_not_supported",
            )
        if kind == PaymentKind.CREDIT_PAYMENT:
            if source.kind == CREDIT_LINE_KIND:
                raise ValidationError("a credit line cannot pay itself", code="invalid_instrument")
            if repos.ledger.account_by_code(credit_line_code(customer.number)) is None:
                raise NotFound("no postage line of credit", code="no_credit_line")
        elif kind == PaymentKind.PURCHASE:
            if source.kind == CREDIT_LINE_KIND or source.settlement_days > 0:
                raise ValidationError(
                    f"{source.name} does not pay supplies: pay by card or on account (the "
                    "credit line pays postage; a bank debit could come back after the goods "
                    "left)",
                    code="instrument_not_for_purchases",
                )
        elif kind == PaymentKind.INVOICE:
            if source.kind == CREDIT_LINE_KIND:
                raise ValidationError(
                    "the postage line of credit pays postage, not invoices",
                    code="invalid_instrument",
                )
        else:
            postage = repos.ledger.postage_account(customer.number, create=True)
            if repos.customers.is_closed(postage.id):
                raise Conflict(f"{postage.code} is closed", code="account_closed")
        if source.kind == CREDIT_LINE_KIND:
            line = repos.ledger.account_by_code(credit_line_code(customer.number))
            if line is None or available(line) < amount.mills:
                raise InsufficientFunds(
                    "the draw exceeds what is left of the credit line",
                    code="credit_limit_exceeded",
                    available=str(Money(0 if line is None else available(line), amount.currency)),
                )
        payment_id = "pm_" + uuid.uuid4().hex[:20]
        now = self._c.clock.now()
        repos.funding.add_payment(payment_id, customer.id, instrument, kind, amount, key, body, now)
        created = repos.funding.payment(payment_id, customer.id, customer.number)
        assert created is not None
        repos.commit()
        return created, instrument, customer

    def _charge(
        self, customer: CustomerAccount, payment: Payment, instrument: Instrument
    ) -> Payment:
        """Ask the source for the money (the payment id is its idempotency key), then
        record its answer."""
        source = self._c.sources.usable(instrument.source)
        try:
            result = source.charge(
                instrument.details,
                payment.amount.mills,
                payment.amount.currency,
                payment.id,
                now=self._c.clock.now(),
            )
        except PostroomError:
            raise
        except Exception as error:  # a plugin's own failure: retry later with the same key
            log.exception("payment source %s failed", source.code)
            raise PaymentSourceUnavailable(
                f"{source.name} could not be reached; retry with the same key",
                payment_id=payment.id,
            ) from error
        if not isinstance(result, PaymentResult):
            raise PaymentSourceUnavailable(
                f"{source.name} answered nonsense", payment_id=payment.id
            )
        try:
            done, unlocked = self._c.write_racing(
                lambda repos: self._finish(repos, customer, payment, source, result)
            )
        except InsufficientFunds as error:  # the credit line ran out meanwhile
            failed = attrs.evolve(
                result,
                status=PaymentStatus.FAILED,
                failure_code="credit_limit_exceeded",
                message=error.message,
            )
            done, unlocked = self._c.write_racing(
                lambda repos: self._finish(repos, customer, payment, source, failed)
            )
        self._c.deliver(unlocked)
        return done

    def _finish(
        self,
        repos: FundingRepos,
        customer: CustomerAccount,
        payment: Payment,
        source: PaymentSource,
        result: PaymentResult,
    ) -> tuple[Payment, str | None]:
        """Record the source's answer; with the id of the "refills unlocked" message
        when this payment paid the last debt."""
        _, current = payment_for_update(repos, payment.id)  # serialises retries
        if current.source_reference:  # finished by a concurrent retry
            return current, None
        now = self._c.clock.now()
        if result.status is PaymentStatus.FAILED:
            repos.funding.update_payment(
                payment.id,
                now,
                status=PaymentStatus.FAILED.value,
                source_reference=result.reference[:120] or "-",
                failure_code=(result.failure_code or "payment_declined")[:60],
                failure_message=result.message[:300],
            )
            found = repos.funding.payment(payment.id, customer.id, customer.number)
            assert found is not None
            repos.commit()
            return found, None
        if result.status not in (PaymentStatus.PENDING, PaymentStatus.SETTLED):
            raise PaymentSourceUnavailable(
                f"{source.name} answered {result.status.value} to a charge", payment_id=payment.id
            )
        if payment.kind == PaymentKind.CREDIT_PAYMENT:
            target = must(repos.ledger.account_by_code(credit_line_code(customer.number)))
        elif payment.kind == PaymentKind.PURCHASE:
            target = repos.ledger.system_account(AccountKind.SALES, payment.amount.currency)
        elif payment.kind == PaymentKind.INVOICE:
            target = repos.ledger.system_account(AccountKind.INVOICE_RECEIPTS, customer.currency)
        else:
            target = must(repos.ledger.account_by_code(postage_code(customer.number)))
        if source.kind == CREDIT_LINE_KIND:
            origin = must(repos.ledger.account_by_code(credit_line_code(customer.number)))
        else:
            origin = clearing(repos, customer.currency)
        transfer_id = f"pay:{payment.id}"
        # A pending debit is money the bank has not paid yet: held as a pending credit
        # (not spendable) until settled. No timeout: only a settlement or a return
        # resolves it, never the expiry job.
        phase = Phase.PENDING if result.status is PaymentStatus.PENDING else Phase.POSTED
        repos.ledger.post(
            [
                TransferRequest(
                    id=transfer_id,
                    debit=origin.id,
                    credit=target.id,
                    amount=payment.amount.mills,
                    currency=payment.amount.currency,
                    phase=phase,
                    code=TransferCode.DEPOSIT,
                    reference=f"payment {payment.id} ({source.code})",
                )
            ],
        )
        repos.funding.update_payment(
            payment.id,
            now,
            status=result.status.value,
            source_reference=result.reference[:120] or "-",
            transfer_id=transfer_id,
        )
        if payment.kind in POSTAGE_KINDS:
            # money came in: a declined or suspended auto-refill resumes
            repos.funding.clear_declines(customer.id, now)
        unlocked = None
        if result.status is PaymentStatus.SETTLED and payment.kind in POSTAGE_KINDS:
            unlocked = recover_debts(repos, customer, payment.id, now)
        found = repos.funding.payment(payment.id, customer.id, customer.number)
        assert found is not None
        repos.commit()
        return found, unlocked


def recover_debts(
    repos: FundingRepos, customer: CustomerAccount, payment_id: str, now: datetime
) -> str | None:
    """Pay outstanding debts from the postage account after ``payment_id`` settled
    (``recover:<payment>``). When that cleared the last of them (refills unlock) the
    customer's message is queued in this transaction; its id is returned."""
    debts = repos.funding.debts(customer.id, customer.number)
    if not debts:
        return None
    postage = must(repos.ledger.account_by_code(postage_code(customer.number)))
    postage = repos.ledger.lock_accounts([postage.id])[postage.id]
    owed = sum(p.outstanding for p in debts)
    take = min(owed, max(0, postage.balances.available))
    if take <= 0:
        return None
    repos.ledger.post(
        [
            TransferRequest(
                id=f"recover:{payment_id}",
                debit=postage.id,
                credit=clearing(repos, customer.currency).id,
                amount=take,
                currency=customer.currency,
                code=TransferCode.ADJUSTMENT,
                reference="unpaid returned or failed payments: "
                + ", ".join(p.id for p in debts)[:150],
            )
        ],
    )
    left = take
    for debt in debts:
        part = min(left, debt.outstanding)
        if part:
            repos.funding.update_payment(debt.id, now, outstanding=debt.outstanding - part)
        left -= part
    if take < owed:
        return None
    return repos.messages.to_customer(
        customer.number,
        "refills_unlocked",
        "Meter refills are available again",
        "Thank you: the returned payment is paid and your meters can be refilled again.",
        {},
    )
