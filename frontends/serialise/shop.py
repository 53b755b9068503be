"""The shop's JSON (``/api/v1/catalog``, ``/api/v1/orders``, ``postroom shop --json``):
one shape for the API and the CLI."""

from __future__ import annotations

from typing import Any

from postroom.core.shop.addons import SloganOrder
from postroom.core.shop.model import Item, Order, StockMove
from postroom.core.shop.service import CartView, CatalogEntry
from postroom.frontends.serialise import mills, money, optional_money, stamp


def item_json(item: Item) -> dict[str, Any]:
    """A catalogue item as staff see it: every price and the stock."""
    return {
        "sku": item.sku,
        "category": item.category.value,
        "names": dict(item.names),
        "descriptions": dict(item.descriptions),
        "prices": {c: mills(item.prices[c], c) for c in sorted(item.prices)},
        "stock": item.stock,
        "fits": list(item.fits),
        "active": item.active,
    }


def entry_json(entry: CatalogEntry) -> dict[str, Any]:
    """A catalogue item as a customer sees it: its price in the account's currency,
    whether it is in stock and whether it fits one of the account's meters."""
    item = entry.item
    return {
        "sku": item.sku,
        "category": item.category.value,
        "names": dict(item.names),
        "descriptions": dict(item.descriptions),
        "price": optional_money(entry.price),
        "in_stock": item.stock > 0,
        "fits": list(item.fits),
        "fits_your_meter": entry.fits_your_meter,
    }


def cart_json(view: CartView) -> dict[str, Any]:
    cart = view.cart
    return {
        "lines": [
            {
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price": money(line.unit_price),
                "total": money(line.total),
            }
            for line in cart.lines
        ],
        "total": money(cart.total),
    }


def order_json(order: Order) -> dict[str, Any]:
    return {
        "number": order.number,
        "customer_number": order.customer_number,
        "status": order.status.value,
        "payment_method": order.method.value,
        "lines": [
            {
                "sku": line.sku,
                "names": dict(line.names),
                "quantity": line.quantity,
                "unit_price": money(line.unit_price),
                "total": money(line.total),
            }
            for line in order.lines
        ],
        "net": money(order.net),
        "tax": money(order.tax or order.total - order.net),
        "total": money(order.total),
        "payment_id": order.payment_id,
        "invoice_number": order.invoice_number,
        "tracking_number": order.tracking_number,
        "payment_failure": order.payment_failure,
        "refund": order.refund,
        "placed_at": stamp(order.placed_at),
        "updated_at": stamp(order.updated_at),
        "events": [
            {"status": e.status.value, "at": stamp(e.at), "by": e.by, "note": e.note or None}
            for e in order.events
        ],
    }


def slogan_json(order: SloganOrder) -> dict[str, Any]:
    return {
        "number": order.number,
        "customer_number": order.customer_number,
        "serial": order.serial,
        "kind": order.kind.value,
        "label": order.label,
        "content_type": None if order.content_type is None else order.content_type.value,
        "status": order.status.value,
        "created_at": stamp(order.created_at),
        "decided_at": stamp(order.decided_at),
        "decided_by": order.decided_by,
        "reason": order.reason or None,
    }


def stock_move_json(move: StockMove) -> dict[str, Any]:
    return {
        "sku": move.sku,
        "change": move.change,
        "stock_after": move.stock_after,
        "staff": move.staff,
        "reason": move.reason,
        "at": stamp(move.at),
    }
