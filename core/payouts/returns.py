"""A payout's credit transfer sent back by the customer's bank: its money is payable
again, for an agent to pay another way."""

from __future__ import annotations

from postroom.core.errors import Conflict, NotFound, ValidationError
from postroom.core.funding.model import check_return_reason, return_reason_code
from postroom.core.ledger.model import AccountKind, TransferCode, TransferRequest
from postroom.core.ledger.service import postage_code
from postroom.core.payouts.context import PayoutContext
from postroom.core.payouts.model import Payout, PayoutPartStatus, PayoutStatus
from postroom.core.payouts.ports import PayoutRepos


class PayoutReturns:
    def __init__(self, context: PayoutContext) -> None:
        self._c = context

    def record_return(self, part_id: str, reason: str) -> Payout:
        """The customer's bank sent a payout's credit transfer back (SEPA return
        ``AC04``, ACH ``R02``...). What it paid is payable again (``payout-return:<part>``
        books it back from payment clearing), the payment counts it as no longer given
        back, and no later run pays it to that payment again: an agent pays it. The
        customer is told. Recording the same return again changes nothing."""
        if not isinstance(part_id, str) or not 0 < len(part_id) <= 40:
            raise ValidationError("a payout refund id is po_...-N", code="invalid_payout_refund")
        code = return_reason_code(reason)
        sources = self._c.sources()

        def work(repos: PayoutRepos) -> tuple[Payout, str | None]:
            owner = repos.payouts.part_owner(part_id)
            customer = None if owner is None else repos.customers.customer_by_id(owner[1])
            if owner is None or customer is None:
                raise NotFound(f"no payout refund {part_id!r}", code="payout_refund_not_found")
            postage = repos.ledger.account_by_code(postage_code(customer.number))
            assert postage is not None
            repos.ledger.lock_accounts([postage.id])  # serialises with a run and a twin return
            payout = repos.payouts.payout(owner[0], customer.id, customer.number)
            assert payout is not None
            part = next(p for p in payout.parts if p.id == part_id)
            if part.status is PayoutPartStatus.RETURNED and part.failure_code == code:
                return payout, None  # recorded already
            source = sources.get(part.source)
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
            repos.ledger.post(
                [
                    TransferRequest(
                        id=f"payout-return:{part.id}",
                        debit=repos.ledger.system_account(
                            AccountKind.PAYMENT_CLEARING, currency
                        ).id,
                        credit=repos.ledger.system_account(AccountKind.REFUNDS, currency).id,
                        amount=part.amount.mills,
                        currency=currency,
                        code=TransferCode.ADJUSTMENT,
                        reference=f"payout refund {part.id} to {customer.number} returned: {code}",
                    )
                ],
            )
            now = self._c.clock.now()
            repos.payouts.update_part(
                part.id,
                now,
                status=PayoutPartStatus.RETURNED.value,
                failure_code=code,
                failure_message=meaning[:300],
            )
            repos.payments.add_refunded(part.payment_id, -part.amount.mills)
            if payout.status is PayoutStatus.PAID:
                repos.payouts.set_status(payout.id, PayoutStatus.PARTIAL, now)
            told = repos.messages.to_customer(
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
            repos.commit()
            done = repos.payouts.payout(payout.id, customer.id, customer.number)
            assert done is not None
            return done, told

        done, told = self._c.write_racing(work)
        self._c.deliver(told)
        return done
