"""``postroom billing``: staff list, show, print, pay and credit a customer's invoices
and run the billing jobs on the command line."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from pypdf import PdfReader

from postroom.core.app import Postroom
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


def test_staff_list_and_revoke_a_mandate_the_customer_revoked_in_writing(
    runner: CliRunner, postroom: Postroom
) -> None:
    number = postroom.accounts.create("Acme", "US", "USD").number
    other = postroom.accounts.create("Other", "US", "USD").number
    signed = postroom.billing.set_up_debit(
        number,
        {
            "account_holder": "Acme Inc.",
            "routing_number": "111000025",
            "account_number": "000123456789",
            "account_type": "checking",
        },
        consent=True,
        signed_by="owner@acme.example",
        auto_debit=True,
    )
    (listed,) = run(runner, "billing", "mandates", "--account", number, "--json")["items"]
    assert listed["reference"] == signed.reference
    assert listed["account"] == "****6789"  # masked on the command line too
    assert listed["active"] is True
    # another account's mandate: not found, nothing revoked
    run(
        runner,
        "billing", "revoke-mandate", "--account", other, signed.reference, "--by", "x",
        code=1,
    )  # fmt: skip
    revoked = run(
        runner,
        "billing", "revoke-mandate", "--account", number, signed.reference,
        "--by", "letter of 2026-03-01", "--json",
    )  # fmt: skip
    assert revoked["active"] is False
    assert revoked["revoked_by"] == "letter of 2026-03-01"
    assert postroom.billing.profile(number).auto_debit_instrument is None
