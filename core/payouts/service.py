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

The use cases live in runs.py (``PayoutRuns``) and returns.py (``PayoutReturns``); they
reach the database only through ``ports.PayoutRepos``, so the unit tests run them on
in-memory fakes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from postroom.core.accounts.service import AccountsService
from postroom.core.clock import Clock
from postroom.core.db import Database
from postroom.core.errors import NotFound, ValidationError
from postroom.core.ledger.service import LedgerService
from postroom.core.money import Money
from postroom.core.outbox import Outbox
from postroom.core.payouts.context import PayoutContext
from postroom.core.payouts.model import Payout, Unmatched, match_refunds
from postroom.core.payouts.ports import PayoutRepos, sql_repositories
from postroom.core.payouts.returns import PayoutReturns
from postroom.core.payouts.runs import PayoutRuns, refundable

if TYPE_CHECKING:
    from postroom.core.funding.service import FundingService


class PayoutService:
    """``pr.payouts``: refunds payable paid back through the payment sources."""

    def __init__(self, context: PayoutContext) -> None:
        """The use cases on ``context``'s transactions and repositories (the unit tests
        hand in fakes); ``on_database`` builds the real one."""
        self._c = context
        runs = PayoutRuns(context)
        self.run = runs.run
        self.run_all = runs.run_all
        self.settle_due = runs.settle_due
        self.record_return = PayoutReturns(context).record_return

    @classmethod
    def on_database(
        cls,
        db: Database,
        clock: Clock,
        ledger: LedgerService,
        accounts: AccountsService,
        funding: FundingService,
        outbox: Outbox,
    ) -> PayoutService:
        """``pr.payouts``: on the database, funding's payments and sources, the outbox."""
        return cls(
            PayoutContext(
                db,
                sql_repositories(ledger, accounts, funding, outbox),
                clock,
                funding.sources,
                outbox,
            )
        )

    # ------------------------------------------------------------------- reading

    def payouts(self, customer_number: str, *, limit: int = 50) -> list[Payout]:
        """The customer's payouts, newest first."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ValidationError("limit is 1 to 1000", code="invalid_limit")

        def work(repos: PayoutRepos) -> list[Payout]:
            customer = repos.customers.customer(customer_number)
            found = []
            for payout_id in repos.payouts.payout_ids(customer.id, limit):
                payout = repos.payouts.payout(payout_id, customer.id, customer.number)
                assert payout is not None
                found.append(payout)
            return found

        return self._c.read(work)

    def payout(self, customer_number: str, payout_id: str) -> Payout:
        """The customer's payout; another customer's is ``payout_not_found``."""

        def work(repos: PayoutRepos) -> Payout | None:
            customer = repos.customers.customer(customer_number)
            if not isinstance(payout_id, str) or len(payout_id) > 40:
                return None
            return repos.payouts.payout(payout_id, customer.id, customer.number)

        found = self._c.read(work)
        if found is None:
            raise NotFound(f"no payout {payout_id!r}", code="payout_not_found")
        return found

    def payable(self, customer_number: str) -> Money:
        """What the refunds-payable account still owes the customer (payouts under way
        and accepted refunds deducted)."""

        def work(repos: PayoutRepos) -> Money:
            customer = repos.customers.customer(customer_number)
            owed = repos.customers.closed_refund(customer.number) - repos.payouts.paid_out(
                customer.id
            )
            return Money(owed, customer.currency)

        return self._c.read(work)

    def unmatched(self) -> list[Unmatched]:
        """Money payable that no deposit can take back (funds received outside a payment
        source, credit-line draws, refunds a source refused or a bank returned): an agent
        pays it."""
        sources = self._c.refundable_sources()

        def work(repos: PayoutRepos) -> list[Unmatched]:
            found = []
            for number in repos.customers.closed_customers():
                customer = repos.customers.customer_by_number(number)
                if customer is None:
                    continue
                payable = repos.customers.closed_refund(number) - repos.payouts.paid_out(
                    customer.id
                )
                if payable <= 0:
                    continue
                _, left = match_refunds(payable, refundable(repos, customer.id, sources))
                if left:
                    found.append(Unmatched(number, Money(left, customer.currency)))
            return found

        return self._c.read(work)
