"""The supplies shop: catalogue items, carts and orders; values and pure rules, no I/O.

A catalogue item (``Item``) has a SKU, a name and a description in English and French,
a price per currency in mills, a stock count and the meter product codes it fits (none:
it fits every meter). A cart keeps each line's unit price as the customer last saw it;
checkout compares it with the catalogue's price of the moment, and a difference stops
the checkout so that the customer sees the new price before paying (``price_changed``).

An order moves ``placed -> paid -> picking -> shipped -> delivered``; ``placed``,
``paid`` and ``picking`` may be ``cancelled`` (its stock goes back, a payment is
refunded). ``TRANSITIONS`` is the whole table.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum

import attrs

from postroom.core.errors import Conflict, NotFound, ValidationError
from postroom.core.money import Money
from postroom.core.text import check_no_control

LANGUAGES = ("en", "fr")
MAX_QUANTITY = 999
MAX_CART_LINES = 50
MAX_STOCK = 10_000_000
MAX_NAME = 120
MAX_DESCRIPTION = 1000
MAX_NOTE = 500
MAX_STAFF = 200
MAX_TRACKING = 40
#: The order history the portal lists (the seeds' window); older orders are kept.
HISTORY_WINDOW = timedelta(days=730)
#: An order still unpaid this long after it was placed gives its stock back (a job).
UNPAID_HOLD = timedelta(hours=24)

_SKU = re.compile(r"[A-Z0-9][A-Z0-9-]{1,31}")
_ORDER_NUMBER = re.compile(r"SO-[0-9]{4}-[0-9]{6}")
_TRACKING = re.compile(r"[A-Za-z0-9][A-Za-z0-9 -]{3,39}")
_SEPARATORS = re.compile(r"[ -]")


class Category(StrEnum):
    INK = "ink"
    LABELS = "labels"
    SEALING = "sealing"
    ENVELOPES = "envelopes"
    OFFICE = "office"


class OrderStatus(StrEnum):
    PLACED = "placed"
    PAID = "paid"
    PICKING = "picking"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


#: Which status may follow which (staff moves, the payment's ``placed -> paid``).
TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PLACED: frozenset({OrderStatus.PAID, OrderStatus.CANCELLED}),
    OrderStatus.PAID: frozenset({OrderStatus.PICKING, OrderStatus.CANCELLED}),
    OrderStatus.PICKING: frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED}),
    OrderStatus.DELIVERED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}

#: Statuses staff set by hand (``paid`` comes from the payment or the invoice).
STAFF_STATUSES = frozenset(
    {OrderStatus.PICKING, OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.CANCELLED}
)


class PaymentMethod(StrEnum):
    #: a payment source of the account's vault (card, bank debit, credit line)
    SOURCE = "source"
    #: an invoice to the account (billing)
    ACCOUNT = "account"


@attrs.frozen
class StockMove:
    """A change of an item's stock by staff: goods received (``change`` > 0) or
    written off (< 0), who did it, when and why, and the stock it left."""

    sku: str
    change: int
    stock_after: int
    staff: str
    reason: str
    at: datetime


# ------------------------------------------------------------------ parsers


def parse_sku(text: object) -> str:
    clean = text.strip().upper() if isinstance(text, str) else ""
    if not _SKU.fullmatch(clean):
        raise ValidationError("a SKU is 2 to 32 letters, digits or dashes", code="unknown_sku")
    return clean


def check_quantity(quantity: object) -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise ValidationError("a quantity is a whole number", code="invalid_quantity")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise ValidationError(f"a quantity is 1 to {MAX_QUANTITY}", code="invalid_quantity")
    return quantity


def check_stock(stock: object) -> int:
    if isinstance(stock, bool) or not isinstance(stock, int) or not 0 <= stock <= MAX_STOCK:
        raise ValidationError(f"stock is 0 to {MAX_STOCK}", code="invalid_stock")
    return stock


def check_stock_change(change: object) -> int:
    if isinstance(change, bool) or not isinstance(change, int) or change == 0:
        raise ValidationError("a stock change is a whole number, not 0", code="invalid_stock")
    if abs(change) > MAX_STOCK:
        raise ValidationError(f"a stock change is at most {MAX_STOCK}", code="invalid_stock")
    return change


def parse_order_number(text: object) -> str | None:
    """The number in canonical form, or None when ``text`` cannot be one."""
    clean = text.strip().upper() if isinstance(text, str) else ""
    return clean if _ORDER_NUMBER.fullmatch(clean) else None


def new_order_number(day: date) -> str:
    return f"SO-{day.year:04d}-{secrets.randbelow(10**6):06d}"


def parse_status(text: object) -> OrderStatus:
    clean = text.strip().lower() if isinstance(text, str) else ""
    try:
        return OrderStatus(clean)
    except ValueError:
        known = ", ".join(s.value for s in OrderStatus)
        raise ValidationError(f"a status is one of {known}", code="invalid_status") from None


def parse_tracking_number(text: object) -> str:
    clean = " ".join(text.split()).upper() if isinstance(text, str) else ""
    if not _TRACKING.fullmatch(clean):
        raise ValidationError(
            "a tracking number is 4 to 40 letters, digits, spaces or dashes",
            code="invalid_tracking_number",
        )
    return clean


#: Who an order event by the carrier's own word is recorded as (its delivery scan).
CARRIER = "carrier"


def same_parcel(ours: str | None, theirs: str) -> bool:
    """Whether two spellings name one tracking number (spaces, dashes and case aside)."""
    if ours is None:
        return False
    return _SEPARATORS.sub("", ours).upper() == _SEPARATORS.sub("", theirs).upper()


def parse_note(text: object, *, required: bool = False) -> str:
    clean = " ".join(text.split()) if isinstance(text, str) else ""
    check_no_control(clean, "note")
    if len(clean) > MAX_NOTE or (required and not clean):
        raise ValidationError(f"give a reason of 1 to {MAX_NOTE} characters", code="invalid_note")
    return clean


def parse_staff(text: object) -> str:
    clean = " ".join(text.split()) if isinstance(text, str) else ""
    check_no_control(clean, "staff")
    if not clean or len(clean) > MAX_STAFF:
        raise ValidationError("say who makes the change", code="invalid_staff")
    return clean


def _text(value: object, field: str, limit: int) -> str:
    clean = value.strip() if isinstance(value, str) else ""
    check_no_control(clean, field, multiline=True)
    if not clean or len(clean) > limit:
        raise ValidationError(f"{field} is 1 to {limit} characters", code=f"invalid_{field}")
    return clean


# ---------------------------------------------------------------- catalogue


@attrs.frozen
class Item:
    """A catalogue item."""

    sku: str
    category: Category
    #: language -> text, for every language of ``LANGUAGES``
    names: Mapping[str, str]
    descriptions: Mapping[str, str]
    #: currency -> unit price in mills; an item without the account's currency is not sold to it
    prices: Mapping[str, int]
    stock: int
    #: meter product codes the item fits; empty: any meter (or none needed)
    fits: tuple[str, ...] = ()
    active: bool = True

    def name(self, language: str) -> str:
        return self.names.get(language) or self.names["en"]

    def description(self, language: str) -> str:
        return self.descriptions.get(language) or self.descriptions["en"]

    def price(self, currency: str) -> Money | None:
        mills = self.prices.get(currency)
        return None if mills is None else Money(mills, currency)

    def fits_any(self, product_codes: Sequence[str]) -> bool:
        """Whether the item is made for one of the customer's meter models (an item
        tied to no model, such as envelopes, is not marked)."""
        return bool(self.fits) and any(code in self.fits for code in product_codes)


def make_item(
    sku: str,
    category: str,
    names: Mapping[str, str],
    descriptions: Mapping[str, str],
    prices: Mapping[str, int],
    stock: int,
    fits: Sequence[str] = (),
) -> Item:
    """A checked catalogue item (staff and the demo's catalogue)."""
    try:
        clean_category = Category(category)
    except ValueError:
        raise ValidationError("unknown category", code="invalid_category") from None
    clean_names = {lang: _text(names.get(lang), "name", MAX_NAME) for lang in LANGUAGES}
    clean_desc = {
        lang: _text(descriptions.get(lang), "description", MAX_DESCRIPTION) for lang in LANGUAGES
    }
    if not prices:
        raise ValidationError("an item has a price", code="invalid_price")
    clean_prices: dict[str, int] = {}
    for currency, mills in prices.items():
        if isinstance(mills, bool) or not isinstance(mills, int) or mills <= 0:
            raise ValidationError("a price is more than zero", code="invalid_price")
        clean_prices[Money(mills, currency).currency] = mills
    return Item(
        sku=parse_sku(sku),
        category=clean_category,
        names=clean_names,
        descriptions=clean_desc,
        prices=clean_prices,
        stock=check_stock(stock),
        fits=tuple(sorted(set(fits))),
    )


# --------------------------------------------------------------------- cart


@attrs.frozen
class CartLine:
    sku: str
    quantity: int
    #: the unit price the customer was shown last
    unit_price: Money

    @property
    def total(self) -> Money:
        return self.unit_price * self.quantity


@attrs.frozen
class Cart:
    customer_number: str
    lines: tuple[CartLine, ...]
    currency: str

    @property
    def total(self) -> Money:
        total = Money.zero(self.currency)
        for line in self.lines:
            total = total + line.total
        return total

    def quantity_of(self, sku: str) -> int:
        return sum(line.quantity for line in self.lines if line.sku == sku)


@attrs.frozen
class PriceChange:
    sku: str
    before: Money
    now: Money


def repriced(lines: Sequence[CartLine], items: Mapping[str, Item]) -> list[PriceChange]:
    """The cart lines whose price moved since the customer saw it (``items`` holds the
    catalogue's present rows of the cart's SKUs)."""
    changes = []
    for line in lines:
        item = items.get(line.sku)
        now = None if item is None else item.price(line.unit_price.currency)
        if now is not None and now != line.unit_price:
            changes.append(PriceChange(line.sku, line.unit_price, now))
    return changes


def sellable(item: Item | None, sku: str, currency: str) -> Item:
    """``item`` if it may be sold in ``currency``; ``unknown_sku`` otherwise."""
    if item is None or not item.active or item.price(currency) is None:
        raise NotFound(f"no item {sku!r} in the catalogue", code="unknown_sku")
    return item


# ------------------------------------------------------------------- orders


@attrs.frozen
class OrderLine:
    sku: str
    #: the item's names when it was ordered (the catalogue may change later)
    names: Mapping[str, str]
    quantity: int
    unit_price: Money

    @property
    def total(self) -> Money:
        return self.unit_price * self.quantity

    def name(self, language: str) -> str:
        return self.names.get(language) or self.names["en"]


@attrs.frozen
class OrderEvent:
    status: OrderStatus
    at: datetime
    by: str
    note: str = ""


@attrs.define
class Order:
    number: str
    customer_number: str
    lines: tuple[OrderLine, ...]
    total: Money
    status: OrderStatus
    method: PaymentMethod
    placed_at: datetime
    updated_at: datetime
    #: the sales taxes in ``total`` (billing's, for the customer's country and region)
    tax: Money | None = None
    #: the funding payment of a payment-source order, once one was attempted
    payment_id: str | None = None
    #: the invoice of an order on account
    invoice_number: str | None = None
    tracking_number: str | None = None
    #: the last declined payment's code and message (the order stays unpaid)
    payment_failure: str | None = None
    payment_attempts: int = 0
    #: a cancelled payment's refund: ``due`` until the source gave the money back, ``done``
    refund: str | None = None
    events: tuple[OrderEvent, ...] = ()
    #: true when this answer replays an earlier checkout of the same key
    replayed: bool = False

    @property
    def net(self) -> Money:
        """The total before taxes."""
        return self.total - self.tax if self.tax is not None else self.total

    @property
    def final(self) -> bool:
        return not TRANSITIONS[self.status]


#: Where an order's life ends (delivered, cancelled): no status follows.
FINAL_STATUSES = frozenset(status for status, after in TRANSITIONS.items() if not after)


def check_transition(order: Order, to: OrderStatus, tracking_number: str | None) -> None:
    """Raise unless ``order`` may move to ``to`` now."""
    if to not in TRANSITIONS[order.status]:
        raise Conflict(
            f"order {order.number} is {order.status.value}: it cannot become {to.value}",
            code="invalid_transition",
            status=order.status.value,
        )
    if to is OrderStatus.SHIPPED and not tracking_number:
        raise ValidationError("a shipped order has a tracking number", code="tracking_required")


def order_line(item: Item, quantity: int, unit_price: Money) -> OrderLine:
    return OrderLine(item.sku, dict(item.names), quantity, unit_price)


def listed_since(now: datetime) -> datetime:
    """The oldest moment of the history the portal lists."""
    return now - HISTORY_WINDOW
