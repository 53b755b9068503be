"""What the support-cases area needs from outside it, as Protocols the composition root
wires (``core/app.py``); the unit tests hand in fakes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from postroom.core.accounts.model import CustomerAccount
from postroom.core.cases.claims import Shipment
from postroom.core.cases.model import Case, Link, StaffMember
from postroom.core.money import Money

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


class StaffDirectory(Protocol):
    """The identity area's staff users (``pr.identity.staff``)."""

    def staff(self) -> list[StaffMember]: ...


class StaffMail(Protocol):
    """An email to a staff member, written in the caller's transaction (the outbox)."""

    def send(
        self, connection: Any, to: str, subject: str, body: str, kind: str, data: dict[str, str]
    ) -> None: ...


class ClaimRefunds(Protocol):
    """Credits a claim's refund to the customer's postage account (funding's staff
    credit: ``pr.funding.manual_deposit``); the same ``transfer_id`` again answers the
    first credit."""

    def credit(
        self,
        customer_number: str,
        amount: Money,
        transfer_id: str,
        *,
        staff: str,
        reason: str,
        reference: str,
    ) -> None: ...


class LinkTargets(Protocol):
    """The objects a case links to, as their own areas know them (meters, billing, shop,
    tracking; wired in core/app.py)."""

    def belongs(self, customer_number: str, link: Link) -> bool:
        """Whether the meter, invoice, order or shipment ``link`` names exists and is
        the account ``customer_number``'s (False for anything else: unknown, or
        another account's)."""
        ...


class ShipmentLookup(Protocol):
    """What the tracking area knows of a shipment by its tracking number."""

    def shipment(self, tracking_number: str) -> Shipment: ...


class TrackingNumberAsGiven:
    """The ``ShipmentLookup`` until the tracking area lands: a shipment is its tracking
    number, as the customer gave it (checked for form only)."""

    def shipment(self, tracking_number: str) -> Shipment:
        return Shipment(tracking_number=tracking_number)


#: called once an escalation is committed (the ``case_escalated`` hook)
EscalationListener = Callable[[Case], None]
