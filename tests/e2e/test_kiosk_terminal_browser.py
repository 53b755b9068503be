"""The mailroom terminal end to end (issue 18, item 10): a real data center (``postroom
serve``), a real terminal (``postroom kiosk serve --server ... --key ...``) with the NCI
scale simulator and the postage meter simulator on ptys and the ZPL printer simulator on a
loopback TCP port, driven in Debian's Chromium. An operator signs in with the on-screen
keypad, weighs a letter on the scale, prints it on the meter (the device debits and
signs), prints a label, and both indicia are ones that ``postroom meter verify-indicium``
accepts; an idle screen returns to sign-in; once in French."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import DemoTemplate, _free_port, serve_demo
from playwright.sync_api import expect

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.meters import tokens
from postroom.core.money import Money
from postroom.frontends.cli import cli
from postroom.hal.labels.simulator import ZplPrinterSimulator
from postroom.hal.meter.connect import run_sync
from postroom.hal.meter.driver import MeterClient
from postroom.hal.meter.simulator import MeterSimulator
from postroom.hal.scales.simulators import NciSimulator

KIOSK_OPERATOR = ("Alice Martin", "482915")
#: Short, so that the idle sign-out is seen in the test; long enough for each touch.
IDLE_SECONDS = "8"


def _terminal(
    tmp_path: Path, server: str, key: str, scale: str, printer: str, meter: str
) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "POSTROOM_DATA_DIR": str(tmp_path / "terminal"), "POSTROOM_KIOSK_KEY": key}
    env.pop("POSTROOM_DATABASE_URL", None)
    log_path = tmp_path / "terminal.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "postroom.frontends.cli", "kiosk", "serve"),
                *("--server", server, "--scale", scale, "--scale-protocol", "nci"),
                *("--printer", printer, "--meter", meter),
                *("--origin-zip", "10001", "--port", str(port)),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"terminal exited early: {log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{base}/sign-in", timeout=5):
                    break
            except (OSError, urllib.error.HTTPError):
                time.sleep(0.1)  # polling a starting process, not waiting on our clock
        else:
            process.kill()
            pytest.fail("terminal did not answer within 30 s")
        try:
            yield base
        finally:
            process.kill()
            process.wait(timeout=10)


METER = "PR-E2E-1"


@pytest.fixture
def mailroom(
    tmp_path: Path, demo_template: DemoTemplate
) -> Iterator[tuple[str, ZplPrinterSimulator, NciSimulator, MeterSimulator]]:
    demo_template.copy_to(tmp_path)
    config = Config.load({}, data_dir=tmp_path / "data")
    with Postroom.open(config=config, migrate_schema=True) as postroom:
        account = postroom.accounts.create("Kiosk Mailroom", "US", "USD")
        postroom.ledger.deposit(account.number, Money.parse("20 USD"), "terminal-deposit")
        serial = postroom.meters.virtual_meter(account.number).serial
        postroom.meters.set_cost_centers(serial, ["Legal", "Sales"])
        postroom.accounts.add_operator(account.number, *KIOSK_OPERATOR)
        key = postroom.kiosks.issue_key(account.number, "Mailroom").token
        # the account's own meter on a pty: registered, refilled and synced (rates in)
        postroom.meters.register(account.number, product_code="PR-VPSD1", serial=METER)
        postroom.meters.funds.refill(METER, Money.parse("5 USD"), "terminal-refill")
        reset_key = tokens.meter_key(postroom.config.resolved_secret_key(), METER)
        simulator = MeterSimulator(tmp_path / "meter", METER, meter_key=reset_key)
        meter = simulator.start()
        with MeterClient.open(meter, timeout=1) as device:
            assert run_sync(device, postroom.meters.datacenter(METER)).complete
    server = serve_demo(tmp_path, POSTROOM_KIOSK_IDLE_SECONDS=IDLE_SECONDS)
    data_center = next(server)
    with NciSimulator(weight="0.06", unit="lb") as scale, ZplPrinterSimulator() as printer:
        terminal = _terminal(tmp_path, data_center.base, key, scale.path, printer.path, meter)
        try:
            yield next(terminal), printer, scale, simulator
        finally:
            terminal.close()
            server.close()
            simulator.stop()


def _sign_in(page, base: str, pin: str) -> None:
    page.goto(base + "/sign-in")
    for digit in pin:
        page.click(f'.pin-keypad button[data-key="{digit}"]')
    page.click("#sign-in-button")


def _verifies(tmp_path: Path, image: bytes) -> None:
    scanned = tmp_path / "scanned.png"
    scanned.write_bytes(image)
    runner = CliRunner(env={"POSTROOM_DATA_DIR": str(tmp_path / "data")})
    checked = runner.invoke(cli, ["meter", "verify-indicium", str(scanned), "--json"])
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.output)["valid"] is True


def test_an_operator_weighs_prints_on_the_meter_and_a_label_and_both_verify(
    mailroom, page, tmp_path: Path
) -> None:
    base, printer, _scale, meter = mailroom
    _sign_in(page, base, "000000")
    assert "Unknown operator or wrong PIN." in page.inner_text("#sign-in-error")
    _sign_in(page, base, KIOSK_OPERATOR[1])
    page.wait_for_url(base + "/weigh")
    assert page.inner_text("#scale-weight") == "0.96 oz"
    assert page.inner_text("#scale-state") == "Stable"
    page.click("#use-scale")
    page.wait_for_selector(".offer")

    # on the meter: the device debits its own funds and signs
    funds = meter.psd.state["descending"]
    page.click(".offer .meter-button >> nth=0")
    page.wait_for_selector("#indicium")
    assert page.inner_text("#printed-serial") == METER
    assert page.inner_text("#printed-cost-center") == "Legal"
    assert meter.psd.state["pieces"] == 1
    assert meter.psd.state["descending"] < funds
    image = page.request.get(page.url + "/indicium.png")
    _verifies(tmp_path, image.body())
    assert printer.labels == []  # the meter printed it: no label

    # a label from the account's virtual meter, to the ZPL printer
    page.goto(base + "/weigh")
    page.click("#use-scale")
    page.wait_for_selector(".offer")
    page.click('.offer button[value="label"] >> nth=0')
    page.wait_for_selector("#indicium")
    [label] = printer.wait_for_labels(1)
    [symbol] = printer.printed_symbols(label)
    _verifies(tmp_path, symbol)
    assert meter.psd.state["pieces"] == 1

    # left alone, the screen returns to sign-in and the data center signs the operator out
    page.goto(base + "/weigh")
    page.wait_for_url(base + "/sign-in?idle=1", timeout=(int(IDLE_SECONDS) + 10) * 1000)
    expect(page.locator("#signed-out")).to_be_visible()
    page.goto(base + "/weigh")
    page.wait_for_url(base + "/sign-in")
    # the wrong PIN's page answered 401, as it should; nothing else went wrong
    assert [e for e in page.console_errors if "401" not in e] == []


def test_the_terminal_in_french(mailroom, page) -> None:
    base, _printer, scale, _meter = mailroom
    page.goto(base + "/sign-in")
    page.click('button[lang="fr"]')
    page.wait_for_selector("text=Se connecter pour imprimer")
    _sign_in(page, base, KIOSK_OPERATOR[1])
    page.wait_for_url(base + "/weigh")
    assert page.inner_text("h1") == "Peser le pli"
    assert page.inner_text("#scale-weight") == "0,96 oz"
    scale.state.motion = True
    page.click("#read-again")
    page.wait_for_selector("#scale-state.moving")
    assert page.inner_text("#scale-state") == "En mouvement : patientez un instant."
    assert page.locator("#use-scale").is_disabled()
