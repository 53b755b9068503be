"""What every payouts use case shares: its transactions and repositories, the clock,
the payment sources (funding's) and the outbox."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

import attrs
from sqlalchemy.exc import IntegrityError

from postroom.core.clock import Clock
from postroom.core.funding.ports import Deliverer, Transactions
from postroom.core.payouts.ports import PayoutRepos, Repositories
from postroom.core.ports import PaymentSource

T = TypeVar("T")


@attrs.frozen
class PayoutContext:
    transactions: Transactions
    repositories: Repositories
    clock: Clock
    #: The registered payment sources by code (``FundingService.sources``).
    sources: Callable[[], Mapping[str, PaymentSource]]
    outbox: Deliverer

    def read(self, work: Callable[[PayoutRepos], T]) -> T:
        """``work`` in a read-only transaction."""
        return self.transactions.run(lambda uow: work(self.repositories(uow)), readonly=True)

    def write(self, work: Callable[[PayoutRepos], T]) -> T:
        """``work`` in one transaction; it commits what should stand."""
        return self.transactions.run(lambda uow: work(self.repositories(uow)))

    def write_racing(self, work: Callable[[PayoutRepos], T]) -> T:
        """``write``, run again once after losing a race on a unique key (a ledger
        transfer id written twice at once): now seeing the winner's rows."""
        try:
            return self.write(work)
        except IntegrityError:
            return self.write(work)

    def deliver(self, message_id: str | None) -> None:
        if message_id is not None:
            self.outbox.deliver([message_id])

    def refundable_sources(self) -> list[str]:
        """The sources a payout may give back through: not the credit line."""
        return [code for code, s in self.sources().items() if s.kind != "credit_line"]
