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
    for k in range(KILLS):
        process = subprocess.Popen(
            [
                sys.executable,
                str(WORKER_SCRIPT),
                store_url,
                str(data_dir),
                f"k{k}",
                "1000000",
                code,
                str(MILLS),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.4))  # mid-stream: almost surely inside a transaction
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL

    report = pr.ledger.verify()
    assert report.ok, report.problems
    debits = report.transfers_checked - 1
    assert debits > KILLS  # the writers did get work done between kills
    account = pr.ledger.balance(customer.number)
    assert account.balances.balance == funding - MILLS * debits
    assert pr.ledger.account("fees:USD").balances.credits_posted == MILLS * debits
