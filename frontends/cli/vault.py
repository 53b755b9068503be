"""``postroom vault``: balances, deposits, refills, transfers and the ledger check."""

from __future__ import annotations

import getpass
import json
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import click

from postroom.core.errors import PermissionDenied, ValidationError
from postroom.core.ledger.model import (
    FUNDS_KINDS,
    Checkpoint,
    LedgerAccount,
    Phase,
    TransferCode,
    TransferRequest,
    parse_moment,
    parse_report_types,
)
from postroom.core.money import Money
from postroom.core.refunds.model import Refund, RefundReason, claims_from_json
from postroom.frontends.cli.options import (
    account_option,
    amount_option,
    json_option,
    limit_option,
    offset_option,
)
from postroom.frontends.cli.output import AtomicOutput
from postroom.frontends.cli.payments import payment_line
from postroom.frontends.cli.state import CliState, emit, pass_state
from postroom.frontends.serialise import money, stamp
from postroom.frontends.serialise.accounts import closure_json
from postroom.frontends.serialise.funding import manual_deposit_json, payment_json
from postroom.frontends.serialise.ledger import (
    checkpoint_from_json,
    checkpoint_json,
    ledger_account_json,
    report_csv,
    report_json,
    transfer_json,
    verify_report_json,
)
from postroom.frontends.serialise.meters import reset_token_json
from postroom.frontends.serialise.refunds import refund_json

id_option = click.option(
    "--id",
    "transfer_id",
    default=None,
    help="Client-chosen transfer id; sending it again never moves money twice "
    "(default: a new random id).",
)


def _id(transfer_id: str | None) -> str:
    return transfer_id or uuid.uuid4().hex


def _money(account: LedgerAccount, mills: int) -> str:
    return str(Money(mills, account.currency))


@click.group()
def vault() -> None:
    """The funds vault: postage accounts, refills, funding, refunds and the ledger."""


@vault.command()
@account_option()
@json_option
@pass_state
def balance(state: CliState, number: str, as_json: bool) -> None:
    """Show the postage account of customer account --account NUMBER."""
    pr = state.postroom()
    account = pr.ledger.balance(number)
    expected = pr.funding.expected_by(number)

    def human(_: Any) -> str:
        b = account.balances
        line = (
            f"{account.code}: balance {_money(account, b.balance)}, available "
            f"{_money(account, b.available + account.credit_limit)}, reserved "
            f"{_money(account, b.debits_pending)}, credit limit "
            f"{_money(account, account.credit_limit)}"
        )
        if b.credits_pending:  # bank debits on their way, not spendable yet
            line += f", pending {_money(account, b.credits_pending)}"
            if expected is not None:
                line += f" (expected by {stamp(expected)})"
        return line

    emit({**ledger_account_json(account), "pending_expected_at": stamp(expected)}, as_json, human)


def _os_user() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (a bare container)
        return None


@vault.command()
@account_option(required=False, help="Customer account number (10 digits).")
@amount_option()
@id_option
@click.option(
    "--instrument",
    "instrument_id",
    default=None,
    help="Collect from this payment instrument (see `vault instrument list`); "
    "--id is then the payment's idempotency key.",
)
@click.option(
    "--reason",
    default=None,
    help="Without --instrument (required): why these funds are credited by hand, for the "
    "audit, e.g. 'cheque 10442 received 2026-03-01'.",
)
@click.option(
    "--staff",
    default=None,
    help="Without --instrument: who credits the funds, recorded in the audit "
    "(default: the operating-system user running this command).",
)
@click.option("--reference", default="", help="Payment reference.")
@json_option
@pass_state
def deposit(
    state: CliState,
    number: str | None,
    amount: Money,
    transfer_id: str | None,
    instrument_id: str | None,
    reason: str | None,
    staff: str | None,
    reference: str,
    as_json: bool,
) -> None:
    """Credit funds to the postage account of customer account --account NUMBER.

    With --instrument: collect them from that instrument (--account may be left out).
    Without: funds received outside any payment source (a cheque, a wire), credited by
    a staff member with --reason and recorded in the audit (`vault manual-deposits`).
    """
    pr = state.postroom()
    if instrument_id is not None:
        owner = pr.funding.instrument_owner(instrument_id)
        payment = pr.funding.deposit(number or owner, instrument_id, amount, _id(transfer_id))
        emit(payment_json(payment), as_json, payment_line)
        return
    if number is None:
        raise click.UsageError("give the customer account (--account NUMBER), or --instrument")
    if reason is None:
        raise click.UsageError("a manual deposit needs --reason: why the funds are credited")
    who = staff or _os_user()
    if who is None:
        raise click.UsageError("say who credits the funds with --staff NAME")
    done = pr.funding.manual_deposit(
        number,
        amount,
        _id(transfer_id),
        staff=who,
        reason=reason,
        reference=reference,
    )
    emit(manual_deposit_json(done), as_json, _manual_deposit_line)


@vault.command("manual-deposits")
@account_option(required=False)
@limit_option()
@offset_option
@json_option
@pass_state
def manual_deposits(
    state: CliState, number: str | None, limit: int, offset: int, as_json: bool
) -> None:
    """The audit of manual deposits, newest first: of one customer (--account), or of everyone."""
    found = state.postroom().funding.manual_deposits(number, limit=limit, offset=offset)
    emit(
        [manual_deposit_json(d) for d in found],
        as_json,
        lambda items: "\n".join(_manual_deposit_line(d) for d in items) or "no manual deposits",
    )


def _manual_deposit_line(data: dict[str, Any]) -> str:
    return (
        f"{data['created_at']}  {Money.from_json(data['amount'])} to {data['customer_number']}"
        f"  by {data['staff']}  (transfer {data['transfer_id']}): {data['reason']}"
    )


@vault.command()
@click.option("--meter", "serial", required=True, help="Meter serial number.")
@amount_option()
@id_option
@json_option
@pass_state
def refill(
    state: CliState, serial: str, amount: Money, transfer_id: str | None, as_json: bool
) -> None:
    """Move funds from the postage account into a meter."""
    pr = state.postroom()
    done = pr.meters.funds.refill(serial, amount, _id(transfer_id))
    registers = pr.meters.funds.registers(serial)
    emit(
        {
            "transfer": transfer_json(done.transfer),
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


@vault.command("apply-token")
@click.argument("serial")
@click.argument("token")
@json_option
@pass_state
def apply_token(state: CliState, serial: str, token: str, as_json: bool) -> None:
    """Record that meter SERIAL applied reset TOKEN at its sync (accepted once).

    TOKEN is the text form of the refill's PRT1 token (the `reset_token` of `refill`).
    """
    reset = state.postroom().meters.funds.apply_reset_token(serial, token)
    emit(
        reset_token_json(reset),
        as_json,
        lambda d: f"reset {d['sequence']} of meter {d['serial']} applied",
    )


@vault.command()
@click.option("--from", "debit", required=True, help="Ledger account code to debit.")
@click.option("--to", "credit", required=True, help="Ledger account code to credit.")
@amount_option()
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
    amount: Money,
    transfer_id: str | None,
    code: str,
    pending: bool,
    timeout: int | None,
    reference: str,
    as_json: bool,
) -> None:
    """Move an amount between two ledger accounts (by code, e.g. postage:NUMBER).

    An admin's tool for corrections. It does not credit a customer's postage account or
    meter from a system account (payment clearing, fees, refunds...): money entering a
    customer's funds is a payment, or `vault deposit --reason`, which is audited.
    """
    money = amount
    pr = state.postroom()
    into, out_of = pr.ledger.account(credit), pr.ledger.account(debit)
    if into.kind in FUNDS_KINDS and out_of.kind not in FUNDS_KINDS:
        raise PermissionDenied(
            f"{credit} is a customer's funds: credit it with `postroom vault deposit "
            "--reason` (audited), not a raw transfer from a system account",
            code="manual_credit_needs_deposit",
        )
    done = pr.ledger.transfer(
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
    emit(transfer_json(done), as_json, _transfer_line)


@vault.command()
@account_option()
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
    result = state.postroom().ledger.report(
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
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help="A file written by `vault checkpoint`: also check that the ledger still holds "
    "the row it names, unchanged.",
)
@json_option
@pass_state
def verify(state: CliState, checkpoint_file: TextIO | None, as_json: bool) -> None:
    """Re-check the keyed hash chain, every balance and every meter; exit 1 on any break."""
    checkpoint = None if checkpoint_file is None else _read_checkpoint(checkpoint_file)
    report = state.postroom().ledger.verify(checkpoint)

    def human(_: Any) -> str:
        if report.ok:
            return (
                f"ledger ok: {report.transfers_checked} rows, {report.accounts_checked} "
                f"accounts, {report.meters_checked} meters"
                + ("" if checkpoint is None else f", checkpoint of row {checkpoint.seq} held")
            )
        return "\n".join(f"BROKEN [{p.code}] {p.message}" for p in report.problems)

    emit(verify_report_json(report), as_json, human)
    if not report.ok:
        sys.exit(1)


def _read_checkpoint(source: TextIO) -> Checkpoint:
    try:
        data = json.loads(source.read(64 * 1024))
    except (ValueError, RecursionError) as error:
        raise ValidationError(
            "the checkpoint file is not JSON", code="invalid_checkpoint"
        ) from error
    return checkpoint_from_json(data)


@vault.command()
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    help="Where to write the checkpoint: keep it outside the database (another machine, "
    "write-once storage).",
)
@json_option
@pass_state
def checkpoint(state: CliState, output: Path, as_json: bool) -> None:
    """Write the chain head, signed with the ledger key, for `vault verify --checkpoint`."""
    target = AtomicOutput(output)
    try:
        data = checkpoint_json(state.postroom().ledger.checkpoint())
        try:
            target.commit((json.dumps(data, indent=2) + "\n").encode("utf-8"))
        except OSError as error:
            raise ValidationError(
                f"{output} could not be written: {error.strerror}", code="output_unwritable"
            ) from error
    finally:
        target.discard()
    emit(
        data,
        as_json,
        lambda d: f"checkpoint of row {d['seq']} ({d['row_hash'][:16]}...) written",
    )


@vault.command()
@json_option
@pass_state
def seal(state: CliState, as_json: bool) -> None:
    """Seal, with the ledger key, the rows written before the chain was keyed (needed
    only when `db upgrade` ran without the key: verify says `ledger_unsealed`)."""
    sealed = state.postroom().ledger.seal()
    data = {"sealed_through": None if sealed is None else sealed.seq}
    emit(
        data,
        as_json,
        lambda d: (
            "no rows before the keyed chain: nothing to seal"
            if d["sealed_through"] is None
            else f"rows 1 to {d['sealed_through']} sealed"
        ),
    )


# ------------------------------------------------------------------------- refunds


@vault.group()
def refund() -> None:
    """Refunds of spoiled or misprinted metered postage (an agent approves them)."""


def refund_line(data: dict[str, Any]) -> str:
    """One line for a person: a refund's state, pieces and amounts."""

    def m(value: dict[str, str]) -> str:
        return f"{value['amount']} {value['currency']}"

    pieces = ", ".join(str(p["piece"]) for p in data["pieces"])
    line = (
        f"refund {data['id']} ({data['status']}) of account {data['customer_number']},"
        f" meter {data['meter']} pieces {pieces}: face {m(data['face'])}, fee {m(data['fee'])},"
        f" net {m(data['net'])}"
    )
    if data["agent"]:
        line += f"; by {data['agent']}"
    if data["decision_note"]:
        line += f": {data['decision_note']}"
    return line


def _pieces(specs: tuple[str, ...], proofs: tuple[str, ...], currency: str) -> list[dict[str, Any]]:
    """``NUMBER:AMOUNT:DATE`` pieces, with ``NUMBER:INDICIUM_HEX[:SIGNATURE_HEX]`` proofs."""
    items: dict[str, dict[str, Any]] = {}
    for spec in specs:
        parts = spec.split(":")
        if len(parts) != 3:
            raise ValidationError(
                f"--piece {spec!r}: use NUMBER:AMOUNT:DATE, e.g. 12:0.73:2026-03-01",
                code="invalid_piece",
            )
        number, amount, day = (p.strip() for p in parts)
        face = Money.parse(amount, currency)
        items[number] = {
            "piece": int(number) if number.isascii() and number.isdigit() else number,
            "face": money(face),
            "indicium_date": day,
        }
    for proof in proofs:
        parts = proof.split(":")
        if len(parts) not in (2, 3) or parts[0].strip() not in items:
            raise ValidationError(
                f"--indicium {proof[:40]!r}: use NUMBER:RECORD_HEX[:SIGNATURE_HEX] for a --piece",
                code="invalid_indicium",
            )
        item = items[parts[0].strip()]
        item["indicium"] = parts[1].strip()
        item["signature"] = parts[2].strip() if len(parts) == 3 else None
    return list(items.values())


# Shared with ``postroom meter refund``, which asks back pieces from the meter's log.
refund_reason_option = click.option(
    "--reason", required=True, type=click.Choice([r.value for r in RefundReason])
)
refund_note_option = click.option("--note", default="", help="What happened (shown to the agent).")
refund_id_option = click.option(
    "--id",
    "refund_id",
    default=None,
    help="Client-chosen refund id; sending it again never asks twice (default: random).",
)


def refund_reason_options(f: Callable[..., Any]) -> Callable[..., Any]:
    return refund_reason_option(refund_note_option(f))


@refund.command("request")
@account_option()
@click.option("--meter", "serial", required=True, help="Serial of the meter that printed.")
@click.option(
    "--piece",
    "specs",
    multiple=True,
    required=True,
    help="NUMBER:AMOUNT:DATE of one printed piece, e.g. 12:0.73:2026-03-01 (repeat).",
)
@refund_reason_options
@click.option(
    "--indicium",
    "proofs",
    multiple=True,
    help="NUMBER:RECORD_HEX[:SIGNATURE_HEX]: the signed indicium of a piece (repeat).",
)
@click.option(
    "--public-key",
    "key_file",
    type=click.File("r"),
    default=None,
    help="PEM file of the meter's public key: verifies the indicium signatures.",
)
@refund_id_option
@json_option
@pass_state
def refund_request(
    state: CliState,
    number: str,
    serial: str,
    specs: tuple[str, ...],
    reason: str,
    note: str,
    proofs: tuple[str, ...],
    key_file: Any,
    refund_id: str | None,
    as_json: bool,
) -> None:
    """Ask back the face value of spoiled or misprinted pieces of a meter."""
    pr = state.postroom()
    currency = pr.accounts.get(number).currency
    claims = claims_from_json(_pieces(specs, proofs, currency), currency)
    done = pr.refunds.request(
        number,
        refund_id or uuid.uuid4().hex,
        serial,
        claims,
        reason,
        note=note,
        public_key_pem=None if key_file is None else key_file.read(),
    )
    emit(refund_json(done), as_json, refund_line)


@refund.command("approve")
@click.argument("refund_id")
@account_option()
@click.option("--agent", required=True, help="Name of the agent who approves.")
@click.option("--note", default="", help="The agent's note.")
@json_option
@pass_state
def refund_approve(
    state: CliState, number: str, refund_id: str, agent: str, note: str, as_json: bool
) -> None:
    """Approve refund REFUND_ID of customer --account NUMBER: credit it to the postage account."""
    done = state.postroom().refunds.approve(number, refund_id, agent, note=note)
    emit(refund_json(done), as_json, refund_line)


@refund.command("reject")
@click.argument("refund_id")
@account_option()
@click.option("--agent", required=True, help="Name of the agent who rejects.")
@click.option("--reason", required=True, help="Why, as the customer will read it.")
@json_option
@pass_state
def refund_reject(
    state: CliState, number: str, refund_id: str, agent: str, reason: str, as_json: bool
) -> None:
    """Reject refund REFUND_ID of customer --account NUMBER (its pieces may be asked again)."""
    done = state.postroom().refunds.reject(number, refund_id, agent, reason)
    emit(refund_json(done), as_json, refund_line)


@refund.command("list")
@account_option(required=False)
@click.option("--status", default=None, type=click.Choice(["requested", "approved", "rejected"]))
@limit_option(100)
@offset_option
@json_option
@pass_state
def refund_list(
    state: CliState,
    number: str | None,
    status: str | None,
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """List refunds, newest first (all accounts' for the agents' queue)."""
    found: list[Refund] = state.postroom().refunds.list(
        number, status=status, limit=limit, offset=offset
    )
    emit(
        [refund_json(r) for r in found],
        as_json,
        lambda items: "\n".join(refund_line(i) for i in items) or "no refunds",
    )


@refund.command("show")
@click.argument("refund_id")
@account_option()
@json_option
@pass_state
def refund_show(state: CliState, number: str, refund_id: str, as_json: bool) -> None:
    """Show refund REFUND_ID of customer --account NUMBER with its pieces."""
    found = state.postroom().refunds.get(number, refund_id)

    def human(data: dict[str, Any]) -> str:
        lines = [refund_line(data), f"reason: {data['reason']}  note: {data['note']}"]
        for p in data["pieces"]:
            verified = "signature verified" if p["signature_verified"] else "not verified"
            lines.append(
                f"  piece {p['piece']}: {p['face']['amount']} {p['face']['currency']},"
                f" indicium date {p['indicium_date']}, {verified}"
            )
        return "\n".join(lines)

    emit(refund_json(found), as_json, human)


@vault.command("close")
@account_option()
@json_option
@pass_state
def close(state: CliState, number: str, as_json: bool) -> None:
    """Close the postage account of --account NUMBER: its balance is refunded to the customer.

    Withdraw its meters first (their funds return to the postage account).
    """
    done = state.postroom().refunds.close_account(number)
    emit(
        closure_json(done),
        as_json,
        lambda d: (
            f"{d['account']} closed; {d['refunded']['amount']} {d['refunded']['currency']}"
            " refunded to the customer"
        ),
    )


def _transfer_line(data: dict[str, Any]) -> str:
    amount = Money(int(data["amount_mills"]), str(data["currency"]))
    return f"transfer {data['id']} ({data['code']}, {data['phase']}): {amount}  row {data['seq']}"
