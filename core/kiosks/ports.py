"""What the kiosks area needs from outside it, as Protocols the composition root wires:
the parts of ``pr.accounts`` and ``pr.rates`` it calls, and the database's transactions,
narrowed so that the use cases are tested on fakes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import Protocol, TypeVar

from sqlalchemy.engine import Connection

from postroom.core.accounts.model import CustomerAccount, KioskOperator
from postroom.core.money import Money
from postroom.core.rates.model import Piece
from postroom.core.rates.service import Comparison

T = TypeVar("T")


class CustomerAccounts(Protocol):
    def get(self, number: str) -> CustomerAccount: ...


class Operators(Protocol):
    """The parts of ``pr.accounts`` that keep kiosk operators."""

    def set_operator_cost_centers(
        self, number: str, operator_id: int, names: Iterable[str], *, account_centers: Iterable[str]
    ) -> KioskOperator: ...


class AccountFacts(Protocol):
    """What the kiosks read of other areas about an account (the composition root wires
    the meters, the ledger, funding and cases)."""

    def cost_centers(self, customer_number: str) -> tuple[str, ...]:
        """The cost centres a print of the account may be booked to."""
        ...

    def funds(self, customer_number: str) -> tuple[Money, Money | None]:
        """The postage account's available funds and its low-funds alert threshold."""
        ...

    def inspections(
        self, customer_number: str
    ) -> list[tuple[str, datetime | None, datetime | None]]:
        """(serial, inspection due, lock date) of each of the account's active meters."""
        ...

    def open_case_in(
        self, uow: Session, customer_number: str, name: str, subject: str, description: str
    ) -> str:
        """Open a support case for the account from a terminal inside the caller's unit
        of work (it commits); the case's number."""
        ...


class Prices(Protocol):
    def compare(
        self,
        piece: Piece,
        extras: Sequence[str] = (),
        *,
        on: date | None = None,
        origin: str | None = None,
        destination: str | None = None,
        carriers: Sequence[str] | None = None,
        shapes: Sequence[str] | None = None,
    ) -> Comparison: ...


class Session(Protocol):
    @property
    def connection(self) -> Connection: ...

    def commit(self) -> None: ...


class Transactions(Protocol):
    """``Database.run``: ``work`` in one transaction, rolled back unless it commits."""

    def run(self, work: Callable[[Session], T], *, readonly: bool = False) -> T: ...
