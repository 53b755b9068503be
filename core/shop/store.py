"""Tables and repository of the shop (SQLAlchemy Core).

``ShopRepository`` is the Protocol the use cases depend on; ``ShopStore`` is its
implementation on a unit of work's connection (tests use an in-memory fake,
tests/unit/fakes_shop.py). Stock and an order's status change only by conditional
updates (``stock >= n``, ``status = <expected>``): two checkouts of the last cartridge,
or two staff moves of one order, cannot both succeed, on SQLite or PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from postroom.core.db import UtcDateTime, metadata
from postroom.core.money import Money
from postroom.core.shop.addons import (
    AddonPurchase,
    PurchaseStatus,
    SloganKind,
    SloganOrder,
    SloganStatus,
)
from postroom.core.shop.graphics import GraphicType
from postroom.core.shop.model import (
    FINAL_STATUSES,
    CartLine,
    Category,
    Item,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    StockMove,
)

shop_items = sa.Table(
    "shop_items",
    metadata,
    sa.Column("sku", sa.String(32), primary_key=True),
    sa.Column("category", sa.String(20), nullable=False),
    sa.Column("name_en", sa.String(120), nullable=False),
    sa.Column("name_fr", sa.String(120), nullable=False),
    sa.Column("description_en", sa.String(1000), nullable=False),
    sa.Column("description_fr", sa.String(1000), nullable=False),
    # meter product codes, space-separated; empty: not tied to a model
    sa.Column("fits", sa.String(200), nullable=False),
    sa.Column("stock", sa.Integer, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.CheckConstraint("stock >= 0", name="stock_not_negative"),
)

shop_prices = sa.Table(
    "shop_prices",
    metadata,
    sa.Column("sku", sa.String(32), sa.ForeignKey("shop_items.sku"), primary_key=True),
    sa.Column("currency", sa.String(3), primary_key=True),
    sa.Column("mills", sa.BigInteger, nullable=False),
)

shop_cart_lines = sa.Table(
    "shop_cart_lines",
    metadata,
    sa.Column(
        "customer_number",
        sa.String(10),
        sa.ForeignKey("customer_accounts.number"),
        primary_key=True,
    ),
    sa.Column("sku", sa.String(32), sa.ForeignKey("shop_items.sku"), primary_key=True),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_mills", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("added_at", UtcDateTime(), nullable=False),
)

shop_orders = sa.Table(
    "shop_orders",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("number", sa.String(16), nullable=False, unique=True),
    sa.Column(
        "customer_number",
        sa.String(10),
        sa.ForeignKey("customer_accounts.number"),
        nullable=False,
    ),
    # the checkout's idempotency key: a double-clicked checkout finds the first order
    sa.Column("checkout_key", sa.String(100), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("total_mills", sa.BigInteger, nullable=False),
    # the taxes included in total_mills
    sa.Column("tax_mills", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("method", sa.String(10), nullable=False),
    sa.Column("payment_id", sa.String(40), nullable=True),
    sa.Column("invoice_number", sa.String(20), nullable=True),
    sa.Column("tracking_number", sa.String(40), nullable=True),
    sa.Column("payment_failure", sa.String(400), nullable=True),
    sa.Column("payment_attempts", sa.Integer, nullable=False),
    # a cancelled order's refund: "due" until the payment source gave the money back
    sa.Column("refund", sa.String(8), nullable=True),
    sa.Column("placed_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("customer_number", "checkout_key", name="uq_shop_orders_checkout_key"),
    sa.Index("ix_shop_orders_customer_placed", "customer_number", "placed_at"),
    sa.Index("ix_shop_orders_status", "status", "placed_at"),
)

shop_order_lines = sa.Table(
    "shop_order_lines",
    metadata,
    sa.Column(
        "order_id",
        sa.Integer,
        sa.ForeignKey("shop_orders.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("sku", sa.String(32), nullable=False),
    sa.Column("name_en", sa.String(120), nullable=False),
    sa.Column("name_fr", sa.String(120), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_mills", sa.BigInteger, nullable=False),
)

shop_order_events = sa.Table(
    "shop_order_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "order_id", sa.Integer, sa.ForeignKey("shop_orders.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("by", sa.String(200), nullable=False),
    sa.Column("note", sa.String(500), nullable=False),
    sa.Index("ix_shop_order_events_order", "order_id", "id"),
)


shop_addon_purchases = sa.Table(
    "shop_addon_purchases",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("number", sa.String(16), nullable=False, unique=True),
    sa.Column(
        "customer_number",
        sa.String(10),
        sa.ForeignKey("customer_accounts.number"),
        nullable=False,
    ),
    sa.Column("serial", sa.String(32), nullable=False),
    sa.Column("code", sa.String(32), nullable=False),
    sa.Column("price_mills", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("invoice_number", sa.String(20), nullable=False),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("bought_at", UtcDateTime(), nullable=False),
    # one purchase of an add-on per meter: a second click (or a second person) finds it
    sa.UniqueConstraint("serial", "code", name="uq_shop_addon_purchases_serial_code"),
    sa.Index("ix_shop_addon_purchases_customer", "customer_number"),
)

# Every stock change staff make (goods received, stock written off): the audit of the
# shelf, beside the orders' own reservations and returns.
shop_stock_moves = sa.Table(
    "shop_stock_moves",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sku", sa.String(32), sa.ForeignKey("shop_items.sku"), nullable=False),
    sa.Column("change", sa.Integer, nullable=False),
    sa.Column("stock_after", sa.Integer, nullable=False),
    sa.Column("staff", sa.String(200), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Index("ix_shop_stock_moves_sku", "sku", "at"),
)

shop_slogans = sa.Table(
    "shop_slogans",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("number", sa.String(16), nullable=False, unique=True),
    sa.Column(
        "customer_number",
        sa.String(10),
        sa.ForeignKey("customer_accounts.number"),
        nullable=False,
    ),
    sa.Column("serial", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("content_type", sa.String(40), nullable=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("decided_at", UtcDateTime(), nullable=True),
    sa.Column("decided_by", sa.String(200), nullable=True),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Index("ix_shop_slogans_customer", "customer_number", "created_at"),
    sa.Index("ix_shop_slogans_status", "status", "created_at"),
)


class AddonRepository(Protocol):
    """What the add-on and slogan use cases read and write."""

    def addon_purchase(self, serial: str, code: str) -> AddonPurchase | None: ...
    def add_addon_purchase(self, purchase: AddonPurchase) -> bool:
        """Store it; False (nothing stored) when the meter has this add-on already."""
        ...

    def set_addon_status(self, number: str, status: PurchaseStatus) -> None: ...
    def addon_purchases(self, customer_number: str) -> list[AddonPurchase]: ...
    def add_slogan(self, order: SloganOrder, data: bytes) -> None: ...
    def slogan(self, number: str) -> tuple[SloganOrder, bytes] | None: ...
    def slogans(
        self, *, customer_number: str | None = None, status: SloganStatus | None = None
    ) -> list[SloganOrder]:
        """Newest first."""
        ...

    def decide_slogan(
        self, number: str, status: SloganStatus, at: datetime, by: str, reason: str
    ) -> bool:
        """Decide a pending slogan; False when it was decided already (nothing changes)."""
        ...


class ShopRepository(Protocol):
    """What the shop's use cases read and write."""

    # catalogue
    def items(self, *, active_only: bool = True) -> list[Item]: ...
    def items_by_sku(self, skus: Iterable[str]) -> dict[str, Item]: ...
    def save_item(self, item: Item) -> None:
        """Add the item or replace its texts, prices and models (not its stock)."""
        ...

    def reserve(self, sku: str, quantity: int) -> bool:
        """Take ``quantity`` from the stock if that much is there; False otherwise."""
        ...

    def release(self, sku: str, quantity: int) -> None: ...
    def adjust_stock(self, sku: str, change: int) -> int | None:
        """Add ``change`` (negative: remove) unless the stock would go below zero;
        the new stock, or None (nothing changed)."""
        ...

    def add_stock_move(self, move: StockMove) -> None: ...

    def stock_moves(self, sku: str, *, limit: int) -> list[StockMove]:
        """The item's stock changes by staff, newest first."""
        ...

    # carts
    def cart_lines(self, customer_number: str) -> list[CartLine]: ...
    def set_cart_line(self, customer_number: str, line: CartLine, at: datetime) -> None: ...
    def remove_cart_line(self, customer_number: str, sku: str) -> None: ...
    def clear_cart(self, customer_number: str) -> None: ...

    # orders
    def number_taken(self, number: str) -> bool: ...
    def add_order(self, order: Order, checkout_key: str) -> None: ...
    def order(self, number: str) -> Order | None: ...
    def order_by_key(self, customer_number: str, checkout_key: str) -> Order | None: ...
    def orders(
        self,
        *,
        customer_number: str | None = None,
        since: datetime | None = None,
        status: OrderStatus | None = None,
        open_only: bool = False,
        limit: int = 100,
    ) -> list[Order]:
        """Newest first (``open_only``: not delivered or cancelled yet)."""
        ...

    def move(self, number: str, expected: OrderStatus, event: OrderEvent, **fields: Any) -> bool:
        """Set the order's status to ``event.status`` (and ``fields``) if it is still
        ``expected``, and log ``event``; False (nothing changed) otherwise."""
        ...

    def update_order(
        self, number: str, expected: OrderStatus, attempts: int | None = None, **fields: Any
    ) -> bool:
        """Set ``fields`` if the order is still ``expected`` (and has had ``attempts``
        payment attempts, when given); False otherwise."""
        ...


def _insert(connection: Connection) -> Any:
    return pg_insert if connection.dialect.name == "postgresql" else sqlite_insert


class ShopStore:
    """``ShopRepository`` on the unit of work's connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    # ------------------------------------------------------------ catalogue

    def _items(self, query: Any) -> list[Item]:
        rows = self._c.execute(query).all()
        skus = [row.sku for row in rows]
        prices: dict[str, dict[str, int]] = {sku: {} for sku in skus}
        if skus:
            for p in self._c.execute(sa.select(shop_prices).where(shop_prices.c.sku.in_(skus))):
                prices[p.sku][p.currency] = int(p.mills)
        return [
            Item(
                sku=row.sku,
                category=Category(row.category),
                names={"en": row.name_en, "fr": row.name_fr},
                descriptions={"en": row.description_en, "fr": row.description_fr},
                prices=prices[row.sku],
                stock=int(row.stock),
                fits=tuple(row.fits.split()),
                active=bool(row.active),
            )
            for row in rows
        ]

    def items(self, *, active_only: bool = True) -> list[Item]:
        query = sa.select(shop_items).order_by(shop_items.c.category, shop_items.c.sku)
        if active_only:
            query = query.where(shop_items.c.active.is_(True))
        return self._items(query)

    def items_by_sku(self, skus: Iterable[str]) -> dict[str, Item]:
        wanted = sorted(set(skus))
        if not wanted:
            return {}
        found = self._items(sa.select(shop_items).where(shop_items.c.sku.in_(wanted)))
        return {item.sku: item for item in found}

    def save_item(self, item: Item) -> None:
        values = {
            "category": item.category.value,
            "name_en": item.names["en"],
            "name_fr": item.names["fr"],
            "description_en": item.descriptions["en"],
            "description_fr": item.descriptions["fr"],
            "fits": " ".join(item.fits),
            "active": item.active,
        }
        self._c.execute(
            _insert(self._c)(shop_items)
            .values(sku=item.sku, stock=item.stock, **values)
            .on_conflict_do_update(index_elements=[shop_items.c.sku], set_=values)
        )
        self._c.execute(sa.delete(shop_prices).where(shop_prices.c.sku == item.sku))
        self._c.execute(
            shop_prices.insert(),
            [{"sku": item.sku, "currency": c, "mills": m} for c, m in item.prices.items()],
        )

    def reserve(self, sku: str, quantity: int) -> bool:
        t = shop_items
        done = self._c.execute(
            t.update()
            .where(t.c.sku == sku, t.c.active.is_(True), t.c.stock >= quantity)
            .values(stock=t.c.stock - quantity)
        )
        return bool(done.rowcount == 1)

    def release(self, sku: str, quantity: int) -> None:
        t = shop_items
        self._c.execute(t.update().where(t.c.sku == sku).values(stock=t.c.stock + quantity))

    def adjust_stock(self, sku: str, change: int) -> int | None:
        t = shop_items
        row = self._c.execute(
            t.update()
            .where(t.c.sku == sku, t.c.stock + change >= 0)
            .values(stock=t.c.stock + change)
            .returning(t.c.stock)
        ).first()
        return None if row is None else int(row.stock)

    def add_stock_move(self, move: StockMove) -> None:
        self._c.execute(
            shop_stock_moves.insert().values(
                sku=move.sku,
                change=move.change,
                stock_after=move.stock_after,
                staff=move.staff,
                reason=move.reason,
                at=move.at,
            )
        )

    def stock_moves(self, sku: str, *, limit: int) -> list[StockMove]:
        t = shop_stock_moves
        rows = self._c.execute(
            sa.select(t).where(t.c.sku == sku).order_by(t.c.at.desc(), t.c.id.desc()).limit(limit)
        )
        return [
            StockMove(
                sku=row.sku,
                change=int(row.change),
                stock_after=int(row.stock_after),
                staff=row.staff,
                reason=row.reason,
                at=row.at,
            )
            for row in rows
        ]

    # ---------------------------------------------------------------- carts

    def cart_lines(self, customer_number: str) -> list[CartLine]:
        t = shop_cart_lines
        rows = self._c.execute(
            sa.select(t)
            .where(t.c.customer_number == customer_number)
            .order_by(t.c.added_at, t.c.sku)
        )
        return [
            CartLine(row.sku, int(row.quantity), Money(int(row.unit_mills), row.currency))
            for row in rows
        ]

    def set_cart_line(self, customer_number: str, line: CartLine, at: datetime) -> None:
        t = shop_cart_lines
        values = {
            "quantity": line.quantity,
            "unit_mills": line.unit_price.mills,
            "currency": line.unit_price.currency,
        }
        self._c.execute(
            _insert(self._c)(t)
            .values(customer_number=customer_number, sku=line.sku, added_at=at, **values)
            .on_conflict_do_update(index_elements=[t.c.customer_number, t.c.sku], set_=values)
        )

    def remove_cart_line(self, customer_number: str, sku: str) -> None:
        t = shop_cart_lines
        self._c.execute(sa.delete(t).where(t.c.customer_number == customer_number, t.c.sku == sku))

    def clear_cart(self, customer_number: str) -> None:
        t = shop_cart_lines
        self._c.execute(sa.delete(t).where(t.c.customer_number == customer_number))

    # --------------------------------------------------------------- orders

    def number_taken(self, number: str) -> bool:
        t = shop_orders
        return self._c.execute(sa.select(t.c.id).where(t.c.number == number)).first() is not None

    def add_order(self, order: Order, checkout_key: str) -> None:
        order_id = self._c.execute(
            shop_orders.insert()
            .values(
                number=order.number,
                customer_number=order.customer_number,
                checkout_key=checkout_key,
                currency=order.total.currency,
                total_mills=order.total.mills,
                tax_mills=0 if order.tax is None else order.tax.mills,
                status=order.status.value,
                method=order.method.value,
                payment_id=order.payment_id,
                invoice_number=order.invoice_number,
                tracking_number=order.tracking_number,
                payment_failure=order.payment_failure,
                payment_attempts=order.payment_attempts,
                refund=order.refund,
                placed_at=order.placed_at,
                updated_at=order.updated_at,
            )
            .returning(shop_orders.c.id)
        ).scalar_one()
        self._c.execute(
            shop_order_lines.insert(),
            [
                {
                    "order_id": order_id,
                    "position": position,
                    "sku": line.sku,
                    "name_en": line.names["en"],
                    "name_fr": line.names["fr"],
                    "quantity": line.quantity,
                    "unit_mills": line.unit_price.mills,
                }
                for position, line in enumerate(order.lines)
            ],
        )
        for event in order.events:
            self._event(order_id, event)

    def _event(self, order_id: int, event: OrderEvent) -> None:
        self._c.execute(
            shop_order_events.insert().values(
                order_id=order_id,
                status=event.status.value,
                at=event.at,
                by=event.by,
                note=event.note,
            )
        )

    def _orders(self, query: Any) -> list[Order]:
        rows = self._c.execute(query).all()
        ids = [row.id for row in rows]
        lines: dict[int, list[OrderLine]] = {i: [] for i in ids}
        events: dict[int, list[OrderEvent]] = {i: [] for i in ids}
        currency = {row.id: row.currency for row in rows}
        if ids:
            lt = shop_order_lines
            for ln in self._c.execute(
                sa.select(lt).where(lt.c.order_id.in_(ids)).order_by(lt.c.order_id, lt.c.position)
            ):
                lines[ln.order_id].append(
                    OrderLine(
                        ln.sku,
                        {"en": ln.name_en, "fr": ln.name_fr},
                        int(ln.quantity),
                        Money(int(ln.unit_mills), currency[ln.order_id]),
                    )
                )
            et = shop_order_events
            for ev in self._c.execute(
                sa.select(et).where(et.c.order_id.in_(ids)).order_by(et.c.order_id, et.c.id)
            ):
                events[ev.order_id].append(
                    OrderEvent(OrderStatus(ev.status), ev.at, ev.by, ev.note)
                )
        return [
            Order(
                number=row.number,
                customer_number=row.customer_number,
                lines=tuple(lines[row.id]),
                total=Money(int(row.total_mills), row.currency),
                tax=Money(int(row.tax_mills), row.currency),
                status=OrderStatus(row.status),
                method=PaymentMethod(row.method),
                placed_at=row.placed_at,
                updated_at=row.updated_at,
                payment_id=row.payment_id,
                invoice_number=row.invoice_number,
                tracking_number=row.tracking_number,
                payment_failure=row.payment_failure,
                payment_attempts=int(row.payment_attempts),
                refund=row.refund,
                events=tuple(events[row.id]),
            )
            for row in rows
        ]

    def order(self, number: str) -> Order | None:
        found = self._orders(sa.select(shop_orders).where(shop_orders.c.number == number))
        return found[0] if found else None

    def order_by_key(self, customer_number: str, checkout_key: str) -> Order | None:
        t = shop_orders
        found = self._orders(
            sa.select(t).where(
                t.c.customer_number == customer_number, t.c.checkout_key == checkout_key
            )
        )
        return found[0] if found else None

    def orders(
        self,
        *,
        customer_number: str | None = None,
        since: datetime | None = None,
        status: OrderStatus | None = None,
        open_only: bool = False,
        limit: int = 100,
    ) -> list[Order]:
        t = shop_orders
        query = sa.select(t).order_by(t.c.placed_at.desc(), t.c.id.desc()).limit(limit)
        if customer_number is not None:
            query = query.where(t.c.customer_number == customer_number)
        if since is not None:
            query = query.where(t.c.placed_at >= since)
        if status is not None:
            query = query.where(t.c.status == status.value)
        if open_only:
            query = query.where(t.c.status.not_in([s.value for s in FINAL_STATUSES]))
        return self._orders(query)

    def move(self, number: str, expected: OrderStatus, event: OrderEvent, **fields: Any) -> bool:
        t = shop_orders
        row = self._c.execute(
            t.update()
            .where(t.c.number == number, t.c.status == expected.value)
            .values(status=event.status.value, updated_at=event.at, **fields)
            .returning(t.c.id)
        ).first()
        if row is None:
            return False
        self._event(int(row.id), event)
        return True

    def update_order(
        self, number: str, expected: OrderStatus, attempts: int | None = None, **fields: Any
    ) -> bool:
        t = shop_orders
        query = t.update().where(t.c.number == number, t.c.status == expected.value)
        if attempts is not None:
            query = query.where(t.c.payment_attempts == attempts)
        done = self._c.execute(query.values(**fields))
        return bool(done.rowcount == 1)

    # ---------------------------------------------------- add-ons and slogans

    def addon_purchase(self, serial: str, code: str) -> AddonPurchase | None:
        t = shop_addon_purchases
        row = self._c.execute(sa.select(t).where(t.c.serial == serial, t.c.code == code)).first()
        return None if row is None else _purchase(row)

    def add_addon_purchase(self, purchase: AddonPurchase) -> bool:
        t = shop_addon_purchases
        inserted = self._c.execute(
            _insert(self._c)(t)
            .values(
                number=purchase.number,
                customer_number=purchase.customer_number,
                serial=purchase.serial,
                code=purchase.code,
                price_mills=purchase.price.mills,
                currency=purchase.price.currency,
                invoice_number=purchase.invoice_number,
                status=purchase.status.value,
                bought_at=purchase.bought_at,
            )
            .on_conflict_do_nothing(index_elements=[t.c.serial, t.c.code])
            .returning(t.c.id)
        ).first()
        return inserted is not None

    def set_addon_status(self, number: str, status: PurchaseStatus) -> None:
        t = shop_addon_purchases
        self._c.execute(t.update().where(t.c.number == number).values(status=status.value))

    def addon_purchases(self, customer_number: str) -> list[AddonPurchase]:
        t = shop_addon_purchases
        rows = self._c.execute(
            sa.select(t).where(t.c.customer_number == customer_number).order_by(t.c.id)
        )
        return [_purchase(row) for row in rows]

    def add_slogan(self, order: SloganOrder, data: bytes) -> None:
        self._c.execute(
            shop_slogans.insert().values(
                number=order.number,
                customer_number=order.customer_number,
                serial=order.serial,
                kind=order.kind.value,
                label=order.label,
                content_type=None if order.content_type is None else order.content_type.value,
                data=data,
                status=order.status.value,
                created_at=order.created_at,
                reason=order.reason,
            )
        )

    def slogan(self, number: str) -> tuple[SloganOrder, bytes] | None:
        t = shop_slogans
        row = self._c.execute(sa.select(t).where(t.c.number == number)).first()
        return None if row is None else (_slogan(row), bytes(row.data))

    def slogans(
        self, *, customer_number: str | None = None, status: SloganStatus | None = None
    ) -> list[SloganOrder]:
        t = shop_slogans
        query = sa.select(*[c for c in t.c if c.name != "data"]).order_by(
            t.c.created_at.desc(), t.c.id.desc()
        )
        if customer_number is not None:
            query = query.where(t.c.customer_number == customer_number)
        if status is not None:
            query = query.where(t.c.status == status.value)
        return [_slogan(row) for row in self._c.execute(query.limit(500))]

    def decide_slogan(
        self, number: str, status: SloganStatus, at: datetime, by: str, reason: str
    ) -> bool:
        t = shop_slogans
        done = self._c.execute(
            t.update()
            .where(t.c.number == number, t.c.status == SloganStatus.PENDING.value)
            .values(status=status.value, decided_at=at, decided_by=by, reason=reason)
        )
        return bool(done.rowcount == 1)


def _purchase(row: Any) -> AddonPurchase:
    return AddonPurchase(
        number=row.number,
        customer_number=row.customer_number,
        serial=row.serial,
        code=row.code,
        price=Money(int(row.price_mills), row.currency),
        invoice_number=row.invoice_number,
        status=PurchaseStatus(row.status),
        bought_at=row.bought_at,
    )


def _slogan(row: Any) -> SloganOrder:
    return SloganOrder(
        number=row.number,
        customer_number=row.customer_number,
        serial=row.serial,
        kind=SloganKind(row.kind),
        label=row.label,
        content_type=None if row.content_type is None else GraphicType(row.content_type),
        status=SloganStatus(row.status),
        created_at=row.created_at,
        decided_at=row.decided_at,
        decided_by=row.decided_by,
        reason=row.reason,
    )
