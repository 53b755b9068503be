"""What funding's use cases need around them, as Protocols, so that they run on the real
database (``sql_repositories``) or on in-memory fakes (tests/unit/fakes_funding.py).

A use case asks its ``Transactions`` to run a piece of work in one transaction; the work
gets the transaction's ``FundingRepos``: funding's own rows (``FundingRepository``, in
store.py), the ledger inside that transaction (``LedgerPort``), the customer accounts
(``CustomersPort``) and the outbox (``MessagesPort``). Messages are delivered
(``Deliverer``) after the commit that wrote them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, TypeVar

import attrs

from postroom.core.accounts.model import CustomerAccount
from postroom.core.db import UnitOfWork
from postroom.core.ledger.model import (
    AccountKind,
    LedgerAccount,
    Phase,
    Transfer,
    TransferCode,
    TransferRequest,
)
from postroom.core.money import Money

if TYPE_CHECKING:
    from postroom.core.accounts.service import AccountsService
    from postroom.core.funding.store import FundingRepository
    from postroom.core.ledger.service import LedgerService
    from postroom.core.outbox import Outbox

T = TypeVar("T")


class Transactions(Protocol):
    """Runs work in one transaction (``Database.run``: retried on serialization failures)."""

    def run(self, work: Callable[[UnitOfWork], T], *, readonly: bool = False) -> T: ...


class LedgerPort(Protocol):
    """The ledger inside funding's transaction (``LedgerService.within``): the reads
    and the one way to post that funding uses."""

    def post(self, requests: Sequence[TransferRequest]) -> list[Transfer]: ...

    def deposit(
        self, customer_number: str, amount: Money, transfer_id: str, *, reference: str = ""
    ) -> Transfer: ...

    def add_account(
        self,
        code: str,
        kind: AccountKind,
        currency: str,
        owner_id: int | None,
        credit_limit: int,
        debits_must_not_exceed_credits: bool,
        credits_must_not_exceed_debits: bool,
    ) -> LedgerAccount: ...

    def postage_account(self, customer_number: str, *, create: bool = False) -> LedgerAccount: ...

    def system_account(
        self, kind: AccountKind, currency: str, operator: str | None = None
    ) -> LedgerAccount: ...

    def account_by_code(self, code: str) -> LedgerAccount | None: ...

    def accounts(self, *, owner_id: int | None = None) -> list[LedgerAccount]: ...

    def lock_accounts(self, ids: Iterable[int]) -> dict[int, LedgerAccount]: ...

    def codes_by_id(self, ids: Iterable[int]) -> dict[int, str]: ...

    def owner_of(self, account_id: int) -> int | None: ...

    def transfers_by_id(self, ids: Iterable[str]) -> dict[str, Transfer]: ...

    def resolutions_of(self, pending_ids: Iterable[str]) -> dict[str, Transfer]: ...

    def transfers_touching(
        self,
        account_ids: Iterable[int],
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        codes: Iterable[TransferCode] | None = None,
        phases: Iterable[Phase] | None = None,
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = False,
    ) -> list[Transfer]: ...


class CustomersPort(Protocol):
    """The accounts area inside funding's transaction."""

    def customer(self, customer_number: str) -> CustomerAccount:
        """The customer numbered ``customer_number``: ``account_not_found`` if none."""
        ...

    def customer_by_id(self, customer_id: int) -> CustomerAccount | None: ...

    def is_closed(self, ledger_account_id: int) -> bool:
        """Whether the postage account ``ledger_account_id`` was closed."""
        ...


class MessagesPort(Protocol):
    """The outbox inside funding's transaction."""

    def to_customer(
        self, customer_number: str, kind: str, subject: str, body: str, data: Mapping[str, str]
    ) -> str:
        """Queue a message to the customer with the transaction; its id, to deliver after
        the commit."""
        ...


class Deliverer(Protocol):
    def deliver(self, message_ids: Iterable[str]) -> int: ...


@attrs.frozen
class FundingRepos:
    """What one transaction of a funding use case reads and writes."""

    funding: FundingRepository
    ledger: LedgerPort
    customers: CustomersPort
    messages: MessagesPort
    #: Make the transaction's writes stand (without it they roll back).
    commit: Callable[[], None]


#: How a use case gets the repositories of its transaction.
Repositories = Callable[[UnitOfWork], FundingRepos]


@attrs.frozen
class _SqlCustomers:
    accounts: AccountsService
    uow: UnitOfWork

    def customer(self, customer_number: str) -> CustomerAccount:
        return self.accounts.customer_in(self.uow, customer_number)

    def customer_by_id(self, customer_id: int) -> CustomerAccount | None:
        return self.accounts.customer_by_id_in(self.uow, customer_id)

    def is_closed(self, ledger_account_id: int) -> bool:
        return self.accounts.is_closed_in(self.uow, ledger_account_id)


@attrs.frozen
class _SqlMessages:
    outbox: Outbox
    uow: UnitOfWork

    def to_customer(
        self, customer_number: str, kind: str, subject: str, body: str, data: Mapping[str, str]
    ) -> str:
        return self.outbox.add_for_customer(
            self.uow.connection, customer_number, kind, subject, body, data
        )


def sql_messages(outbox: Outbox, uow: UnitOfWork) -> MessagesPort:
    """The outbox in the transaction's connection."""
    return _SqlMessages(outbox, uow)


def sql_repositories(
    ledger: LedgerService, accounts: AccountsService, outbox: Outbox
) -> Repositories:
    """The repositories on the database, in the transaction's connection."""
    from postroom.core.funding.store import FundingStore

    def make(uow: UnitOfWork) -> FundingRepos:
        return FundingRepos(
            FundingStore(uow.connection),
            ledger.within(uow),
            _SqlCustomers(accounts, uow),
            sql_messages(outbox, uow),
            uow.commit,
        )

    return make
