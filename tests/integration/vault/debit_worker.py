"""One client process of the concurrency test: N debits of one postage account.

Usage: python debit_worker.py DATABASE_URL DATA_DIR WORKER COUNT ACCOUNT_CODE MILLS
Prints "ready" once connected, then the number of debits applied.
Every 25th debit is sent twice (a client retry).
"""

from __future__ import annotations

import sys

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.ledger.model import TransferCode, TransferRequest


def main() -> None:
    url, data_dir, worker, count, account, mills = sys.argv[1:7]
    config = Config.load({}, data_dir=data_dir, database_url=url, secret_key="test")
    applied = 0
    with Postroom.open(config=config, load_entry_points=False, migrate_schema=False) as pr:
        print("ready", flush=True)
        for i in range(int(count)):
            request = TransferRequest(
                id=f"w{worker}-{i}",
                debit=account,
                credit="fees:USD",
                amount=int(mills),
                currency="USD",
                code=TransferCode.FEE,
            )
            first = pr.ledger.transfer(request)
            if i % 25 == 0 and pr.ledger.transfer(request) != first:
                raise SystemExit(f"retry of {request.id} answered another transfer")
            applied += 1
    print(applied)


if __name__ == "__main__":
    main()
