"""Kiosk terminal on an attached postage meter: from "weight stable" to indicium printed.

Run: python bench/bench_kiosk_meter.py [--pieces 500] [--batch 100]

The meter simulator runs as ``postroom meter simulate --pty`` in its own process (the
device: its checks, debit, ECDSA signatures, the fsync'd piece log); the terminal opens the
pty at 115200 baud through ``TerminalMeter`` (``postroom kiosk serve --meter``). In this
process: the local store (SQLite in a temporary directory) with the account, its operator
and its meter (registered, refilled and synced: rates installed), the terminal's app driven
through Flask's test client (no browser, no HTTP) and the NCI scale simulator on a pty.

One piece: "Use this weight" (a stable reading from the scale), the offers (the account's
services, each checked against the tables the meter holds), "Print on the meter" (priced
again, the meter debits and signs, the terminal checks the signature and books the piece
to the operator with the data center), until the terminal has the meter's signed indicium.
A pty does not pace bytes at the baud rate: the terminal's line to the meter is wrapped
so that every byte written or read takes its time at 115200 baud (8N1: 10 bits a byte),
and the bytes a print puts on the line are reported.

Beside it, in the same run and on the same paced line: the meter's own print rate
(``MeterClient.print_postage`` in a loop), and each rate of the terminal as a ratio of it:
letters printed one by one, batch mode end to end (each letter added from the scale,
"Print all", the receipt), and batch mode's "Print all" alone.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.meters import tokens
from postroom.core.meters.device import PrintJob
from postroom.core.money import Money
from postroom.frontends.kiosk.local import LocalDataCenter
from postroom.frontends.kiosk.meter import TerminalMeter
from postroom.frontends.kiosk.scale import TerminalScale
from postroom.frontends.kiosk.terminal import create_terminal_app
from postroom.hal.meter.connect import run_sync
from postroom.hal.meter.driver import MeterClient
from postroom.hal.scales.simulators import NciSimulator

PIN = "246813"
SERIAL = "PR-BENCH-K1"
BAUD = 115200


class CountingPort:
    """Wraps a serial port to count the bytes each way and to pace them: each byte takes
    its time on a 115200 baud line (a pty passes them at once)."""

    def __init__(self, port: Any) -> None:
        self.port, self.bytes = port, 0
        self.timeout = port.timeout

    @property
    def in_waiting(self) -> int:
        return int(self.port.in_waiting)

    def write(self, data: bytes) -> int:
        self.bytes += len(data)
        time.sleep(line_time(len(data)))
        return int(self.port.write(data))

    def read(self, size: int = 1) -> bytes:
        data = self.port.read(size)
        self.bytes += len(data)
        if data:
            time.sleep(line_time(len(data)))
        return bytes(data)

    def reset_input_buffer(self) -> None:
        self.port.reset_input_buffer()

    def close(self) -> None:
        self.port.close()


@attrs.frozen
class Timing:
    singles: float
    whole: float
    printing: float


def line_time(count: int) -> float:
    return count * 10 / BAUD


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def _meter_form(page: str) -> dict[str, str]:
    if 'class="offer"' not in page:
        found = re.search(r'role="(?:alert|status)"[^>]*>([^<]*)<', page)
        raise RuntimeError(f"no offers: {found.group(1) if found else page[-400:]}")
    form = page.split('class="offer"', 1)[1].split("</form>", 1)[0]
    assert 'name="target" value="meter"' in form, "the meter cannot print the cheapest offer"
    data = dict(re.findall(r'type="hidden" name="([a-z_]+)" value="([^"]*)"', form))
    return {**data, "cost_center": "Legal", "target": "meter"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pieces", type=int, default=500)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        config = Config.load({}, data_dir=Path(folder))
        postroom = Postroom.open(config=config)
        account = postroom.accounts.create("Bench Mailroom", "US", "USD")
        postroom.ledger.deposit(account.number, Money.parse("100000 USD"), "bench-deposit")
        postroom.meters.virtual_meter(account.number)
        postroom.meters.set_cost_centers(
            postroom.meters.virtual_meter(account.number).serial, ["Legal"]
        )
        operator = postroom.accounts.add_operator(account.number, "Bench", PIN)
        postroom.meters.register(account.number, product_code="PR-VPSD1", serial=SERIAL)
        postroom.meters.funds.refill(SERIAL, Money.parse("50000 USD"), "bench-refill")
        key = tokens.meter_key(postroom.config.resolved_secret_key(), SERIAL)
        command = [sys.executable, "-m", "postroom.frontends.cli", "meter", "simulate"]
        command += ["--serial", SERIAL, "--pty", "--state-dir", str(Path(folder) / "psd")]
        command += ["--reset-key", key.hex()]
        env = {**os.environ, "POSTROOM_DATA_DIR": folder}
        device = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
        try:
            assert device.stdout is not None
            path = device.stdout.readline().strip()
            with MeterClient.open(path, baudrate=BAUD, timeout=2) as meter:
                outcome = run_sync(meter, postroom.meters.datacenter(SERIAL))
                assert outcome.complete, outcome.errors
            results = _run(postroom, account.number, operator.id, path, args)
        finally:
            device.terminate()
            device.wait(timeout=5)
            postroom.close()
    _report(args, *results)


def _run(
    postroom: Postroom, number: str, operator_id: int, path: str, args: argparse.Namespace
) -> tuple[list[float], Timing, float, float]:
    ports: list[CountingPort] = []

    def counted(url: str) -> MeterClient:
        client = MeterClient.open(url, baudrate=BAUD, timeout=0.5, retries=2)
        client.client.port = CountingPort(client.client.port)
        ports.append(client.client.port)
        return client

    with NciSimulator(weight="0.06", unit="lb") as scale:
        app = create_terminal_app(
            LocalDataCenter(postroom, number, "bench"),
            secret_key="bench",
            origin_zip="10001",
            idle_seconds=3600,
            scale=TerminalScale(scale.path, "nci"),
            meter=TerminalMeter(path, opener=counted),
        )
        client = app.test_client()
        page = client.get("/sign-in").get_data(as_text=True)
        client.post(
            "/sign-in", data={"csrf_token": _csrf(page), "operator": operator_id, "pin": PIN}
        )
        token = _csrf(client.get("/weigh").get_data(as_text=True))

        def one_piece() -> float:
            started = time.perf_counter()  # the scale's reading is stable from here
            offers = client.post("/offers", data={"csrf_token": token, "source": "scale"})
            printed = client.post("/print", data=_meter_form(offers.get_data(as_text=True)))
            assert printed.status_code == 303, printed.get_data(as_text=True)[-500:]
            return time.perf_counter() - started  # the meter's signed indicium is in

        one_piece()  # warm-up: the meter's line opened, caches, first statements
        times = sorted(one_piece() for _ in range(args.pieces))
        singles = sum(one_piece() for _ in range(args.batch))

        # batch mode: start with the first letter's offer, add each letter from the scale,
        # print all, the receipt
        started = time.perf_counter()
        offers = client.post("/offers", data={"csrf_token": token, "source": "scale"})
        first = {**_meter_form(offers.get_data(as_text=True)), "csrf_token": token}
        first.pop("target")
        assert client.post("/batch", data=first).status_code == 303
        for _ in range(args.batch - 1):
            added = client.post("/batch/pieces", data={"csrf_token": token, "source": "scale"})
            assert added.status_code == 303, added.get_data(as_text=True)[-500:]
        print_started = time.perf_counter()
        printed = client.post("/batch/print", data={"csrf_token": token})
        assert printed.status_code == 303, printed.get_data(as_text=True)[-800:]
        assert client.get("/batch/receipt").status_code == 200
        done = time.perf_counter()
        app.extensions["postroom_terminal"]["meter_printing"].meter.close()
    batch = Timing(singles, done - started, done - print_started)

    # the meter's own paced rate, same pty, same run
    digest = postroom.meters.rate_digest(SERIAL)
    assert digest is not None
    table = postroom.rates.in_force("usps", "first-class-letter", on=datetime.now(UTC).date())
    job = PrintJob(
        Money(730, "USD"), table.digest, "first-class-letter", datetime.now(UTC).date(), "10001"
    )
    with counted(path) as meter:
        meter.print_postage(job)  # warm-up
        port = ports[-1]
        started = time.perf_counter()
        for _ in range(args.batch):
            meter.print_postage(job)
        own = time.perf_counter() - started
        bytes_per_print = port.bytes / (args.batch + 1)
    return times, batch, own, bytes_per_print


def _percentiles(times: list[float]) -> tuple[float, float]:
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return statistics.median(times) * 1000, p99 * 1000


def _report(
    args: argparse.Namespace, times: list[float], batch: Timing, own: float, line_bytes: float
) -> None:
    p50, p99 = _percentiles(times)
    own_rate = args.batch / own * 60
    print(f"weight stable -> indicium printed on the meter, {args.pieces} pieces, line paced at")
    print(f"  {BAUD} baud ({line_bytes:.0f} bytes a print): p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    rates = (
        ("letters one by one (weigh, choose, print)", batch.singles),
        ("batch mode end to end (add each from the scale, print all, receipt)", batch.whole),
        ("batch mode, print all and the receipt", batch.printing),
    )
    for what, seconds in rates:
        rate = args.batch / seconds * 60
        print(f"{args.batch} {what}: {rate:.0f} pieces/min = {rate / own_rate:.2f} x the meter")
    print(f"the meter's own paced print rate, same run: {own_rate:.0f} pieces/min")


if __name__ == "__main__":
    main()
