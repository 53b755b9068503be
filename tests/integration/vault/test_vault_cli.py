"""``postroom accounts`` and ``postroom vault`` through Click's runner."""

from __future__ import annotations

import json

from click.testing import CliRunner

from postroom.core.db import Database
from postroom.frontends.cli import cli

#: A manual deposit is a staff action with a reason (docs/security.md).
STAFF_REASON = ("--staff", "test staff", "--reason", "cheque received by post")


def run(runner: CliRunner, *args: str) -> tuple[int, str]:
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_accounts_and_vault_commands(runner: CliRunner) -> None:
    code, out = run(runner, "accounts", "create", "--name", "Acme", "--country", "US",
                    "--currency", "USD", "--json")  # fmt: skip
    assert code == 0, out
    number = json.loads(out)["number"]
    code, out = run(runner, "accounts", "list", "--json")
    assert [a["number"] for a in json.loads(out)] == [number]
    code, out = run(runner, "accounts", "api-key", "create", "--account", number, "--json")
    assert code == 0
    token = json.loads(out)["token"]
    assert token.startswith("prk_")
    code, out = run(runner, "accounts", "show", "--account", number)
    assert "active" in out
    assert token not in out

    code, out = run(
        runner,
        "vault",
        "deposit",
        "--account",
        number,
        "--amount",
        "50.00 USD",
        "--id",
        "d1",
        *STAFF_REASON,
    )
    assert code == 0, out
    assert "50.000 USD" in out or "50.00 USD" in out
    code, out = run(runner, "meter", "register", "--account", number,
                    "--product-code", "PR-VPSD1", "--serial", "PB-9")  # fmt: skip
    assert code == 0, out
    code, out = run(runner, "vault", "refill", "--meter", "PB-9", "--amount", "20 USD",
                    "--id", "r1", "--json")  # fmt: skip
    assert code == 0, out
    refilled = json.loads(out)
    assert refilled["registers"]["control_sum_mills"] == 20_000
    code, out = run(runner, "vault", "apply-token", "PB-9", refilled["reset_token"])
    assert code == 0, out
    code, out = run(runner, "vault", "apply-token", "PB-9", refilled["reset_token"])
    assert code == 1
    assert "token_replayed" in out
    code, out = run(runner, "vault", "balance", "--account", number, "--json")
    assert json.loads(out)["balance_mills"] == 30_000
    code, out = run(runner, "vault", "verify")
    assert code == 0
    assert "ledger ok: 2 rows" in out
    code, out = run(runner, "meter", "withdraw", "PB-9", "--json")
    assert code == 0, out
    assert json.loads(out)["returned_mills"] == 20_000
    code, out = run(runner, "vault", "balance", "--account", number, "--json")
    assert json.loads(out)["balance_mills"] == 50_000


def test_domain_errors_exit_1_with_the_code(runner: CliRunner) -> None:
    code, out = run(runner, "accounts", "create", "--name", "Acme", "--country", "US",
                    "--currency", "USD", "--json")  # fmt: skip
    number = json.loads(out)["number"]
    code, out = run(
        runner, "vault", "deposit", "--account", number, "--amount", "0 USD", *STAFF_REASON
    )
    assert code == 1
    assert "invalid_amount" in out
    code, out = run(
        runner, "vault", "deposit", "--account", number, "--amount", "1.5 EUR", *STAFF_REASON
    )
    assert code == 1
    assert "currency_mismatch" in out
    code, out = run(runner, "vault", "refill", "--meter", "nope", "--amount", "1 USD")
    assert code == 1
    assert "meter_not_found" in out
    code, out = run(runner, "vault", "deposit", "--account", number)
    assert code == 2  # usage error: --amount missing


def test_verify_exits_1_and_names_the_row(runner: CliRunner, cli_env: dict[str, str]) -> None:
    _, out = run(runner, "accounts", "create", "--name", "Acme", "--country", "US",
                 "--currency", "USD", "--json")  # fmt: skip
    number = json.loads(out)["number"]
    run(
        runner,
        "vault",
        "deposit",
        "--account",
        number,
        "--amount",
        "5 USD",
        "--id",
        "d1",
        *STAFF_REASON,
    )
    run(
        runner,
        "vault",
        "deposit",
        "--account",
        number,
        "--amount",
        "6 USD",
        "--id",
        "d2",
        *STAFF_REASON,
    )
    database = Database(cli_env["POSTROOM_DATABASE_URL"])
    with database.engine.begin() as connection:
        if database.dialect == "postgresql":
            connection.exec_driver_sql("ALTER TABLE ledger_transfers DISABLE TRIGGER USER")
        else:
            connection.exec_driver_sql("DROP TRIGGER ledger_transfers_no_update")
        connection.exec_driver_sql("UPDATE ledger_transfers SET amount = 9000 WHERE id = 'd2'")
        if database.dialect == "postgresql":
            connection.exec_driver_sql("ALTER TABLE ledger_transfers ENABLE TRIGGER USER")
    database.dispose()
    code, out = run(runner, "vault", "verify")
    assert code == 1
    assert out.splitlines()[0].startswith("BROKEN [row_altered] row 2 (transfer d2)")
