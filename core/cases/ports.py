"""What the support-cases area needs from outside it, as Protocols the composition root
wires (``core/app.py``); the unit tests hand in fakes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from postroom.core.accounts.model import CustomerAccount

T = TypeVar("T")


class Session(Protocol):
    @property
    def connection(self) -> Any: ...

    def commit(self) -> None: ...


class Transactions(Protocol):
    """``Database.run``: ``work`` in one transaction, rolled back unless it commits."""

    def run(self, work: Callable[[Session], T], *, readonly: bool = False) -> T: ...


class CustomerAccounts(Protocol):
    def get(self, number: str) -> CustomerAccount:
        """The account; NotFound (``account_not_found``) for an unknown number."""
        ...
