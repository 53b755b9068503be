"""``postroom shop``: staff list the catalogue and orders, receive stock and move an
order on, on the command line; bad input is a message and exit code 1, never a
traceback."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.shop.catalogue import demo_items
from postroom.frontends.cli import cli


def run(runner: CliRunner, *args: str, code: int = 0) -> Any:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return json.loads(result.output) if "--json" in args and code == 0 else result.output


def placed_order(cli_env: dict[str, str]) -> tuple[str, str]:
    """A customer's order on account, placed through the core: (customer, order)."""
    config = Config.load(
        {}, database_url=cli_env["POSTROOM_DATABASE_URL"], data_dir=cli_env["POSTROOM_DATA_DIR"]
    )
    with Postroom.open(config=config) as pr:
        for item in demo_items({"PR-VPSD1": "postroom-vpsd-1"}):
            pr.shop.save_item(item)
        number = pr.accounts.create("Acme", "US", "USD").number
        pr.billing.set_profile(number, region="NY")
        pr.shop.add_to_cart(number, "SEAL-1L", 2)
        return number, pr.shop.checkout(number, "cli", method="account").number


def test_staff_list_the_catalogue_and_receive_stock(
    runner: CliRunner, cli_env: dict[str, str]
) -> None:
    placed_order(cli_env)
    items = {i["sku"]: i for i in run(runner, "shop", "catalog", "--json")}
    assert items["SEAL-1L"]["stock"] == 58
    assert items["SEAL-1L"]["prices"]["USD"] == {"amount": "12.90", "currency": "USD"}
    assert "SEAL-1L" in run(runner, "shop", "catalog")
    who = ("--staff", "Sam Staff", "--reason", "delivery 4411")
    assert run(runner, "shop", "stock", "SEAL-1L", "--add", "10", *who, "--json")["stock"] == 68
    out = run(runner, "shop", "stock", "SEAL-1L", "--add", "-1000", *who, code=1)
    assert "out_of_stock" in out or "less stock" in out
    assert "Traceback" not in run(runner, "shop", "stock", "NOPE-0", "--add", "1", *who, code=1)
    (move,) = run(runner, "shop", "stock-moves", "SEAL-1L", "--json")
    assert (move["change"], move["stock_after"], move["staff"], move["reason"]) == (
        10,
        68,
        "Sam Staff",
        "delivery 4411",
    )


def test_staff_move_an_order_to_shipped_and_list_it(
    runner: CliRunner, cli_env: dict[str, str]
) -> None:
    customer, number = placed_order(cli_env)
    run(runner, "shop", "order-status", number, "picking", "--staff", "Sam")
    out = run(runner, "shop", "order-status", number, "shipped", "--staff", "Sam", code=1)
    assert "tracking" in out
    shipped = run(
        runner, "shop", "order-status", number, "shipped", "--staff", "Sam",
        "--tracking", "1Z999AA10123456784", "--json",
    )  # fmt: skip
    assert shipped["status"] == "shipped"
    assert shipped["tracking_number"] == "1Z999AA10123456784"
    listed = run(runner, "shop", "orders", "--account", customer, "--json")
    assert [o["number"] for o in listed] == [number]
    assert run(runner, "shop", "orders", "--status", "delivered", "--json") == []
    assert number in run(runner, "shop", "orders")
    out = run(runner, "shop", "order-status", "SO-2026-000000", "picking", "--staff", "Sam", code=1)
    assert "order" in out


def test_staff_review_approve_and_reject_uploaded_slogans(
    runner: CliRunner, cli_env: dict[str, str], tmp_path
) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="60" height="20"><text>Hi</text></svg>'
    config = Config.load(
        {}, database_url=cli_env["POSTROOM_DATABASE_URL"], data_dir=cli_env["POSTROOM_DATA_DIR"]
    )
    with Postroom.open(config=config) as pr:
        number = pr.accounts.create("Acme", "US", "USD").number
        pr.meters.register(number, product_code="PR-VPSD1", serial="PR-CLI-AD")
        first = pr.shop.addons.upload_slogan(number, "PR-CLI-AD", "a.svg", svg).number
        second = pr.shop.addons.upload_slogan(number, "PR-CLI-AD", "b.svg", svg).number
    waiting = run(runner, "shop", "slogans", "--json")
    assert {w["number"] for w in waiting} == {first, second}
    shown = tmp_path / "first.svg"
    run(runner, "shop", "slogan-graphic", first, "--output", str(shown))
    assert b"<text>Hi</text>" in shown.read_bytes() or b">Hi<" in shown.read_bytes()
    assert run(runner, "shop", "slogan-decision", first, "approve", "--staff", "Sam",
               "--json")["status"] == "queued"  # fmt: skip
    out = run(runner, "shop", "slogan-decision", second, "reject", "--staff", "Sam", code=1)
    assert "reason" in out
    rejected = run(runner, "shop", "slogan-decision", second, "reject", "--staff", "Sam",
                   "--reason", "unreadable", "--json")  # fmt: skip
    assert rejected["reason"] == "unreadable"
    assert run(runner, "shop", "slogans") == "no slogans waiting\n"
    assert len(run(runner, "shop", "slogans", "--all", "--json")) == 2
