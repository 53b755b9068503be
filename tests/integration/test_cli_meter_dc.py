"""``postroom meter register|provision|list|show|connect|withdraw|replace|alerts|public-key SN``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from postroom.core.meters import tokens
from postroom.core.money import Money
from postroom.frontends.cli import cli
from postroom.hal.meter.simulator import MeterSimulator

#: A manual deposit is a staff action with a reason (docs/security.md).
STAFF_REASON = ("--staff", "test staff", "--reason", "cheque received by post")

SERIAL = "PR-CLI-1"


def ok(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout  # progress goes to stderr


@pytest.fixture
def customer(runner: CliRunner) -> str:
    account = json.loads(
        ok(
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
    )
    number = str(account["number"])
    ok(runner, "vault", "deposit", "--account", number, "--amount", "100.00 USD", *STAFF_REASON)
    return number


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[MeterSimulator]:
    key = tokens.meter_key("test-secret", SERIAL)
    with MeterSimulator(tmp_path / "psd", SERIAL, meter_key=key) as simulator:
        yield simulator


def test_register_connect_show_list_withdraw(
    runner: CliRunner, customer: str, sim: MeterSimulator
) -> None:
    registered = json.loads(
        ok(
            runner,
            "meter",
            "register",
            "--account",
            customer,
            "--product-code",
            "PR-VPSD1",
            "--serial",
            SERIAL,
            "--port",
            sim.path,
            "--json",
        )
    )
    assert registered["api_key"].startswith("prm_")
    assert registered["has_public_key"] is True
    pem = ok(runner, "meter", "public-key", SERIAL)
    assert pem.strip() == sim.psd.public_key_pem().strip()

    ok(runner, "vault", "refill", "--meter", SERIAL, "--amount", "30.00 USD")
    synced = json.loads(ok(runner, "meter", "connect", "--port", sim.path, "--json"))
    assert synced["complete"] is True
    assert synced["reconciled"] is True
    assert synced["tokens_applied"] == [1]
    assert sim.psd.state["descending"] == 30_000

    listed = json.loads(ok(runner, "meter", "list", "--account", customer, "--json"))
    assert [(m["serial"], m["model"], m["customer_account"]) for m in listed] == [
        (SERIAL, "postroom-vpsd-1", customer)
    ]
    assert listed[0]["registers"]["descending_mills"] == 30_000

    shown = json.loads(ok(runner, "meter", "show", SERIAL, "--json"))
    assert shown["registers"]["descending_mills"] == 30_000
    assert shown["last_sync_at"] is not None
    assert shown["inspection"]["status"] == "ok"
    for key in ("firmware", "features", "graphics", "pieces", "inspection_due_at"):
        assert key in shown
    assert "descending  $30.00" in ok(runner, "meter", "show", SERIAL)

    withdrawn = json.loads(ok(runner, "meter", "withdraw", SERIAL, "--json"))
    assert withdrawn["returned_mills"] == 30_000
    balance = json.loads(ok(runner, "vault", "balance", "--account", customer, "--json"))
    assert balance["balance_mills"] == 100_000
    ok(runner, "meter", "connect", "--port", sim.path)
    assert sim.psd.state["locked"] is True
    assert ok(runner, "meter", "alerts", SERIAL).strip() == "no alerts"
    fresh = ok(runner, "meter", "rotate-key", SERIAL).strip()
    assert fresh.startswith("prm_")
    assert fresh != registered["api_key"]


def test_register_by_installation_number_and_replace(
    runner: CliRunner, customer: str, sim: MeterSimulator
) -> None:
    shipped = json.loads(
        ok(runner, "meter", "provision", "--product-code", "PR-VPSD1", "--serial", SERIAL, "--json")
    )
    number = shipped["installation_number"]
    assert len(number) == 11
    text = ok(runner, "meter", "register", "--account", customer, "--installation-number", number)
    assert f"meter {SERIAL} (postroom-vpsd-1) registered to {customer}" in text
    assert "prm_" in text
    ok(runner, "vault", "refill", "--meter", SERIAL, "--amount", "10.00 USD")
    ok(runner, "meter", "register", "--account", customer, "--product-code", "PR-VPSD1",
       "--serial", "PR-CLI-2")  # fmt: skip
    moved = json.loads(ok(runner, "meter", "replace", SERIAL, "PR-CLI-2", "--json"))
    assert moved["moved_mills"] == 10_000
    assert moved["old"]["status"] == "withdrawn"


def test_a_provisioned_device_takes_this_data_centers_refills(
    runner: CliRunner, customer: str, tmp_path: Path
) -> None:
    # The factory loads the key `meter provision` prints; nothing else tells the device.
    shipped = json.loads(
        ok(runner, "meter", "provision", "--product-code", "PR-VPSD1", "--serial", "PR-NEW-7",
           "--json")
    )  # fmt: skip
    key = bytes.fromhex(shipped["reset_token_key"])
    assert len(key) == 32
    again = ok(runner, "meter", "provision", "--product-code", "PR-VPSD1", "--serial", "PR-NEW-7")
    assert f"--reset-key {shipped['reset_token_key']}" in again
    with MeterSimulator(tmp_path / "new", "PR-NEW-7", meter_key=key) as device:
        number = shipped["installation_number"]
        ok(runner, "meter", "register", "--account", customer,
           "--installation-number", number, "--port", device.path)  # fmt: skip
        ok(runner, "vault", "refill", "--meter", "PR-NEW-7", "--amount", "12.50 USD")
        synced = json.loads(ok(runner, "meter", "connect", "--port", device.path, "--json"))
        assert synced["tokens_applied"] == [1]
        assert device.psd.state["descending"] == 12_500
    with MeterSimulator(tmp_path / "other", "PR-NEW-8", meter_key=key) as stranger:
        # Another serial's device holding this key: the data center's tokens for it fail.
        ok(runner, "meter", "register", "--account", customer, "--product-code", "PR-VPSD1",
           "--serial", "PR-NEW-8", "--port", stranger.path)  # fmt: skip
        ok(runner, "vault", "refill", "--meter", "PR-NEW-8", "--amount", "1.00 USD")
        refused = json.loads(
            runner.invoke(cli, ["meter", "connect", "--port", stranger.path, "--json"]).stdout
        )
        assert refused["tokens_applied"] == []
        assert stranger.psd.state["descending"] == 0


def test_bad_input_is_a_clear_error(runner: CliRunner, customer: str, sim: MeterSimulator) -> None:
    wrong = runner.invoke(
        cli,
        ["meter", "register", "--account", customer, "--installation-number", "12345678901"],
    )
    assert wrong.exit_code == 1
    assert "[invalid_installation_number]" in wrong.output
    neither = runner.invoke(cli, ["meter", "register", "--account", customer])
    assert neither.exit_code == 2
    other = runner.invoke(
        cli,
        ["meter", "register", "--account", customer, "--product-code", "PR-VPSD1",
         "--serial", "PR-OTHER", "--port", sim.path],
    )  # fmt: skip
    assert other.exit_code == 1
    assert "[serial_mismatch]" in other.output
    unknown = runner.invoke(cli, ["meter", "show", "PR-NONE"])
    assert unknown.exit_code == 1
    assert "[meter_not_found]" in unknown.output
    unregistered = runner.invoke(cli, ["meter", "connect", "--port", sim.path])
    assert unregistered.exit_code == 1
    assert "[meter_not_found]" in unregistered.output
    both = runner.invoke(cli, ["meter", "public-key"])
    assert both.exit_code == 2
    half = runner.invoke(cli, ["meter", "connect", "--port", sim.path, "--server", "http://x"])
    assert half.exit_code == 2


def test_misprinted_pieces_are_refunded_from_the_uploaded_piece_log(
    runner: CliRunner, customer: str, sim: MeterSimulator, tmp_path: Path
) -> None:
    ok(runner, "meter", "register", "--account", customer, "--product-code", "PR-VPSD1",
       "--serial", SERIAL, "--port", sim.path)  # fmt: skip
    ok(runner, "vault", "refill", "--meter", SERIAL, "--amount", "30.00 USD")
    ok(runner, "meter", "connect", "--port", sim.path)
    for n in (1, 2):
        ok(runner, "meter", "print", "--port", sim.path, "--carrier", "usps", "--service",
           "first-class-letter", "--weight", f"{n}oz", "--origin-zip", "12345",
           "--output", str(tmp_path / f"piece{n}.png"))  # fmt: skip

    # Not uploaded yet: the data center knows nothing of these pieces.
    early = runner.invoke(cli, ["meter", "refund", SERIAL, "--account", customer,
                                "--piece", "2", "--reason", "misprinted"])  # fmt: skip
    assert early.exit_code == 1
    assert "[piece_not_logged]" in early.output

    ok(runner, "meter", "connect", "--port", sim.path)
    logged = {
        p["piece"]: p for p in json.loads(ok(runner, "meter", "show", SERIAL, "--json"))["pieces"]
    }
    asked = json.loads(
        ok(
            runner,
            "meter",
            "refund",
            SERIAL,
            "--account",
            customer,
            "--piece",
            "2",
            "--reason",
            "misprinted",
            "--id",
            "misprint-2",
            "--json",
        )
    )
    assert asked["status"] == "requested"
    assert [p["piece"] for p in asked["pieces"]] == [2]
    assert Money.from_json(asked["pieces"][0]["face"]) == Money(logged[2]["mills"], "USD")
    assert asked["pieces"][0]["indicium_date"] == logged[2]["date"]

    before = json.loads(ok(runner, "vault", "balance", "--account", customer, "--json"))[
        "balance_mills"
    ]
    approved = json.loads(
        ok(
            runner,
            "vault",
            "refund",
            "approve",
            "misprint-2",
            "--account",
            customer,
            "--agent",
            "Dana",
            "--json",
        )
    )
    assert approved["status"] == "approved"
    after = json.loads(ok(runner, "vault", "balance", "--account", customer, "--json"))[
        "balance_mills"
    ]
    assert after - before == Money.from_json(approved["net"]).mills


def test_the_documented_sequence_works_as_written(
    runner: CliRunner, customer: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """docs/meters.md "A meter from start to first sync": simulate (no key given: the
    device is loaded with this installation's reset-token key), register, refill, connect."""
    command = [sys.executable, "-m", "postroom.frontends.cli", "meter", "simulate"]
    command += ["--serial", "PR-DOC-1", "--pty", "--state-dir", str(tmp_path / "device")]
    device = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, env={**os.environ, **cli_env}
    )
    try:
        assert device.stdout is not None
        port = device.stdout.readline().strip()
        ok(runner, "meter", "register", "--account", customer, "--product-code", "PR-VPSD1",
           "--serial", "PR-DOC-1", "--port", port)  # fmt: skip
        ok(runner, "vault", "refill", "--meter", "PR-DOC-1", "--amount", "25.00 USD")
        synced = json.loads(ok(runner, "meter", "connect", "--port", port, "--json"))
        assert synced["complete"] is True
        assert synced["tokens_applied"] == [1]
        registers = json.loads(ok(runner, "meter", "registers", "--port", port, "--json"))
        assert registers["descending"] == 25_000
    finally:
        device.terminate()
        device.wait(timeout=5)
