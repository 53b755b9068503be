"""Supplies checkout (orders paid by card per second) beside a plain card deposit on the
same collection path (deposits per second), on the same store in one run.

    python bench/bench_shop.py --orders 300 \\
        --postgres-url postgresql://postgres@127.0.0.1/shop_bench

For each store (SQLite in a temporary directory, then PostgreSQL when given):
``--customers`` accounts each get a sandbox card; then each account in turn fills a
cart with two items and checks out by card (``pr.shop.checkout``: price check, stock
reserved by conditional updates, the taxes billing would invoice, the order written,
the card charged through
``pr.funding.purchase``, the payment recorded) until ``--orders`` orders are paid; then
the same number of card deposits (``pr.funding.deposit``) is timed as the reference.
A last figure runs the checkouts from ``--threads`` threads at once (SQLite serialises
its writers; PostgreSQL takes them side by side). ``--postgres-url`` must be a database
the benchmark may fill. Not a test: figures go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.money import Money
from postroom.core.shop.catalogue import demo_items

CARD = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2035", "cvc": "123"}


def _open(url: str, data_dir: str) -> Postroom:
    config = Config.load({}, data_dir=data_dir, database_url=url, secret_key="bench")
    return Postroom.open(config=config, migrate_schema=True)


def _customers(pr: Postroom, run: str, count: int) -> list[tuple[str, str]]:
    found = []
    for k in range(count):
        number = pr.accounts.create(f"Bench shop {run} {k}", "US", "USD").number
        pr.billing.set_profile(number, region="NY")  # card orders are taxed as invoiced
        found.append((number, pr.funding.add_instrument(number, "sandbox-card", CARD).id))
    return found


def _checkouts(pr: Postroom, customers: list[tuple[str, str]], orders: int, tag: str) -> float:
    start = time.perf_counter()
    for n in range(orders):
        number, card = customers[n % len(customers)]
        pr.shop.add_to_cart(number, "SEAL-1L", 1)
        pr.shop.add_to_cart(number, "OFF-OPENER", 2)
        order = pr.shop.checkout(number, f"{tag}-{n}", method="source", instrument_id=card)
        assert order.status.value == "paid", order
    return orders / (time.perf_counter() - start)


def _deposits(pr: Postroom, customers: list[tuple[str, str]], count: int, tag: str) -> float:
    start = time.perf_counter()
    for n in range(count):
        number, card = customers[n % len(customers)]
        pr.funding.deposit(number, card, Money.parse("25.00 USD"), f"{tag}-{n}")
    return count / (time.perf_counter() - start)


def _threaded(pr: Postroom, run: str, orders: int, threads: int) -> float:
    groups = [_customers(pr, f"{run}-t{t}", 1) for t in range(threads)]
    per_thread = orders // threads

    def work(t: int) -> None:
        _checkouts(pr, groups[t], per_thread, f"{run}-thread-{t}")

    start = time.perf_counter()
    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return per_thread * threads / (time.perf_counter() - start)


def bench(url: str, data_dir: str, orders: int, customers: int, threads: int, run: str) -> None:
    pr = _open(url, data_dir)
    try:
        for item in demo_items({"PR-VPSD1": "postroom-vpsd-1"}):
            pr.shop.save_item(item)
        pr.shop.adjust_stock("SEAL-1L", orders * 4, staff="bench", reason="restock")
        pr.shop.adjust_stock("OFF-OPENER", orders * 8, staff="bench", reason="restock")
        people = _customers(pr, run, customers)
        checkouts = _checkouts(pr, people, orders, f"{run}-order")
        deposits = _deposits(pr, people, orders, f"{run}-deposit")
        together = _threaded(pr, run, orders, threads)
        print(
            f"{pr.db.dialect:<10} checkout {checkouts:7.1f} orders/s   card deposit "
            f"{deposits:7.1f}/s   ratio {checkouts / deposits:4.2f}   "
            f"{threads} threads {together:7.1f} orders/s"
        )
    finally:
        pr.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--postgres-url")
    args = parser.parse_args()
    run = str(int(time.time()))
    with tempfile.TemporaryDirectory() as data_dir:
        bench(
            f"sqlite:///{data_dir}/bench.db", data_dir, args.orders, args.customers,
            args.threads, run,
        )  # fmt: skip
        if args.postgres_url:
            bench(args.postgres_url, data_dir, args.orders, args.customers, args.threads, run)


if __name__ == "__main__":
    main()
