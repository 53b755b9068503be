"""``postroom vault`` funding commands through Click's runner."""

from __future__ import annotations

import json

from click.testing import CliRunner

from postroom.frontends.cli import cli

#: A manual deposit is a staff action with a reason (docs/security.md).
STAFF_REASON = ("--staff", "test staff", "--reason", "cheque received by post")


def run(runner: CliRunner, *args: str) -> tuple[int, str]:
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def new_account(runner: CliRunner) -> str:
    code, out = run(runner, "accounts", "create", "--name", "Acme", "--country", "US",
                    "--currency", "USD", "--json")  # fmt: skip
    assert code == 0, out
    return json.loads(out)["number"]


CARD = ("number=4242424242424242", "exp_month=12", "exp_year=2030", "cvc=123")
ACH = ("routing_number=111000025", "account_number=000123456789", "account_type=checking",
       "account_holder=Acme Inc.")  # fmt: skip


def test_sources_instruments_deposit_return_lock_and_unlock(runner: CliRunner) -> None:
    code, out = run(runner, "vault", "payment-sources", "--json")
    assert code == 0, out
    sources = {s["code"]: s for s in json.loads(out)}
    assert sources["ach-debit"]["currencies"] == ["USD"]
    assert "R01" in sources["ach-debit"]["return_codes"]
    assert not sources["postage-credit-line"]["self_service"]

    number = new_account(runner)
    code, out = run(
        runner, "vault", "instrument", "add", "--account", number, "ach-debit", *ACH, "--json"
    )
    assert code == 0, out
    bank = json.loads(out)["id"]
    code, out = run(
        runner, "vault", "instrument", "add", "--account", number, "sandbox-card", *CARD
    )
    assert code == 0, out
    assert "Visa ...4242" in out
    card = out.split()[1].rstrip(":")
    code, out = run(runner, "vault", "instrument", "list", "--account", number, "--json")
    assert {i["id"] for i in json.loads(out)} == {bank, card}

    code, out = run(runner, "vault", "deposit", "--instrument", bank, "--amount", "50.00 USD",
                    "--id", "d1", "--json")  # fmt: skip
    assert code == 0, out
    payment = json.loads(out)
    assert payment["status"] == "pending"
    code, out = run(runner, "vault", "balance", "--account", number)
    assert "available 0.00 USD" in out
    assert "pending 50.00 USD (expected by " in out  # on its way, not spendable yet
    code, out = run(runner, "vault", "payment-settle", payment["id"])  # the bank paid
    assert code == 0, out
    code, out = run(runner, "meter", "register", "--account", number,
                    "--product-code", "PR-VPSD1", "--serial", "PB-1")  # fmt: skip
    assert code == 0, out
    code, out = run(runner, "vault", "refill", "--meter", "PB-1", "--amount", "30 USD")
    assert code == 0, out
    code, out = run(runner, "vault", "payment-return", payment["id"], "--reason", "R01")
    assert code == 0, out
    assert "returned [R01]" in out
    assert "outstanding 30.00 USD (refills locked)" in out
    code, out = run(runner, "vault", "refill", "--meter", "PB-1", "--amount", "1 USD")
    assert code == 1
    assert "[refills_locked]" in out
    code, out = run(runner, "vault", "balance", "--account", number, "--json")
    assert json.loads(out)["balance_mills"] == 0

    code, out = run(
        runner,
        "vault",
        "deposit",
        "--account",
        number,
        "--instrument",
        card,
        "--amount",
        "40 USD",
        "--json",
    )
    assert code == 0, out
    assert json.loads(out)["status"] == "settled"
    code, out = run(runner, "vault", "refill", "--meter", "PB-1", "--amount", "10 USD")
    assert code == 0, out
    code, out = run(runner, "vault", "payments", "--account", number, "--json")
    assert [p["status"] for p in json.loads(out)].count("returned") == 1
    code, out = run(
        runner, "vault", "deposit", "--account", number, "--amount", "5 USD", *STAFF_REASON
    )
    assert code == 0, out
    code, out = run(runner, "vault", "verify")
    assert code == 0, out


def test_declines_and_bad_input_are_clear_errors(runner: CliRunner) -> None:
    number = new_account(runner)
    code, out = run(runner, "vault", "instrument", "add", "--account", number, "sandbox-card",
                    "number=4000000000009995", *CARD[1:])  # fmt: skip
    assert code == 0, out
    declining = out.split()[1].rstrip(":")
    code, out = run(runner, "vault", "deposit", "--instrument", declining, "--amount", "5 USD")
    assert code == 1
    assert "[insufficient_funds]" in out
    bad = [
        (("instrument", "add", "--account", number, "sandbox-card", "number=4242424242424241",
          "exp_month=12", "exp_year=2030", "cvc=123"), "[luhn_check_failed]"),
        (("instrument", "add", "--account", number, "paypal"), "[unknown_payment_source]"),
        (("deposit", "--instrument", declining, "--amount", "0 USD"), "[invalid_amount]"),
        (("deposit", "--instrument", declining, "--amount", "-5 USD"), "[invalid_amount]"),
        (("deposit", "--instrument", declining, "--amount", "5 EUR"), "[currency_mismatch]"),
        (("deposit", "--instrument", declining, "--amount", "5.0001 USD"), "[invalid_amount]"),
        (("deposit", "--instrument", "pi_00000000000000000000", "--amount", "5 USD"),
         "[instrument_not_found]"),
        (("payment-return", "pm_00000000000000000000", "--reason", "R01"), "[payment_not_found]"),
        (("statement", "--account", number, "--month", "2026-13"), "[invalid_month]"),
        (("statement", "--account", number), "[no_credit_line]"),
    ]  # fmt: skip
    for args, error in bad:
        code, out = run(runner, "vault", *args)
        assert (code, error in out) == (1, True), (args, out)
    code, out = run(runner, "vault", "deposit", "--amount", "5 USD")
    assert code == 2  # neither an account nor an instrument
    code, out = run(runner, "vault", "payments", "--account", number, "--json")
    assert len(json.loads(out)) == 1  # only the declined one


def test_auto_refill_commands_and_credit_line_statement(runner: CliRunner) -> None:
    number = new_account(runner)
    code, out = run(
        runner, "vault", "instrument", "add", "--account", number, "sandbox-card", *CARD
    )
    card = out.split()[1].rstrip(":")
    code, out = run(
        runner,
        "vault",
        "auto-refill",
        "set",
        "--account",
        number,
        "--threshold",
        "50 USD",
        "--amount",
        "100 USD",
        "--daily-cap",
        "300 USD",
        "--instrument",
        card,
        "--json",
    )
    assert code == 0, out
    assert json.loads(out)["daily_cap"] == {"amount": "300.00", "currency": "USD"}
    code, out = run(runner, "vault", "auto-refill", "show", "--account", number)
    assert "below 50.00 USD: add 100.00 USD" in out
    code, out = run(
        runner,
        "vault",
        "auto-refill",
        "set",
        "--account",
        number,
        "--threshold",
        "50 USD",
        "--amount",
        "100 USD",
        "--daily-cap",
        "30 USD",
        "--instrument",
        card,
    )
    assert code == 1
    assert "[invalid_auto_refill]" in out
    code, out = run(runner, "vault", "auto-refill", "off", "--account", number, "--json")
    assert json.loads(out) == {"removed": True}
    code, out = run(runner, "vault", "auto-refill", "show", "--account", number, "--json")
    assert json.loads(out) is None

    code, out = run(
        runner,
        "vault",
        "instrument",
        "add",
        "--account",
        number,
        "postage-credit-line",
        "limit=1000.00",
        "--json",
    )
    assert code == 0, out
    line = json.loads(out)["id"]
    code, out = run(runner, "vault", "deposit", "--instrument", line, "--amount", "200 USD")
    assert code == 0, out
    code, out = run(runner, "vault", "credit-payment", "--account", number, "--instrument", card,
                    "--amount", "50 USD")  # fmt: skip
    assert code == 0, out
    code, out = run(
        runner, "vault", "statement", "--account", number, "--month", "2020-01", "--json"
    )
    assert code == 0, out
    assert json.loads(out)["closing_balance"] == {"amount": "0.00", "currency": "USD"}
