"""In-memory fakes of what the shop's use cases depend on: its repository, the payment
path (a card that approves or declines), the account charges (invoices), the customer's
meters. State lives on the fakes; ``fakes_transactions.FakeDatabase`` puts it back when a
unit of work fails or does not commit. No I/O."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import attrs

from postroom.core.errors import Conflict, NotFound, PostroomError
from postroom.core.money import Money
from postroom.core.shop.addons import AddonPurchase, PurchaseStatus, SloganOrder, SloganStatus
from postroom.core.shop.model import (
    CartLine,
    Item,
    Order,
    OrderEvent,
    OrderStatus,
    StockMove,
)
from postroom.core.shop.ports import Charged, ChargeLine, PurchasePayment


class FakeShopRepository:
    def __init__(self) -> None:
        self.catalogue: dict[str, Item] = {}
        self.carts: dict[str, dict[str, CartLine]] = {}
        self.placed: dict[str, tuple[Order, str]] = {}
        self.moves: list[StockMove] = []

    def __call__(self, _session: Any) -> FakeShopRepository:
        return self

    # catalogue
    def items(self, *, active_only: bool = True) -> list[Item]:
        return sorted(
            (i for i in self.catalogue.values() if i.active or not active_only),
            key=lambda i: (i.category.value, i.sku),
        )

    def items_by_sku(self, skus: Iterable[str]) -> dict[str, Item]:
        return {sku: self.catalogue[sku] for sku in set(skus) if sku in self.catalogue}

    def save_item(self, item: Item) -> None:
        old = self.catalogue.get(item.sku)
        self.catalogue[item.sku] = item if old is None else attrs.evolve(item, stock=old.stock)

    def reserve(self, sku: str, quantity: int) -> bool:
        item = self.catalogue.get(sku)
        if item is None or not item.active or item.stock < quantity:
            return False
        self.catalogue[sku] = attrs.evolve(item, stock=item.stock - quantity)
        return True

    def release(self, sku: str, quantity: int) -> None:
        item = self.catalogue[sku]
        self.catalogue[sku] = attrs.evolve(item, stock=item.stock + quantity)

    def add_stock_move(self, move: StockMove) -> None:
        self.moves.append(move)

    def stock_moves(self, sku: str, *, limit: int) -> list[StockMove]:
        return [m for m in reversed(self.moves) if m.sku == sku][:limit]

    def adjust_stock(self, sku: str, change: int) -> int | None:
        item = self.catalogue[sku]
        if item.stock + change < 0:
            return None
        self.catalogue[sku] = attrs.evolve(item, stock=item.stock + change)
        return item.stock + change

    # carts
    def cart_lines(self, customer_number: str) -> list[CartLine]:
        return list(self.carts.get(customer_number, {}).values())

    def set_cart_line(self, customer_number: str, line: CartLine, at: datetime) -> None:
        self.carts.setdefault(customer_number, {})[line.sku] = line

    def remove_cart_line(self, customer_number: str, sku: str) -> None:
        self.carts.get(customer_number, {}).pop(sku, None)

    def clear_cart(self, customer_number: str) -> None:
        self.carts.pop(customer_number, None)

    # orders
    def number_taken(self, number: str) -> bool:
        return number in self.placed

    def add_order(self, order: Order, checkout_key: str) -> None:
        self.placed[order.number] = (order, checkout_key)

    def order(self, number: str) -> Order | None:
        found = self.placed.get(number)
        return None if found is None else found[0]

    def order_by_key(self, customer_number: str, checkout_key: str) -> Order | None:
        for order, key in self.placed.values():
            if order.customer_number == customer_number and key == checkout_key:
                return order
        return None

    def orders(
        self,
        *,
        customer_number: str | None = None,
        since: datetime | None = None,
        status: OrderStatus | None = None,
        open_only: bool = False,
        limit: int = 100,
    ) -> list[Order]:
        found = [
            o
            for o, _ in self.placed.values()
            if (customer_number is None or o.customer_number == customer_number)
            and (since is None or o.placed_at >= since)
            and (status is None or o.status is status)
            and not (open_only and o.final)
        ]
        return sorted(found, key=lambda o: o.placed_at, reverse=True)[:limit]

    def move(self, number: str, expected: OrderStatus, event: OrderEvent, **fields: Any) -> bool:
        order, key = self.placed[number]
        if order.status is not expected:
            return False
        self.placed[number] = (
            attrs.evolve(
                order,
                status=event.status,
                updated_at=event.at,
                events=(*order.events, event),
                **fields,
            ),
            key,
        )
        return True

    def update_order(
        self, number: str, expected: OrderStatus, attempts: int | None = None, **fields: Any
    ) -> bool:
        order, key = self.placed[number]
        if order.status is not expected or (
            attempts is not None and order.payment_attempts != attempts
        ):
            return False
        self.placed[number] = (attrs.evolve(order, **fields), key)
        return True


class Declined(PostroomError):
    code = "card_declined"
    http_status = 402


class Unreachable(PostroomError):
    code = "payment_source_unavailable"
    http_status = 503


class FakePurchases:
    """A card gateway: charges once per key; ``declining`` instruments are refused."""

    def __init__(self) -> None:
        self.charges: dict[str, tuple[str, str, Money]] = {}
        self.refunds: dict[str, str] = {}
        self.declining: set[str] = set()
        self.unreachable = False

    def purchase(
        self, customer_number: str, instrument_id: str, amount: Money, idempotency_key: str
    ) -> PurchasePayment:
        if self.unreachable:
            raise Unreachable("the gateway is down")
        payment_id = f"pm_{len(self.charges) + 1:04d}"
        if instrument_id in self.declining:
            raise Declined("the card was declined", payment_id=payment_id)
        if idempotency_key not in self.charges:
            self.charges[idempotency_key] = (payment_id, customer_number, amount)
        return PurchasePayment(self.charges[idempotency_key][0])

    def refund(self, customer_number: str, payment_id: str, idempotency_key: str) -> None:
        self.refunds.setdefault(payment_id, idempotency_key)

    def charged(self, customer_number: str) -> Money | None:
        amounts = [a for _, c, a in self.charges.values() if c == customer_number]
        total = None
        for amount in amounts:
            total = amount if total is None else total + amount
        return total


class FakeCharges:
    """Billing: an invoice per reference; credit notes."""

    def __init__(self) -> None:
        self.invoices: dict[str, tuple[str, list[ChargeLine]]] = {}
        self.credited: list[str] = []
        #: reference -> the payment an invoice issued paid was paid by
        self.paid: dict[str, str] = {}

    def charge_in(
        self,
        session: Any,
        customer_number: str,
        lines: Sequence[ChargeLine],
        *,
        kind: str,
        reference: str,
    ) -> Charged:
        number = self.invoices.get(reference, (f"INV-2026-{len(self.invoices) + 1:06d}", []))[0]
        self.invoices[reference] = (number, list(lines))
        return Charged(number, self._tax(lines))

    def paid_in(
        self,
        session: Any,
        customer_number: str,
        lines: Sequence[ChargeLine],
        *,
        kind: str,
        reference: str,
        payment_id: str,
        paid: Money,
    ) -> Charged:
        tax = self._tax(lines)
        if paid.mills != sum(ln.quantity * ln.unit_price.mills for ln in lines) + tax.mills:
            raise Conflict("the taxes changed", code="receipt_total_mismatch")
        self.paid[reference] = payment_id
        return self.charge_in(session, customer_number, lines, kind=kind, reference=reference)

    def tax_rule(self, customer_number: str) -> Callable[[Sequence[ChargeLine]], Money]:
        return self._tax

    def _tax(self, lines: Sequence[ChargeLine]) -> Money:
        """A flat 10 % on each line's net, rounded down to the cent."""
        currency = lines[0].unit_price.currency
        return Money(sum(ln.quantity * ln.unit_price.mills // 100 * 10 for ln in lines), currency)

    def credit(self, customer_number: str, invoice_number: str, reason: str) -> None:
        if invoice_number not in self.credited:
            self.credited.append(invoice_number)


class FakeCustomerMeters:
    """Customers' meters in service: serial -> (customer, product code)."""

    def __init__(self) -> None:
        self.meters: dict[str, tuple[str, str]] = {}

    def add(self, customer_number: str, serial: str, product_code: str = "PR-VPSD1") -> None:
        self.meters[serial] = (customer_number, product_code)

    def product_codes(self, customer_number: str) -> list[str]:
        return sorted({code for owner, code in self.meters.values() if owner == customer_number})

    def customer_meter_serial(self, customer_number: str, serial: str) -> str:
        owner = self.meters.get(serial.strip().upper() if isinstance(serial, str) else "")
        if owner is None or owner[0] != customer_number:
            raise NotFound(f"no meter {serial!r}", code="meter_not_found")
        return serial.strip().upper()


class FakeAddonRepository:
    def __init__(self) -> None:
        self.bought: dict[tuple[str, str], AddonPurchase] = {}
        self.slogan_rows: dict[str, tuple[SloganOrder, bytes]] = {}

    def __call__(self, _session: Any) -> FakeAddonRepository:
        return self

    def addon_purchase(self, serial: str, code: str) -> AddonPurchase | None:
        return self.bought.get((serial, code))

    def add_addon_purchase(self, purchase: AddonPurchase) -> bool:
        if (purchase.serial, purchase.code) in self.bought:
            return False
        self.bought[(purchase.serial, purchase.code)] = purchase
        return True

    def set_addon_status(self, number: str, status: PurchaseStatus) -> None:
        for key, purchase in self.bought.items():
            if purchase.number == number:
                self.bought[key] = attrs.evolve(purchase, status=status)

    def addon_purchases(self, customer_number: str) -> list[AddonPurchase]:
        return [p for p in self.bought.values() if p.customer_number == customer_number]

    def add_slogan(self, order: SloganOrder, data: bytes) -> None:
        self.slogan_rows[order.number] = (order, data)

    def slogan(self, number: str) -> tuple[SloganOrder, bytes] | None:
        return self.slogan_rows.get(number)

    def slogans(
        self, *, customer_number: str | None = None, status: SloganStatus | None = None
    ) -> list[SloganOrder]:
        return [
            o
            for o, _ in reversed(self.slogan_rows.values())
            if (customer_number is None or o.customer_number == customer_number)
            and (status is None or o.status is status)
        ]

    def decide_slogan(
        self, number: str, status: SloganStatus, at: datetime, by: str, reason: str
    ) -> bool:
        order, data = self.slogan_rows[number]
        if order.status is not SloganStatus.PENDING:
            return False
        self.slogan_rows[number] = (
            attrs.evolve(order, status=status, decided_at=at, decided_by=by, reason=reason),
            data,
        )
        return True


class FakeMeterAssets:
    """The meters' sync assets: what each meter gets at its next sync."""

    def __init__(self) -> None:
        self.features: dict[str, set[str]] = {}
        self.graphics: dict[str, dict[str, bytes]] = {}
        self.slogan_texts: dict[str, str] = {}

    def queue_feature(self, serial: str, feature: str) -> None:
        self.features.setdefault(serial, set()).add(feature)

    def queue_graphic(self, serial: str, name: str, data: bytes) -> None:
        self.graphics.setdefault(serial, {})[name] = data

    def queue_slogan_text(self, serial: str, text: str) -> None:
        self.slogan_texts[serial] = text
