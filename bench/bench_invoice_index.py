"""What ``ix_invoices_reference`` costs a billing run's inserts: the same one-line
invoices written by ``BillingStore.add_one_line`` into SQLite with and without the
index, alternating, timed as this process's CPU time (SQLite runs in it).

    python bench/bench_invoice_index.py --invoices 60000 --rounds 3

Not a test: figures go to docs/performance.md ("Billing").
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal

import sqlalchemy as sa

from postroom.core import schema
from postroom.core.billing.model import OneLineInvoice, Party, contract_text
from postroom.core.billing.store import BillingStore

PERIOD = (date(2026, 12, 1), date(2026, 12, 31))


def _rows(count: int) -> list[OneLineInvoice]:
    taxes = (("Sales tax", Decimal("4"), 2000),)
    return [
        OneLineInvoice(
            f"INV-2026-{k + 1:06d}",
            "lease",
            f"{k % 300:010d}",
            "Bench",
            ("US",),
            "USD",
            date(2026, 12, 2),
            date(2027, 1, 1),
            f"contract:LS-{k:06d}:2026-12-01",
            None,
            "en",
            f"Lease of meter BB-{k} (PR-VPSD1), contract LS-{k:06d}, 2026-12-01 to 2026-12-31",
            49900,
            49900,
            taxes,
            2000,
            contract_text("lease", f"BB-{k}", "PR-VPSD1", f"LS-{k:06d}", PERIOD),
        )
        for k in range(count)
    ]


def write_ms_per_1000(rows: list[OneLineInvoice], *, with_index: bool) -> float:
    with tempfile.TemporaryDirectory() as data_dir:
        engine = sa.create_engine(f"sqlite:///{data_dir}/bench.db")
        schema.metadata.create_all(engine)
        if not with_index:
            with engine.begin() as connection:
                connection.exec_driver_sql("DROP INDEX ix_invoices_reference")
        with engine.begin() as connection:
            started = time.process_time()
            BillingStore(connection).add_one_line(
                rows, Party("postroom", ()), datetime(2026, 12, 2, tzinfo=UTC)
            )
            spent = time.process_time() - started
        engine.dispose()
    return spent * 1000 / len(rows) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows = _rows(args.invoices)
    found: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(args.rounds):
        for with_index in (True, False):
            found[with_index].append(write_ms_per_1000(rows, with_index=with_index))
    for with_index, values in found.items():
        label = "with ix_invoices_reference" if with_index else "without it"
        figures = ", ".join(f"{v:.1f}" for v in values)
        print(f"{label:<27} ms CPU per 1,000 invoices written: {figures}", flush=True)


if __name__ == "__main__":
    main()
