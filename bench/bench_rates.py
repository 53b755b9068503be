"""Rating speed: single quotes (median latency, quotes/s) and a batch of 1,000,000 pieces.

Run: python bench/bench_rates.py [--pieces 1000000] [--quotes 20000]
Uses the real USPS 2025-07-13 table shipped by the usps plugin.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.rates.model import CompiledTable, Piece, RateBook, quote, quote_batch, weight_ng
from postroom.core.rates.tablefile import parse_rate_file
from postroom.core.units import Weight
from postroom.plugins.usps import rate_files

DAY = date(2025, 8, 1)


def _usps_letter():
    tables = []
    for source in rate_files("postroom.plugins.usps"):
        tables += parse_rate_file(source.read_text(), source.name)
    return RateBook.of(tables).in_force("usps", "first-class-letter", DAY)


def _latencies(call, count: int) -> list[int]:
    samples = []
    clock = time.perf_counter_ns
    for _ in range(count):
        start = clock()
        call()
        samples.append(clock() - start)
    return samples


def _report(label: str, samples: list[int]) -> None:
    median_us = statistics.median(samples) / 1000
    per_second = len(samples) / (sum(samples) / 1e9)
    print(f"{label:<44} median {median_us:8.1f} us   {per_second:12,.0f} quotes/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pieces", type=int, default=1_000_000)
    parser.add_argument("--quotes", type=int, default=20_000)
    args = parser.parse_args()

    table = _usps_letter()
    compiled = CompiledTable(table)
    piece = Piece(Weight.parse("1.2oz"))
    extras = ["certified", "return-receipt"]
    assert quote(table, piece, extras, compiled=compiled).total.amount == "10.73"

    print(f"single quotes ({args.quotes:,} each), usps first-class-letter, 1.2 oz + 2 extras")
    _report(
        "engine: quote(table, piece, extras)",
        _latencies(lambda: quote(table, piece, extras, compiled=compiled), args.quotes),
    )
    _report(
        "engine, parsing the weight text too",
        _latencies(
            lambda: quote(table, Piece(Weight.parse("1.2oz")), extras, compiled=compiled),
            args.quotes,
        ),
    )
    with tempfile.TemporaryDirectory() as folder:
        config = Config.load({}, data_dir=Path(folder), secret_key="bench")
        with Postroom.open(config=config, plugins=["usps"]) as pr:
            pr.rates.sync_plugin_tables()
            service_quote = lambda: pr.rates.quote(  # noqa: E731
                piece, "usps", "first-class-letter", extras, on=DAY
            )
            service_quote()
            _report(
                "pr.rates.quote (tables in memory)",
                _latencies(service_quote, max(1, args.quotes // 10)),
            )

    rng = random.Random(4)
    low, high = weight_ng(Weight.parse("0.1oz")), compiled.max_ng
    weights_ng = [rng.randint(low, high) for _ in range(args.pieces)]
    print(f"\nbatch of {args.pieces:,} pieces, 0.1-3.5 oz")
    start = time.perf_counter()
    mills = compiled.rate_many(weights_ng)
    elapsed = time.perf_counter() - start
    total = sum(mills)
    print(
        f"{'compiled.rate_many(integer nanograms)':<44} {elapsed:8.3f} s  "
        f"{args.pieces / elapsed:12,.0f} pieces/s  total {total / 1000:,.2f} USD"
    )
    weights = [Weight(Weight.parse("1 g").grams * w / 10**9) for w in weights_ng]
    start = time.perf_counter()
    batch = quote_batch(table, weights, compiled=compiled)
    elapsed = time.perf_counter() - start
    assert batch.total.mills == total
    print(
        f"{'quote_batch(table, Weight objects)':<44} {elapsed:8.3f} s  "
        f"{args.pieces / elapsed:12,.0f} pieces/s  total {batch.total}"
    )


if __name__ == "__main__":
    main()
