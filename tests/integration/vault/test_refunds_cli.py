"""``postroom vault refund ...`` and ``postroom vault close`` through Click's runner."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.money import Money
from postroom.frontends.cli import cli

#: A manual deposit is a staff action with a reason (docs/security.md).
STAFF_REASON = ("--staff", "test staff", "--reason", "cheque received by post")


def run(runner: CliRunner, *args: str) -> tuple[int, str]:
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def _setup(database_url: str, data_dir: Path) -> str:
    config = Config.load({}, data_dir=data_dir, database_url=database_url, secret_key="test-secret")
    with Postroom.open(config=config, migrate_schema=True) as pr:
        number = pr.accounts.create("Acme", "US", "USD").number
        pr.ledger.deposit(number, Money.parse("100 USD"), "dep-1")
        pr.meters.register(number, product_code="PR-VPSD1", serial="PB-9")
        pr.meters.funds.refill("PB-9", Money.parse("20 USD"), "refill-1")
        pr.meters.funds.record_usage("PB-9", Money.parse("0.73 USD"), 1, "use-1")
        pr.meters.funds.record_usage("PB-9", Money.parse("4.00 USD"), 4, "use-2")
    return number


def test_refund_commands(runner: CliRunner, database_url: str, data_dir: Path) -> None:
    number = _setup(database_url, data_dir)
    day = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    code, out = run(runner, "vault", "refund", "request", "--account", number, "--meter",
                    "PB-9", "--piece", f"1:0.73:{day}", "--piece", f"3:1.00:{day}",
                    "--reason", "misprinted", "--note", "ink ran", "--id", "rf-1",
                    "--json")  # fmt: skip
    assert code == 0, out
    asked = json.loads(out)
    assert asked["status"] == "requested"
    assert asked["face"] == {"amount": "1.73", "currency": "USD"}
    assert asked["fee"] == {"amount": "0.17", "currency": "USD"}
    assert [p["piece"] for p in asked["pieces"]] == [1, 3]

    code, out = run(runner, "vault", "refund", "list", "--status", "requested")
    assert code == 0
    assert "refund rf-1 (requested)" in out
    code, out = run(runner, "vault", "refund", "show", "--account", number, "rf-1")
    assert code == 0
    assert "piece 3: 1.00 USD" in out

    code, out = run(
        runner,
        "vault",
        "refund",
        "approve",
        "--account",
        number,
        "rf-1",
        "--agent",
        "Jane",
        "--note",
        "seen",
        "--json",
    )
    assert code == 0, out
    assert json.loads(out)["status"] == "approved"
    code, out = run(runner, "vault", "balance", "--account", number, "--json")
    assert json.loads(out)["balance_mills"] == 80_000 + 1_560
    code, out = run(
        runner, "vault", "refund", "approve", "--account", number, "rf-1", "--agent", "Jane"
    )
    assert code == 0  # approving again changes nothing
    code, out = run(runner, "vault", "balance", "--account", number, "--json")
    assert json.loads(out)["balance_mills"] == 81_560

    code, out = run(runner, "vault", "refund", "request", "--account", number, "--meter",
                    "PB-9", "--piece", f"1:0.73:{day}", "--reason", "spoiled")  # fmt: skip
    assert code == 1
    assert "[piece_already_refunded]" in out
    code, out = run(runner, "vault", "refund", "request", "--account", number, "--meter",
                    "PB-9", "--piece", f"2:1.00:{day}", "--reason", "spoiled",
                    "--id", "rf-2")  # fmt: skip
    assert code == 0, out
    code, out = run(
        runner,
        "vault",
        "refund",
        "reject",
        "--account",
        number,
        "rf-2",
        "--agent",
        "Jane",
        "--reason",
        "no envelope",
    )
    assert code == 0, out
    assert "(rejected)" in out
    assert "no envelope" in out

    code, out = run(runner, "vault", "close", "--account", number)
    assert code == 1
    assert "[active_meters]" in out
    code, out = run(runner, "meter", "withdraw", "PB-9")
    assert code == 0, out
    code, out = run(runner, "vault", "close", "--account", number, "--json")
    assert code == 0, out
    closed = json.loads(out)
    assert closed["refunded"] == {"amount": "96.83", "currency": "USD"}  # 81.56 + 15.27
    code, out = run(
        runner, "vault", "deposit", "--account", number, "--amount", "5 USD", *STAFF_REASON
    )
    assert code == 1
    assert "[account_closed]" in out
    code, out = run(runner, "vault", "verify")
    assert code == 0, out


def test_refund_request_bad_input(runner: CliRunner, database_url: str, data_dir: Path) -> None:
    number = _setup(database_url, data_dir)
    day = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    base = ["vault", "refund", "request", "--account", number, "--reason", "spoiled"]
    for extra, code_text in [
        (["--meter", "PB-9", "--piece", f"1:0:{day}"], "[invalid_amount]"),
        (["--meter", "PB-9", "--piece", f"1:-0.73:{day}"], "[invalid_amount]"),
        (["--meter", "PB-9", "--piece", f"1:0.0001:{day}"], "[invalid_amount]"),
        (["--meter", "PB-9", "--piece", f"1:0.73 EUR:{day}"], "[currency_mismatch]"),
        (["--meter", "PB-9", "--piece", "1:0.73:2026-13-01"], "[invalid_date]"),
        (["--meter", "PB-9", "--piece", "1:0.73"], "[invalid_piece]"),
        (["--meter", "PB-9", "--piece", f"one:0.73:{day}"], "[invalid_piece]"),
        (["--meter", "NOPE", "--piece", f"1:0.73:{day}"], "[meter_not_found]"),
        (
            ["--meter", "PB-9", "--piece", f"1:0.73:{day}", "--indicium", "1:zz"],
            "[invalid_indicium]",
        ),
    ]:
        code, out = run(runner, *base, *extra)
        assert code == 1, (extra, out)
        assert code_text in out, (extra, out)
    code, out = run(runner, "vault", "refund", "list", "--json")
    assert json.loads(out) == []
    code, out = run(runner, "vault", "refund", "show", "--account", number, "missing")
    assert code == 1
    assert "[refund_not_found]" in out
