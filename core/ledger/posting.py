"""The ledger's posting engine: one linked batch checked on locked rows, then appended.

``execute`` runs inside the caller's unit of work (``LedgerService`` and
``LedgerSession.post`` call it): the first statement locks the accounts (ascending id)
and pre-checks the ids; ``check_batch`` applies every rule of the model to the locked
rows and builds the rows; ``meters_after`` checks the postal invariant of the meters
touched; the rows are appended with their hash. A replayed id answers its first result.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import attrs

from postroom.core.db import UnitOfWork
from postroom.core.errors import (
    Conflict,
    InsufficientFunds,
    NotFound,
    PostroomError,
    ValidationError,
)
from postroom.core.idempotency import fingerprint, is_replay
from postroom.core.ledger.model import (
    AccountKind,
    Balances,
    ChainKey,
    LedgerAccount,
    LedgerInvariantBroken,
    MeterRegisters,
    Phase,
    Transfer,
    TransferRequest,
    check_amount,
    currency_mismatch,
    effects,
)
from postroom.core.ledger.store import LedgerStore, LockedAccounts


def execute(
    uow: UnitOfWork,
    requests: Sequence[TransferRequest],
    *,
    key: ChainKey,
    now: datetime,
    known_ids: dict[str, int],
) -> list[Transfer]:
    """Check and apply one linked batch inside the caller's transaction.

    The first statement locks the accounts (ascending id) and pre-checks the ids;
    every rule is checked on the locked rows; nothing is written before the rows
    are appended, so a request found to be a replay answers with nothing written.
    """
    store = LedgerStore(uow.connection)
    ids = [r.id for r in requests]
    if len(set(ids)) != len(ids):
        raise ValidationError("a transfer id appears twice in the batch", code="duplicate_id")
    fingerprints = fingerprints_of(requests)

    # The pending transfers named (immutable rows: no lock), then every account.
    pendings = store.transfers_by_id(r.pending_id for r in requests if r.pending_id)
    account_ids: set[int] = set()
    codes: set[str] = set()
    for r in requests:
        for ref in (r.debit, r.credit):
            if isinstance(ref, str):
                codes.add(ref)
            elif ref is not None:
                account_ids.add(ref)
    for p in pendings.values():
        account_ids.update((p.debit_account_id, p.credit_account_id))
    locked = store.lock_for_transfers(account_ids, codes, ids)
    known_ids.update(locked.ids_by_code)
    if locked.seen or not locked.accounts:
        replay = replay_of(store, requests, fingerprints)
        if replay is not None:
            return replay

    try:
        built, balances = check_batch(store, requests, locked, pendings, fingerprints, now)
        meters = meters_after(store, built, locked.accounts, balances)
    except PostroomError as refused:
        # On PostgreSQL the pre-check read a snapshot older than the locks: a twin
        # that committed meanwhile answers instead (this statement sees it).
        replay = replay_of(store, requests, fingerprints)
        if replay is not None:
            return replay
        if isinstance(refused, InsufficientFunds):
            failed = str(refused.details["transfer_id"])
            store.add_failure(failed, fingerprints[failed], refused.code, refused.message, now)
            uow.commit()  # the failure sticks: this id stays failed
        raise

    changed = {i: b for i, b in balances.items() if b != locked.accounts[i].balances}
    sealed = store.append_transfers(built, changed, key)
    if sealed is None:  # a twin took one of the ids while this one waited for the locks
        replay = replay_of(store, requests, fingerprints)
        if replay is None:
            raise LedgerInvariantBroken("a transfer id was taken but no row holds it")
        return replay
    store.save_all_registers(meters)
    return sealed


def check_batch(
    store: LedgerStore,
    requests: Sequence[TransferRequest],
    locked: LockedAccounts,
    pendings: dict[str, Transfer],
    fingerprints: dict[str, str],
    now: datetime,
) -> tuple[list[Transfer], dict[int, Balances]]:
    """The batch's rows, unsealed, and the accounts' balances after them; raises on
    the first rule a request breaks."""
    accounts = locked.accounts
    ids = [r.id for r in requests]

    def account_id(ref: int | str | None) -> int | None:
        if isinstance(ref, str):
            return locked.ids_by_code.get(ref)
        return ref

    resolutions = store.resolutions_of(r.pending_id for r in requests if r.pending_id)
    balances = {i: a.balances for i, a in accounts.items()}
    batch = ids[0] if len(requests) > 1 else None
    built: list[Transfer] = []
    # (debit, credit, currency) as asked -> as checked: a mail run names one pair
    # a thousand times
    pairs: dict[tuple[object, object, object], tuple[int, int, str]] = {}
    for r in requests:
        pending: Transfer | None = None
        if r.phase in (Phase.POSTED, Phase.PENDING):
            pair = pairs.get((r.debit, r.credit, r.currency))
            if pair is None:
                debit = _known(accounts, account_id(r.debit), r.debit)
                credit = _known(accounts, account_id(r.credit), r.credit)
                if debit.id == credit.id:
                    raise ValidationError(
                        "debit and credit account are the same", code="same_account"
                    )
                currency = str(r.currency).upper()
                for account in (debit, credit):
                    if account.currency != currency:
                        raise currency_mismatch(currency, account.currency, account.code)
                pair = pairs[r.debit, r.credit, r.currency] = (debit.id, credit.id, currency)
            debit_id, credit_id, currency = pair
            amount = check_amount(r.amount)
            timeout_at = now + timedelta(seconds=r.timeout_seconds) if r.timeout_seconds else None
        else:
            pending = pendings.get(str(r.pending_id))
            if pending is None:
                raise NotFound(
                    f"no pending transfer {r.pending_id}", code="pending_transfer_not_found"
                )
            if pending.phase is not Phase.PENDING:
                raise ValidationError(f"transfer {pending.id} is not pending", code="not_pending")
            if pending.id in resolutions:
                how = resolutions[pending.id].phase.value
                raise Conflict(
                    f"pending transfer {pending.id} is already resolved ({how})",
                    code="pending_transfer_resolved",
                    resolution=how,
                )
            if r.phase is Phase.EXPIRE:
                if not _expired(pending, now):
                    raise Conflict(
                        f"pending transfer {pending.id} has not timed out",
                        code="pending_not_expired",
                    )
            elif _expired(pending, now):
                raise Conflict(
                    f"pending transfer {pending.id} expired", code="pending_transfer_expired"
                )
            if r.currency is not None and r.currency.upper() != pending.currency:
                raise currency_mismatch(r.currency, pending.currency)
            amount = pending.amount
            if r.phase is Phase.POST and r.amount is not None:
                if r.amount > pending.amount:
                    raise ValidationError(
                        f"cannot post {r.amount} of a {pending.amount} reservation",
                        code="exceeds_pending_amount",
                    )
                amount = r.amount
            currency = pending.currency
            timeout_at = None
            debit_id, credit_id = pending.debit_account_id, pending.credit_account_id
            resolutions[pending.id] = pending  # a second resolution in this batch fails
        transfer = Transfer(
            seq=0,
            id=r.id,
            debit_account_id=debit_id,
            credit_account_id=credit_id,
            amount=amount,
            currency=currency,
            phase=r.phase,
            code=pending.code if pending is not None else r.code,
            pending_id=r.pending_id,
            timeout_at=timeout_at,
            batch=batch,
            pieces=r.pieces,
            # Posting a reservation keeps what it was made for and by whom (a kiosk
            # print's operator), and the department.
            reference=r.reference or (pending.reference if pending is not None else ""),
            cost_center=(
                r.cost_center
                if r.cost_center is not None or pending is None
                else pending.cost_center
            ),
            body_hash=fingerprints[r.id],
            created_at=now,
            prev_hash="",
            row_hash="",
        )
        moved: tuple[tuple[int, Balances], ...]
        if pending is None and transfer.phase is Phase.POSTED:
            moved = (
                (debit_id, balances[debit_id].debited(amount)),
                (credit_id, balances[credit_id].credited(amount)),
            )
        else:
            moved = tuple((i, balances[i] + d) for i, d in effects(transfer, pending))
        for affected, after in moved:
            why = accounts[affected].violation(after)
            if why == "exceeds_credits":
                raise InsufficientFunds(
                    f"{accounts[affected].code} cannot cover {amount} mills",
                    transfer_id=r.id,
                    account=accounts[affected].code,
                    available_mills=balances[affected].available + accounts[affected].credit_limit,
                )
            if why is not None:
                raise Conflict(f"{accounts[affected].code} refuses this transfer ({why})", code=why)
            balances[affected] = after
        built.append(transfer)

    return built, balances


def replay_of(
    store: LedgerStore, requests: Sequence[TransferRequest], fingerprints: dict[str, str]
) -> list[Transfer] | None:
    """The answer to a batch whose ids were seen before: the first result for the same
    bodies, a Conflict for another body, the stuck failure; None when no id was seen."""
    ids = [r.id for r in requests]
    existing = store.transfers_by_id(ids)
    failures = store.failures_by_id(ids)
    if not existing and not failures:
        return None
    for r in requests:
        seen = existing.get(r.id)
        failed = failures.get(r.id)
        stored = seen.body_hash if seen is not None else failed[0] if failed is not None else None
        is_replay(stored, fingerprints[r.id], lambda id=r.id: _id_reused(id))
    if len(existing) == len(requests):
        return [attrs.evolve(existing[i], replayed=True) for i in ids]
    for r in requests:
        if r.id in failures:
            _, code, message = failures[r.id]
            raise InsufficientFunds(
                f"transfer {r.id} failed before: {message}", code=code, transfer_id=r.id
            )
    raise Conflict(
        "some ids of this batch were used by other transfers",
        code="transfer_id_reused",
        transfer_ids=sorted(existing),
    )


def meters_after(
    store: LedgerStore,
    rows: Sequence[Transfer],
    accounts: dict[int, LedgerAccount],
    balances: dict[int, Balances],
) -> list[MeterRegisters]:
    """The registers of the batch's meters once ``rows`` are applied (those that change);
    the postal invariant is checked here, before anything is written."""
    changed = []
    meter_ids = [i for i, a in accounts.items() if a.kind is AccountKind.METER]
    for registers in store.meters_for_accounts(meter_ids).values():
        updated = registers.after_all(rows)
        if not updated.consistent or updated.descending != balances[updated.account_id].balance:
            raise LedgerInvariantBroken(
                f"meter {updated.serial}: used + available would not equal the control sum",
                serial=updated.serial,
            )
        if updated != registers:
            changed.append(updated)
    return changed


def _id_reused(transfer_id: str) -> Conflict:
    return Conflict(
        f"transfer id {transfer_id} was used before with another body",
        code="transfer_id_reused",
        transfer_id=transfer_id,
    )


def _expired(pending: Transfer, now: datetime) -> bool:
    return pending.timeout_at is not None and pending.timeout_at <= now


def _known(
    accounts: dict[int, LedgerAccount], account_id: int | None, ref: object
) -> LedgerAccount:
    if account_id is None or account_id not in accounts:
        raise NotFound(f"no ledger account {ref!r}", code="account_not_found")
    return accounts[account_id]


def fingerprints_of(requests: Sequence[TransferRequest]) -> dict[str, str]:
    """Each request's fingerprint by id, each distinct body hashed once."""
    by_body: dict[tuple[object, ...], str] = {}
    found = {}
    for r in requests:
        body = r.body()
        hashed = by_body.get(body)
        if hashed is None:
            hashed = by_body[body] = fingerprint(body)
        found[r.id] = hashed
    return found
