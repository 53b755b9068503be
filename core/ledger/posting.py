"""The ledger's posting engine: one linked batch checked on locked rows, then appended.

``execute`` runs inside the caller's unit of work (``LedgerService`` and
``LedgerSession.post`` call it), on its ``LedgerRepository``: the first statement locks
the accounts (ascending id) and pre-checks the ids; ``check_batch`` applies the model's
posting rules (``check_pair``, ``check_resolution``, ``check_balances``) to the locked
rows and builds the rows; ``meters_after`` checks the postal invariant of the meters
touched; the rows are appended with their hash. A replayed id answers its first result.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
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
    check_balances,
    check_pair,
    check_resolution,
    moved_balances,
)
from postroom.core.ledger.store import LedgerRepository, LockedAccounts


def execute(
    uow: UnitOfWork,
    store: LedgerRepository,
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
    An insufficient-funds refusal is recorded and committed (``uow``): the id stays
    failed.
    """
    ids = [r.id for r in requests]
    if len(set(ids)) != len(ids):
        raise ValidationError("a transfer id appears twice in the batch", code="duplicate_id")
    fingerprints = fingerprints_of(requests)

    # The pending transfers named (immutable rows: no lock), then every account.
    pendings = store.transfers_by_id(r.pending_id for r in requests if r.pending_id)
    locked = store.lock_for_transfers(*_accounts_named(requests, pendings), ids)
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


def _accounts_named(
    requests: Sequence[TransferRequest], pendings: Mapping[str, Transfer]
) -> tuple[set[int], set[str]]:
    """The ids and the codes of the accounts the batch names, its reservations' included."""
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
    return account_ids, codes


def check_batch(
    store: LedgerRepository,
    requests: Sequence[TransferRequest],
    locked: LockedAccounts,
    pendings: Mapping[str, Transfer],
    fingerprints: Mapping[str, str],
    now: datetime,
) -> tuple[list[Transfer], dict[int, Balances]]:
    """The batch's rows, unsealed, and the accounts' balances after them; raises on
    the first rule a request breaks."""
    accounts = locked.accounts
    resolutions = store.resolutions_of(r.pending_id for r in requests if r.pending_id)
    balances = {i: a.balances for i, a in accounts.items()}
    batch = requests[0].id if len(requests) > 1 else None
    pairs = _Pairs(locked)
    built: list[Transfer] = []
    for r in requests:
        if r.phase is Phase.POSTED or r.phase is Phase.PENDING:
            pending = None
            transfer = _new_row(r, pairs.checked(r), fingerprints[r.id], batch, now)
        else:
            pending, amount = check_resolution(
                r.phase,
                pendings.get(str(r.pending_id)),
                r.pending_id,
                resolutions.get(str(r.pending_id)),
                amount=r.amount,
                currency=r.currency,
                now=now,
            )
            resolutions[pending.id] = pending  # a second resolution in this batch fails
            transfer = _resolution_row(r, pending, amount, fingerprints[r.id], batch, now)
        for affected, after in moved_balances(transfer, pending, balances):
            balances[affected] = check_balances(
                accounts[affected], balances[affected], after, r.id, transfer.amount
            )
        built.append(transfer)
    return built, balances


class _Pairs:
    """The (debit, credit, currency) of new transfers as asked -> as checked on the
    locked accounts: a mail run names one pair a thousand times."""

    def __init__(self, locked: LockedAccounts) -> None:
        self._locked = locked
        self._checked: dict[tuple[object, object, object], tuple[int, int, str]] = {}

    def checked(self, r: TransferRequest) -> tuple[int, int, str, int]:
        """(debit id, credit id, currency, amount) of ``r``, its accounts found and
        ``check_pair``'s rules kept."""
        pair = self._checked.get((r.debit, r.credit, r.currency))
        if pair is None:
            debit, credit = self._account(r.debit), self._account(r.credit)
            currency = str(r.currency).upper()
            check_pair(debit, credit, currency)
            pair = self._checked[r.debit, r.credit, r.currency] = (debit.id, credit.id, currency)
        return (*pair, check_amount(r.amount))

    def _account(self, ref: int | str | None) -> LedgerAccount:
        account_id = self._locked.ids_by_code.get(ref) if isinstance(ref, str) else ref
        if account_id is None or account_id not in self._locked.accounts:
            raise NotFound(f"no ledger account {ref!r}", code="account_not_found")
        return self._locked.accounts[account_id]


def _new_row(
    r: TransferRequest,
    checked: tuple[int, int, str, int],
    body_hash: str,
    batch: str | None,
    now: datetime,
) -> Transfer:
    """The unsealed row of a new posted or pending transfer."""
    debit_id, credit_id, currency, amount = checked
    return Transfer(
        seq=0,
        id=r.id,
        debit_account_id=debit_id,
        credit_account_id=credit_id,
        amount=amount,
        currency=currency,
        phase=r.phase,
        code=r.code,
        pending_id=r.pending_id,
        timeout_at=now + timedelta(seconds=r.timeout_seconds) if r.timeout_seconds else None,
        batch=batch,
        pieces=r.pieces,
        reference=r.reference,
        cost_center=r.cost_center,
        body_hash=body_hash,
        created_at=now,
        prev_hash="",
        row_hash="",
    )


def _resolution_row(
    r: TransferRequest,
    pending: Transfer,
    amount: int,
    body_hash: str,
    batch: str | None,
    now: datetime,
) -> Transfer:
    """The unsealed row of a post, void or expiry of ``pending``. It keeps what the
    reservation was made for and by whom (a kiosk print's operator), and the department,
    unless the request names its own."""
    return Transfer(
        seq=0,
        id=r.id,
        debit_account_id=pending.debit_account_id,
        credit_account_id=pending.credit_account_id,
        amount=amount,
        currency=pending.currency,
        phase=r.phase,
        code=pending.code,
        pending_id=r.pending_id,
        timeout_at=None,
        batch=batch,
        pieces=r.pieces,
        reference=r.reference or pending.reference,
        cost_center=r.cost_center if r.cost_center is not None else pending.cost_center,
        body_hash=body_hash,
        created_at=now,
        prev_hash="",
        row_hash="",
    )


def replay_of(
    store: LedgerRepository,
    requests: Sequence[TransferRequest],
    fingerprints: Mapping[str, str],
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
        is_replay(stored, fingerprints[r.id], functools.partial(_id_reused, r.id))
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
    store: LedgerRepository,
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
