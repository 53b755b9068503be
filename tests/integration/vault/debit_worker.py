"""Client processes of the concurrency and SIGKILL tests: N debits of one postage account.

Usage: python debit_worker.py DATABASE_URL DATA_DIR WORKER COUNT ACCOUNT_CODE MILLS
Prints "ready" once connected, then the number of debits applied.
Every 25th debit is sent twice (a client retry).

Or: python debit_worker.py --fork-server
Reads one line of those six arguments at a time from stdin and forks a writer for each
(the interpreter and postroom imported once, not once per writer), prints
"ready PID" once the writer is connected, waits for the writer to end (the test kills
it) and prints "ended STATUS" (the negative signal number when a signal ended it).
"""

from __future__ import annotations

import os
import sys

from postroom.core.app import Postroom
from postroom.core.config import Config
from postroom.core.ledger.model import TransferCode, TransferRequest


def write(url: str, data_dir: str, worker: str, count: str, account: str, mills: str) -> int:
    config = Config.load({}, data_dir=data_dir, database_url=url, secret_key="test")
    applied = 0
    with Postroom.open(config=config, load_entry_points=False, migrate_schema=False) as pr:
        print("ready", os.getpid(), flush=True)
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
    return applied


def fork_server() -> None:
    for line in sys.stdin:
        sys.stdout.flush()
        child = os.fork()
        if child == 0:  # the writer: nothing of the server's is open to share
            try:
                print(write(*line.split()), flush=True)
            finally:
                os._exit(0)
        _, status = os.waitpid(child, 0)
        ended = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        print("ended", ended, flush=True)


def main() -> None:
    if sys.argv[1:] == ["--fork-server"]:
        fork_server()
    else:
        print(write(*sys.argv[1:7]))


if __name__ == "__main__":
    main()
