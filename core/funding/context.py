"""What every funding use case shares: its transactions and repositories, the clock,
the payment sources and the outbox, and the small lookups they all make."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import attrs
from sqlalchemy.exc import IntegrityError

from postroom.core.accounts.model import CustomerAccount
from postroom.core.clock import Clock
from postroom.core.errors import NotFound
from postroom.core.funding.model import INSTRUMENT_ID, Instrument, Payment
from postroom.core.funding.ports import Deliverer, FundingRepos, Repositories, Transactions
from postroom.core.funding.sources import PaymentSources
from postroom.core.ledger.model import AccountKind, LedgerAccount
from postroom.core.ledger.service import postage_code

T = TypeVar("T")

#: The regulation behind the refill lock, quoted in errors and notifications.
REFILL_LOCK_RULE = "39 CFR 501.16"


def credit_line_code(customer_number: str) -> str:
    return f"credit_line:{customer_number}"


@attrs.frozen
class FundingContext:
    transactions: Transactions
    repositories: Repositories
    clock: Clock
    sources: PaymentSources
    outbox: Deliverer

    def read(self, work: Callable[[FundingRepos], T]) -> T:
        """``work`` in a read-only transaction."""
        return self.transactions.run(lambda uow: work(self.repositories(uow)), readonly=True)

    def write(self, work: Callable[[FundingRepos], T]) -> T:
        """``work`` in one transaction; it commits what should stand."""
        return self.transactions.run(lambda uow: work(self.repositories(uow)))

    def write_racing(self, work: Callable[[FundingRepos], T]) -> T:
        """``write``, run again once after losing a race on a unique key (one idempotency
        key sent twice at once, a statement made twice): now seeing the winner's rows."""
        try:
            return self.write(work)
        except IntegrityError:
            return self.write(work)

    def deliver(self, message_id: str | None) -> None:
        """Deliver a message the committed transaction queued (if it queued one)."""
        if message_id is not None:
            self.outbox.deliver([message_id])


def find_instrument(
    repos: FundingRepos, customer: CustomerAccount, instrument_id: str
) -> Instrument:
    """The customer's instrument; another customer's is ``instrument_not_found``."""
    clean = instrument_id.strip() if isinstance(instrument_id, str) else ""
    found = None
    if INSTRUMENT_ID.fullmatch(clean):
        found = repos.funding.instrument(clean, customer.id, customer.number)
    if found is None:
        raise NotFound(f"no payment instrument {instrument_id!r}", code="instrument_not_found")
    return found


def payment_for_update(repos: FundingRepos, payment_id: str) -> tuple[CustomerAccount, Payment]:
    """The payment and its customer, with the customer's postage account locked first:
    returns, settlements and deposits of one customer serialise on it (SQLite's BEGIN
    IMMEDIATE does so already)."""
    owner = repos.funding.payment_owner(payment_id)
    customer = None if owner is None else repos.customers.customer_by_id(owner)
    if customer is None:
        raise NotFound(f"no payment {payment_id!r}", code="payment_not_found")
    postage = repos.ledger.account_by_code(postage_code(customer.number))
    if postage is not None:
        repos.ledger.lock_accounts([postage.id])
    payment = repos.funding.payment(payment_id, customer.id, customer.number)
    assert payment is not None
    return customer, payment


def clearing(repos: FundingRepos, currency: str) -> LedgerAccount:
    return repos.ledger.system_account(AccountKind.PAYMENT_CLEARING, currency)


def must(account: LedgerAccount | None) -> LedgerAccount:
    if account is None:
        raise NotFound("the ledger account is missing", code="account_not_found")
    return account


def available(account: LedgerAccount) -> int:
    """What may still be debited from ``account``, its credit limit included."""
    return account.balances.available + account.credit_limit
