"""``postroom equipment``: customers' products, where they stand, and the installation
address changes customers asked for.

Staff only: the CLI has no login of its own, its trust is access to the installation's
settings and database (docs/security.md). Customers use /products.
"""

from __future__ import annotations

import getpass
from typing import Any

import click

from postroom.core.contracts.model import (
    AddressRequest,
    InstallationAddress,
    Product,
    parse_address,
)
from postroom.frontends.cli.contracts import account_option, contract_json
from postroom.frontends.cli.options import json_option
from postroom.frontends.cli.state import CliState, emit, pass_state


def address_json(address: InstallationAddress | None) -> dict[str, str] | None:
    if address is None:
        return None
    return {
        "line1": address.line1,
        "line2": address.line2,
        "postal_code": address.postal_code,
        "city": address.city,
        "country": address.country,
    }


def product_json(product: Product, today: Any) -> dict[str, Any]:
    return {
        "serial": product.serial,
        "product_code": product.product_code,
        "model": product.model,
        "status": product.status,
        "registered_at": product.registered_at.isoformat(),
        "installation_number": product.installation_number,
        "installation_address": address_json(product.address),
        "contracts": [contract_json(c, today) for c in product.contracts],
    }


def request_json(request: AddressRequest) -> dict[str, Any]:
    change = request.change
    return {
        "reference": request.reference,
        "customer_number": change.customer_number,
        "serial": change.serial,
        "new_address": address_json(change.address),
        "move_on": change.move_on.isoformat(),
        "requested_by": change.requested_by,
        "requested_at": change.requested_at.isoformat(),
        "status": request.status.value,
        "resolved_at": None if request.resolved_at is None else request.resolved_at.isoformat(),
        "resolved_by": request.resolved_by,
        "note": request.note or None,
    }


def _address_options(function: Any) -> Any:
    for option in reversed(
        [
            click.option("--line1", required=True, help="Street and number."),
            click.option("--line2", default="", help="Building, floor, suite."),
            click.option("--postal-code", required=True, help="Postal code."),
            click.option("--city", required=True, help="City."),
            click.option("--country", required=True, help="ISO 3166 alpha-2 code, e.g. US."),
        ]
    ):
        function = option(function)
    return function


def _staff_name(staff: str | None) -> str:
    try:
        return staff or getpass.getuser()
    except (KeyError, OSError):  # no name for this user id (a container)
        raise click.UsageError("say who you are with --staff NAME") from None


@click.group()
def equipment() -> None:
    """Customers' products, installation addresses and address changes (staff)."""


@equipment.command("list")
@account_option
@json_option
@pass_state
def list_(state: CliState, customer_number: str, as_json: bool) -> None:
    """List a customer's products with their address and contracts. Staff only."""
    pr = state.postroom()
    today = pr.contracts.today()
    found = [product_json(p, today) for p in pr.equipment.products(customer_number)]
    emit(found, as_json, _products)


@equipment.command()
@account_option
@click.option("--product-code", default=None, help="Product code on the label, e.g. PR-VPSD1.")
@click.option("--serial", default=None, help="Serial number on the label.")
@click.option(
    "--installation-number",
    default=None,
    help="The 11-digit installation account number of the delivery note (instead of "
    "--product-code and --serial).",
)
@_address_options
@json_option
@pass_state
def register(
    state: CliState,
    customer_number: str,
    product_code: str | None,
    serial: str | None,
    installation_number: str | None,
    line1: str,
    line2: str,
    postal_code: str,
    city: str,
    country: str,
    as_json: bool,
) -> None:
    """Register a product to a customer where it is installed. Prints the meter's own
    API key, this once. Staff only."""
    pr = state.postroom()
    done = pr.equipment.register_product(
        customer_number,
        parse_address(line1, line2, postal_code, city, country),
        product_code=product_code,
        serial=serial,
        installation_number=installation_number,
    )
    data = {**product_json(done.product, pr.contracts.today()), "meter_key": done.meter_key}
    emit(
        data,
        as_json,
        lambda d: (
            f"registered {d['serial']}\nmeter key {d['meter_key']}"
            "\n(store it now: postroom keeps only its hash)"
        ),
    )


@equipment.command("set-address")
@account_option
@click.argument("serial")
@_address_options
@json_option
@pass_state
def set_address(
    state: CliState,
    customer_number: str,
    serial: str,
    line1: str,
    line2: str,
    postal_code: str,
    city: str,
    country: str,
    as_json: bool,
) -> None:
    """Record where a customer's product stands (after a site visit). Staff only."""
    pr = state.postroom()
    product = pr.equipment.set_installation_address(
        customer_number, serial, parse_address(line1, line2, postal_code, city, country)
    )
    emit(product_json(product, pr.contracts.today()), as_json, lambda d: _products([d]))


@equipment.command("address-requests")
@click.option(
    "--status",
    type=click.Choice(["open", "done", "rejected", "all"]),
    default="open",
    show_default=True,
    help="Which requests to list.",
)
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@json_option
@pass_state
def address_requests(state: CliState, status: str, limit: int, as_json: bool) -> None:
    """Installation address changes customers asked for, oldest first. Staff only."""
    found = state.postroom().equipment.address_requests(
        None if status == "all" else status, limit=limit
    )
    emit([request_json(r) for r in found], as_json, _requests)


@equipment.command("address-request-done")
@click.argument("reference")
@click.option("--staff", default=None, help="Who made the change (default: your user name).")
@click.option("--note", default="", help="A note for the record.")
@json_option
@pass_state
def address_request_done(
    state: CliState, reference: str, staff: str | None, note: str, as_json: bool
) -> None:
    """Record the requested address as the product's installation address and tell the
    customer. Staff only."""
    resolved = state.postroom().equipment.resolve_address_request(
        reference, done=True, staff=_staff_name(staff), note=note
    )
    emit(request_json(resolved), as_json, lambda d: f"{d['reference']} done")


@equipment.command("address-request-reject")
@click.argument("reference")
@click.option("--note", required=True, help="Why, for the customer.")
@click.option("--staff", default=None, help="Who decided (default: your user name).")
@json_option
@pass_state
def address_request_reject(
    state: CliState, reference: str, note: str, staff: str | None, as_json: bool
) -> None:
    """Refuse an address change and tell the customer why. Staff only."""
    resolved = state.postroom().equipment.resolve_address_request(
        reference, done=False, staff=_staff_name(staff), note=note
    )
    emit(request_json(resolved), as_json, lambda d: f"{d['reference']} rejected")


def _one_line(address: dict[str, str] | None) -> str:
    if address is None:
        return "no installation address"
    parts = [address["line1"], address["line2"], f"{address['postal_code']} {address['city']}"]
    return ", ".join(p for p in parts if p) + f", {address['country']}"


def _products(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no products"
    lines = []
    for r in rows:
        where = _one_line(r["installation_address"])
        lines.append(f"{r['serial']}  {r['model']}  {r['status']}  {where}")
        lines.extend(
            f"  {c['number']}  {c['kind']}  {c['status']}  {c['start']} to {c['end']}"
            for c in r["contracts"]
        )
    return "\n".join(lines)


def _requests(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no address requests"
    return "\n".join(
        f"{r['reference']}  {r['status']:<8}  {r['customer_number']}  {r['serial']}  "
        f"move on {r['move_on']} to {_one_line(r['new_address'])}  (by {r['requested_by']})"
        for r in rows
    )
