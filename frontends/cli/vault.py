"""``postroom vault``: balances, deposits, refills, transfers and the ledger check."""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

import click

from postroom.core.money import Money
from postroom.core.vault.model import (
    LedgerAccount,
    Phase,
    TransferCode,
    TransferRequest,
    parse_moment,
    parse_report_types,
)
from postroom.core.vault.report import report_csv, report_json
from postroom.frontends.cli.state import CliState, emit, json_option, pass_state

id_option = click.option(
    "--id",
    "transfer_id",
    default=None,
    help="Client-chosen transfer id; sending it again never moves money twice "
    "(default: a new random id).",
)
amount_option = click.option(
    "--amount", required=True, help='Amount with its currency, e.g. "20.00 USD".'
)


def _id(transfer_id: str | None) -> str:
    return transfer_id or uuid.uuid4().hex


def _money(account: LedgerAccount, mills: int) -> str:
    return str(Money(mills, account.currency))


@click.group()
def vault() -> None:
    """The funds vault: postage accounts, meters and the ledger."""


@vault.command()
@click.argument("number")
@json_option
@pass_state
def balance(state: CliState, number: str, as_json: bool) -> None:
    """Show the postage account of customer account NUMBER."""
    account = state.postroom().vault.balance(number)

    def human(_: Any) -> str:
        b = account.balances
        return (
            f"{account.code}: balance {_money(account, b.balance)}, available "
            f"{_money(account, b.available + account.credit_limit)}, reserved "
            f"{_money(account, b.debits_pending)}, credit limit "
            f"{_money(account, account.credit_limit)}"
        )

    emit(account.to_json(), as_json, human)


@vault.command()
@click.argument("number")
@amount_option
@id_option
@click.option("--reference", default="", help="Payment reference.")
@json_option
@pass_state
def deposit(
    state: CliState,
    number: str,
    amount: str,
    transfer_id: str | None,
    reference: str,
    as_json: bool,
) -> None:
    """Credit funds received for customer account NUMBER to its postage account."""
    done = state.postroom().vault.deposit(
        number, Money.parse(amount), _id(transfer_id), reference=reference
    )
    emit(done.to_json(), as_json, _transfer_line)


@vault.command()
@click.option("--meter", "serial", required=True, help="Meter serial number.")
@amount_option
@id_option
@json_option
@pass_state
def refill(
    state: CliState, serial: str, amount: str, transfer_id: str | None, as_json: bool
) -> None:
    """Move funds from the postage account into a meter."""
    pr = state.postroom()
    done = pr.vault.refill(serial, Money.parse(amount), _id(transfer_id))
    registers = pr.vault.registers(serial)
    emit(
        {
            "transfer": done.transfer.to_json(),
            "registers": registers.to_json(),
            "reset_token": done.token,
        },
        as_json,
        lambda d: (
            _transfer_line(d["transfer"])
            + f"\nmeter {serial}: descending {registers.descending} mills,"
            f" ascending {registers.ascending}, control sum {registers.control_sum}"
        ),
    )


@vault.command("register-meter")
@click.argument("serial")
@click.option("--account", "number", required=True, help="Owner's customer account number.")
@click.option("--operator", required=True, help="Postal operator, e.g. USPS.")
@json_option
@pass_state
def register_meter(state: CliState, serial: str, number: str, operator: str, as_json: bool) -> None:
    """Register meter SERIAL for a customer (opens its ledger account and registers)."""
    registers = state.postroom().vault.register_meter(serial, number, operator)
    emit(registers.to_json(), as_json, lambda d: f"registered meter {d['serial']}")


@vault.command("withdraw-meter")
@click.argument("serial")
@id_option
@json_option
@pass_state
def withdraw_meter(state: CliState, serial: str, transfer_id: str | None, as_json: bool) -> None:
    """Withdraw meter SERIAL: its remaining funds return to the postage account."""
    done = state.postroom().vault.withdraw_meter(serial, _id(transfer_id))
    data = None if done is None else done.to_json()
    emit(
        data,
        as_json,
        lambda d: f"meter {serial} withdrawn" + (f"; {_transfer_line(d)}" if d else ""),
    )


@vault.command("replace-meter")
@click.argument("old")
@click.argument("new")
@id_option
@json_option
@pass_state
def replace_meter(
    state: CliState, old: str, new: str, transfer_id: str | None, as_json: bool
) -> None:
    """Move meter OLD's funds into meter NEW (registered already) and withdraw OLD."""
    done = state.postroom().vault.replace_meter(old, new, _id(transfer_id))
    data = None if done is None else done.to_json()
    emit(
        data,
        as_json,
        lambda d: f"meter {old} replaced by {new}" + (f"; {_transfer_line(d)}" if d else ""),
    )


@vault.command("apply-token")
@click.argument("serial")
@click.argument("token")
@json_option
@pass_state
def apply_token(state: CliState, serial: str, token: str, as_json: bool) -> None:
    """Record that meter SERIAL applied reset TOKEN at its sync (accepted once).

    TOKEN is the text form of the refill's PRT1 token (the `reset_token` of `refill`).
    """
    reset = state.postroom().vault.apply_reset_token(serial, token)
    emit(
        reset.to_json(), as_json, lambda d: f"reset {d['sequence']} of meter {d['serial']} applied"
    )


@vault.command()
@click.argument("serial")
@json_option
@pass_state
def registers(state: CliState, serial: str, as_json: bool) -> None:
    """Show the registers of meter SERIAL."""
    regs = state.postroom().vault.registers(serial)
    emit(
        regs.to_json(),
        as_json,
        lambda d: "\n".join(f"{key}: {value}" for key, value in d.items()),
    )


@vault.command()
@click.option("--from", "debit", required=True, help="Ledger account code to debit.")
@click.option("--to", "credit", required=True, help="Ledger account code to credit.")
@amount_option
@id_option
@click.option(
    "--code",
    type=click.Choice([c.value for c in TransferCode]),
    default=TransferCode.TRANSFER.value,
    show_default=True,
)
@click.option("--pending", is_flag=True, help="Reserve only (two-phase); post or void later.")
@click.option("--timeout", type=int, default=None, help="Seconds before a reservation expires.")
@click.option("--reference", default="")
@json_option
@pass_state
def transfer(
    state: CliState,
    debit: str,
    credit: str,
    amount: str,
    transfer_id: str | None,
    code: str,
    pending: bool,
    timeout: int | None,
    reference: str,
    as_json: bool,
) -> None:
    """Move an amount between two ledger accounts (by code, e.g. postage:NUMBER)."""
    money = Money.parse(amount)
    done = state.postroom().vault.transfer(
        TransferRequest(
            id=_id(transfer_id),
            debit=debit,
            credit=credit,
            amount=money.mills,
            currency=money.currency,
            phase=Phase.PENDING if pending else Phase.POSTED,
            code=TransferCode(code),
            timeout_seconds=timeout,
            reference=reference,
        )
    )
    emit(done.to_json(), as_json, _transfer_line)


@vault.command()
@click.option("--account", "number", required=True, help="Customer account number.")
@click.option("--from", "since", default=None, help="First day, YYYY-MM-DD (inclusive).")
@click.option("--to", "until", default=None, help="Last day, YYYY-MM-DD (inclusive).")
@click.option(
    "--type",
    "types",
    multiple=True,
    help="fund, print, refund, fee, adjustment or transfer (repeat or comma-separate).",
)
@click.option("--meter", default=None, help="Only this meter's entries (its serial).")
@click.option("--cost-center", default=None, help="Only entries booked to this cost centre.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json"]),
    default="csv",
    show_default=True,
)
@json_option
@pass_state
def report(
    state: CliState,
    number: str,
    since: str | None,
    until: str | None,
    types: tuple[str, ...],
    meter: str | None,
    cost_center: str | None,
    fmt: str,
    as_json: bool,
) -> None:
    """Transaction report of a customer's postage account and meters (CSV or JSON).

    The totals are per ledger account; without filters each one's net is its balance.
    """
    result = state.postroom().vault.report(
        number,
        since=None if since is None else parse_moment(since),
        until=None if until is None else parse_moment(until, end=True),
        types=parse_report_types(types),
        meter=meter,
        cost_center=cost_center,
    )
    if as_json or fmt == "json":
        click.echo(json.dumps(report_json(result), indent=2))
    else:
        click.echo(report_csv(result), nl=False)


@vault.command()
@json_option
@pass_state
def verify(state: CliState, as_json: bool) -> None:
    """Re-check the hash chain, every balance and every meter; exit 1 on any break."""
    report = state.postroom().vault.verify()

    def human(_: Any) -> str:
        if report.ok:
            return (
                f"ledger ok: {report.transfers_checked} rows, {report.accounts_checked} "
                f"accounts, {report.meters_checked} meters"
            )
        return "\n".join(f"BROKEN [{p.code}] {p.message}" for p in report.problems)

    emit(report.to_json(), as_json, human)
    if not report.ok:
        sys.exit(1)


def _transfer_line(data: dict[str, Any]) -> str:
    amount = Money(int(data["amount_mills"]), str(data["currency"]))
    return f"transfer {data['id']} ({data['code']}, {data['phase']}): {amount}  row {data['seq']}"
