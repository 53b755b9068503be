"""The ledger's use cases (``pr.ledger``) and its API for the other areas
(``LedgerService.within``).

Every check and write of one request runs in one transaction with the touched accounts
locked in ascending id order, then the chain head; the rows are appended with their
hash, and the invariants are asserted before the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

import attrs
from sqlalchemy.exc import DBAPIError, IntegrityError

from postroom.core.accounts.closure import AccountClosure
from postroom.core.accounts.model import CustomerAccount, parse_account_number, parse_currency
from postroom.core.clock import Clock
from postroom.core.db import Database, UnitOfWork
from postroom.core.errors import (
    Conflict,
    NotFound,
    ValidationError,
)
from postroom.core.ledger.model import (
    FUNDS_KINDS,
    GENESIS_HASH,
    POSTING_PHASES,
    REPORT_TYPE_OF,
    AccountKind,
    Amount,
    ChainKey,
    ChainSeal,
    Checkpoint,
    HistoryItem,
    LedgerAccount,
    MeterRegisters,
    Phase,
    ReportEntry,
    ReportType,
    TransactionReport,
    Transfer,
    TransferCode,
    TransferRequest,
    VerifyReport,
    account_closed,
    check_amount,
    check_cost_center,
    clean_operator,
    client_transfer_id,
    codes_of,
    currency_mismatch,
    customer_transfer_id,
)
from postroom.core.ledger.posting import execute
from postroom.core.ledger.store import LedgerRepository, LedgerStorage, SqlLedgerStorage
from postroom.core.ledger.verify import verify_ledger
from postroom.core.money import Money

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BATCH = 8190
EXPIRE_PREFIX = "expire:"


def postage_code(customer_number: str) -> str:
    return f"postage:{customer_number}"


def meter_code(serial: str) -> str:
    return f"meter:{serial}"


def system_code(kind: AccountKind, currency: str, operator: str | None = None) -> str:
    if kind is AccountKind.POSTAGE_USED:
        if not operator:
            raise ValidationError("postage used is kept per postal operator", code="no_operator")
        return f"used:{operator}:{currency}"
    if kind in FUNDS_KINDS:
        raise ValidationError(f"{kind.value} accounts belong to a customer", code="invalid_kind")
    return f"{kind.value}:{currency}"


class Transactions(Protocol):
    """How the ledger runs a use case: in one unit of work, retried (``Database.run``)."""

    def run(self, work: Callable[[UnitOfWork], T], *, readonly: bool = False) -> T: ...


class Customers(Protocol):
    """What the ledger asks the accounts area, inside its unit of work
    (``AccountsService``)."""

    def customer_in(self, uow: UnitOfWork, customer_number: object) -> CustomerAccount: ...

    def is_closed_in(self, uow: UnitOfWork, ledger_account_id: int) -> bool: ...

    def closure_in(self, uow: UnitOfWork, ledger_account_id: int) -> AccountClosure | None: ...


class LedgerService:
    """``pr.ledger``: the double-entry ledger of integer mills, its accounts (the meters'
    registers among them), transfers, history, report, verification and seal."""

    def __init__(
        self,
        db: Transactions,
        clock: Clock,
        accounts: Customers,
        *,
        ledger_key: ChainKey,
        storage: LedgerStorage | None = None,
    ) -> None:
        """``storage`` defaults to the ledger's tables in ``db`` (``db`` must then be a
        ``Database``); the unit tests hand in an in-memory one, with ``db`` running its
        units of work."""
        self._db = db
        self._clock = clock
        self._accounts = accounts
        self._key = ledger_key
        if storage is None:
            assert isinstance(db, Database)
            storage = SqlLedgerStorage(db)
        self._storage = storage
        self._repository = storage.repository
        # Account code -> id, as the ledger's locks last saw them: a code never changes
        # its account, and the one-statement debit re-checks the pair before using it.
        self._account_ids: dict[str, int] = {}
        self._debit_listeners: list[Callable[[int], None]] = []

    def add_debit_listener(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(postage_account_id)`` after a refill or a postage reservation
        debited a customer's postage account (after the commit). Funding uses it to run
        the auto-refill rule and low-balance alerts; a failing listener is logged."""
        self._debit_listeners.append(listener)

    def debited(self, account_id: int) -> None:
        """Tell the debit listeners that ``account_id`` was debited (after the commit)."""
        for listener in self._debit_listeners:
            try:
                listener(account_id)
            except Exception:  # the debit is committed; a listener must not undo its answer
                log.exception("debit listener failed for ledger account %s", account_id)

    def within(self, uow: UnitOfWork) -> LedgerSession:
        """The ledger inside the caller's unit of work: the one way another area posts
        transfers (``post``: one, a linked batch, or the phases of a two-phase transfer)
        and reads ledger accounts, so that its own rows and the ledger's commit together.
        The caller commits."""
        return LedgerSession(self, uow)

    # ------------------------------------------------------------------ accounts

    def open_postage_account(
        self, customer_number: str, *, credit_limit: Amount | None = None
    ) -> LedgerAccount:
        """The customer's postage account, opened on first use (idempotent).

        ``credit_limit`` is the postage line of credit: how far below zero it may go.
        """

        def work(uow: UnitOfWork) -> LedgerAccount:
            customer = self._customer(uow, customer_number)
            limit = 0
            if credit_limit is not None:
                if credit_limit.currency != customer.currency:
                    raise currency_mismatch(credit_limit.currency, customer.currency)
                limit = credit_limit.mills
                if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                    raise ValidationError("a credit limit is not negative", code="invalid_amount")
            account = self._postage_account(uow, customer_number, create=True, credit_limit=limit)
            if credit_limit is not None and account.credit_limit != limit:
                raise Conflict(
                    "the postage account exists with another credit limit", code="account_exists"
                )
            uow.commit()
            return account

        return self._db.run(work)

    def system_account(
        self, kind: AccountKind, currency: str, operator: str | None = None
    ) -> LedgerAccount:
        """A data-center account (clearing, fees, refunds, postage used per operator...)."""

        def work(uow: UnitOfWork) -> LedgerAccount:
            account = self._system_account(self._repository(uow), kind, currency, operator)
            uow.commit()
            return account

        try:
            return self._db.run(work)
        except IntegrityError:  # opened by a concurrent first use (two first prints): read it
            return self._db.run(work)

    def account(self, code: str) -> LedgerAccount:
        def work(uow: UnitOfWork) -> LedgerAccount:
            account = self._repository(uow).account_by_code(code)
            if account is None:
                raise NotFound(f"no ledger account {code!r}", code="account_not_found")
            return account

        return self._db.run(work, readonly=True)

    def balance(self, customer_number: str) -> LedgerAccount:
        """The customer's postage account with its balances."""
        return self._db.run(
            lambda uow: self._postage_account(uow, customer_number, create=False), readonly=True
        )

    def ledger_rows(self) -> int:
        """How many rows the ledger holds (its chain head's seq), for the metrics."""
        return self._db.run(lambda uow: self._repository(uow).chain_head()[0], readonly=True)

    def accounts(self) -> list[LedgerAccount]:
        return self._db.run(lambda uow: self._repository(uow).accounts(), readonly=True)

    def history(self, code: str, *, limit: int = 100) -> list[Transfer]:
        def work(uow: UnitOfWork) -> list[Transfer]:
            store = self._repository(uow)
            account = store.account_by_code(code)
            if account is None:
                raise NotFound(f"no ledger account {code!r}", code="account_not_found")
            return store.transfers_of(account.id, limit)

        return self._db.run(work, readonly=True)

    # ------------------------------------------------- a customer's own objects

    def customer_transfers(
        self,
        customer_number: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        types: Iterable[ReportType] = (),
        limit: int = 100,
        offset: int = 0,
    ) -> list[HistoryItem]:
        """Transfers touching the customer's postage account or meters, newest first."""
        wanted = tuple(types)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ValidationError("limit is 1 to 1000", code="invalid_limit")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValidationError("offset is 0 or more", code="invalid_offset")

        def work(uow: UnitOfWork) -> list[HistoryItem]:
            customer = self._customer(uow, customer_number)
            store = self._repository(uow)
            own = [a.id for a in store.accounts(owner_id=customer.id)]
            found = store.transfers_touching(
                own,
                since=since,
                until=until,
                codes=codes_of(wanted) if wanted else None,
                limit=limit,
                offset=offset,
                newest_first=True,
            )
            return _history(store, found)

        return self._db.run(work, readonly=True)

    def postage_overview(self, customer_number: str, *, refills: int = 5) -> PostageOverview:
        """The customer's postage balance and its last ``refills`` refills, in one read
        (see ``postage_overview_in``)."""
        return self._db.run(
            lambda uow: self.postage_overview_in(
                uow, self._customer(uow, customer_number), refills=refills
            ),
            readonly=True,
        )

    def postage_overview_in(
        self, uow: UnitOfWork, customer: CustomerAccount, *, refills: int = 5
    ) -> PostageOverview:
        """Inside the caller's unit of work: the customer's postage balance and its last
        ``refills`` posted refills (funds added to the postage account, postage loaded
        into a meter), newest first. A customer whose postage account is not opened yet
        has a zero balance."""
        if isinstance(refills, bool) or not isinstance(refills, int) or not 1 <= refills <= 100:
            raise ValidationError("refills is 1 to 100", code="invalid_limit")
        store = self._repository(uow)
        own = store.accounts(owner_id=customer.id)
        postage = next((a for a in own if a.code == postage_code(customer.number)), None)
        meters = {a.id: a.code.removeprefix("meter:") for a in own if a.kind is AccountKind.METER}
        # No phase filter in SQL: with one, SQLite walks the phase index over every
        # customer's transfers; a customer's few pending deposits are skipped here.
        found = store.transfers_touching(
            [a.id for a in own], codes=REFILL_CODES, limit=refills * 2, newest_first=True
        )
        posted = [t for t in found if t.phase in POSTING_PHASES][:refills]
        return PostageOverview(
            customer.currency,
            postage,
            [
                RecentRefill(
                    t.created_at,
                    Money(t.amount, t.currency),
                    meters.get(t.credit_account_id) if t.code is TransferCode.REFILL else None,
                )
                for t in posted
            ],
        )

    def own_transfer_id(self, customer_number: str, client_id: object) -> str:
        """The ledger id of the customer's ``client_id``: the one it already names among
        the customer's transfers (written before ids were scoped), else the scoped id."""
        scoped = customer_transfer_id(customer_number, client_id)
        for candidate in (scoped, str(client_id)):
            try:
                self.customer_transfer(customer_number, candidate)
            except NotFound:
                continue
            return candidate
        return scoped

    def customer_transfer(self, customer_number: str, transfer_id: str) -> HistoryItem:
        """One transfer touching the customer's accounts; any other is ``transfer_not_found``."""

        def work(uow: UnitOfWork) -> HistoryItem:
            customer = self._customer(uow, customer_number)
            store = self._repository(uow)
            own = {a.id for a in store.accounts(owner_id=customer.id)}
            found = store.transfers_by_id([transfer_id]).get(transfer_id)
            if found is None or not {found.debit_account_id, found.credit_account_id} & own:
                raise NotFound(f"no transfer {transfer_id!r}", code="transfer_not_found")
            return _history(store, [found])[0]

        return self._db.run(work, readonly=True)

    def report(
        self,
        customer_number: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        types: Iterable[ReportType] = (),
        meter: str | None = None,
        cost_center: str | None = None,
    ) -> TransactionReport:
        """The customer's posted transactions, one entry per transfer and account touched,
        with totals per account: unfiltered, each account's net equals its ledger balance.

        ``since`` is inclusive, ``until`` exclusive; ``meter`` keeps that meter's entries,
        ``cost_center`` those booked to that department.
        """
        wanted = tuple(dict.fromkeys(types))
        if cost_center is not None:
            cost_center = check_cost_center(cost_center.strip())

        def work(uow: UnitOfWork) -> TransactionReport:
            customer = self._customer(uow, customer_number)
            store = self._repository(uow)
            accounts = store.accounts(owner_id=customer.id)
            serials = store.meters_for_accounts(
                a.id for a in accounts if a.kind is AccountKind.METER
            )
            if meter is not None:
                chosen = next((m for m in serials.values() if m.serial == meter.strip()), None)
                if chosen is None:
                    raise NotFound(f"no meter {meter!r}", code="meter_not_found")
                accounts = [a for a in accounts if a.id == chosen.account_id]
            own = {a.id: a for a in accounts}
            found = store.transfers_touching(
                own,
                since=since,
                until=until,
                codes=codes_of(wanted) if wanted else None,
                phases=POSTING_PHASES,
            )
            codes = store.codes_by_id(
                x for t in found for x in (t.debit_account_id, t.credit_account_id)
            )
            entries = []
            for t in found:
                if cost_center is not None and t.cost_center != cost_center:
                    continue
                for mine, other, sign in (
                    (t.debit_account_id, t.credit_account_id, -1),
                    (t.credit_account_id, t.debit_account_id, 1),
                ):
                    if mine not in own:
                        continue
                    touched = serials.get(mine) or serials.get(other)
                    entries.append(
                        ReportEntry(
                            seq=t.seq,
                            transfer_id=client_transfer_id(customer_number, t.id),
                            created_at=t.created_at,
                            type=REPORT_TYPE_OF[t.code],
                            code=t.code,
                            account=own[mine].code,
                            counterparty=codes[other],
                            meter=None if touched is None else touched.serial,
                            amount=sign * t.amount,
                            currency=t.currency,
                            pieces=t.pieces,
                            reference=t.reference,
                            cost_center=t.cost_center,
                        )
                    )
            return TransactionReport.build(
                customer.number,
                customer.currency,
                [a.code for a in accounts],
                entries,
                since=since,
                until=until,
                types=wanted,
                meter=None if meter is None else meter.strip(),
                cost_center=cost_center,
            )

        return self._db.run(work, readonly=True)

    def reserve_postage(
        self,
        customer_number: str,
        amount: Amount,
        transfer_id: str,
        *,
        operator: str = "USPS",
        timeout_seconds: int | None = None,
        reference: str = "",
        cost_center: str | None = None,
    ) -> Transfer:
        """Virtual-meter postage (PC postage, kiosk): hold ``amount`` on the customer's
        postage account for a piece about to print; post it once printed, void it if not."""

        def work(uow: UnitOfWork) -> tuple[Transfer, int]:
            postage = self._postage_account(uow, customer_number, create=False)
            if self._accounts.is_closed_in(uow, postage.id):
                raise account_closed(postage.code)  # before a funds check could answer
            store = self._repository(uow)
            used = self._system_account(store, AccountKind.POSTAGE_USED, postage.currency, operator)
            request = TransferRequest(
                id=transfer_id,
                debit=postage.id,
                credit=used.id,
                amount=amount.mills,
                currency=amount.currency,
                phase=Phase.PENDING,
                code=TransferCode.PRINT,
                timeout_seconds=timeout_seconds,
                reference=reference,
                cost_center=cost_center,
            )
            request.validate()
            done = self._execute(uow, [request])
            # In the transaction that holds the account: a closing committed meanwhile
            # is seen here, not missed between a separate check and the hold.
            self._refuse_closed(uow, postage, done[0])
            uow.commit()
            return done[0], postage.id

        reserved, account_id = self._run_idempotent(work)
        self.debited(account_id)
        return reserved

    def post_postage(
        self,
        customer_number: str,
        pending_id: str,
        transfer_id: str,
        amount: Amount | None = None,
    ) -> Transfer:
        """The piece printed: post all (or ``amount``) of the customer's reservation."""
        self._own_pending(customer_number, pending_id)
        return self.post_pending(pending_id, transfer_id, amount)

    def void_postage(self, customer_number: str, pending_id: str, transfer_id: str) -> Transfer:
        """The print failed: release the customer's reservation."""
        self._own_pending(customer_number, pending_id)
        return self.void_pending(pending_id, transfer_id)

    def _own_pending(self, customer_number: str, pending_id: str) -> None:
        item = self.customer_transfer(customer_number, pending_id)
        if item.transfer.phase is not Phase.PENDING or item.debit != postage_code(
            parse_account_number(customer_number)
        ):
            raise NotFound(f"no reservation {pending_id!r}", code="transfer_not_found")

    # ----------------------------------------------------------------- transfers

    def create_transfers(self, requests: Sequence[TransferRequest]) -> list[Transfer]:
        """Apply ``requests`` as one linked batch: all of them, or none."""
        requests = list(requests)
        if not requests:
            raise ValidationError("an empty batch", code="empty_batch")
        if len(requests) > MAX_BATCH:
            raise ValidationError(f"at most {MAX_BATCH} transfers a batch", code="batch_too_large")
        for request in requests:
            request.validate()

        if len(requests) == 1:
            done = self._post_at_once(requests[0])
            if done is not None:
                return [done]

        def work(uow: UnitOfWork) -> list[Transfer]:
            done = self._execute(uow, requests)
            uow.commit()
            return done

        return self._run_idempotent(work)

    def _post_at_once(self, request: TransferRequest) -> Transfer | None:
        """A posted transfer in a transaction of its own, with its checks in SQL (on
        PostgreSQL one statement in one round trip, locks held by the server alone).
        None when it did not apply (a replay, a rule refused, an account unknown to this
        process, a meter): the general path then runs and answers exactly, in its own
        transaction."""
        if request.phase is not Phase.POSTED or request.timeout_seconds is not None:
            return None
        refs: list[tuple[int, str | None]] = []
        for ref in (request.debit, request.credit):
            if isinstance(ref, str):
                known = self._account_ids.get(ref)
                if known is None:
                    return None
                refs.append((known, ref))
            elif isinstance(ref, int) and not isinstance(ref, bool):
                refs.append((ref, None))
            else:
                return None
        (debit_id, debit_code), (credit_id, credit_code) = refs
        row = Transfer(
            seq=0,
            id=request.id,
            debit_account_id=debit_id,
            credit_account_id=credit_id,
            amount=check_amount(request.amount),
            currency=str(request.currency).upper(),
            phase=Phase.POSTED,
            code=request.code,
            pending_id=None,
            timeout_at=None,
            batch=None,
            pieces=request.pieces,
            reference=request.reference,
            cost_center=request.cost_center,
            body_hash=request.fingerprint(),
            created_at=self._clock.now(),
            prev_hash="",
            row_hash="",
        )

        try:
            return self._storage.post_at_once(row, debit_code, credit_code, self._key)
        except DBAPIError:
            # A twin took the id meanwhile, or the connection died (the statement may
            # have committed): the general path, idempotent, answers either way.
            return None

    def transfer(self, request: TransferRequest) -> Transfer:
        return self.create_transfers([request])[0]

    def deposit(
        self, customer_number: str, amount: Amount, transfer_id: str, *, reference: str = ""
    ) -> Transfer:
        """Funds received from a payment source: payment clearing -> postage account."""
        check_amount(amount.mills)

        def work(uow: UnitOfWork) -> list[Transfer]:
            done = self._deposit(uow, customer_number, amount, transfer_id, reference=reference)
            uow.commit()
            return [done]

        return self._run_idempotent(work)[0]

    def _deposit(
        self,
        uow: UnitOfWork,
        customer_number: str,
        amount: Amount,
        transfer_id: str,
        *,
        reference: str = "",
    ) -> Transfer:
        """``deposit`` inside the caller's unit of work (``LedgerSession.deposit``)."""
        mills = check_amount(amount.mills)
        postage = self._postage_account(uow, customer_number, create=True)
        if amount.currency != postage.currency:
            raise currency_mismatch(amount.currency, postage.currency)
        store = self._repository(uow)
        clearing = self._system_account(store, AccountKind.PAYMENT_CLEARING, postage.currency)
        request = TransferRequest(
            id=transfer_id,
            debit=clearing.id,
            credit=postage.id,
            amount=mills,
            currency=amount.currency,
            code=TransferCode.DEPOSIT,
            reference=reference,
        )
        request.validate()
        done = self._execute(uow, [request])
        self._refuse_closed(uow, postage, done[0])
        return done[0]

    def reserve(
        self,
        debit: str,
        credit: str,
        amount: Amount,
        transfer_id: str,
        *,
        timeout_seconds: int | None = None,
        code: TransferCode = TransferCode.PRINT,
        reference: str = "",
        cost_center: str | None = None,
    ) -> Transfer:
        """A pending transfer: the amount is held on ``debit`` until posted, voided or expired."""
        return self.transfer(
            TransferRequest(
                id=transfer_id,
                debit=debit,
                credit=credit,
                amount=amount.mills,
                currency=amount.currency,
                phase=Phase.PENDING,
                code=code,
                timeout_seconds=timeout_seconds,
                reference=reference,
                cost_center=cost_center,
            )
        )

    def post_pending(
        self, pending_id: str, transfer_id: str, amount: Amount | None = None
    ) -> Transfer:
        """Post all of a reservation, or ``amount`` of it (the rest is released)."""
        return self.transfer(
            TransferRequest(
                id=transfer_id,
                phase=Phase.POST,
                pending_id=pending_id,
                amount=None if amount is None else amount.mills,
                currency=None if amount is None else amount.currency,
            )
        )

    def void_pending(self, pending_id: str, transfer_id: str) -> Transfer:
        return self.transfer(
            TransferRequest(id=transfer_id, phase=Phase.VOID, pending_id=pending_id)
        )

    def expire_pending(self, *, limit: int = 1000) -> int:
        """Release every reservation whose timeout has passed; the worker runs this.

        Idempotent: an expiry's transfer id is derived from the pending id.
        """
        now = self._clock.now()
        candidates = self._db.run(
            lambda uow: self._repository(uow).expired_pending(now, limit), readonly=True
        )
        expired = 0
        for pending in candidates:
            request = TransferRequest(
                id=EXPIRE_PREFIX + pending.id, phase=Phase.EXPIRE, pending_id=pending.id
            )

            def work(uow: UnitOfWork, request: TransferRequest = request) -> list[Transfer]:
                done = self._execute(uow, [request])
                uow.commit()
                return done

            try:
                self._run_idempotent(work)
            except Conflict as error:  # posted or voided meanwhile
                log.debug("not expiring %s: %s", pending.id, error.message)
                continue
            expired += 1
        return expired

    # -------------------------------------------------------------------- verify

    def verify(self, checkpoint: Checkpoint | None = None) -> VerifyReport:
        """Re-derive every balance and register from the rows, check the hash chain
        (keyed after the seal) and every invariant, and that the ledger still holds
        ``checkpoint``'s row; problems come in ledger order, so the first names the first
        broken row."""
        return self._db.run(
            lambda uow: verify_ledger(self._repository(uow), self._key, checkpoint), readonly=True
        )

    def seal(self) -> ChainSeal | None:
        """Seal, under the ledger key, the rows written before the chain was keyed, when
        migration ``vault_0009_seal`` recorded their boundary without the key (it seals it
        itself when ``postroom db upgrade`` runs with the key). Refused when those rows
        no longer hash to the recorded boundary. None: no boundary (every row keyed)."""

        def work(uow: UnitOfWork) -> ChainSeal | None:
            store = self._repository(uow)
            seal = store.seal()
            if seal is None or seal.mac is not None:
                return seal
            prev_hash = GENESIS_HASH
            for row in store.all_transfers():
                if row.seq > seal.seq:
                    break
                if row.prev_hash != prev_hash or row.computed_hash(None) != row.row_hash:
                    raise Conflict(
                        f"row {row.seq} (transfer {row.id}) does not match its hash: not"
                        " sealing an altered ledger",
                        code="ledger_altered",
                    )
                prev_hash = row.row_hash
            if prev_hash != seal.row_hash:
                raise Conflict(
                    f"the rows up to {seal.seq} do not end in the recorded boundary",
                    code="ledger_altered",
                )
            mac = self._key.seal(seal.seq, seal.row_hash)
            if not store.record_seal_mac(seal, mac):
                raise Conflict("the boundary changed while it was being sealed")
            uow.commit()
            return attrs.evolve(seal, mac=mac)

        return self._db.run(work)

    def checkpoint(self) -> Checkpoint:
        """The chain head, signed under the ledger key, to keep outside the database."""

        def read(uow: UnitOfWork) -> tuple[int, str]:
            return self._repository(uow).chain_head()

        seq, row_hash = self._db.run(read, readonly=True)
        return Checkpoint(seq, row_hash, self._key.checkpoint(seq, row_hash))

    def run_idempotent(self, work: Callable[[UnitOfWork], T]) -> T:
        """Run ``work`` in one unit of work, once more if it lost a race on a unique key."""
        return self._run_idempotent(work)

    # ------------------------------------------------------------------ internals

    def _post_one(self, uow: UnitOfWork, request: TransferRequest) -> list[Transfer]:
        """Validate and execute one transfer, then commit the unit of work."""
        request.validate()
        done = self._execute(uow, [request])
        uow.commit()
        return done

    def _run_idempotent(self, work: Callable[[UnitOfWork], T]) -> T:
        try:
            return self._db.run(work)
        except IntegrityError:
            # Lost a race on a unique key (the same transfer id sent twice at once, or a
            # pending transfer resolved twice): run again, and the idempotency checks,
            # now seeing the winner's rows, answer.
            return self._db.run(work)

    def _execute(self, uow: UnitOfWork, requests: Sequence[TransferRequest]) -> list[Transfer]:
        return execute(
            uow,
            self._repository(uow),
            requests,
            key=self._key,
            now=self._clock.now(),
            known_ids=self._account_ids,
        )

    def _customer(self, uow: UnitOfWork, customer_number: str) -> CustomerAccount:
        return self._accounts.customer_in(uow, customer_number)

    def _refuse_closed(self, uow: UnitOfWork, account: LedgerAccount, done: Transfer) -> None:
        """Undo a new transfer into or out of a closed postage account; a replay of a
        transfer from before the closing still answers. Called after ``_execute`` locked
        the account, so a closing committed meanwhile is seen."""
        closure = self._accounts.closure_in(uow, account.id)
        if closure is not None and done.seq > closure.ledger_seq:
            raise account_closed(account.code)

    def _postage_account(
        self, uow: UnitOfWork, customer_number: str, *, create: bool, credit_limit: int = 0
    ) -> LedgerAccount:
        customer = self._customer(uow, customer_number)
        store = self._repository(uow)
        account = store.account_by_code(postage_code(customer.number))
        if account is None:
            if not create:
                raise NotFound(
                    f"customer {customer.number} has no postage account", code="no_postage_account"
                )
            account = store.add_account(
                postage_code(customer.number),
                AccountKind.POSTAGE,
                customer.currency,
                customer.id,
                credit_limit,
                True,
                False,
                self._clock.now(),
            )
        return account

    def _system_account(
        self, store: LedgerRepository, kind: AccountKind, currency: str, operator: str | None = None
    ) -> LedgerAccount:
        currency = parse_currency(currency)
        if operator is not None:
            operator = clean_operator(operator)
        code = system_code(kind, currency, operator)
        account = store.account_by_code(code)
        if account is None:
            account = store.add_account(
                code, kind, currency, None, 0, False, False, self._clock.now()
            )
        return account


class LedgerSession:
    """The ledger inside another area's unit of work (``LedgerService.within``).

    It posts only through the ledger's checks (``post``) and reads accounts, meters'
    registers and transfers; nothing else writes a ledger table. The caller commits.
    """

    def __init__(self, ledger: LedgerService, uow: UnitOfWork) -> None:
        self._ledger = ledger
        self._uow = uow
        self._store = ledger._repository(uow)

    # ------------------------------------------------------------------ posting

    def post(self, requests: Sequence[TransferRequest]) -> list[Transfer]:
        """Validate and apply ``requests`` as one linked batch (all or none): posted
        transfers, or the reserve (``Phase.PENDING``), post or void of a two-phase one.
        A replayed id answers its first result; an insufficient-funds refusal records
        its failure, so the caller's earlier writes commit with it."""
        for request in requests:
            request.validate()
        return self._ledger._execute(self._uow, requests)

    def deposit(
        self, customer_number: str, amount: Amount, transfer_id: str, *, reference: str = ""
    ) -> Transfer:
        """Payment clearing -> the customer's postage account (opened on first use)."""
        return self._ledger._deposit(
            self._uow, customer_number, amount, transfer_id, reference=reference
        )

    def refuse_closed(self, account: LedgerAccount, done: Transfer) -> None:
        """Refuse ``done`` (posted in this unit of work) if ``account`` was closed before it."""
        self._ledger._refuse_closed(self._uow, account, done)

    # ------------------------------------------------------------------ accounts

    def add_account(
        self,
        code: str,
        kind: AccountKind,
        currency: str,
        owner_id: int | None,
        credit_limit: int,
        debits_must_not_exceed_credits: bool,
        credits_must_not_exceed_debits: bool,
    ) -> LedgerAccount:
        """Open a ledger account with its balance rules (``LedgerAccount``)."""
        return self._store.add_account(
            code,
            kind,
            currency,
            owner_id,
            credit_limit,
            debits_must_not_exceed_credits,
            credits_must_not_exceed_debits,
            self._ledger._clock.now(),
        )

    def postage_account(self, customer_number: str, *, create: bool = False) -> LedgerAccount:
        """The customer's postage account: ``no_postage_account`` unless ``create``."""
        return self._ledger._postage_account(self._uow, customer_number, create=create)

    def postage_account_of(self, customer_id: int) -> LedgerAccount | None:
        """The postage account owned by customer account ``customer_id``, if opened."""
        return next(
            (
                a
                for a in self._store.accounts(owner_id=customer_id)
                if a.kind is AccountKind.POSTAGE
            ),
            None,
        )

    def system_account(
        self, kind: AccountKind, currency: str, operator: str | None = None
    ) -> LedgerAccount:
        """A data-center account, opened on first use (``LedgerService.system_account``)."""
        return self._ledger._system_account(self._store, kind, currency, operator)

    def account_by_code(self, code: str) -> LedgerAccount | None:
        return self._store.account_by_code(code)

    def accounts(self, *, owner_id: int | None = None) -> list[LedgerAccount]:
        return self._store.accounts(owner_id=owner_id)

    def lock_accounts(self, ids: Iterable[int]) -> dict[int, LedgerAccount]:
        """Lock ``ids`` (ascending, as every ledger write does) and read them."""
        return self._store.lock_accounts(ids)

    def codes_by_id(self, ids: Iterable[int]) -> dict[int, str]:
        return self._store.codes_by_id(ids)

    def owner_of(self, account_id: int) -> int | None:
        """The customer account id owning ledger account ``account_id`` (None: a system
        account, or no such account)."""
        return self._store.owner_of(account_id)

    # ----------------------------------------------------------------- transfers

    def ids_seen(self, ids: Iterable[str]) -> bool:
        return self._store.ids_seen(ids)

    def transfers_by_id(self, ids: Iterable[str]) -> dict[str, Transfer]:
        return self._store.transfers_by_id(ids)

    def resolutions_of(self, pending_ids: Iterable[str]) -> dict[str, Transfer]:
        """The post, void or expiry of each of ``pending_ids`` that has one."""
        return self._store.resolutions_of(pending_ids)

    def transfers_touching(
        self,
        account_ids: Iterable[int],
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        codes: Iterable[TransferCode] | None = None,
        phases: Iterable[Phase] | None = None,
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = False,
    ) -> list[Transfer]:
        return self._store.transfers_touching(
            account_ids,
            since=since,
            until=until,
            codes=codes,
            phases=phases,
            limit=limit,
            offset=offset,
            newest_first=newest_first,
        )

    def chain_head(self) -> tuple[int, str]:
        """(seq, row hash) of the ledger's last row."""
        return self._store.chain_head()

    def usage_covering(self, meter_account_id: int, piece: int) -> Transfer | None:
        """The meter's usage report that counted ``piece`` (pieces are numbered 1, 2, ...
        across the meter's usage reports, in ledger order)."""
        return self._store.usage_covering(meter_account_id, piece)

    # -------------------------------------------------------- meters' registers

    def open_meter(self, serial: str, customer: CustomerAccount, operator: str) -> MeterRegisters:
        """Open meter ``serial``'s ledger account and its registers (all zero)."""
        account = self.add_account(
            meter_code(serial), AccountKind.METER, customer.currency, customer.id, 0, True, False
        )
        registers = MeterRegisters(account.id, serial, customer.id, operator, customer.currency)
        self._store.add_meter(registers)
        return registers

    def meter_by_serial(self, serial: str) -> MeterRegisters | None:
        return self._store.meter_by_serial(serial)

    def meters_for_accounts(self, account_ids: Iterable[int]) -> dict[int, MeterRegisters]:
        return self._store.meters_for_accounts(account_ids)

    def set_meter_status(self, account_id: int, status: str) -> None:
        self._store.set_meter_status(account_id, status)

    def withdrawn_meters(self) -> list[str]:
        """Serials of the meters taken out of service."""
        return self._store.withdrawn_serials()


#: The transfers a customer calls refills: money into the postage account, postage
#: from it into a meter.
REFILL_CODES = frozenset({TransferCode.DEPOSIT, TransferCode.REFILL})


@attrs.frozen
class RecentRefill:
    """A refill as the customer sees it: money added to the postage account, or (with
    ``meter``, its serial) postage loaded from it into a meter."""

    at: datetime
    amount: Money
    meter: str | None


@attrs.frozen
class PostageOverview:
    """What the portal's dashboard shows of the ledger: see ``postage_overview``."""

    currency: str
    account: LedgerAccount | None
    refills: list[RecentRefill]

    @property
    def available_mills(self) -> int:
        """What may still be spent: the posted balance less reservations (no credit line)."""
        return 0 if self.account is None else self.account.balances.available


def _history(store: LedgerRepository, transfers: Sequence[Transfer]) -> list[HistoryItem]:
    codes = store.codes_by_id(
        x for t in transfers for x in (t.debit_account_id, t.credit_account_id)
    )
    return [
        HistoryItem(t, codes[t.debit_account_id], codes[t.credit_account_id]) for t in transfers
    ]
