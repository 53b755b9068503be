"""Verification of the ledger: every row read once, in chain order, through the model's
two audits (``ChainAudit``: order, links, hashes, seal, checkpoint; ``BalanceAudit``:
each row's rules, every balance and meter register re-derived and compared).
"""

from __future__ import annotations

from postroom.core.ledger.model import (
    BalanceAudit,
    ChainAudit,
    ChainKey,
    Checkpoint,
    Problem,
    VerifyReport,
)
from postroom.core.ledger.store import LedgerRepository

MAX_PROBLEMS = 100


def verify_ledger(
    store: LedgerRepository, key: ChainKey, checkpoint: Checkpoint | None
) -> VerifyReport:
    """Re-derive every balance and register from the rows, check the hash chain (keyed
    after the seal) and every invariant, and that the ledger still holds
    ``checkpoint``'s row; problems come in ledger order (at most ``MAX_PROBLEMS``)."""
    store.read_one_snapshot()
    balances = BalanceAudit.start(store.accounts(), store.all_meters())
    chain, problems = ChainAudit.start(key, store.seal(), checkpoint)

    def found(more: list[Problem]) -> None:
        if more and len(problems) < MAX_PROBLEMS:
            problems.extend(more[: MAX_PROBLEMS - len(problems)])

    for row in store.all_transfers():
        found(chain.row(row))
        found(balances.row(row))
    found(chain.end(store.chain_head()))
    found(balances.end())
    return VerifyReport(chain.count, len(balances.accounts), len(balances.meters), tuple(problems))
