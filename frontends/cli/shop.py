"""``postroom shop``: the supplies catalogue, its stock and customers' orders.

Staff only: the CLI has no login of its own, its trust is access to the installation's
settings and database (docs/security.md). Customers order on /shop and the API.
"""

from __future__ import annotations

from typing import Any

import click

from postroom.core.shop.model import MAX_STOCK, OrderStatus
from postroom.frontends.cli.options import account_option as shared_account_option
from postroom.frontends.cli.options import json_option, limit_option
from postroom.frontends.cli.state import CliState, emit, pass_state
from postroom.frontends.serialise.shop import (
    item_json,
    order_json,
    slogan_json,
    stock_move_json,
)

account_option = shared_account_option(
    required=False, param="customer_number", help="Only this customer account's orders."
)


@click.group()
def shop() -> None:
    """The supplies shop: catalogue, stock and orders (staff)."""


@shop.command()
@json_option
@pass_state
def catalog(state: CliState, as_json: bool) -> None:
    """List the catalogue with prices and stock. Staff only."""
    found = [item_json(e.item) for e in state.postroom().shop.catalog()]
    emit(found, as_json, _catalog)


@shop.command()
@click.argument("sku")
@click.option(
    "--add",
    "change",
    type=click.IntRange(-MAX_STOCK, MAX_STOCK),
    required=True,
    help="Units received (or, negative, written off).",
)
@click.option("--staff", required=True, help="Who makes the change.")
@click.option("--reason", required=True, help="Why (a delivery note, damage...).")
@json_option
@pass_state
def stock(state: CliState, sku: str, change: int, staff: str, reason: str, as_json: bool) -> None:
    """Receive goods into an item's stock, or write some off (recorded with who and
    why). Staff only."""
    item = state.postroom().shop.adjust_stock(sku, change, staff=staff, reason=reason)
    emit(item_json(item), as_json, lambda d: f"{d['sku']}: {d['stock']} in stock")


@shop.command("stock-moves")
@click.argument("sku")
@limit_option(100)
@json_option
@pass_state
def stock_moves(state: CliState, sku: str, limit: int, as_json: bool) -> None:
    """An item's stock changes by staff, newest first. Staff only."""
    moves = [stock_move_json(m) for m in state.postroom().shop.stock_moves(sku, limit=limit)]
    emit(moves, as_json, _moves)


@shop.command()
@account_option
@click.option(
    "--status",
    type=click.Choice([s.value for s in OrderStatus]),
    default=None,
    help="Only orders in this status.",
)
@limit_option(50)
@json_option
@pass_state
def orders(
    state: CliState, customer_number: str | None, status: str | None, limit: int, as_json: bool
) -> None:
    """List orders, newest first (one account's last two years with --account). Staff only."""
    shop = state.postroom().shop
    if customer_number is not None:
        found = [o for o in shop.orders(customer_number, limit=limit) if status in (None, o.status)]
    else:
        found = shop.all_orders(status, limit=limit)
    emit([order_json(o) for o in found], as_json, _orders)


@shop.command("order-status")
@click.argument("number")
@click.argument("status", type=click.Choice(["picking", "shipped", "delivered", "cancelled"]))
@click.option("--staff", required=True, help="Who makes the change.")
@click.option("--tracking", default=None, help="The parcel's tracking number (shipped).")
@click.option("--note", default="", help="Why (required to cancel).")
@json_option
@pass_state
def order_status(
    state: CliState,
    number: str,
    status: str,
    staff: str,
    tracking: str | None,
    note: str,
    as_json: bool,
) -> None:
    """Move an order on: picking, shipped (with --tracking), delivered, or cancelled
    (stock returned, payment refunded). Staff only."""
    order = state.postroom().shop.set_status(
        number, status, staff=staff, tracking_number=tracking, note=note
    )
    emit(order_json(order), as_json, lambda d: f"{d['number']}: {d['status']}")


@shop.command()
@click.option("--all", "everything", is_flag=True, help="Every account's, not only those waiting.")
@json_option
@pass_state
def slogans(state: CliState, everything: bool, as_json: bool) -> None:
    """List uploaded ad slogans waiting for staff. Staff only."""
    addons = state.postroom().shop.addons
    found = addons.all_slogans() if everything else addons.pending_slogans()
    emit([slogan_json(o) for o in found], as_json, _slogans)


@shop.command("slogan-graphic")
@click.argument("number")
@click.option(
    "--output", type=click.Path(dir_okay=False, writable=True), required=True, help="File to write."
)
@pass_state
def slogan_graphic(state: CliState, number: str, output: str) -> None:
    """Write an uploaded slogan's checked graphic to a file, to look at it. Staff only."""
    order, data = state.postroom().shop.addons.slogan_graphic(number)
    with open(output, "wb") as out:
        out.write(data)
    click.echo(f"{order.number}: {order.content_type} written to {output}")


@shop.command("slogan-decision")
@click.argument("number")
@click.argument("decision", type=click.Choice(["approve", "reject"]))
@click.option("--staff", required=True, help="Who decides.")
@click.option("--reason", default="", help="Why it is rejected (the customer reads it).")
@json_option
@pass_state
def slogan_decision(
    state: CliState, number: str, decision: str, staff: str, reason: str, as_json: bool
) -> None:
    """Approve an uploaded slogan (it goes to the meter at its next sync) or reject it
    with a reason. Staff only."""
    addons = state.postroom().shop.addons
    if decision == "approve":
        done = addons.approve_slogan(number, staff=staff)
    else:
        done = addons.reject_slogan(number, staff=staff, reason=reason)
    emit(slogan_json(done), as_json, lambda d: f"{d['number']}: {d['status']}")


def _slogans(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no slogans waiting"
    return "\n".join(
        f"{r['number']}  {r['customer_number']}  {r['serial']:<14} {r['status']:<8} "
        f"{r['content_type'] or 'text'}  {r['label']}"
        for r in rows
    )


def _catalog(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "the catalogue is empty"
    return "\n".join(
        f"{r['sku']:<16} {r['category']:<10} {r['stock']:>6} in stock  "
        + " ".join(f"{p['amount']} {c}" for c, p in r["prices"].items())
        + f"  {r['names']['en']}"
        for r in rows
    )


def _orders(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no orders"
    return "\n".join(
        f"{r['number']}  {r['customer_number']}  {r['status']:<9}  "
        f"{r['total']['amount']} {r['total']['currency']}  {r['placed_at']}"
        + (f"  tracking {r['tracking_number']}" if r["tracking_number"] else "")
        for r in rows
    )


def _moves(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no stock change recorded"
    return "\n".join(
        f"{r['at']}  {r['change']:>+7}  -> {r['stock_after']:>6}  {r['staff']}: {r['reason']}"
        for r in rows
    )
