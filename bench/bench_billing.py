"""The monthly billing run (invoices issued per second) beside the vault's batch posting
rate on the same store, and invoice PDF pages rendered per second.

    python bench/bench_billing.py --contracts 100000 \\
        --postgres-url postgresql://postgres@127.0.0.1/billing_bench

For each store (SQLite in a temporary directory, then PostgreSQL when given): the
contracts are written in bulk (``--customers`` accounts with one meter each, the
contracts spread over them, a billing profile per account), then ``pr.billing.run_contracts``
bills every contract's current month once and is timed; a second run (nothing left to
bill) is timed too. The vault's mail run (``bench_vault.mail_run``: linked batches of
usage transfers) runs on the same store right after, and the ratio is printed (target
>= 0.5). The PDF figure renders ``--pdfs`` one-page invoices and counts their pages with
pypdf. ``--postgres-url`` must be a database the benchmark may fill. Not a test:
figures go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from datetime import UTC, date, datetime

import sqlalchemy as sa
from bench_vault import mail_run
from pypdf import PdfReader

from postroom.core.app import Postroom
from postroom.core.billing.document import invoice_pdf
from postroom.core.billing.model import LineItem
from postroom.core.clock import FrozenClock
from postroom.core.config import Config
from postroom.core.contracts import store as contracts_store
from postroom.core.money import Money

DAY = date(2026, 12, 2)
START = date(2026, 1, 1)


def _open(url: str, data_dir: str, clock: FrozenClock | None = None) -> Postroom:
    config = Config.load({}, data_dir=data_dir, database_url=url, secret_key="bench")
    return Postroom.open(config=config, clock=clock, load_entry_points=False, migrate_schema=True)


def _contracts(pr: Postroom, run: str, customers: int, contracts: int) -> None:
    """``contracts`` monthly leases over ``customers`` accounts (one meter each), written
    in one transaction (the billing run is what is measured, not the set-up)."""
    serials: list[tuple[str, str]] = []
    for k in range(customers):
        number = pr.accounts.create(f"Bench billing {run} {k}", "US", "USD").number
        pr.billing.set_profile(number, region="NY")
        serial = f"BB-{run}-{k}"
        pr.meters.register(number, product_code="PR-VPSD1", serial=serial)
        serials.append((number, serial))
    now = datetime.now(UTC)
    rows = [
        {
            "number": f"LS-{run[:4]}-{n:06d}",
            "customer_number": serials[n % customers][0],
            "serial": serials[n % customers][1],
            "product_code": "PR-VPSD1",
            "kind": "lease",
            "start": START,
            "term_months": 36,
            "first_term_end": date(2028, 12, 31),
            "billing_period": "monthly",
            "amount_mills": 49_900,
            "currency": "USD",
            "notice_days": 30,
            "auto_renew": True,
            "created_at": now,
            "cancel_reason": "",
        }
        for n in range(contracts)
    ]

    def work(uow: object) -> None:
        connection = uow.connection  # type: ignore[attr-defined]
        for first in range(0, len(rows), 5000):
            connection.execute(sa.insert(contracts_store.contracts), rows[first : first + 5000])
        uow.commit()  # type: ignore[attr-defined]

    pr.db.run(work)


def billing_run(
    url: str, data_dir: str, customers: int, contracts: int, run: str
) -> tuple[float, float, float]:
    """Invoices per second of the first run, the seconds of the second (no-op) run, and
    the first run's CPU time of this process per 1,000 invoices (ms): on a machine
    shared with other work, wall-clock rates follow the load; this process's CPU time
    much less (on SQLite it holds the database's work too; PostgreSQL's server is not
    counted)."""
    clock = FrozenClock(datetime(2026, 12, 2, 5, 10, tzinfo=UTC))
    pr = _open(url, data_dir, clock)
    _contracts(pr, run, customers, contracts)
    started = time.perf_counter()
    cpu = time.process_time()
    issued = pr.billing.run_contracts(DAY)
    cpu = time.process_time() - cpu
    elapsed = time.perf_counter() - started
    assert issued >= contracts, (issued, contracts)
    again = time.perf_counter()
    assert pr.billing.run_contracts(DAY) == 0
    second = time.perf_counter() - again
    pr.close()
    return issued / elapsed, second, cpu * 1000 / issued * 1000


def pdf_rate(count: int) -> tuple[float, int]:
    """Pages per second rendering ``count`` invoices of three lines, and the pages."""
    with tempfile.TemporaryDirectory() as data_dir:
        pr = _open(f"sqlite:///{data_dir}/pdf.db", data_dir)
        number = pr.accounts.create("Bench PDF", "FR", "EUR").number
        invoice = pr.billing.issue_invoice(
            number,
            [
                LineItem("Cartouche d'encre PR-INK-1", 2, Money.parse("42.50 EUR")),
                LineItem(
                    "Étiquettes d'affranchissement, rouleau de 300", 3, Money.parse("11.90 EUR")
                ),
                LineItem("Maintenance annuelle", 1, Money.parse("240.00 EUR")),
            ],
            kind="supplies",
            reference="bench",
            installation_number="12345678903",
        )
        link = pr.billing.settings.invoice_link(invoice.number)
        pr.close()
    pages = 0
    started = time.perf_counter()
    documents = [invoice_pdf(invoice, link) for _ in range(count)]
    elapsed = time.perf_counter() - started
    for document in documents[:: max(1, count // 20)]:
        pages += len(PdfReader(io.BytesIO(document)).pages)
    per_document = pages / len(documents[:: max(1, count // 20)])
    return count * per_document / elapsed, int(count * per_document)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", help="a database the benchmark may fill")
    parser.add_argument("--contracts", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--mail-run", type=int, default=100_000, help="vault pieces")
    parser.add_argument("--batch", type=int, default=1000, help="vault pieces per batch")
    parser.add_argument("--pdfs", type=int, default=500, help="invoice PDFs (0: skip)")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    run = f"{int(time.time()) % 100000:05d}"
    stores: list[tuple[str, str]] = []
    tmp = tempfile.TemporaryDirectory()
    if not args.skip_sqlite:
        stores.append(("SQLite", f"sqlite:///{tmp.name}/bench.db"))
    if args.postgres_url:
        stores.append(("PostgreSQL", args.postgres_url))
    for name, url in stores:
        rate, second, cpu = billing_run(url, tmp.name, args.customers, args.contracts, run)
        pieces = mail_run(url, tmp.name, args.mail_run, args.batch, f"b{run}{name[:2]}")
        print(
            f"{name:<10} billing run: {args.contracts} contracts, {rate:,.0f} invoices/s "
            f"({cpu:.0f} ms CPU per 1,000; second run {second:.2f} s); vault mail run "
            f"{pieces:,.0f} pieces/s; ratio {rate / pieces:.2f} (target >= 0.5)",
            flush=True,
        )
    if args.pdfs:
        rate, pages = pdf_rate(args.pdfs)
        print(f"PDF: {pages} pages, {rate:,.0f} pages/s (target >= 100)", flush=True)
    tmp.cleanup()


if __name__ == "__main__":
    main()
