"""Verification of the ledger: every balance and meter register re-derived from the rows,
the hash chain (keyed after the seal), the seal and a kept checkpoint checked.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

import attrs

from postroom.core.db import UnitOfWork
from postroom.core.ledger.model import (
    GENESIS_HASH,
    Balances,
    ChainKey,
    ChainSeal,
    Checkpoint,
    MeterRegisters,
    Phase,
    Problem,
    Transfer,
    VerifyReport,
    effects,
    sum_balances,
)
from postroom.core.ledger.store import LedgerStore

MAX_PROBLEMS = 100


def verify_ledger(uow: UnitOfWork, key: ChainKey, checkpoint: Checkpoint | None) -> VerifyReport:
    """Re-derive every balance and register from the rows, check the hash chain (keyed
    after the seal) and every invariant, and that the ledger still holds
    ``checkpoint``'s row; problems come in ledger order."""
    if uow.dialect == "postgresql":
        uow.connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    store = LedgerStore(uow.connection)
    accounts = {a.id: a for a in store.accounts()}
    stored_meters = {m.account_id: m for m in store.all_meters()}
    derived = {i: Balances() for i in accounts}
    meters = {
        i: MeterRegisters(
            m.account_id, m.serial, m.customer_account_id, m.operator, m.currency, m.status
        )
        for i, m in stored_meters.items()
    }
    pendings: dict[str, Transfer] = {}
    resolved: set[str] = set()
    problems: list[Problem] = []

    def problem(
        code: str, message: str, t: Transfer | None = None, account: str | None = None
    ) -> None:
        if len(problems) < MAX_PROBLEMS:
            problems.append(
                Problem(
                    code,
                    message,
                    None if t is None else t.seq,
                    None if t is None else t.id,
                    account,
                )
            )

    if checkpoint is not None and not hmac.compare_digest(
        checkpoint.signature, key.checkpoint(checkpoint.seq, checkpoint.row_hash)
    ):
        problem(
            "checkpoint_invalid",
            f"the checkpoint of row {checkpoint.seq} is not signed with this ledger key",
        )
        checkpoint = None  # nothing it says can be trusted
    # Rows up to the seal kept their unkeyed hashes; the seal (keyed) vouches for the
    # last of them, and so for every one before it. Rows after it are keyed.
    seal = store.seal()
    sealed_seq = 0 if seal is None else seal.seq
    prev_hash, expected_seq, count = GENESIS_HASH, 1, 0
    for t in store.all_transfers():
        count += 1
        where = f"row {t.seq} (transfer {t.id})"
        if t.seq != expected_seq:
            problem("chain_gap", f"{where}: expected row {expected_seq} here", t)
        if t.prev_hash != prev_hash:
            problem("chain_broken", f"{where}: does not follow the previous row's hash", t)
        keyed = t.seq > sealed_seq
        if t.computed_hash(key if keyed else None, t.prev_hash) != t.row_hash:
            problem(
                "row_altered",
                f"{where}: content does not match its"
                + (" keyed hash (altered, or another ledger key)" if keyed else " hash"),
                t,
            )
        if seal is not None and t.seq == seal.seq:
            check_seal(key, seal, t, where, problem)
        if checkpoint is not None and t.seq == checkpoint.seq and t.row_hash != checkpoint.row_hash:
            problem(
                "checkpoint_mismatch",
                f"{where}: differs from the checkpoint taken of it (rewritten)",
                t,
            )
        prev_hash, expected_seq = t.row_hash, t.seq + 1
        debit, credit = accounts.get(t.debit_account_id), accounts.get(t.credit_account_id)
        if debit is None or credit is None:
            problem("unknown_account", f"{where}: names an account that does not exist", t)
            continue
        if debit.currency != t.currency or credit.currency != t.currency:
            problem("currency_mismatch", f"{where}: currency differs from its accounts'", t)
        if t.amount <= 0 and t.phase is not Phase.VOID and t.phase is not Phase.EXPIRE:
            problem("invalid_amount", f"{where}: amount is not positive", t)
        pending = None
        if t.phase is Phase.PENDING:
            pendings[t.id] = t
        elif t.phase in (Phase.POST, Phase.VOID, Phase.EXPIRE):
            pending = pendings.get(str(t.pending_id))
            if pending is None or t.pending_id in resolved:
                problem("bad_resolution", f"{where}: resolves no open pending transfer", t)
                continue
            resolved.add(pending.id)
            if (pending.debit_account_id, pending.credit_account_id) != (
                t.debit_account_id,
                t.credit_account_id,
            ) or t.amount > pending.amount:
                problem("bad_resolution", f"{where}: does not match its pending transfer", t)
        for affected, delta in effects(t, pending):
            derived[affected] = derived[affected] + delta
            why = accounts[affected].violation(derived[affected])
            if why is not None and t.phase in (Phase.POSTED, Phase.PENDING):
                problem(
                    "balance_rule_broken",
                    f"{where}: leaves {accounts[affected].code} in breach ({why})",
                    t,
                    accounts[affected].code,
                )
        for meter_id in (t.debit_account_id, t.credit_account_id):
            if meter_id in meters:
                meters[meter_id] = meters[meter_id].after(t)

    if checkpoint is not None and checkpoint.seq > expected_seq - 1:
        problem(
            "checkpoint_missing",
            f"the checkpoint names row {checkpoint.seq} but the ledger ends at"
            f" {expected_seq - 1} (rows were removed)",
        )
    if seal is not None and seal.seq > expected_seq - 1:
        problem(
            "seal_broken",
            f"rows up to {seal.seq} were sealed but the ledger ends at {expected_seq - 1}",
        )
    head = store.chain_head()
    if head != (expected_seq - 1, prev_hash):
        problem(
            "chain_head_mismatch",
            f"the chain head says row {head[0]} but the last row is {expected_seq - 1}",
        )
    for i, account in accounts.items():
        if account.balances != derived[i]:
            problem(
                "balance_mismatch",
                f"{account.code}: stored balances {attrs.astuple(account.balances)} but the"
                f" rows give {attrs.astuple(derived[i])}",
                account=account.code,
            )
    stored_total = sum_balances(a.balances for a in accounts.values())
    if (
        stored_total.debits_posted != stored_total.credits_posted
        or stored_total.debits_pending != stored_total.credits_pending
    ):
        problem("debits_credits_differ", "the sum of debits differs from the sum of credits")
    for i, registers in meters.items():
        stored = stored_meters[i]
        code = accounts[i].code if i in accounts else stored.serial
        if stored != registers:
            problem(
                "registers_mismatch",
                f"meter {stored.serial}: stored registers differ from the rows",
                account=code,
            )
        if not stored.consistent:
            problem(
                "control_sum_broken",
                f"meter {stored.serial}: used + available differs from the control sum",
                account=code,
            )
        if i in derived and registers.descending != derived[i].balance:
            problem(
                "registers_mismatch",
                f"meter {stored.serial}: descending register differs from its account",
                account=code,
            )
    return VerifyReport(count, len(accounts), len(meters), tuple(problems))


def check_seal(
    key: ChainKey,
    seal: ChainSeal,
    row: Transfer,
    where: str,
    problem: Callable[[str, str, Transfer], None],
) -> None:
    """The seal's checks, at the row it seals (the last row hashed the old way)."""
    if seal.mac is None:
        problem(
            "ledger_unsealed",
            f"{where}: rows up to it were written before the chain was keyed and"
            " nobody holding the ledger key has sealed them (`postroom vault seal`)",
            row,
        )
    elif not hmac.compare_digest(seal.mac, key.seal(seal.seq, seal.row_hash)):
        problem(
            "seal_broken",
            f"{where}: its seal does not match the ledger key (altered, or another key)",
            row,
        )
    elif row.row_hash != seal.row_hash:
        problem(
            "seal_broken",
            f"{where}: is not the row that was sealed (rows up to it were rewritten)",
            row,
        )
