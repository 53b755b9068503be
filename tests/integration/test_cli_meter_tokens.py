"""``postroom meter tokens SN`` and ``postroom meter cancel-token SN SEQUENCE``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock, SystemClock
from postroom.core.config import Config
from postroom.core.money import Money
from postroom.frontends.cli import cli

SERIAL = "PR-CLI-TOK"


@pytest.fixture
def earlier(database_url: str, data_dir: Path) -> Iterator[Postroom]:
    """The same installation ten days ago (the command line runs on the real clock)."""
    config = Config.load({}, data_dir=data_dir, database_url=database_url, secret_key="test-secret")
    clock = FrozenClock(SystemClock().now() - timedelta(days=10))
    with Postroom.open(config=config, clock=clock, migrate_schema=True) as postroom:
        yield postroom


def test_an_expired_refill_is_listed_and_cancelled_from_the_command_line(
    runner: CliRunner, earlier: Postroom
) -> None:
    number = earlier.accounts.create("Acme", "US", "USD").number
    earlier.ledger.deposit(number, Money.parse("100.00 USD"), "dep-1")
    earlier.meters.register(number, product_code="PR-VPSD1", serial=SERIAL)
    earlier.meters.funds.refill(SERIAL, Money.parse("60.00 USD"), "r1")

    listed = runner.invoke(cli, ["meter", "tokens", SERIAL, "--json"])
    assert listed.exit_code == 0, listed.output
    [token] = json.loads(listed.stdout)
    assert (token["sequence"], token["amount_mills"], token["state"]) == (1, 60_000, "expired")

    done = runner.invoke(cli, ["meter", "cancel-token", SERIAL, "1"])
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == (
        f"token 1 of meter {SERIAL} cancelled: refill r1 ($60.00) back to the postage"
        f" account (transfer prc:{SERIAL}:1)"
    )
    again = runner.invoke(cli, ["meter", "cancel-token", SERIAL, "1", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["transfer_id"] == f"prc:{SERIAL}:1"  # nothing moved twice
    balance = runner.invoke(cli, ["vault", "balance", "--account", number, "--json"])
    assert json.loads(balance.stdout)["balance_mills"] == 100_000
    human = runner.invoke(cli, ["meter", "tokens", SERIAL])
    assert human.stdout.split()[-1] == "cancelled"

    unknown = runner.invoke(cli, ["meter", "cancel-token", SERIAL, "9"])
    assert unknown.exit_code == 1
    assert "token_not_found" in unknown.output
    bad = runner.invoke(cli, ["meter", "cancel-token", SERIAL, "0"])
    assert bad.exit_code == 2
