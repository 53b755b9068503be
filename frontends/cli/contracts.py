"""``postroom contracts``: lease, rental and maintenance contracts of customers' equipment.

Staff only: the CLI has no login of its own, its trust is access to the installation's
settings and database (docs/security.md). Customers see their contracts on /products.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import click

from postroom.core.contracts.model import MAX_NOTICE_DAYS, MAX_TERM_MONTHS, Contract
from postroom.core.money import Money
from postroom.frontends.cli.options import account_option as shared_account_option
from postroom.frontends.cli.options import json_option
from postroom.frontends.cli.state import CliState, emit, pass_state

# a contract has a number of its own: the customer's is passed as customer_number
account_option = shared_account_option(param="customer_number")


def contract_json(contract: Contract, today: date) -> dict[str, Any]:
    """A contract as the CLI's --json shows it, with its status on ``today``."""
    term = contract.term_on(today)
    renewal = contract.renewal_date(today)
    cancelled = contract.cancelled_at
    return {
        "number": contract.number,
        "customer_number": contract.customer_number,
        "serial": contract.serial,
        "product_code": contract.product_code,
        "kind": contract.kind.value,
        "status": contract.status_on(today).value,
        "start": contract.start.isoformat(),
        "term_months": contract.term_months,
        "term": term.number,
        "term_start": term.start.isoformat(),
        "end": term.end.isoformat(),
        "renewal_date": None if renewal is None else renewal.isoformat(),
        "auto_renew": contract.auto_renew,
        "billing_period": contract.terms.billing_period.value,
        "amount_mills": contract.terms.amount.mills,
        "currency": contract.terms.amount.currency,
        "notice_days": contract.terms.notice_days,
        "notice_deadline": contract.notice_deadline(today).isoformat(),
        "created_at": contract.created_at.isoformat(),
        "cancelled_at": None if cancelled is None else cancelled.isoformat(),
        "cancel_reason": contract.cancel_reason or None,
    }


@click.group()
def contracts() -> None:
    """Lease, rental and maintenance contracts of customers' meters (staff)."""


@contracts.command()
@account_option
@click.option("--serial", required=True, help="The customer's meter the contract covers.")
@click.option(
    "--kind",
    type=click.Choice(["lease", "rental", "maintenance"]),
    required=True,
    help="What the contract is.",
)
@click.option(
    "--start",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    required=True,
    help="First day, YYYY-MM-DD.",
)
@click.option(
    "--months",
    type=click.IntRange(1, MAX_TERM_MONTHS),
    required=True,
    help="Length of one term in months.",
)
@click.option(
    "--billing",
    type=click.Choice(["monthly", "quarterly", "yearly"]),
    default="monthly",
    show_default=True,
    help="How often the amount is billed.",
)
@click.option("--amount", required=True, help='Amount per billing period, e.g. "49.90 USD".')
@click.option(
    "--notice-days",
    type=click.IntRange(0, MAX_NOTICE_DAYS),
    default=30,
    show_default=True,
    help="Notice to give before a term's end.",
)
@click.option(
    "--auto-renew/--no-auto-renew",
    default=False,
    show_default=True,
    help="Whether a term renews by itself.",
)
@json_option
@pass_state
def add(
    state: CliState,
    customer_number: str,
    serial: str,
    kind: str,
    start: Any,
    months: int,
    billing: str,
    amount: str,
    notice_days: int,
    auto_renew: bool,
    as_json: bool,
) -> None:
    """Add a contract on a customer's meter; prints its number. Staff only."""
    pr = state.postroom()
    added = pr.contracts.add(
        customer_number,
        serial,
        kind=kind,
        start=start.date(),
        term_months=months,
        billing_period=billing,
        amount=Money.parse(amount),
        notice_days=notice_days,
        auto_renew=auto_renew,
    )
    emit(contract_json(added, pr.contracts.today()), as_json, lambda d: f"added {d['number']}")


@contracts.command("list")
@account_option
@click.option("--serial", default=None, help="Only the contracts of this meter.")
@json_option
@pass_state
def list_(state: CliState, customer_number: str, serial: str | None, as_json: bool) -> None:
    """List a customer's contracts with their status today. Staff only."""
    pr = state.postroom()
    today = pr.contracts.today()
    found = [contract_json(c, today) for c in pr.contracts.list(customer_number, serial)]
    emit(found, as_json, _table)


@contracts.command()
@account_option
@click.argument("number")
@json_option
@pass_state
def show(state: CliState, customer_number: str, number: str, as_json: bool) -> None:
    """Show one of the customer's contracts. Staff only."""
    pr = state.postroom()
    found = pr.contracts.get(customer_number, number)
    emit(contract_json(found, pr.contracts.today()), as_json, _detail)


@contracts.command()
@account_option
@click.argument("number")
@click.option("--reason", required=True, help="Why the contract ends now.")
@json_option
@pass_state
def cancel(state: CliState, customer_number: str, number: str, reason: str, as_json: bool) -> None:
    """End one of the customer's contracts now, with a reason. Staff only."""
    pr = state.postroom()
    cancelled = pr.contracts.cancel(customer_number, number, reason)
    emit(
        contract_json(cancelled, pr.contracts.today()),
        as_json,
        lambda d: f"cancelled {d['number']}",
    )


def _money(data: dict[str, Any]) -> str:
    return Money(data["amount_mills"], data["currency"]).format()


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no contracts"
    return "\n".join(
        f"{r['number']}  {r['kind']:<11}  {r['serial']:<14}  {r['status']:<9}  "
        f"{r['start']} to {r['end']}  {_money(r)} {r['billing_period']}"
        for r in rows
    )


def _detail(d: dict[str, Any]) -> str:
    lines = [
        f"{d['number']}  {d['kind']} of meter {d['serial']} ({d['product_code']})",
        f"customer {d['customer_number']}, {d['status']}",
        f"started {d['start']}, term {d['term']} of {d['term_months']} months: "
        f"{d['term_start']} to {d['end']}",
        f"{_money(d)} {d['billing_period']}, notice {d['notice_days']} days "
        f"(by {d['notice_deadline']})",
        "renews by itself" if d["auto_renew"] else "does not renew by itself",
    ]
    if d["renewal_date"]:
        lines.append(f"renewal date {d['renewal_date']}")
    if d["cancelled_at"]:
        lines.append(f"cancelled {d['cancelled_at']}: {d['cancel_reason']}")
    return "\n".join(lines)
