"""A postage label printed as ZPL to the label printer simulator on a loopback TCP port:
the Data Matrix in the ZPL is the indicium ``postroom meter verify-indicium`` accepts; a
printer out of labels, paused or off is refused before anything is sent."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from postroom.core.accounts.model import CustomerAccount
from postroom.core.app import Postroom
from postroom.core.errors import DeviceError
from postroom.core.meters.indicium_image import HumanBlock
from postroom.core.meters.printing import carrier_mark
from postroom.core.units import Weight
from postroom.frontends.cli import cli
from postroom.hal.labels import ZplPrinter, indicium_label
from postroom.hal.labels.simulator import ZplPrinterSimulator


def test_the_printed_data_matrix_verifies(
    postroom: Postroom, kiosk_account: CustomerAccount, runner: CliRunner, tmp_path: Path
) -> None:
    printed = postroom.meters.print_postage(
        kiosk_account.number,
        "usps",
        "first-class-letter",
        Weight.of(1, "oz"),
        idempotency_key="label-1",
        origin_zip="10001",
    )
    block = HumanBlock.of(printed.record, carrier_mark(printed.carrier))
    with ZplPrinterSimulator() as printer:
        assert printer.path.startswith("socket://127.0.0.1:")
        ZplPrinter(printer.path).print_label(indicium_label(printed.symbol, block.lines))
        [label] = printer.wait_for_labels(1)
    assert b"US POSTAGE" in label
    [image] = printer.printed_symbols(label)
    scanned = tmp_path / "label.png"
    scanned.write_bytes(image)
    checked = runner.invoke(cli, ["meter", "verify-indicium", str(scanned), "--json"])
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.output)["valid"] is True


@pytest.mark.parametrize(
    ("state", "code"),
    [
        ({"paper_out": True}, "printer_out_of_labels"),
        ({"paused": True}, "printer_paused"),
        ({"offline": True}, "printer_offline"),
    ],
)
def test_a_printer_that_cannot_print_is_refused(state: dict, code: str) -> None:
    with ZplPrinterSimulator(**state) as printer:
        with pytest.raises(DeviceError) as refused:
            ZplPrinter(printer.path, timeout=0.3).print_label(indicium_label(b"x", ["A"]))
        assert refused.value.code == code
        assert printer.labels == []


def test_nothing_listening_is_offline() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DeviceError) as refused:
        ZplPrinter(f"socket://127.0.0.1:{port}", timeout=0.3).check()
    assert refused.value.code == "printer_offline"
