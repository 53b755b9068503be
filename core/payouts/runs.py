"""A payout run: what a closed account left payable, spread over the customer's settled
deposits (newest first), each part asked of its source between transactions (the part's
id is the source's idempotency key), then recorded; the run closes once every part is
answered and the customer is told once."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta

from postroom.core.errors import Conflict, NotFound, PostroomError
from postroom.core.funding.model import PaymentKind
from postroom.core.ledger.model import AccountKind, TransferCode, TransferRequest
from postroom.core.ledger.service import postage_code
from postroom.core.money import Money
from postroom.core.payouts.context import PayoutContext
from postroom.core.payouts.model import (
    NOT_PAID,
    Payout,
    PayoutPart,
    PayoutPartStatus,
    PayoutStatus,
    match_refunds,
    refundable_room,
)
from postroom.core.payouts.ports import PayoutRepos
from postroom.core.ports import PaymentResult, PaymentStatus

log = logging.getLogger(__name__)

#: Deposits into the postage account; credit-line payments and draws are not paid out.
REFUNDABLE_KINDS = (PaymentKind.DEPOSIT, PaymentKind.AUTO_REFILL)
PAYOUT_PREFIX = "payout:"


class PayoutRuns:
    def __init__(self, context: PayoutContext) -> None:
        self._c = context

    def run(self, customer_number: str) -> Payout | None:
        """Pay back what the customer's closed account left payable (or finish a run a
        crash interrupted). None when nothing is payable or no deposit can take any of
        it back (see ``unmatched``). An open account is ``account_open``: its balance is
        the customer's to spend, and closing moves it to refunds payable."""
        payout_id = self._c.write(lambda repos: self._start(repos, customer_number))
        if payout_id is None:
            return None
        return self._complete(customer_number, payout_id)

    def run_all(self) -> int:
        """The worker's job: a run for every closed account with money payable; returns
        how many payouts it made or finished (0 when nothing is payable: idempotent).
        Credit transfers submitted more than their source's ``settlement_days`` ago
        without coming back are taken as settled first."""
        self.settle_due()
        numbers = self._c.read(lambda repos: repos.customers.closed_customers())
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
        now = self._c.clock.now()
        sources = self._c.sources()

        def work(repos: PayoutRepos) -> int:
            settled = 0
            for part_id, code, created_at in repos.payouts.submitted_parts():
                source = sources.get(code)
                if source is None or created_at + timedelta(days=source.settlement_days) > now:
                    continue
                settled += repos.payouts.settle_part(part_id, now)
            repos.commit()
            return settled

        return self._c.write(work)

    # ------------------------------------------------------------------ steps

    def _start(self, repos: PayoutRepos, customer_number: str) -> str | None:
        customer = repos.customers.customer(customer_number)
        postage = repos.ledger.account_by_code(postage_code(customer.number))
        if postage is None:
            raise NotFound(
                f"customer {customer.number} has no postage account", code="no_postage_account"
            )
        repos.ledger.lock_accounts([postage.id])  # one run per customer at a time
        running = repos.payouts.in_progress(customer.id)
        if running is not None:
            return running
        if not repos.customers.is_closed(postage.id):
            raise Conflict(
                f"{postage.code} is open: close it first (its balance then moves to "
                "refunds payable)",
                code="account_open",
            )
        payable = repos.customers.closed_refund(customer.number) - repos.payouts.paid_out(
            customer.id
        )
        if payable <= 0:
            return None
        parts, unmatched = match_refunds(
            payable, refundable(repos, customer.id, self._c.refundable_sources())
        )
        if not parts:
            return None
        now = self._c.clock.now()
        payout_id = "po_" + uuid.uuid4().hex[:20]
        repos.payouts.add_payout(payout_id, customer.id, customer.currency, payable, unmatched, now)
        for position, (payment_id, amount) in enumerate(parts):
            payment = repos.payments.payment(payment_id, customer)
            repos.payouts.add_part(
                f"{payout_id}-{position + 1}",
                payout_id,
                position,
                payment_id,
                payment.source,
                Money(amount, customer.currency),
                now,
            )
        repos.commit()
        return payout_id

    def _complete(self, customer_number: str, payout_id: str) -> Payout:
        payout = self._payout(customer_number, payout_id)
        for part in payout.parts:
            if part.status is PayoutPartStatus.REQUESTED:
                self._refund(payout, part)
        done, told = self._c.write_racing(
            lambda repos: self._finish(repos, customer_number, payout_id)
        )
        self._c.deliver(told)
        return done

    def _payout(self, customer_number: str, payout_id: str) -> Payout:
        def work(repos: PayoutRepos) -> Payout:
            customer = repos.customers.customer(customer_number)
            found = repos.payouts.payout(payout_id, customer.id, customer.number)
            assert found is not None
            return found

        return self._c.read(work)

    def _refund(self, payout: Payout, part: PayoutPart) -> None:
        """Ask the source for one part (its id is the idempotency key), then record it."""

        def read(repos: PayoutRepos) -> tuple[str, dict[str, str]]:
            customer = repos.customers.customer(payout.customer_number)
            payment = repos.payments.payment(part.payment_id, customer)
            details = json.loads(repos.payments.instrument_details(payment.id))
            return payment.source_reference, dict(details)

        charge_reference, instrument = self._c.read(read)
        source = self._c.sources().get(part.source)
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
                now=self._c.clock.now(),
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
        self._c.write_racing(lambda repos: self._record(repos, payout, part, result))

    def _record(
        self, repos: PayoutRepos, payout: Payout, part: PayoutPart, result: PaymentResult
    ) -> None:
        customer = repos.customers.customer(payout.customer_number)
        postage = repos.ledger.account_by_code(postage_code(customer.number))
        assert postage is not None
        repos.ledger.lock_accounts([postage.id])  # serialises with a concurrent run
        current = repos.payouts.payout(payout.id, customer.id, customer.number)
        assert current is not None
        if next(p for p in current.parts if p.id == part.id).status is not (
            PayoutPartStatus.REQUESTED
        ):
            return  # recorded by a concurrent run
        now = self._c.clock.now()
        reference = result.reference[:120] or "-"
        if result.status is PaymentStatus.FAILED:
            repos.payouts.update_part(
                part.id,
                now,
                status=PayoutPartStatus.FAILED.value,
                source_reference=reference,
                failure_code=(result.failure_code or "refund_refused")[:60],
                failure_message=result.message[:300],
            )
            repos.commit()
            return
        currency = part.amount.currency
        transfer_id = PAYOUT_PREFIX + part.id
        repos.ledger.post(
            [
                TransferRequest(
                    id=transfer_id,
                    debit=repos.ledger.system_account(AccountKind.REFUNDS, currency).id,
                    credit=repos.ledger.system_account(AccountKind.PAYMENT_CLEARING, currency).id,
                    amount=part.amount.mills,
                    currency=currency,
                    code=TransferCode.REFUND,
                    reference=f"payout {payout.id} to {customer.number}: refund of "
                    f"payment {part.payment_id} ({part.source})",
                )
            ],
        )
        repos.payouts.update_part(
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
        repos.payments.add_refunded(part.payment_id, part.amount.mills)
        repos.commit()

    def _finish(
        self, repos: PayoutRepos, customer_number: str, payout_id: str
    ) -> tuple[Payout, str | None]:
        """Close the run once every part is answered, and tell the customer (once)."""
        customer = repos.customers.customer(customer_number)
        payout = repos.payouts.payout(payout_id, customer.id, customer.number)
        assert payout is not None
        if payout.status is not PayoutStatus.IN_PROGRESS or any(
            p.status is PayoutPartStatus.REQUESTED for p in payout.parts
        ):
            return payout, None
        status = PayoutStatus.PAID if payout.left == 0 else PayoutStatus.PARTIAL
        repos.payouts.set_status(payout_id, status, self._c.clock.now())
        paid = Money(payout.paid, customer.currency)
        left = Money(payout.left, customer.currency)
        told = None
        if payout.paid:
            lines = [
                f"- {p.amount} back to payment {p.payment_id} ({p.source})"
                for p in payout.parts
                if p.status not in NOT_PAID
            ]
            told = repos.messages.to_customer(
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
        repos.commit()
        found = repos.payouts.payout(payout_id, customer.id, customer.number)
        assert found is not None
        return found, told


def refundable(repos: PayoutRepos, customer_id: int, sources: list[str]) -> list[tuple[str, int]]:
    """(payment id, mills it can still give back) of the customer's settled deposits
    from ``sources``, newest first; a payment whose refund the source refused or the
    bank returned before is left to an agent."""
    taken, refused = repos.payouts.taken_and_refused()
    return refundable_room(
        repos.payments.settled_payments(customer_id, REFUNDABLE_KINDS, sources), taken, refused
    )
