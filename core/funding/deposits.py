"""Manual deposits: a staff member credits funds received outside any payment source
(a cheque, a wire, a goodwill credit), with the audit row saying who, when, why and how
much, committed with the ledger transfer."""

from __future__ import annotations

import logging

import attrs

from postroom.core.errors import Conflict, ValidationError
from postroom.core.funding.context import FundingContext
from postroom.core.funding.model import ManualDeposit, check_reason, check_staff
from postroom.core.funding.ports import FundingRepos
from postroom.core.ledger.model import check_amount, check_transfer_id
from postroom.core.money import Money

log = logging.getLogger(__name__)


class ManualDeposits:
    def __init__(self, context: FundingContext) -> None:
        self._c = context

    def manual_deposit(
        self,
        customer_number: str,
        amount: Money,
        transfer_id: str,
        *,
        staff: str,
        reason: str,
        reference: str = "",
    ) -> ManualDeposit:
        """A staff member credits funds received outside any payment source: payment
        clearing -> postage account, and the audit row, committed together.

        The only way money enters a postage account other than a payment source's
        settled charge; no customer-facing route calls it. The same ``transfer_id``
        again answers the first deposit; with another body it is ``transfer_id_reused``.
        """
        clean_id = check_transfer_id(transfer_id)
        who, why = check_staff(staff), check_reason(reason)
        if not isinstance(amount, Money):
            raise ValidationError("amount is a Money", code="invalid_amount")
        check_amount(amount.mills)
        if not isinstance(reference, str) or len(reference) > 200 or not reference.isprintable():
            raise ValidationError(
                "reference is at most 200 printable characters", code="invalid_reference"
            )
        now = self._c.clock.now()

        def work(repos: FundingRepos) -> ManualDeposit:
            customer = repos.customers.customer(customer_number)
            deposit = ManualDeposit(
                clean_id, customer.number, amount, who, why, reference, created_at=now
            )
            existing = repos.funding.manual_deposit(clean_id)
            if existing is not None:
                if attrs.evolve(existing, created_at=now) != deposit:
                    raise Conflict(
                        f"transfer id {clean_id} was used for another deposit",
                        code="transfer_id_reused",
                    )
                return existing
            # the ledger's deposit, checked under its lock, in this transaction with its audit
            repos.ledger.deposit(customer.number, amount, clean_id, reference=reference)
            repos.funding.add_manual_deposit(customer.id, deposit)
            repos.commit()
            log.info(
                "manual deposit %s of %s to %s by %s: %s",
                clean_id,
                amount,
                customer.number,
                who,
                why,
            )
            return deposit

        return self._c.write_racing(work)

    def manual_deposits(
        self, customer_number: str | None = None, *, limit: int = 50, offset: int = 0
    ) -> list[ManualDeposit]:
        """The audit of manual deposits, newest first: one customer's, or everyone's."""

        def work(repos: FundingRepos) -> list[ManualDeposit]:
            customer_id = (
                None if customer_number is None else repos.customers.customer(customer_number).id
            )
            return repos.funding.manual_deposits(customer_id, limit=limit, offset=offset)

        return self._c.read(work)
