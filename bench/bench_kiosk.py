"""Kiosk terminal speed: from "weight stable" to the indicium's label printed.

Run: python bench/bench_kiosk.py [--pieces 200] [--batch 100]

In one process: the local store (SQLite in a temporary directory) with a funded account,
the terminal's app (``postroom kiosk serve``'s, driven through Flask's test client: no
browser, no HTTP), the NCI scale simulator on a pty, and the ZPL label printer simulator
on a loopback TCP port. One piece: "Use this weight" (a stable reading from the scale),
the offers, "Print" (the virtual meter quotes, holds, signs, renders and posts; the
terminal checks the printer, reads the symbol back from the PNG and sends the ZPL label),
until the printer has the label. Reported: p50/p99 per piece, and pieces per minute for
a batch, beside the virtual meter's own rate (``pr.meters.print_postage`` alone) in the
same run. The physical meter path (``--meter``) is not built yet: this is the label path.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.money import Money
from postroom.core.units import Weight
from postroom.frontends.kiosk.local import LocalDataCenter
from postroom.frontends.kiosk.scale import TerminalScale
from postroom.frontends.kiosk.terminal import create_terminal_app
from postroom.hal.labels import ZplPrinter
from postroom.hal.labels.simulator import ZplPrinterSimulator
from postroom.hal.scales.simulators import NciSimulator

PIN = "246813"


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def _print_form(page: str) -> dict[str, str]:
    form = page.split('class="offer"', 1)[1].split("</form>", 1)[0]
    data = dict(re.findall(r'type="hidden" name="([a-z_]+)" value="([^"]*)"', form))
    data["cost_center"] = "Legal"
    return data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pieces", type=int, default=200)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        config = Config.load({}, data_dir=Path(folder))
        postroom = Postroom.open(config=config)
        account = postroom.accounts.create("Bench Mailroom", "US", "USD")
        postroom.ledger.deposit(account.number, Money.parse("100000 USD"), "bench-deposit")
        serial = postroom.meters.virtual_meter(account.number).serial
        postroom.meters.set_cost_centers(serial, ["Legal"])
        operator = postroom.accounts.add_operator(account.number, "Bench", PIN)
        with NciSimulator(weight="0.06", unit="lb") as scale, ZplPrinterSimulator() as printer:
            label_printer = ZplPrinter(printer.path)
            app = create_terminal_app(
                LocalDataCenter(postroom, account.number, "bench"),
                secret_key="bench",
                origin_zip="10001",
                idle_seconds=3600,
                scale=TerminalScale(scale.path, "nci"),
                label_printer=label_printer,
            )
            client = app.test_client()
            page = client.get("/sign-in").get_data(as_text=True)
            client.post(
                "/sign-in", data={"csrf_token": _csrf(page), "operator": operator.id, "pin": PIN}
            )
            token = _csrf(client.get("/weigh").get_data(as_text=True))

            def one_piece() -> float:
                expected = len(printer.labels) + 1
                started = time.perf_counter()  # the scale's reading is stable from here
                offers = client.post("/offers", data={"csrf_token": token, "source": "scale"})
                printed = client.post("/print", data=_print_form(offers.get_data(as_text=True)))
                assert printed.status_code == 303, printed.get_data(as_text=True)[-500:]
                printer.wait_for_labels(expected)
                return time.perf_counter() - started

            one_piece()  # warm-up: caches, first statements
            times = sorted(one_piece() for _ in range(args.pieces))
            p50 = statistics.median(times) * 1000
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))] * 1000

            started = time.perf_counter()
            for _ in range(args.batch):
                one_piece()
            batch_rate = args.batch / (time.perf_counter() - started) * 60

        started = time.perf_counter()
        for index in range(args.batch):
            postroom.meters.print_postage(
                account.number,
                "usps",
                "first-class-letter",
                Weight.of(1, "oz"),
                cost_center="Legal",
                idempotency_key=f"bench-core-{index}",
                origin_zip="10001",
            )
        core_rate = args.batch / (time.perf_counter() - started) * 60
        postroom.close()
    print(
        f"weight stable -> label printed, {args.pieces} pieces: p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    print(f"batch of {args.batch} letters: {batch_rate:.0f} pieces/min end to end")
    print(f"virtual meter alone (print_postage), same run: {core_rate:.0f} pieces/min")
    print(f"ratio: {batch_rate / core_rate:.2f} x")


if __name__ == "__main__":
    main()
