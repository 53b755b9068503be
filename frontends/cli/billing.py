"""``postroom billing``: customers' invoices and credit notes, their PDFs, paying them,
and the billing runs.

Staff only: the CLI has no login of its own, its trust is access to the installation's
settings and database (docs/security.md). Customers use /billing in the portal and
/api/v1/invoices with their API key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from postroom.core.billing.model import InvoiceStatus
from postroom.frontends.cli.options import account_option, json_option, limit_option
from postroom.frontends.cli.state import CliState, emit, pass_state
from postroom.frontends.serialise import billing as serialise

STATUSES = [s.value for s in InvoiceStatus]
DAY = click.DateTime(formats=["%Y-%m-%d"])


@click.group()
def billing() -> None:
    """Invoices, credit notes, paying them, and the billing runs (staff)."""


@billing.command()
@account_option()
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only this status.")
@click.option("--since", type=DAY, default=None, help="Issued on or after, YYYY-MM-DD.")
@click.option("--until", type=DAY, default=None, help="Issued on or before, YYYY-MM-DD.")
@limit_option()
@json_option
@pass_state
def invoices(
    state: CliState,
    number: str,
    status: str | None,
    since: Any,
    until: Any,
    limit: int,
    as_json: bool,
) -> None:
    """List a customer's invoices and credit notes, newest first, with the balance due."""
    pr = state.postroom()
    found = pr.billing.account_statement(
        number,
        status=status,
        since=None if since is None else since.date(),
        until=None if until is None else until.date(),
        limit=limit,
    )
    emit(serialise.statement(found), as_json, _table)


@billing.command()
@account_option()
@click.argument("invoice")
@json_option
@pass_state
def show(state: CliState, number: str, invoice: str, as_json: bool) -> None:
    """Show one of the customer's invoices whole."""
    pr = state.postroom()
    found = pr.billing.get(number, invoice)
    emit(serialise.invoice(found, pr.billing.today()), as_json, _detail)


@billing.command()
@account_option()
@click.argument("invoice")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    required=True,
    help="The PDF file to write ('-' for standard output).",
)
@pass_state
def pdf(state: CliState, number: str, invoice: str, output: Path) -> None:
    """Write one of the customer's invoices as a PDF."""
    document = state.postroom().billing.pdf(number, invoice)
    if str(output) == "-":
        click.echo(document, nl=False)
        return
    output.write_bytes(document)
    click.echo(f"wrote {output} ({len(document)} bytes)")


@billing.command()
@account_option()
@click.argument("invoice")
@click.option(
    "--instrument", required=True, help="The customer's payment instrument (pi_...) to charge."
)
@click.option(
    "--key",
    "idempotency_key",
    required=True,
    help="Idempotency key: the same key again never charges twice.",
)
@json_option
@pass_state
def pay(
    state: CliState, number: str, invoice: str, instrument: str, idempotency_key: str, as_json: bool
) -> None:
    """Pay one of the customer's open invoices from one of its payment instruments (at
    the customer's request). A declined payment exits 1 and leaves the invoice open."""
    pr = state.postroom()
    paid = pr.billing.pay(number, invoice, instrument, idempotency_key)
    emit(
        serialise.invoice(paid, pr.billing.today()),
        as_json,
        lambda d: f"{d['number']} {d['status']} ({d['payment_id']})",
    )


@billing.command()
@account_option()
@click.argument("invoice")
@click.option("--reason", required=True, help="Why the invoice is corrected.")
@json_option
@pass_state
def credit(state: CliState, number: str, invoice: str, reason: str, as_json: bool) -> None:
    """Correct an issued invoice with a credit note of all its lines."""
    pr = state.postroom()
    note = pr.billing.credit(number, invoice, reason)
    emit(
        serialise.invoice(note, pr.billing.today()),
        as_json,
        lambda d: f"credit note {d['number']} for {d['related_number']}",
    )


@billing.command()
@account_option()
@json_option
@pass_state
def mandates(state: CliState, number: str, as_json: bool) -> None:
    """The account's direct-debit mandates (signed in the portal), revoked ones too."""
    found = [serialise.mandate(m) for m in state.postroom().billing.mandates(number)]
    emit({"items": found}, as_json, _mandates)


@billing.command("revoke-mandate")
@account_option()
@click.argument("reference")
@click.option("--by", "revoked_by", required=True, help="Who asked (the customer's letter...).")
@json_option
@pass_state
def revoke_mandate(
    state: CliState, number: str, reference: str, revoked_by: str, as_json: bool
) -> None:
    """Revoke a mandate the customer revoked in writing: automatic debit off, the bank
    account removed from the vault, the mandate kept (revoked); the customer is told."""
    found = state.postroom().billing.revoke_mandate(number, reference, revoked_by=revoked_by)
    emit(serialise.mandate(found), as_json, lambda d: f"mandate {d['reference']} revoked")


@billing.command()
@click.argument("what", type=click.Choice(["contracts", "credit-statements", "auto-debit"]))
@click.option(
    "--month", default=None, help="credit-statements: the month, YYYY-MM [default: last]."
)
@json_option
@pass_state
def run(state: CliState, what: str, month: str | None, as_json: bool) -> None:
    """Run one billing job now (the worker runs them daily); prints how many invoices
    were issued or debited. A second run the same day does nothing."""
    pr = state.postroom()
    if what == "contracts":
        done = pr.billing.run_contracts()
    elif what == "credit-statements":
        done = pr.billing.run_credit_statements(month)
    else:
        done = pr.billing.run_auto_debit()
    emit({"run": what, "count": done}, as_json, lambda d: f"{d['run']}: {d['count']}")


@billing.command()
@account_option()
@click.option("--region", default=None, help="US state or Canadian province (two letters).")
@click.option(
    "--language", type=click.Choice(["en", "fr"]), default=None, help="Documents' language."
)
@click.option("--paperless/--paper", default=None, help="An email with each new invoice.")
@click.option(
    "--auto-debit",
    default=None,
    help="Bank-debit instrument (pi_...) to debit invoices from on their due date; 'off' stops.",
)
@json_option
@pass_state
def profile(
    state: CliState,
    number: str,
    region: str | None,
    language: str | None,
    paperless: bool | None,
    auto_debit: str | None,
    as_json: bool,
) -> None:
    """Show or change how a customer account is billed."""
    pr = state.postroom()
    found = pr.billing.set_profile(number, region=region, language=language, paperless=paperless)
    if auto_debit is not None:
        found = pr.billing.set_auto_debit(number, None if auto_debit == "off" else auto_debit)
    emit(serialise.profile(found), as_json, _profile)


def _table(data: dict[str, Any]) -> str:
    rows = data["invoices"]
    head = (
        f"balance due {_money(data['balance_due'])}, overdue {_money(data['overdue'])} "
        f"on {data['day']}"
    )
    if not rows:
        return f"{head}\nno invoices"
    return "\n".join(
        [head]
        + [
            f"{r['number']}  {r['kind']:<16}  {r['status']:<9}  {r['issued_on']}  "
            f"due {r['due_on']}  {_money(r['total']):>16}"
            for r in rows
        ]
    )


def _money(value: dict[str, str]) -> str:
    return f"{value['amount']} {value['currency']}"


def _detail(d: dict[str, Any]) -> str:
    lines = [
        f"{d['number']}  {d['kind']}  {d['status']}",
        f"customer {d['customer_number']} {d['customer']['name']}",
        f"issued {d['issued_on']}, due {d['due_on']}",
    ]
    if d["installation_number"]:
        lines.append(f"installation account number {d['installation_number']}")
    lines += [
        f"  {line['quantity']} x {line['description']} at {_money(line['unit_price'])}: "
        f"{_money(line['net'])} + {_money(line['tax'])}"
        for line in d["lines"]
    ]
    lines += [f"{t['name']} {t['percent']} %: {_money(t['amount'])}" for t in d["taxes"]]
    lines.append(f"total {_money(d['total'])}")
    if d["related_number"]:
        lines.append(f"related {d['related_number']}")
    return "\n".join(lines)


def _profile(d: dict[str, Any]) -> str:
    return (
        f"{d['customer_number']}: region {d['region'] or '-'}, language {d['language']}, "
        f"{'paperless' if d['paperless'] else 'paper'}, automatic debit "
        f"{d['auto_debit_instrument'] or 'off'}"
    )


def _mandates(data: dict[str, Any]) -> str:
    if not data["items"]:
        return "no mandate"
    return "\n".join(
        f"{m['reference']}  {m['scheme']}  {m['account_holder']}  {m['account']}  "
        f"signed {m['signed_at'][:10]} by {m['signed_by']}  "
        + ("active" if m["active"] else f"revoked {m['revoked_at'][:10]}")
        for m in data["items"]
    )
