"""``postroom kiosk``: the people who may print on a customer account's kiosks, and the
keys of its terminals (``postroom kiosk keys``).

A PIN is never an argument (it would land in the shell's history and the process
list): it is asked at a hidden prompt, twice, or read as one line from standard input
with ``--pin-stdin`` for scripts.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from postroom.frontends.cli import options
from postroom.frontends.cli.options import json_option
from postroom.frontends.cli.state import CliState, emit, pass_state
from postroom.frontends.serialise.accounts import kiosk_operator_json
from postroom.frontends.serialise.kiosks import issued_kiosk_key_json, kiosk_key_json

account_option = options.account_option(help="Customer account number the kiosks print for.")
pin_stdin_option = click.option(
    "--pin-stdin", is_flag=True, help="Read the PIN as one line from standard input (no prompt)."
)


@click.group()
def kiosk() -> None:
    """Mailroom kiosks."""


@kiosk.group()
def operators() -> None:
    """Kiosk operators: who may sign in with a PIN and print (each print is booked to them)."""


def _read_pin(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().strip()
    text: str = click.prompt(
        "PIN (6 to 12 digits)", hide_input=True, confirmation_prompt="Repeat the PIN"
    )
    return text


@operators.command("add")
@account_option
@click.option("--name", required=True, help="Display name shown on the kiosk's sign-in page.")
@pin_stdin_option
@json_option
@pass_state
def add(state: CliState, number: str, name: str, pin_stdin: bool, as_json: bool) -> None:
    """Add an operator to the account's kiosks; asks for their PIN."""
    operator = state.postroom().accounts.add_operator(number, name, _read_pin(pin_stdin))
    emit(
        kiosk_operator_json(operator),
        as_json,
        lambda d: f"added kiosk operator {d['id']} ({d['name']})",
    )


@operators.command("list")
@account_option
@json_option
@pass_state
def list_(state: CliState, number: str, as_json: bool) -> None:
    """List the account's kiosk operators."""
    found = state.postroom().accounts.operators(number)
    emit([kiosk_operator_json(o) for o in found], as_json, _table)


@operators.command("set-pin")
@account_option
@click.argument("operator_id", type=int)
@pin_stdin_option
@json_option
@pass_state
def set_pin(state: CliState, number: str, operator_id: int, pin_stdin: bool, as_json: bool) -> None:
    """Give operator OPERATOR_ID a new PIN (signs them out of every kiosk)."""
    operator = state.postroom().accounts.set_operator_pin(number, operator_id, _read_pin(pin_stdin))
    emit(kiosk_operator_json(operator), as_json, lambda d: f"new PIN for kiosk operator {d['id']}")


@operators.command("remove")
@account_option
@click.argument("operator_id", type=int)
@json_option
@pass_state
def remove(state: CliState, number: str, operator_id: int, as_json: bool) -> None:
    """Remove operator OPERATOR_ID (signs them out; their prints stay booked to them)."""
    operator = state.postroom().accounts.remove_operator(number, operator_id)
    emit(
        kiosk_operator_json(operator),
        as_json,
        lambda d: f"removed kiosk operator {d['id']} ({d['name']})",
    )


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no kiosk operators"
    return "\n".join(f"{r['id']:>5}  {r['created_at']}  {r['name']}" for r in rows)


@kiosk.group()
def keys() -> None:
    """Kiosk keys: one per mailroom terminal, scoped to one customer account, revocable."""


@keys.command("add")
@account_option
@click.option("--label", required=True, help="Where the terminal stands (Mailroom, 2nd floor).")
@json_option
@pass_state
def add_key(state: CliState, number: str, label: str, as_json: bool) -> None:
    """Issue a key for one terminal of the account; the key is shown this once."""
    issued = state.postroom().kiosks.issue_key(number, label)
    emit(
        issued_kiosk_key_json(issued),
        as_json,
        lambda d: (
            f"kiosk key {d['prefix']} ({d['label']}) for account {d['customer_number']}\n"
            f"{d['token']}\n"
            "Set it on the terminal (postroom kiosk serve --key ...): it is not shown again."
        ),
    )


@keys.command("list")
@account_option
@json_option
@pass_state
def list_keys(state: CliState, number: str, as_json: bool) -> None:
    """List the account's kiosk keys with their last contact."""
    found = state.postroom().kiosks.keys(number)
    emit([kiosk_key_json(k) for k in found], as_json, _keys_table)


@keys.command("revoke")
@account_option
@click.argument("prefix")
@json_option
@pass_state
def revoke_key(state: CliState, number: str, prefix: str, as_json: bool) -> None:
    """Revoke the account's kiosk key PREFIX: its terminal is refused from now on."""
    key = state.postroom().kiosks.revoke_key(number, prefix)
    emit(kiosk_key_json(key), as_json, lambda d: f"revoked kiosk key {d['prefix']} ({d['label']})")


def _keys_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no kiosk keys"
    return "\n".join(
        f"{r['prefix']}  {'revoked' if r['revoked_at'] else 'active ':7}  "
        f"last contact {r['last_contact_at'] or 'never'}  {r['label']}"
        for r in rows
    )
