"""``postroom vault`` funding commands: payment sources, instruments, payments and
returns, the auto-refill rule and the credit line's statement. Attached to the vault
group by ``attach``."""

from __future__ import annotations

import uuid
from typing import Any

import click

from postroom.core.funding.model import AutoRefillRule, Payment
from postroom.core.money import Money
from postroom.frontends.cli.options import (
    account_option,
    amount_option,
    json_option,
    limit_option,
    offset_option,
)
from postroom.frontends.cli.state import CliState, emit, pass_state
from postroom.frontends.serialise.funding import (
    auto_refill_json,
    instrument_json,
    payment_json,
    statement_json,
)
from postroom.frontends.serialise.payouts import payout_json, unmatched_json


def payment_line(data: dict[str, Any]) -> str:
    amount = f"{data['amount']['amount']} {data['amount']['currency']}"
    line = f"payment {data['id']} ({data['source']}, {data['kind']}): {amount} {data['status']}"
    if data["failure_code"]:
        line += f" [{data['failure_code']}] {data['failure_message']}"
    owed = data["outstanding"]
    if owed["amount"] not in ("0.00", "0"):
        line += f"; outstanding {owed['amount']} {owed['currency']} (refills locked)"
    return line


def _payment(payment: Payment, as_json: bool) -> None:
    emit(payment_json(payment), as_json, payment_line)


@click.command("payment-sources")
@json_option
@pass_state
def payment_sources(state: CliState, as_json: bool) -> None:
    """List the registered payment sources; a sandbox one says whether it may serve."""
    funding = state.postroom().funding
    sources = funding.sources()
    data = [
        {
            "code": s.code,
            "name": s.name,
            "kind": s.kind,
            "currencies": list(s.currencies),
            "self_service": s.self_service,
            "return_codes": sorted(s.return_codes),
            "sandbox": s.sandbox,
            "refused": s.sandbox and not funding.sandbox_allowed,
        }
        for s in sorted(sources.values(), key=lambda s: s.code)
    ]
    emit(
        data,
        as_json,
        lambda d: "\n".join(_source_line(s) for s in d) or "no payment sources installed",
    )


def _source_line(source: dict[str, Any]) -> str:
    line = (
        f"{source['code']:<22} {source['kind']:<12} "
        f"{','.join(source['currencies']) or 'any':<5} {source['name']}"
    )
    if source["sandbox"]:
        line += " [sandbox, refused in production]" if source["refused"] else " [sandbox]"
    return line


@click.group()
def instrument() -> None:
    """Customers' payment instruments (bank mandates, cards, the credit line)."""


@instrument.command("add")
@click.argument("source")
@click.argument("fields", nargs=-1)
@account_option()
@json_option
@pass_state
def instrument_add(
    state: CliState, source: str, fields: tuple[str, ...], number: str, as_json: bool
) -> None:
    """Add an instrument of SOURCE for customer --account NUMBER from FIELDS (name=value).

    \b
    sepa-debit:  iban= bic= mandate_reference= signature_date=YYYY-MM-DD creditor_id=
                 account_holder=
    ach-debit:   routing_number= account_number= account_type=checking|savings
                 account_holder=
    sandbox-card: number= exp_month= exp_year= cvc=
    postage-credit-line: limit=5000.00
    """
    values: dict[str, str] = {}
    for item in fields:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r} is not name=value", param_hint="FIELDS")
        values[name.strip()] = value
    added = state.postroom().funding.add_instrument(number, source, values)
    emit(instrument_json(added), as_json, lambda d: f"instrument {d['id']}: {d['label']}")


@instrument.command("list")
@account_option()
@json_option
@pass_state
def instrument_list(state: CliState, number: str, as_json: bool) -> None:
    """The active instruments of customer --account NUMBER."""
    found = state.postroom().funding.instruments(number)
    emit(
        [instrument_json(i) for i in found],
        as_json,
        lambda d: (
            "\n".join(f"{i['id']}  {i['source']:<20} {i['label']}" for i in d) or "no instruments"
        ),
    )


@instrument.command("remove")
@click.argument("instrument_id")
@json_option
@pass_state
def instrument_remove(state: CliState, instrument_id: str, as_json: bool) -> None:
    """Stop using instrument INSTRUMENT_ID (its payments stay on record)."""
    funding = state.postroom().funding
    removed = funding.remove_instrument(funding.instrument_owner(instrument_id), instrument_id)
    emit(instrument_json(removed), as_json, lambda d: f"instrument {d['id']} removed")


@click.command()
@account_option()
@limit_option()
@offset_option
@json_option
@pass_state
def payments(state: CliState, number: str, limit: int, offset: int, as_json: bool) -> None:
    """Payments of customer --account NUMBER, newest first."""
    found = state.postroom().funding.payments(number, limit=limit, offset=offset)
    emit(
        [payment_json(p) for p in found],
        as_json,
        lambda d: "\n".join(payment_line(p) for p in d) or "no payments",
    )


@click.command("payment-return")
@click.argument("payment_id")
@click.option(
    "--reason", required=True, help="The bank's reason code: R01... (ACH), AM04... (SEPA)."
)
@click.option(
    "--failed", is_flag=True, help="The debit failed before settling (not returned after)."
)
@json_option
@pass_state
def payment_return(
    state: CliState, payment_id: str, reason: str, failed: bool, as_json: bool
) -> None:
    """Record that bank debit PAYMENT_ID came back: its funds are taken back, the rest
    becomes debt and refills stay locked until it is paid; the customer is told."""
    funding = state.postroom().funding
    done = (
        funding.record_failure(payment_id, reason)
        if failed
        else funding.record_return(payment_id, reason)
    )
    _payment(done, as_json)


@click.command("payment-settle")
@click.argument("payment_id")
@json_option
@pass_state
def payment_settle(state: CliState, payment_id: str, as_json: bool) -> None:
    """Record that the bank confirmed debit PAYMENT_ID (it then pays any debt)."""
    _payment(state.postroom().funding.settle(payment_id), as_json)


@click.command("credit-payment")
@account_option()
@click.option("--instrument", "instrument_id", required=True, help="Instrument to pay from.")
@amount_option()
@click.option("--id", "key", default=None, help="Idempotency key (default: a new one).")
@json_option
@pass_state
def credit_payment(
    state: CliState, number: str, instrument_id: str, amount: Money, key: str | None, as_json: bool
) -> None:
    """Pay down the postage line of credit of customer --account NUMBER."""
    done = state.postroom().funding.pay_credit_line(
        number, instrument_id, amount, key or uuid.uuid4().hex
    )
    _payment(done, as_json)


def _rule_line(rule: AutoRefillRule | None) -> str:
    if rule is None:
        return "no auto-refill rule"
    text = f"below {rule.threshold}: "
    if rule.amount is None:
        text += "alert only"
    else:
        text += f"add {rule.amount} from {rule.instrument_id}"
        if rule.daily_cap is not None:
            text += f", at most {rule.daily_cap} a day"
        text += ", and alert if still below"
        if rule.suspended:
            text += f"; SUSPENDED after {rule.declines} declines (update the instrument)"
        elif rule.retry_at is not None:
            text += f"; declined {rule.declines} time(s), next try {rule.retry_at.isoformat()}"
    return text


@click.group("auto-refill")
def auto_refill() -> None:
    """A postage account's auto-refill rule and low-balance alert."""


@auto_refill.command("set")
@account_option()
@amount_option("--threshold", help='Alert and refill below this, e.g. "50 USD".')
@amount_option("--amount", required=False, help="Deposit this much each time (omit: alert only).")
@amount_option("--daily-cap", required=False, help="At most this much auto-refilled a day.")
@click.option("--instrument", "instrument_id", default=None, help="Instrument to charge.")
@json_option
@pass_state
def auto_refill_set(
    state: CliState,
    number: str,
    threshold: Money,
    amount: Money | None,
    daily_cap: Money | None,
    instrument_id: str | None,
    as_json: bool,
) -> None:
    """Set the auto-refill rule of customer --account NUMBER."""
    rule = state.postroom().funding.set_auto_refill(
        number,
        threshold,
        amount=amount,
        daily_cap=daily_cap,
        instrument_id=instrument_id,
    )
    emit(auto_refill_json(rule), as_json, lambda _: _rule_line(rule))


@auto_refill.command("show")
@account_option()
@json_option
@pass_state
def auto_refill_show(state: CliState, number: str, as_json: bool) -> None:
    """Show the auto-refill rule of customer --account NUMBER."""
    rule = state.postroom().funding.auto_refill(number)
    emit(None if rule is None else auto_refill_json(rule), as_json, lambda _: _rule_line(rule))


@auto_refill.command("off")
@account_option()
@json_option
@pass_state
def auto_refill_off(state: CliState, number: str, as_json: bool) -> None:
    """Remove the auto-refill rule (and its alerts) of customer --account NUMBER."""
    removed = state.postroom().funding.disable_auto_refill(number)
    emit(
        {"removed": removed},
        as_json,
        lambda d: "auto-refill turned off" if d["removed"] else "there was no auto-refill rule",
    )


@click.command()
@account_option()
@click.option("--month", default=None, help="YYYY-MM (default: the last closed month).")
@json_option
@pass_state
def statement(state: CliState, number: str, month: str | None, as_json: bool) -> None:
    """The postage line of credit's statement of customer --account NUMBER for a month
    (produced and sent once, then shown as stored)."""
    done = state.postroom().funding.statement(number, month)

    def human(d: dict[str, Any]) -> str:
        def m(key: str) -> str:
            return f"{d[key]['amount']} {d[key]['currency']}"

        return (
            f"statement {d['month']} of {d['customer_number']}\n"
            f"  opening balance  {m('opening_balance')}\n"
            f"  draws            {m('draws')}\n"
            f"  payments         {m('payments')}\n"
            f"  closing balance  {m('closing_balance')}\n"
            f"  minimum due      {m('minimum_due')} by {d['due_date']}"
        )

    emit(statement_json(done), as_json, human)


def _amount(data: dict[str, str]) -> str:
    return f"{data['amount']} {data['currency']}"


def payout_line(data: dict[str, Any]) -> str:
    lines = [
        f"payout {data['id']} to {data['customer_number']}: {data['status']}, paid "
        f"{_amount(data['paid'])}, left payable {_amount(data['left_payable'])}"
    ]
    for part in data["refunds"]:
        line = f"  {part['id']}  {_amount(part['amount'])} to payment {part['payment_id']}"
        line += f" ({part['source']}): {part['status']}"
        if part["failure_code"]:
            line += f" [{part['failure_code']}] {part['failure_message']}"
        lines.append(line)
    return "\n".join(lines)


@click.group()
def payouts() -> None:
    """Refunds payable of closed accounts, paid back through the payment sources."""


@payouts.command("run")
@account_option(required=False)
@json_option
@pass_state
def payouts_run(state: CliState, number: str | None, as_json: bool) -> None:
    """Pay back one closed account (or, without --account, every one: the worker's job)."""
    pr = state.postroom()
    if number is None:
        made = pr.payouts.run_all()
        emit({"payouts": made}, as_json, lambda d: f"{d['payouts']} payout(s) made or finished")
        return
    done = pr.payouts.run(number)
    if done is None:
        left = pr.payouts.payable(number)
        emit(
            None,
            as_json,
            lambda _: (
                f"nothing to pay back through a payment source ({left} payable: see "
                "`postroom vault payouts unmatched`)"
            ),
        )
        return
    emit(payout_json(done), as_json, payout_line)


@payouts.command("list")
@account_option()
@limit_option()
@json_option
@pass_state
def payouts_list(state: CliState, number: str, limit: int, as_json: bool) -> None:
    """The account's payouts, newest first."""
    rows = [payout_json(p) for p in state.postroom().payouts.payouts(number, limit=limit)]
    emit(rows, as_json, lambda r: "\n".join(payout_line(p) for p in r) or "no payouts")


@payouts.command("return")
@click.argument("refund_id")
@click.option(
    "--reason", required=True, help="The bank's reason code: R02... (ACH), AC04... (SEPA)."
)
@json_option
@pass_state
def payouts_return(state: CliState, refund_id: str, reason: str, as_json: bool) -> None:
    """Record that the bank sent payout refund REFUND_ID (po_...-N) back: its money is
    payable again, for an agent; the customer is told."""
    emit(
        payout_json(state.postroom().payouts.record_return(refund_id, reason)), as_json, payout_line
    )


@payouts.command("unmatched")
@json_option
@pass_state
def payouts_unmatched(state: CliState, as_json: bool) -> None:
    """Money payable that no deposit can take back: for an agent to pay."""
    rows = [unmatched_json(u) for u in state.postroom().payouts.unmatched()]
    emit(
        rows,
        as_json,
        lambda r: (
            "\n".join(f"{u['customer_number']}  {_amount(u['amount'])}" for u in r)
            or "nothing unmatched"
        ),
    )


COMMANDS = (
    payouts,
    payment_sources,
    instrument,
    payments,
    payment_return,
    payment_settle,
    credit_payment,
    auto_refill,
    statement,
)


def attach(group: click.Group) -> None:
    """Add the funding commands to the ``postroom vault`` group."""
    for command in COMMANDS:
        group.add_command(command)
