"""What the contracts area needs from outside it, as Protocols the composition root wires.

``InstallationAddressRequests`` is the hand-over of a customer's address change to
support: its default implementation (``store.KeptAddressRequests``) keeps the request
for staff; the support-cases area implements it by opening a case. The others are the
parts of other areas' services this area calls (``pr.meters``, ``pr.accounts``,
``pr.outbox``), narrowed so that use cases are tested on fakes.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol, TypeVar

from sqlalchemy.engine import Connection

from postroom.core.accounts.model import CustomerAccount
from postroom.core.contracts.model import AddressChange, AddressRequest
from postroom.core.meters.model import Meter, RegisteredMeter
from postroom.core.ports import Translation

T = TypeVar("T")


class InstallationAddressRequests(Protocol):
    def hand_over(self, connection: Connection, change: AddressChange) -> str:
        """Take ``change`` in the caller's transaction (it commits or rolls back with
        it); return the reference the customer quotes to support."""
        ...


class AddressRequestResolved(Protocol):
    """Told, in the transaction that applies (or refuses) an address change, which
    request it was (the support-cases area resolves the case opened for it)."""

    def __call__(self, connection: Connection, request: AddressRequest) -> None: ...


class MeterRegistry(Protocol):
    def list(self, customer_number: str | None = None) -> builtins.list[Meter]: ...

    def customer_meter(self, customer_number: str, serial: str) -> Meter:
        """The customer's meter; NotFound for another customer's or an unknown one."""
        ...

    def register(
        self,
        customer_number: str,
        *,
        product_code: str | None = None,
        serial: str | None = None,
        installation_number: str | None = None,
    ) -> RegisteredMeter: ...


class CustomerAccounts(Protocol):
    def get(self, number: str) -> CustomerAccount: ...


class CustomerMessages(Protocol):
    def add_for_customer(
        self,
        connection: Connection,
        customer_number: str,
        kind: str,
        subject: str,
        body: str,
        data: Mapping[str, str],
        *,
        language: str = "en",
        translations: Mapping[str, Translation] | None = None,
    ) -> str: ...

    def deliver(self, message_ids: Iterable[str]) -> int: ...


class Session(Protocol):
    @property
    def connection(self) -> Connection: ...

    def commit(self) -> None: ...


class Transactions(Protocol):
    """``Database.run``: ``work`` in one transaction, rolled back unless it commits."""

    def run(self, work: Callable[[Session], T], *, readonly: bool = False) -> T: ...
