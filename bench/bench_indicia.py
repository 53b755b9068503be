"""Indicia signed and rendered per second, on one core.

Run: python bench/bench_indicia.py [--count 2000]

Each indicium is a new piece of a mail run (piece count and registers move on): the
indicium record is encoded and signed with an ECDSA P-256 key (what the meter does),
packed with its signature, encoded as a Data Matrix symbol by zxing-cpp and drawn with
the human-readable block and a slogan as a bilevel 200 dpi PNG; then the same with SVG
output; then reading a PNG back (decode + signature check), what an inspector's tool
does. Figures are per wall-clock second and per CPU second of this one process (the
benchmark is single-threaded; the CPU figure is what one core does when the machine is
shared).
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections.abc import Callable
from datetime import date

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from postroom.core.meters.indicium import IndiciumRecord
from postroom.core.meters.indicium_image import HumanBlock, pack_symbol, render_png, render_svg
from postroom.core.meters.printing import verify_indicium
from postroom.core.money import Money

KEY = ec.generate_private_key(ec.SECP256R1())
DIGEST = hashlib.sha256(b"rate table").digest()
POSTAGE = 730


def record(piece: int) -> IndiciumRecord:
    ascending = piece * POSTAGE
    return IndiciumRecord(
        "BENCH-0001",
        piece,
        Money(POSTAGE, "USD"),
        date(2026, 3, 2),
        "12345",
        "first-class-letter",
        ascending,
        10**9 - ascending,
        DIGEST,
    )


def indicium(piece: int, render: Callable[[bytes, HumanBlock], bytes]) -> bytes:
    signed = record(piece)
    data = signed.to_bytes()
    signature = KEY.sign(data, ec.ECDSA(hashes.SHA256()))
    block = HumanBlock.of(signed, "US POSTAGE", "Mail early, mail often")
    return render(pack_symbol(data, signature), block)


def measure(label: str, count: int, work: Callable[[int], object]) -> None:
    work(0)  # warm up (fonts, caches)
    wall, cpu = time.perf_counter(), time.process_time()
    for n in range(1, count + 1):
        work(n)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label}: {count / wall:.0f}/s wall, {count / cpu:.0f}/s per CPU second")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    png = indicium(1, render_png)
    svg = indicium(1, render_svg)
    print(f"one indicium: PNG {len(png)} bytes, SVG {len(svg)} bytes")
    measure("signed + Data Matrix + PNG", args.count, lambda n: indicium(n, render_png))
    measure("signed + Data Matrix + SVG", args.count, lambda n: indicium(n, render_svg))
    pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    on = date(2026, 3, 2)
    measure(
        "PNG read back + signature checked",
        max(args.count // 4, 1),
        lambda n: verify_indicium(png, pem, today=on),
    )


if __name__ == "__main__":
    main()
