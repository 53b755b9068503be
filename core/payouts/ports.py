"""What the payouts' use cases need around them, as Protocols: on the database
(``sql_repositories``) or on in-memory fakes (tests/unit/fakes_funding.py).

A transaction's ``PayoutRepos``: the payouts' own rows (``PayoutRepository``, in
store.py), the ledger (funding's ``LedgerPort``), the closed customer accounts
(``ClosedAccountsPort``), the payments a payout gives back through (``PaymentsPort``,
funding's) and the outbox (funding's ``MessagesPort``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import attrs

from postroom.core.accounts.model import CustomerAccount
from postroom.core.db import UnitOfWork
from postroom.core.funding.model import Payment
from postroom.core.funding.ports import LedgerPort, MessagesPort, sql_messages

if TYPE_CHECKING:
    from postroom.core.accounts.service import AccountsService
    from postroom.core.funding.service import FundingService
    from postroom.core.ledger.service import LedgerService
    from postroom.core.outbox import Outbox
    from postroom.core.payouts.store import PayoutRepository


class ClosedAccountsPort(Protocol):
    """The accounts area inside the payouts' transaction."""

    def customer(self, customer_number: str) -> CustomerAccount: ...

    def customer_by_id(self, customer_id: int) -> CustomerAccount | None: ...

    def customer_by_number(self, number: str) -> CustomerAccount | None: ...

    def is_closed(self, ledger_account_id: int) -> bool: ...

    def closed_refund(self, customer_number: str) -> int:
        """Mills the closing of the customer's postage account moved to refunds payable."""
        ...

    def closed_customers(self) -> list[str]:
        """Customer numbers whose closing left money payable, oldest closing first."""
        ...


class PaymentsPort(Protocol):
    """Funding's payments inside the payouts' transaction."""

    def payment(self, payment_id: str, customer: CustomerAccount) -> Payment:
        """The customer's payment (``payment_not_found`` if not theirs)."""
        ...

    def settled_payments(
        self, customer_id: int, kinds: tuple[str, ...], sources: list[str]
    ) -> list[tuple[str, int]]: ...

    def instrument_details(self, payment_id: str) -> str: ...

    def add_refunded(self, payment_id: str, mills: int) -> None: ...


@attrs.frozen
class PayoutRepos:
    """What one transaction of a payouts use case reads and writes."""

    payouts: PayoutRepository
    ledger: LedgerPort
    customers: ClosedAccountsPort
    payments: PaymentsPort
    messages: MessagesPort
    commit: Callable[[], None]


#: How a use case gets the repositories of its transaction.
Repositories = Callable[[UnitOfWork], PayoutRepos]


@attrs.frozen
class _SqlClosedAccounts:
    accounts: AccountsService
    uow: UnitOfWork

    def customer(self, customer_number: str) -> CustomerAccount:
        return self.accounts.customer_in(self.uow, customer_number)

    def customer_by_id(self, customer_id: int) -> CustomerAccount | None:
        return self.accounts.customer_by_id_in(self.uow, customer_id)

    def customer_by_number(self, number: str) -> CustomerAccount | None:
        return self.accounts.customer_by_number_in(self.uow, number)

    def is_closed(self, ledger_account_id: int) -> bool:
        return self.accounts.is_closed_in(self.uow, ledger_account_id)

    def closed_refund(self, customer_number: str) -> int:
        return self.accounts.closed_refund_in(self.uow, customer_number)

    def closed_customers(self) -> list[str]:
        return self.accounts.closed_customers_in(self.uow)


@attrs.frozen
class _SqlPayments:
    funding: FundingService
    uow: UnitOfWork

    def payment(self, payment_id: str, customer: CustomerAccount) -> Payment:
        return self.funding.payment_in(self.uow, payment_id, customer)

    def settled_payments(
        self, customer_id: int, kinds: tuple[str, ...], sources: list[str]
    ) -> list[tuple[str, int]]:
        return self.funding.settled_payments_in(self.uow, customer_id, kinds, sources)

    def instrument_details(self, payment_id: str) -> str:
        return self.funding.instrument_details_in(self.uow, payment_id)

    def add_refunded(self, payment_id: str, mills: int) -> None:
        self.funding.add_refunded_in(self.uow, payment_id, mills)


def sql_repositories(
    ledger: LedgerService, accounts: AccountsService, funding: FundingService, outbox: Outbox
) -> Repositories:
    """The repositories on the database, in the transaction's connection."""
    from postroom.core.payouts.store import PayoutStore

    def make(uow: UnitOfWork) -> PayoutRepos:
        return PayoutRepos(
            PayoutStore(uow.connection),
            ledger.within(uow),
            _SqlClosedAccounts(accounts, uow),
            _SqlPayments(funding, uow),
            sql_messages(outbox, uow),
            uow.commit,
        )

    return make
