"""Posted debits per second through the vault, beside pgbench's TPC-B on the same server.

    python bench/bench_vault.py --postgres-url postgresql://postgres@127.0.0.1/vault_bench \\
        --pgbench-db pgbench_vault --clients 1,4,16 --seconds 10

Every client is its own process running ``pr.ledger.transfer`` (one posted debit of a
single customer's postage account: the hot-row case) in a loop for ``--seconds``, on
SQLite and on PostgreSQL; at each client count pgbench runs first, and both stores'
rates are printed beside it as a ratio.
``--own-accounts`` adds a run where each client debits its own customer's account, so
that only the ledger's chain head is shared: where that is no faster, the chain head
(or the CPU) is the limit, not the hot account.
``--postgres-url`` and ``--pgbench-db`` must be databases this benchmark may fill
(it migrates the first and runs ``pgbench -i`` on the second). Not a test: figures go
to docs/performance.md.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.ledger.model import AccountKind, TransferCode, TransferRequest
from postroom.core.ledger.service import postage_code
from postroom.core.money import Money

DEBIT_MILLS = 1


def _open(url: str, data_dir: str, migrate: bool) -> Postroom:
    config = Config.load({}, data_dir=data_dir, database_url=url, secret_key="bench")
    return Postroom.open(config=config, load_entry_points=False, migrate_schema=migrate)


def _client(
    url: str,
    data_dir: str,
    tag: str,
    debit: int,
    credit: int,
    start_at: float,
    seconds: float,
    out: mp.Queue,  # type: ignore[type-arg]
) -> None:
    pr = _open(url, data_dir, migrate=False)
    done = 0
    time.sleep(max(0.0, start_at - time.time()))
    stop = time.time() + seconds
    while time.time() < stop:
        pr.ledger.transfer(
            TransferRequest(
                id=f"{tag}-{done}",
                debit=debit,
                credit=credit,
                amount=DEBIT_MILLS,
                currency="USD",
                code=TransferCode.FEE,
            )
        )
        done += 1
    pr.close()
    out.put(done)


def vault_rate(
    url: str, data_dir: str, clients: int, seconds: float, run: str, *, own_accounts: bool = False
) -> float:
    pr = _open(url, data_dir, migrate=True)
    debits = []
    for k in range(clients if own_accounts else 1):
        customer = pr.accounts.create(f"Bench {run} {k}", "US", "USD")
        pr.ledger.deposit(customer.number, Money(10**12, "USD"), f"{run}-funding-{k}")
        debits.append(pr.ledger.account(postage_code(customer.number)).id)
    credit = pr.ledger.system_account(AccountKind.FEES, "USD").id
    pr.close()
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 3.0 + 0.3 * clients  # let every process import and connect
    processes = [
        ctx.Process(
            target=_client,
            args=(
                url,
                data_dir,
                f"{run}-c{k}",
                debits[k % len(debits)],
                credit,
                start_at,
                seconds,
                out,
            ),
        )
        for k in range(clients)
    ]
    for process in processes:
        process.start()
    total = sum(out.get(timeout=seconds + 120) for _ in processes)
    for process in processes:
        process.join()
    return total / seconds


def mail_run(url: str, data_dir: str, pieces: int, batch: int, run: str) -> float:
    """Pieces per second: ``pieces`` usage rows posted as linked batches from one meter."""
    pr = _open(url, data_dir, migrate=True)
    customer = pr.accounts.create(f"Mail run {run}", "US", "USD")
    pr.ledger.deposit(customer.number, Money(10**9, "USD"), f"{run}-funding")
    serial = f"MR-{run}"
    pr.meters.funds.register_meter(serial, customer.number, "USPS")
    pr.meters.funds.refill(serial, Money(10**8, "USD"), f"{run}-refill")
    meter = pr.ledger.account(f"meter:{serial}").id
    used = pr.ledger.system_account(AccountKind.POSTAGE_USED, "USD", "USPS").id
    started = time.perf_counter()
    for first in range(0, pieces, batch):
        pr.ledger.create_transfers(
            [
                TransferRequest(
                    id=f"{run}-p{n}",
                    debit=meter,
                    credit=used,
                    amount=730,
                    currency="USD",
                    code=TransferCode.USAGE,
                    pieces=1,
                )
                for n in range(first, min(first + batch, pieces))
            ]
        )
    elapsed = time.perf_counter() - started
    assert pr.meters.funds.registers(serial).pieces == pieces
    pr.close()
    return pieces / elapsed


def pgbench_rate(database: str, host: str, user: str, clients: int, seconds: int) -> float:
    jobs = min(clients, os.cpu_count() or 1)
    result = subprocess.run(
        [
            "pgbench",
            "-h",
            host,
            "-U",
            user,
            "-n",
            "--builtin=tpcb-like",
            "-c",
            str(clients),
            "-j",
            str(jobs),
            "-T",
            str(seconds),
            database,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"tps = ([0-9.]+)", result.stdout)
    if match is None:
        raise SystemExit(f"cannot read pgbench's output:\n{result.stdout}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", help="a database the benchmark may fill")
    parser.add_argument("--pgbench-db", help="database for pgbench -i (same server)")
    parser.add_argument("--pgbench-scale", type=int, default=1)
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument(
        "--own-accounts",
        action="store_true",
        help="also run with one postage account per client (only the chain head shared)",
    )
    parser.add_argument("--mail-run", type=int, default=100_000, help="pieces (0: skip)")
    parser.add_argument("--batch", type=int, default=1000, help="pieces per linked batch")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",")]
    data_dir = tempfile.mkdtemp(prefix="vault-bench-")
    stamp = str(int(time.time()))
    print(f"cpus {os.cpu_count()}, {args.seconds:g} s per run, python {sys.version.split()[0]}")

    pgbench = _pgbench(args) if args.postgres_url and args.pgbench_db else None
    stores = [] if args.skip_sqlite else [("sqlite", f"sqlite:///{Path(data_dir) / 'bench.db'}")]
    if args.postgres_url:
        stores.append(("postgresql", args.postgres_url))

    for name, url in stores:
        if args.mail_run:
            rate = mail_run(url, data_dir, args.mail_run, args.batch, f"{name[0]}{stamp}")
            print(f"{name:<11} mail run {args.mail_run} pieces, batches of {args.batch}: "
                  f"{rate:9.1f} pieces/s", flush=True)  # fmt: skip

    # Each client count: pgbench, then the vault on each store, one right after the other.
    for clients in counts:
        tps = pgbench(clients) if pgbench else None
        for name, url in stores:
            run = f"{name[0]}{stamp}-{clients}"
            rate = vault_rate(url, data_dir, clients, args.seconds, run)
            line = f"{name:<11} clients={clients:<3} vault posted debits/s {rate:9.1f}"
            if tps:
                line += f"   pgbench tpcb-like tps {tps:9.1f}   ratio {rate / tps:5.2f}"
            print(line, flush=True)
            if args.own_accounts and clients > 1:
                rate = vault_rate(
                    url, data_dir, clients, args.seconds, run + "-own", own_accounts=True
                )
                print(f"{name:<11} clients={clients:<3} own accounts: posted debits/s {rate:9.1f}",
                      flush=True)  # fmt: skip


def _pgbench(args: argparse.Namespace) -> Callable[[int], float]:
    """Initialise pgbench's tables in ``--pgbench-db``; answer a function that runs it
    with a number of clients and returns its TPS."""
    from sqlalchemy.engine import make_url

    parsed = make_url(args.postgres_url)
    host, user = parsed.host or "127.0.0.1", parsed.username or "postgres"
    subprocess.run(
        ["pgbench", "-h", host, "-U", user, "-i", "-q", "-s", str(args.pgbench_scale),
         args.pgbench_db],
        capture_output=True,
        check=True,
    )  # fmt: skip
    return lambda clients: pgbench_rate(args.pgbench_db, host, user, clients, int(args.seconds))


if __name__ == "__main__":
    main()
