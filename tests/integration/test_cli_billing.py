"""``postroom billing``: staff list, show, print, pay and credit a customer's invoices
and run the billing jobs on the command line."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from pypdf import PdfReader

from postroom.frontends.cli import cli

CARD = ["number=4242424242424242", "exp_month=12", "exp_year=2030", "cvc=123"]


def run(runner: CliRunner, *args: str, code: int = 0) -> Any:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return json.loads(result.output) if "--json" in args and code == 0 else result.output


def test_staff_bill_a_contract_then_show_print_pay_and_credit_it(
    runner: CliRunner, tmp_path: Path
) -> None:
    created = run(
        runner,
        "accounts",
        "create",
        "--name",
        "Acme",
        "--country",
        "US",
        "--currency",
        "USD",
        "--json",
    )
    number = str(created["number"])
    other = str(
        run(
            runner,
            "accounts",
            "create",
            "--name",
            "Other",
            "--country",
            "US",
            "--currency",
            "USD",
            "--json",
        )["number"]
    )
    run(runner, "billing", "profile", "--account", number, "--region", "TX", "--json")
    run(
        runner,
        "equipment", "register", "--account", number, "--product-code", "PR-VPSD1",
        "--serial", "PR-BILL-CLI", "--line1", "1 Main", "--postal-code", "75001",
        "--city", "Dallas", "--country", "US",
    )  # fmt: skip
    run(
        runner,
        "contracts", "add", "--account", number, "--serial", "PR-BILL-CLI", "--kind", "rental",
        "--start", "2026-01-01", "--months", "12", "--amount", "100.00 USD", "--auto-renew",
    )  # fmt: skip
    assert run(runner, "billing", "run", "contracts", "--json") == {"run": "contracts", "count": 1}
    assert run(runner, "billing", "run", "contracts", "--json")["count"] == 0
    listed = run(runner, "billing", "invoices", "--account", number, "--json")
    (invoice,) = listed["invoices"]
    assert invoice["total"] == {"amount": "106.25", "currency": "USD"}  # Texas 6.25 %
    assert listed["balance_due"] == {"amount": "106.25", "currency": "USD"}
    shown = run(runner, "billing", "show", "--account", number, invoice["number"])
    assert "Sales tax 6.25 %: 6.25 USD" in shown
    # another account's invoice does not exist for it
    refused = run(runner, "billing", "show", "--account", other, invoice["number"], code=1)
    assert "invoice_not_found" in refused
    target = tmp_path / "invoice.pdf"
    run(runner, "billing", "pdf", "--account", number, invoice["number"], "-o", str(target))
    text = PdfReader(io.BytesIO(target.read_bytes())).pages[0].extract_text()
    assert invoice["number"] in text
    assert "106.25 USD" in text
    card = run(
        runner, "vault", "instrument", "add", "sandbox-card", *CARD, "--account", number, "--json"
    )
    paid = run(
        runner,
        "billing",
        "pay",
        "--account",
        number,
        invoice["number"],
        "--instrument",
        card["id"],
        "--key",
        "k1",
        "--json",
    )
    assert paid["status"] == "paid"
    again = run(
        runner,
        "billing",
        "pay",
        "--account",
        number,
        invoice["number"],
        "--instrument",
        card["id"],
        "--key",
        "k1",
        "--json",
    )
    assert again["payment_id"] == paid["payment_id"]
    note = run(
        runner,
        "billing",
        "credit",
        "--account",
        number,
        invoice["number"],
        "--reason",
        "goodwill",
        "--json",
    )
    assert note["total"] == {"amount": "-106.25", "currency": "USD"}
    bad = run(
        runner,
        "billing",
        "pay",
        "--account",
        number,
        "INV-2026-999999",
        "--instrument",
        card["id"],
        "--key",
        "k2",
        code=1,
    )
    assert "invoice_not_found" in bad
