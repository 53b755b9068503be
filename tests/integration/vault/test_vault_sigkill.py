"""A writer killed with SIGKILL in the middle of its transactions, over and over:
the ledger still verifies and the balances are exact."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from postroom.core.accounts.model import CustomerAccount
from postroom.core.app import Postroom
from postroom.core.ledger.model import AccountKind
from postroom.core.ledger.service import postage_code
from postroom.core.money import Money

KILLS = int(os.environ.get("VAULT_SIGKILLS", "20"))
MILLS = 7
WORKER_SCRIPT = Path(__file__).with_name("debit_worker.py")


@pytest.mark.slow
def test_killed_writers_leave_an_exact_ledger(
    pr: Postroom, customer: CustomerAccount, store_url: str, data_dir: Path
) -> None:
    funding = 10**9
    pr.ledger.deposit(customer.number, Money(funding, "USD"), "funding")
    pr.ledger.system_account(AccountKind.FEES, "USD")
    code = postage_code(customer.number)
    rng = random.Random(3)
    # One process imports postroom once and forks each writer: each writer is still its
    # own process, killed by the kernel in the middle of its work
    server = subprocess.Popen(
        [sys.executable, str(WORKER_SCRIPT), "--fork-server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None
    assert server.stdout is not None
    try:
        for k in range(KILLS):
            arguments = (store_url, str(data_dir), f"k{k}", "1000000", code, str(MILLS))
            server.stdin.write(" ".join(arguments) + "\n")
            server.stdin.flush()
            ready, pid = server.stdout.readline().split()
            assert ready == "ready"
            time.sleep(rng.uniform(0.05, 0.4))  # mid-stream: almost surely inside a transaction
            os.kill(int(pid), signal.SIGKILL)
            assert server.stdout.readline().split() == ["ended", str(-signal.SIGKILL)]
    finally:
        server.stdin.close()
        server.wait(timeout=60)

    report = pr.ledger.verify()
    assert report.ok, report.problems
    debits = report.transfers_checked - 1
    assert debits > KILLS  # the writers did get work done between kills
    account = pr.ledger.balance(customer.number)
    assert account.balances.balance == funding - MILLS * debits
    assert pr.ledger.account("fees:USD").balances.credits_posted == MILLS * debits
