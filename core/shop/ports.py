"""What the shop needs from outside it, as Protocols the composition root wires.

``AccountCharges`` is "charge this order to the account as an invoice": billing
implements it (an adapter in core/app.py over ``pr.billing``). ``Purchases`` is the
funding area's collection path for purchases (``pr.funding.purchase`` and
``refund_purchase``). ``CustomerMeters`` answers which meter models a customer has (the
"fits your meter" mark), and ``MeterAssets`` queues a feature or a graphic for a
meter's next sync (``pr.meters``). The unit tests hand in fakes (tests/unit/fakes_shop.py).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import attrs
from sqlalchemy.engine import Connection

from postroom.core.accounts.model import CustomerAccount
from postroom.core.money import Money

T = TypeVar("T")


class Session(Protocol):
    @property
    def connection(self) -> Connection: ...

    def commit(self) -> None: ...


class Transactions(Protocol):
    """``Database.run``: ``work`` in one transaction, rolled back unless it commits."""

    def run(self, work: Callable[[Session], T], *, readonly: bool = False) -> T: ...


@attrs.frozen
class ChargeLine:
    """One line of what is charged to the account: quantity x unit price; ``code`` and
    ``params`` say what it is so that the invoice reads in each reader's language
    (``catalogue``: sku, name_en, name_fr; ``addon``: meter, name_en, name_fr)."""

    description: str
    quantity: int
    unit_price: Money
    code: str = ""
    params: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class Charged:
    """The invoice an order on account became, and the taxes billing put on it."""

    invoice_number: str
    tax: Money


#: The taxes billing would put on lines for one customer (its country and region).
TaxRule = Callable[[Sequence[ChargeLine]], Money]


class AccountCharges(Protocol):
    def tax_rule(self, customer_number: str) -> TaxRule:
        """How billing taxes this customer's lines (read once, then pure): a card order
        is charged what an invoice of the same lines would total. ``ValidationError``
        ``billing_region_required`` when the customer's region is needed and unknown."""
        ...

    def charge_in(
        self,
        session: Session,
        customer_number: str,
        lines: Sequence[ChargeLine],
        *,
        kind: str,
        reference: str,
    ) -> Charged:
        """Invoice ``lines`` to the customer in the caller's transaction (the order and
        its invoice commit together; the caller commits).
        ``kind`` is ``supplies`` or ``addon``; the same ``reference`` again answers the
        first invoice's number."""
        ...

    def paid_in(
        self,
        session: Session,
        customer_number: str,
        lines: Sequence[ChargeLine],
        *,
        kind: str,
        reference: str,
        payment_id: str,
        paid: Money,
    ) -> Charged:
        """The invoice of ``lines`` already paid ``paid`` by the funding payment
        ``payment_id`` (a card order), issued paid in the caller's transaction; the same
        ``reference`` again answers the first. ``Conflict`` ``receipt_total_mismatch``
        (nothing written) when billing's taxes of the lines no longer total ``paid``."""
        ...

    def credit(self, customer_number: str, invoice_number: str, reason: str) -> None:
        """Cancel the charge: a credit note for the invoice (once: an invoice credited
        already is left as it is)."""
        ...


@attrs.frozen
class PurchasePayment:
    """What the payment source answered: a settled purchase."""

    payment_id: str


class Purchases(Protocol):
    def purchase(
        self, customer_number: str, instrument_id: str, amount: Money, idempotency_key: str
    ) -> PurchasePayment:
        """Charge the instrument once per key; raise ``PaymentDeclined`` (a
        ``PostroomError`` with ``payment_id`` in its details) when the source refuses."""
        ...

    def refund(self, customer_number: str, payment_id: str, idempotency_key: str) -> None:
        """Give the whole purchase back to its instrument, once."""
        ...


class CustomerAccounts(Protocol):
    def get(self, number: str) -> CustomerAccount: ...


class CustomerMeters(Protocol):
    def product_codes(self, customer_number: str) -> builtins.list[str]:
        """The product codes of the customer's meters in service."""
        ...

    def customer_meter_serial(self, customer_number: str, serial: str) -> str:
        """The serial of the customer's meter in service; ``NotFound`` otherwise."""
        ...


class MeterAssets(Protocol):
    def queue_feature(self, serial: str, feature: str) -> None:
        """Turn ``feature`` on at the meter's next sync."""
        ...

    def queue_graphic(self, serial: str, name: str, data: bytes) -> None:
        """Install the graphic at the meter's next sync."""
        ...

    def queue_slogan_text(self, serial: str, text: str) -> None:
        """Print ``text`` as the meter's ad slogan from its next sync."""
        ...


class Shipments(Protocol):
    """The tracking area as the shop hands it a shipped order's parcel (an adapter in
    core/app.py over ``pr.tracking``)."""

    def follow_in(
        self, session: Session, customer_number: str, tracking_number: str, order_number: str
    ) -> bool:
        """Follow the parcel for the account in the caller's transaction, its reference
        the order's number, and answer whether it is tracked (a number of a format no
        carrier knows is shipped untracked). ``ValidationError`` ``bad_check_digit``
        when the number is mistyped."""
        ...


class Untracked:
    """No tracking wired (the unit tests): orders ship without a followed parcel."""

    def follow_in(
        self, session: Session, customer_number: str, tracking_number: str, order_number: str
    ) -> bool:
        return False
