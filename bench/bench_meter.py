"""Meter speed: prints per second through the full serial path, and indicium signing.

Run: python bench/bench_meter.py [--prints 300] [--signs 5000]

The simulator runs as ``postroom meter simulate --pty`` in its own process; the host opens
the pty at 115200 baud with MeterClient and prints one piece after the other: canonical
JSON request, framing with CRC, the PSD's checks, debit, ECDSA P-256 signatures (record and
reply), the fsync'd atomic state write, the reply, and the host's signature checks. (A pty
does not pace bytes at the baud rate; the bytes per print are reported so the 115200 baud
wire time can be added: 10 bits per byte.)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from postroom.core.meters import tokens
from postroom.core.meters.device import PrintJob
from postroom.core.meters.indicium import IndiciumRecord
from postroom.core.money import Money
from postroom.hal.meter.driver import MeterClient
from postroom.hal.meter.psd import Psd

KEY = b"b" * 32
RATES = b"usps,first-class-letter,1oz,730\n" * 100


class CountingPort:
    """Wraps the host's serial port to count the bytes each way."""

    def __init__(self, port):
        self.port, self.sent, self.received = port, 0, 0
        self.timeout = port.timeout

    @property
    def in_waiting(self):
        return self.port.in_waiting

    def write(self, data):
        self.sent += len(data)
        return self.port.write(data)

    def read(self, size=1):
        data = self.port.read(size)
        self.received += len(data)
        return data

    def close(self):
        self.port.close()


def bench_prints(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "postroom.frontends.cli", "meter", "simulate"]
        command += ["--serial", "BENCH1", "--pty", "--state-dir", str(Path(folder) / "psd")]
        command += ["--reset-key", KEY.hex()]
        env = {**os.environ, "POSTROOM_DATA_DIR": folder}
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
        try:
            assert process.stdout is not None
            path = process.stdout.readline().strip()
            with MeterClient.open(path, baudrate=115200, timeout=2) as meter:
                digest = meter.install_rates(RATES)
                expires = datetime.now(UTC) + timedelta(days=1)
                meter.refill(tokens.issue(KEY, "BENCH1", 1, Money(10**9, "USD"), expires))
                job = PrintJob(
                    Money(730, "USD"),
                    digest,
                    "first-class-letter",
                    datetime.now(UTC).date(),
                    "12345",
                    "legal",
                )
                meter.print_postage(job)  # warm up
                counter = meter.client.port = CountingPort(meter.client.port)
                attempts = meter.client.attempts
                start = time.perf_counter()
                for _ in range(count):
                    piece = meter.print_postage(job)
                elapsed = time.perf_counter() - start
                assert meter.registers().pieces == count + 1
                sent = meter.client.attempts - attempts
        finally:
            process.terminate()
            process.wait(timeout=5)
    per_print = (counter.sent + counter.received) / count
    wire = per_print * 10 / 115200  # 8N1: 10 bits per byte
    print(f"prints through the pty: {count} in {elapsed:.2f} s = {count / elapsed:.1f} prints/s")
    print(f"  request frames sent (retries included): {sent}; last piece {piece.record.piece}")
    print(
        f"  {counter.sent / count:.0f} bytes sent + {counter.received / count:.0f} received "
        f"per print = {wire * 1000:.1f} ms of line time at 115200 baud"
    )
    paced = 1 / (elapsed / count + wire)
    print(f"  paced at 115200 baud (pty time + line time): {paced:.1f} prints/s")


def bench_signing(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        psd = Psd.open(folder, "BENCH2")
        record = IndiciumRecord(
            "BENCH2",
            1,
            Money(730, "USD"),
            datetime.now(UTC).date(),
            "12345",
            "first-class-letter",
            730,
            9270,
            hashlib.sha256(RATES).digest(),
        )
        start = time.perf_counter()
        for piece in range(count):
            psd.sign(IndiciumRecord.to_bytes(record) + piece.to_bytes(4, "big"))
        elapsed = time.perf_counter() - start
    print(f"indicium records encoded+signed: {count / elapsed:.0f}/s (ECDSA P-256, one core)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prints", type=int, default=300)
    parser.add_argument("--signs", type=int, default=5000)
    args = parser.parse_args()
    bench_prints(args.prints)
    bench_signing(args.signs)


if __name__ == "__main__":
    main()
