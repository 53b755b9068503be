"""``postroom contracts`` and ``postroom equipment``: staff manage customers' contracts,
products and installation address changes on the command line."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from click.testing import CliRunner

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.contracts.model import parse_address
from postroom.frontends.cli import cli

ADDRESS = ["--line1", "12 Harbor Street", "--postal-code", "02110", "--city", "Boston"]


def run(runner: CliRunner, *args: str, code: int = 0) -> Any:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return json.loads(result.output) if "--json" in args and code == 0 else result.output


def customer(runner: CliRunner, name: str = "Acme") -> str:
    created = run(
        runner, "accounts", "create", "--name", name, "--country", "US", "--currency", "USD",
        "--json",
    )  # fmt: skip
    return str(created["number"])


def test_staff_register_a_product_and_add_list_show_and_cancel_its_contract(
    runner: CliRunner,
) -> None:
    number = customer(runner)
    registered = run(
        runner,
        "equipment", "register", "--account", number, "--product-code", "PR-VPSD1",
        "--serial", "PR-CLI-1", *ADDRESS, "--country", "us", "--json",
    )  # fmt: skip
    assert registered["meter_key"].startswith("prm_")
    assert registered["installation_address"]["country"] == "US"
    added = run(
        runner,
        "contracts", "add", "--account", number, "--serial", "PR-CLI-1", "--kind", "lease",
        "--start", "2026-01-01", "--months", "36", "--billing", "quarterly",
        "--amount", "149.70 USD", "--notice-days", "90", "--auto-renew", "--json",
    )  # fmt: skip
    assert added["amount_mills"] == 149_700
    assert added["end"] == "2028-12-31"
    assert added["renewal_date"] == "2029-01-01"
    assert added["status"] == "active"
    listed = run(runner, "contracts", "list", "--account", number, "--json")
    assert [c["number"] for c in listed] == [added["number"]]
    shown = run(runner, "contracts", "show", "--account", number, added["number"])
    assert "renews by itself" in shown
    products = run(runner, "equipment", "list", "--account", number, "--json")
    assert [c["number"] for c in products[0]["contracts"]] == [added["number"]]
    cancelled = run(
        runner, "contracts", "cancel", "--account", number, added["number"],
        "--reason", "meter returned", "--json",
    )  # fmt: skip
    assert cancelled["status"] == "cancelled"
    assert cancelled["renewal_date"] is None


def test_another_customers_contract_is_not_found_and_bad_input_is_one_line(
    runner: CliRunner,
) -> None:
    mine, theirs = customer(runner), customer(runner, "Other")
    run(runner, "meter", "register", "--account", theirs, "--product-code", "PR-VPSD1",
        "--serial", "PR-CLI-9")  # fmt: skip
    added = run(
        runner, "contracts", "add", "--account", theirs, "--serial", "PR-CLI-9",
        "--kind", "maintenance", "--start", "2026-01-01", "--months", "12",
        "--amount", "10 USD", "--json",
    )  # fmt: skip
    refused = run(runner, "contracts", "show", "--account", mine, added["number"], code=1)
    assert "[contract_not_found]" in refused
    refused = run(
        runner, "contracts", "add", "--account", mine, "--serial", "PR-CLI-9", "--kind", "lease",
        "--start", "2026-01-01", "--months", "12", "--amount", "10 USD", code=1,
    )  # fmt: skip
    assert "[meter_not_found]" in refused
    assert "Traceback" not in refused
    usage = run(
        runner, "contracts", "add", "--account", theirs, "--serial", "PR-CLI-9",
        "--kind", "lease", "--start", "01/01/2026", "--months", "12", "--amount", "1 USD",
        code=2,
    )  # fmt: skip
    assert "--start" in usage


def test_staff_list_and_resolve_address_requests(
    runner: CliRunner, cli_env: dict[str, str]
) -> None:
    number = customer(runner)
    run(runner, "meter", "register", "--account", number, "--product-code", "PR-VPSD1",
        "--serial", "PR-CLI-2")  # fmt: skip
    config = Config.load(
        {}, database_url=cli_env["POSTROOM_DATABASE_URL"], data_dir=cli_env["POSTROOM_DATA_DIR"]
    )
    with Postroom.open(config=config) as pr:
        move_on = pr.contracts.today() + timedelta(days=10)
        first = pr.equipment.request_address_change(
            number, "PR-CLI-2", parse_address("1 Main St", "", "10001", "New York", "US"),
            move_on, "Ada Lovelace",
        )  # fmt: skip
        second = pr.equipment.request_address_change(
            number, "PR-CLI-2", parse_address("2 Elm St", "", "10002", "New York", "US"),
            move_on, "Ada Lovelace",
        )  # fmt: skip
    waiting = run(runner, "equipment", "address-requests", "--json")
    assert [(r["reference"], r["move_on"]) for r in waiting] == [
        (first, move_on.isoformat()),
        (second, move_on.isoformat()),
    ]
    run(runner, "equipment", "address-request-done", first, "--staff", "Grace")
    rejected = run(
        runner, "equipment", "address-request-reject", second, "--note", "two moves at once",
        "--staff", "Grace", "--json",
    )  # fmt: skip
    assert rejected["status"] == "rejected"
    assert run(runner, "equipment", "address-requests", "--json") == []
    every = run(runner, "equipment", "address-requests", "--status", "all", "--json")
    assert [r["status"] for r in every] == ["done", "rejected"]
    products = run(runner, "equipment", "list", "--account", number, "--json")
    assert products[0]["installation_address"]["line1"] == "1 Main St"
    again = run(runner, "equipment", "address-request-done", second, "--staff", "G", code=1)
    assert "[address_request_closed]" in again
