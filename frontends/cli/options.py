"""The options every ``postroom`` command shares, defined once.

A customer account is always named the same way, ``--account NUMBER``, checked here with
the accounts area's own rule (10 digits with a check digit); amounts, days, list limits
and ``--json`` are spelt and parsed alike in every group. A malformed value is a domain
error (exit 1 with its stable code, e.g. ``invalid_account_number``), raised before the
command opens the store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

import click

from postroom.core.accounts.model import parse_account_number
from postroom.core.money import Money

F = TypeVar("F", bound=Callable[..., Any])

#: The largest page a listing command returns.
MAX_LIMIT = 1000

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of text."
)


def _account(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    return None if value is None else parse_account_number(value)


def account_option(
    *,
    required: bool = True,
    help: str = "Customer account number (10 digits).",
    param: str = "number",
    when_missing: str = "Default: every account.",
) -> Callable[[F], F]:
    """``--account NUMBER``: the one way to name a customer account (passed as ``param``,
    ``number`` unless the command has another number of its own; ``when_missing`` says
    what an optional one means when left out)."""
    return click.option(
        "--account",
        param,
        metavar="NUMBER",
        required=required,
        callback=_account,
        help=help if required or not when_missing else f"{help} {when_missing}",
    )


def limit_option(default: int = 50) -> Callable[[F], F]:
    """``--limit N``: at most N items (1 to ``MAX_LIMIT``)."""
    return click.option(
        "--limit",
        type=click.IntRange(1, MAX_LIMIT),
        default=default,
        show_default=True,
        help="At most this many items.",
    )


offset_option = click.option(
    "--offset", type=click.IntRange(0, 10**9), default=0, help="Skip this many first."
)


def _money(ctx: click.Context, param: click.Parameter, value: str | None) -> Money | None:
    return None if value is None else Money.parse(value)


def amount_option(
    name: str = "--amount",
    *,
    required: bool = True,
    help: str = 'Amount with its currency, e.g. "20.00 USD".',
) -> Callable[[F], F]:
    """An amount of money with its currency, parsed into ``Money`` (``invalid_amount``)."""
    return click.option(name, required=required, callback=_money, metavar="AMOUNT", help=help)


currency_option = click.option(
    "--currency",
    required=True,
    metavar="CODE",
    help="ISO 4217 code of the postage funds, e.g. USD.",
)


def _day(ctx: click.Context, param: click.Parameter, value: Any) -> date | None:
    return None if value is None else value.date()


def day_option(
    name: str = "--date", dest: str = "on", *, help: str = "Day, YYYY-MM-DD [default: today]."
) -> Callable[[F], F]:
    """A calendar day, YYYY-MM-DD, passed as a ``date``."""
    return click.option(
        name, dest, type=click.DateTime(formats=["%Y-%m-%d"]), callback=_day, help=help
    )
