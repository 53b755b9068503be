"""What the kiosks area needs from outside it, as Protocols the composition root wires:
the parts of ``pr.accounts`` and ``pr.rates`` it calls, and the database's transactions,
narrowed so that the use cases are tested on fakes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Protocol, TypeVar

from sqlalchemy.engine import Connection

from postroom.core.accounts.model import CustomerAccount
from postroom.core.rates.model import Piece
from postroom.core.rates.service import Comparison

T = TypeVar("T")


class CustomerAccounts(Protocol):
    def get(self, number: str) -> CustomerAccount: ...


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
    ) -> Comparison: ...


class Session(Protocol):
    @property
    def connection(self) -> Connection: ...

    def commit(self) -> None: ...


class Transactions(Protocol):
    """``Database.run``: ``work`` in one transaction, rolled back unless it commits."""

    def run(self, work: Callable[[Session], T], *, readonly: bool = False) -> T: ...
