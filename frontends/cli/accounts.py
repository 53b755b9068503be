"""``postroom accounts``: customer accounts and their API keys."""

from __future__ import annotations

from typing import Any

import click

from postroom.frontends.cli.options import (
    account_option,
    currency_option,
    json_option,
    limit_option,
    offset_option,
)
from postroom.frontends.cli.state import CliState, emit, pass_state
from postroom.frontends.serialise.accounts import account_json, api_key_json


@click.group()
def accounts() -> None:
    """Customer accounts and API keys."""


@accounts.command()
@click.option("--name", required=True, help="Customer (company or person) name.")
@click.option("--country", required=True, help="ISO 3166 alpha-2 code, e.g. US.")
@currency_option
@json_option
@pass_state
def create(state: CliState, name: str, country: str, currency: str, as_json: bool) -> None:
    """Create a customer account; prints its customer account number."""
    account = state.postroom().accounts.create(name, country, currency)
    emit(account_json(account), as_json, lambda a: f"created customer account {a['number']}")


@accounts.command("list")
@limit_option(100)
@offset_option
@json_option
@pass_state
def list_(state: CliState, limit: int, offset: int, as_json: bool) -> None:
    """List customer accounts."""
    found = state.postroom().accounts.list(limit=limit, offset=offset)
    emit([account_json(a) for a in found], as_json, _table)


@accounts.command()
@account_option()
@json_option
@pass_state
def show(state: CliState, number: str, as_json: bool) -> None:
    """Show one customer account with its API keys."""
    pr = state.postroom()
    data: dict[str, Any] = dict(account_json(pr.accounts.get(number)))
    data["api_keys"] = [api_key_json(key) for key in pr.accounts.api_keys(number)]
    emit(data, as_json, _detail)


@accounts.group("api-key")
def api_key() -> None:
    """API keys (sent as bearer tokens to /api/v1)."""


@api_key.command("create")
@account_option()
@click.option("--label", default="", help="What the key is for.")
@json_option
@pass_state
def api_key_create(state: CliState, number: str, label: str, as_json: bool) -> None:
    """Create an API key for customer --account NUMBER. The token is shown this once only."""
    issued = state.postroom().accounts.create_api_key(number, label)
    data = {**api_key_json(issued.key), "token": issued.token}
    emit(
        data,
        as_json,
        lambda d: f"{d['token']}\n(store it now: postroom keeps only its hash)",
    )


@api_key.command("revoke")
@click.argument("prefix")
@json_option
@pass_state
def api_key_revoke(state: CliState, prefix: str, as_json: bool) -> None:
    """Revoke the API key with PREFIX (the part after ``prk_``)."""
    key = state.postroom().accounts.revoke_api_key(prefix)
    emit(api_key_json(key), as_json, lambda d: f"revoked key {d['prefix']}")


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no customer accounts"
    return "\n".join(
        f"{r['number']}  {r['country']}  {r['currency']}  {r['status']:<9}  {r['name']}"
        for r in rows
    )


def _detail(data: dict[str, Any]) -> str:
    lines = [
        f"{data['number']}  {data['name']}",
        f"country {data['country']}, currency {data['currency']}, {data['status']}",
        f"created {data['created_at']}",
    ]
    for key in data["api_keys"]:
        state = "revoked" if key["revoked_at"] else "active"
        lines.append(f"key {key['prefix']}  {state}  {key['label']}")
    return "\n".join(lines)
