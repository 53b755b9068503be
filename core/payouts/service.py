"""Payouts (``pr.payouts``): the money a closed postage account left in the refunds-payable
account goes back to the customer through the payment sources it came from.

A run spreads what is payable over the customer's settled deposits, newest first, each
giving back at most its amount less what it gave back before (``match_refunds``). Like a
charge, each refund is written first (a ``requested`` part whose id is the source's
idempotency key), then asked of the source between transactions, then recorded: an
accepted refund (a card refund against the original charge, a bank credit transfer to the
debited account) is booked as the ledger transfer ``payout:<part>`` from refunds payable
to payment clearing, in the transaction that records the answer, and counts on the
payment (``refunded``; status ``refunded`` once all of it). A refused refund books
nothing: its money stays payable. What no deposit can take back (funds received outside
a payment source, credit-line draws) stays payable too, listed by ``unmatched`` for an
agent. A run interrupted by a crash is resumed by the next one with the same keys, so no
refund is ever made twice.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from postroom.core.accounts.service import AccountsService
from postroom.core.clock import Clock
from postroom.core.db import Database, UnitOfWork
from postroom.core.errors import Conflict, NotFound, PostroomError, ValidationError
from postroom.core.funding.model import PaymentKind, check_return_reason, return_reason_code
from postroom.core.ledger.model import AccountKind, TransferCode, TransferRequest
from postroom.core.ledger.service import LedgerService, postage_code
from postroom.core.money import Money
from postroom.core.outbox import Outbox
from postroom.core.payouts.model import (
    NOT_PAID,
    Payout,
    PayoutPart,
    PayoutPartStatus,
    PayoutStatus,
    Unmatched,
    match_refunds,
    refundable_room,
)
from postroom.core.payouts.store import PayoutStore
from postroom.core.ports import PaymentResult, PaymentStatus

if TYPE_CHECKING:
    from postroom.core.funding.service import FundingService

log = logging.getLogger(__name__)

#: Deposits into the postage account; credit-line payments and draws are not paid out.
REFUNDABLE_KINDS = (PaymentKind.DEPOSIT, PaymentKind.AUTO_REFILL)
PAYOUT_PREFIX = "payout:"


class PayoutService:
    """``pr.payouts``: refunds payable paid back through the payment sources."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        ledger: LedgerService,
        accounts: AccountsService,
        funding: FundingService,
        outbox: Outbox,
    ) -> None:
        self._db = db
        self._clock = clock
        self._ledger = ledger
        self._accounts = accounts
        self._funding = funding
        self._outbox = outbox

    # ------------------------------------------------------------------- running

    def run(self, customer_number: str) -> Payout | None:
        """Pay back what the customer's closed account left payable (or finish a run a
        crash interrupted). None when nothing is payable or no deposit can take any of
        it back (see ``unmatched``). An open account is ``account_open``: its balance is
        the customer's to spend, and closing moves it to refunds payable."""
        payout_id = self._db.run(lambda uow: self._start(uow, customer_number))
        if payout_id is None:
            return None
        return self._complete(customer_number, payout_id)

    def run_all(self) -> int:
        """The worker's job: a run for every closed account with money payable; returns
        how many payouts it made or finished (0 when nothing is payable: idempotent).
        Credit transfers submitted more than their source's ``settlement_days`` ago
        without coming back are taken as settled first."""
        self.settle_due()
        numbers = self._db.run(lambda uow: self._accounts.closed_customers_in(uow), readonly=True)
        made = 0
        for number in numbers:
            try:
                made += self.run(number) is not None
            except PostroomError as error:
                log.warning("payout of %s failed: %s", number, error.message)
        return made

    def settle_due(self) -> int:
        """Mark submitted refunds settled once their source's settlement period passed;
        returns how many settled now."""
        now = self._clock.now()
        sources = self._funding.sources()

        def work(uow: UnitOfWork) -> int:
            store = PayoutStore(uow.connection)
            settled = 0
            for part_id, code, created_at in store.submitted_parts():
                source = sources.get(code)
                if source is None or created_at + timedelta(days=source.settlement_days) > now:
                    continue
                settled += store.settle_part(part_id, now)
            uow.commit()
            return settled

        return self._db.run(work)

    def _start(self, uow: UnitOfWork, customer_number: str) -> str | None:
        customer = self._accounts.customer_in(uow, customer_number)
        ledger = self._ledger.within(uow)
        postage = ledger.account_by_code(postage_code(customer.number))
        if postage is None:
            raise NotFound(
                f"customer {customer.number} has no postage account", code="no_postage_account"
            )
        ledger.lock_accounts([postage.id])  # one run per customer at a time
        store = PayoutStore(uow.connection)
        running = store.in_progress(customer.id)
        if running is not None:
            return running
        if not self._accounts.is_closed_in(uow, postage.id):
            raise Conflict(
                f"{postage.code} is open: close it first (its balance then moves to "
                "refunds payable)",
                code="account_open",
            )
        payable = self._accounts.closed_refund_in(uow, customer.number) - store.paid_out(
            customer.id
        )
        if payable <= 0:
            return None
        sources = [code for code, s in self._funding.sources().items() if s.kind != "credit_line"]
        parts, unmatched = match_refunds(payable, self._refundable(uow, customer.id, sources))
        if not parts:
            return None
        now = self._clock.now()
        payout_id = "po_" + uuid.uuid4().hex[:20]
        store.add_payout(payout_id, customer.id, customer.currency, payable, unmatched, now)
        for position, (payment_id, amount) in enumerate(parts):
            payment = self._funding.payment_in(uow, payment_id, customer)
            store.add_part(
                f"{payout_id}-{position + 1}",
                payout_id,
                position,
                payment_id,
                payment.source,
                Money(amount, customer.currency),
                now,
            )
        uow.commit()
        return payout_id

    def _refundable(
        self, uow: UnitOfWork, customer_id: int, sources: list[str]
    ) -> list[tuple[str, int]]:
        """(payment id, mills it can still give back) of the customer's settled deposits
        from ``sources``, newest first; a payment whose refund the source refused or the
        bank returned before is left to an agent."""
        taken, refused = PayoutStore(uow.connection).taken_and_refused()
        return refundable_room(
            self._funding.settled_payments_in(uow, customer_id, REFUNDABLE_KINDS, sources),
            taken,
            refused,
        )

    def _complete(self, customer_number: str, payout_id: str) -> Payout:
        payout = self.payout(customer_number, payout_id)
        for part in payout.parts:
            if part.status is PayoutPartStatus.REQUESTED:
                self._refund(payout, part)
        done, told = self._ledger.run_idempotent(
            lambda uow: self._finish(uow, customer_number, payout_id)
        )
        if told is not None:
            self._outbox.deliver([told])
        return done

    def _refund(self, payout: Payout, part: PayoutPart) -> None:
        """Ask the source for one part (its id is the idempotency key), then record it."""

        def read(uow: UnitOfWork) -> tuple[str, dict[str, str]]:
            customer = self._accounts.customer_in(uow, payout.customer_number)
            payment = self._funding.payment_in(uow, part.payment_id, customer)
            details = json.loads(self._funding.instrument_details_in(uow, payment.id))
            return payment.source_reference, dict(details)

        charge_reference, instrument = self._db.run(read, readonly=True)
        source = self._funding.sources().get(part.source)
        if source is None:  # the plugin is gone: leave the part for the next run
            log.error("payout %s: payment source %s is not installed", part.id, part.source)
            return
        try:
            result = source.refund(
                instrument,
                charge_reference,
                part.amount.mills,
                part.amount.currency,
                part.id,
                now=self._clock.now(),
            )
        except Exception:  # unreachable: the part stays requested, the next run asks again
            log.exception("payment source %s failed to refund %s", source.code, part.id)
            return
        if not isinstance(result, PaymentResult) or result.status not in (
            PaymentStatus.PENDING,
            PaymentStatus.SETTLED,
            PaymentStatus.FAILED,
        ):
            log.error("payment source %s answered %r to refund %s", source.code, result, part.id)
            return
        self._ledger.run_idempotent(lambda uow: self._record(uow, payout, part, result))

    def _record(
        self, uow: UnitOfWork, payout: Payout, part: PayoutPart, result: PaymentResult
    ) -> None:
        customer = self._accounts.customer_in(uow, payout.customer_number)
        ledger = self._ledger.within(uow)
        postage = ledger.account_by_code(postage_code(customer.number))
        assert postage is not None
        ledger.lock_accounts([postage.id])  # serialises with a concurrent run
        store = PayoutStore(uow.connection)
        current = store.payout(payout.id, customer.id, customer.number)
        assert current is not None
        if next(p for p in current.parts if p.id == part.id).status is not (
            PayoutPartStatus.REQUESTED
        ):
            return  # recorded by a concurrent run
        now = self._clock.now()
        reference = result.reference[:120] or "-"
        if result.status is PaymentStatus.FAILED:
            store.update_part(
                part.id,
                now,
                status=PayoutPartStatus.FAILED.value,
                source_reference=reference,
                failure_code=(result.failure_code or "refund_refused")[:60],
                failure_message=result.message[:300],
            )
            uow.commit()
            return
        currency = part.amount.currency
        transfer_id = PAYOUT_PREFIX + part.id
        self._ledger.within(uow).post(
            [
                TransferRequest(
                    id=transfer_id,
                    debit=self._ledger.within(uow).system_account(AccountKind.REFUNDS, currency).id,
                    credit=self._ledger.within(uow)
                    .system_account(AccountKind.PAYMENT_CLEARING, currency)
                    .id,
                    amount=part.amount.mills,
                    currency=currency,
                    code=TransferCode.REFUND,
                    reference=f"payout {payout.id} to {customer.number}: refund of "
                    f"payment {part.payment_id} ({part.source})",
                )
            ],
        )
        store.update_part(
            part.id,
            now,
            status=(
                PayoutPartStatus.SETTLED
                if result.status is PaymentStatus.SETTLED
                else PayoutPartStatus.PENDING
            ).value,
            source_reference=reference,
            transfer_id=transfer_id,
        )
        self._funding.add_refunded_in(uow, part.payment_id, part.amount.mills)
        uow.commit()

    def _finish(
        self, uow: UnitOfWork, customer_number: str, payout_id: str
    ) -> tuple[Payout, str | None]:
        """Close the run once every part is answered, and tell the customer (once)."""
        customer = self._accounts.customer_in(uow, customer_number)
        store = PayoutStore(uow.connection)
        payout = store.payout(payout_id, customer.id, customer.number)
        assert payout is not None
        if payout.status is not PayoutStatus.IN_PROGRESS or any(
            p.status is PayoutPartStatus.REQUESTED for p in payout.parts
        ):
            return payout, None
        status = PayoutStatus.PAID if payout.left == 0 else PayoutStatus.PARTIAL
        store.set_status(payout_id, status, self._clock.now())
        paid = Money(payout.paid, customer.currency)
        left = Money(payout.left, customer.currency)
        told = None
        if payout.paid:
            lines = [
                f"- {p.amount} back to payment {p.payment_id} ({p.source})"
                for p in payout.parts
                if p.status not in NOT_PAID
            ]
            told = self._outbox.add_for_customer(
                uow.connection,
                customer.number,
                "payout_sent",
                f"Refund of your closed postage account: {paid}",
                f"We are paying back {paid} of the funds left in your closed postage account, "
                "to the payment methods they came from:\n"
                + "\n".join(lines)
                + (
                    f"\n{left} could not go back this way; our team will contact you."
                    if payout.left
                    else ""
                ),
                {"payout_id": payout_id, "paid": str(paid), "left_payable": str(left)},
            )
        uow.commit()
        found = store.payout(payout_id, customer.id, customer.number)
        assert found is not None
        return found, told

    def record_return(self, part_id: str, reason: str) -> Payout:
        """The customer's bank sent a payout's credit transfer back (SEPA return
        ``AC04``, ACH ``R02``...). What it paid is payable again (``payout-return:<part>``
        books it back from payment clearing), the payment counts it as no longer given
        back, and no later run pays it to that payment again: an agent pays it. The
        customer is told. Recording the same return again changes nothing."""
        if not isinstance(part_id, str) or not 0 < len(part_id) <= 40:
            raise ValidationError("a payout refund id is po_...-N", code="invalid_payout_refund")
        code = return_reason_code(reason)

        def work(uow: UnitOfWork) -> tuple[Payout, str | None]:
            store = PayoutStore(uow.connection)
            owner = store.part_owner(part_id)
            customer = None if owner is None else self._accounts.customer_by_id_in(uow, owner[1])
            if owner is None or customer is None:
                raise NotFound(f"no payout refund {part_id!r}", code="payout_refund_not_found")
            ledger = self._ledger.within(uow)
            postage = ledger.account_by_code(postage_code(customer.number))
            assert postage is not None
            ledger.lock_accounts([postage.id])  # serialises with a run and a twin return
            payout = store.payout(owner[0], customer.id, customer.number)
            assert payout is not None
            part = next(p for p in payout.parts if p.id == part_id)
            if part.status is PayoutPartStatus.RETURNED and part.failure_code == code:
                return payout, None  # recorded already
            source = self._funding.sources().get(part.source)
            returnable = source is not None and bool(source.return_codes)
            if (
                part.status not in (PayoutPartStatus.PENDING, PayoutPartStatus.SETTLED)
                or part.transfer_id is None
                or not returnable
            ):
                raise Conflict(
                    f"payout refund {part_id} ({part.source}, {part.status.value}) cannot be "
                    "returned",
                    code="payout_not_returnable",
                )
            assert source is not None
            meaning = check_return_reason(source, code)
            currency = part.amount.currency
            self._ledger.within(uow).post(
                [
                    TransferRequest(
                        id=f"payout-return:{part.id}",
                        debit=self._ledger.within(uow)
                        .system_account(AccountKind.PAYMENT_CLEARING, currency)
                        .id,
                        credit=self._ledger.within(uow)
                        .system_account(AccountKind.REFUNDS, currency)
                        .id,
                        amount=part.amount.mills,
                        currency=currency,
                        code=TransferCode.ADJUSTMENT,
                        reference=f"payout refund {part.id} to {customer.number} returned: {code}",
                    )
                ],
            )
            now = self._clock.now()
            store.update_part(
                part.id,
                now,
                status=PayoutPartStatus.RETURNED.value,
                failure_code=code,
                failure_message=meaning[:300],
            )
            self._funding.add_refunded_in(uow, part.payment_id, -part.amount.mills)
            if payout.status is PayoutStatus.PAID:
                store.set_status(payout.id, PayoutStatus.PARTIAL, now)
            told = self._outbox.add_for_customer(
                uow.connection,
                customer.number,
                "payout_returned",
                f"A refund of your closed postage account came back: {part.amount}",
                f"Your bank returned the {part.amount} we paid back to payment "
                f"{part.payment_id} ({meaning}). The money is still yours: "
                "our team will contact you to pay it another way.",
                {
                    "payout_id": payout.id,
                    "refund_id": part.id,
                    "amount": str(part.amount),
                    "reason": code,
                },
            )
            uow.commit()
            done = store.payout(payout.id, customer.id, customer.number)
            assert done is not None
            return done, told

        done, told = self._ledger.run_idempotent(work)
        if told is not None:
            self._outbox.deliver([told])
        return done

    # ------------------------------------------------------------------- reading

    def payouts(self, customer_number: str, *, limit: int = 50) -> list[Payout]:
        """The customer's payouts, newest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ValidationError("limit is 1 to 1000", code="invalid_limit")

        def work(uow: UnitOfWork) -> list[Payout]:
            customer = self._accounts.customer_in(uow, customer_number)
            store = PayoutStore(uow.connection)
            found = []
            for payout_id in store.payout_ids(customer.id, limit):
                payout = store.payout(payout_id, customer.id, customer.number)
                assert payout is not None
                found.append(payout)
            return found

        return self._db.run(work, readonly=True)

    def payout(self, customer_number: str, payout_id: str) -> Payout:
        """The customer's payout; another customer's is ``payout_not_found``."""

        def work(uow: UnitOfWork) -> Payout | None:
            customer = self._accounts.customer_in(uow, customer_number)
            if not isinstance(payout_id, str) or len(payout_id) > 40:
                return None
            return PayoutStore(uow.connection).payout(payout_id, customer.id, customer.number)

        found = self._db.run(work, readonly=True)
        if found is None:
            raise NotFound(f"no payout {payout_id!r}", code="payout_not_found")
        return found

    def payable(self, customer_number: str) -> Money:
        """What the refunds-payable account still owes the customer (payouts under way
        and accepted refunds deducted)."""

        def work(uow: UnitOfWork) -> Money:
            customer = self._accounts.customer_in(uow, customer_number)
            store = PayoutStore(uow.connection)
            owed = self._accounts.closed_refund_in(uow, customer.number) - store.paid_out(
                customer.id
            )
            return Money(owed, customer.currency)

        return self._db.run(work, readonly=True)

    def unmatched(self) -> list[Unmatched]:
        """Money payable that no deposit can take back (funds received outside a payment
        source, credit-line draws, refunds a source refused or a bank returned): an agent
        pays it."""
        sources = [code for code, s in self._funding.sources().items() if s.kind != "credit_line"]

        def work(uow: UnitOfWork) -> list[Unmatched]:
            store = PayoutStore(uow.connection)
            found = []
            for number in self._accounts.closed_customers_in(uow):
                customer = self._accounts.customer_by_number_in(uow, number)
                if customer is None:
                    continue
                payable = self._accounts.closed_refund_in(uow, number) - store.paid_out(customer.id)
                if payable <= 0:
                    continue
                _, left = match_refunds(payable, self._refundable(uow, customer.id, sources))
                if left:
                    found.append(Unmatched(number, Money(left, customer.currency)))
            return found

        return self._db.run(work, readonly=True)
