"""8 processes x N debits against one postage account: exact balances, each id once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from postroom.core.accounts.model import CustomerAccount
from postroom.core.app import Postroom
from postroom.core.errors import InsufficientFunds
from postroom.core.ledger.model import AccountKind, TransferCode, TransferRequest
from postroom.core.ledger.service import postage_code
from postroom.core.money import Money

WORKERS = 8
# The figure: 2,000 per process, about 40 s per store (docs/performance.md);
# VAULT_CONCURRENCY_DEBITS=250 for a quick run.
DEBITS = int(os.environ.get("VAULT_CONCURRENCY_DEBITS", "2000"))
MILLS = 7
WORKER_SCRIPT = Path(__file__).with_name("debit_worker.py")


@pytest.mark.slow
def test_concurrent_debits_are_exact(
    pr: Postroom, customer: CustomerAccount, store_url: str, data_dir: Path
) -> None:
    total = WORKERS * DEBITS * MILLS
    pr.ledger.deposit(customer.number, Money(total, "USD"), "funding")
    pr.ledger.system_account(AccountKind.FEES, "USD")
    code = postage_code(customer.number)
    started = time.monotonic()
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER_SCRIPT),
                store_url,
                str(data_dir),
                str(k),
                str(DEBITS),
                code,
                str(MILLS),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(WORKERS)
    ]
    # verify() reads one consistent snapshot while the writers run: never a false alarm
    checks = 0
    while any(process.poll() is None for process in processes) and checks < 20:
        report = pr.ledger.verify()
        assert report.ok, report.problems
        checks += 1
        time.sleep(0.2)
    results = [process.communicate(timeout=600) for process in processes]
    elapsed = time.monotonic() - started
    for process, (out, err) in zip(processes, results, strict=True):
        assert process.returncode == 0, err
        assert int(out.split()[-1]) == DEBITS
    print(f"{WORKERS}x{DEBITS} debits on {pr.db.dialect}: {elapsed:.1f} s")

    account = pr.ledger.balance(customer.number)
    assert account.balances.balance == 0
    assert account.balances.debits_posted == total
    assert pr.ledger.account("fees:USD").balances.credits_posted == total
    report = pr.ledger.verify()
    assert report.ok, report.problems
    assert report.transfers_checked == 1 + WORKERS * DEBITS  # every id applied exactly once
    with pytest.raises(InsufficientFunds):
        pr.ledger.transfer(
            TransferRequest(
                id="one-too-many",
                debit=code,
                credit="fees:USD",
                amount=1,
                currency="USD",
                code=TransferCode.FEE,
            )
        )
