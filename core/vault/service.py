"""The vault's use cases (``pr.vault``). Every check and write of one request runs in
one transaction with the touched accounts locked in ascending id order, then the chain
head; the rows are appended with their hash, and the invariants are asserted before
the commit.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import attrs
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from postroom.core.accounts.model import CustomerAccount, parse_account_number, parse_currency
from postroom.core.accounts.store import AccountStore
from postroom.core.clock import Clock
from postroom.core.db import Database, UnitOfWork
from postroom.core.errors import (
    ConfigurationError,
    Conflict,
    InsufficientFunds,
    Locked,
    NotFound,
    PermissionDenied,
    PostroomError,
    ValidationError,
)
from postroom.core.meters import tokens as prt
from postroom.core.meters.store import MeterStore
from postroom.core.meters.sync import verify_signed
from postroom.core.meters.tokens import ResetToken
from postroom.core.money import Money
from postroom.core.vault.funding_store import refills_locked
from postroom.core.vault.model import (
    FUNDS_KINDS,
    GENESIS_HASH,
    POSTING_PHASES,
    REPORT_TYPE_OF,
    RESET_TOKEN_TTL_SECONDS,
    TOKEN_CANCEL_GRACE_SECONDS,
    AccountKind,
    Amount,
    Balances,
    CancelledToken,
    ChainKey,
    ChainSeal,
    Checkpoint,
    HistoryItem,
    IssuedToken,
    LedgerAccount,
    LedgerInvariantBroken,
    MeterRegisters,
    Phase,
    Problem,
    Refill,
    ReportEntry,
    ReportType,
    TransactionReport,
    Transfer,
    TransferCode,
    TransferRequest,
    VerifyReport,
    body_fingerprint,
    check_amount,
    check_cost_center,
    client_transfer_id,
    codes_of,
    customer_transfer_id,
    effects,
    refill_cancel_id,
    refill_proof,
    sum_balances,
)
from postroom.core.vault.refund_store import RefundStore
from postroom.core.vault.store import (
    IssuedReset,
    LedgerStore,
    LockedAccounts,
    ResetTokenStore,
    post_at_once,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BATCH = 8190
MAX_PROBLEMS = 100
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


def _clean_operator(operator: str) -> str:
    clean = operator.strip().upper()
    if not clean or len(clean) > 40 or not clean.replace("_", "").replace("-", "").isalnum():
        raise ValidationError(f"invalid postal operator {operator!r}", code="invalid_operator")
    return clean


def _clean_serial(serial: str) -> str:
    """A serial the meter's reset tokens can carry (one rule: ``tokens.check_serial``)."""
    clean = serial.strip()
    prt.check_serial(clean)
    return clean


class VaultService:
    """``pr.vault``: the postage ledger and the meter registers."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        ledger_key: ChainKey,
        secret: Callable[[], str] | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._key = ledger_key
        self._secret = secret
        # Account code -> id, as the ledger's locks last saw them: a code never changes
        # its account, and the one-statement debit re-checks the pair before using it.
        self._account_ids: dict[str, int] = {}
        self._debit_listeners: list[Callable[[int], None]] = []

    def _installation_secret(self) -> str:
        if self._secret is None:
            raise ConfigurationError(
                "reset tokens need the installation secret", code="no_secret_key"
            )
        return self._secret()

    def device_reset_key(self, serial: str) -> bytes:
        """The reset-token key of meter ``serial``: what its device needs, loaded at the
        factory, to check this data center's tokens (``tokens.meter_key``). Secret."""
        return prt.meter_key(self._installation_secret(), serial.strip())

    @staticmethod
    def _token(key: bytes, issued: IssuedReset) -> tuple[ResetToken, bytes]:
        """The PRT1 token of a recorded refill, the same bytes every time it is asked for.

        Its nonce is derived from the meter key and the transfer id, so a replayed refill
        hands back the token it issued first without the vault storing token bytes.
        """
        nonce = hmac.new(
            key, b"nonce\x00" + issued.transfer_id.encode("utf-8"), hashlib.sha256
        ).digest()[: prt.NONCE_SIZE]
        raw = prt.issue(
            key, issued.serial, issued.sequence, issued.amount, issued.expires_at, nonce=nonce
        )
        return prt.decode(raw)[0], raw

    def add_debit_listener(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(postage_account_id)`` after a refill or a postage reservation
        debited a customer's postage account (after the commit). Funding uses it to run
        the auto-refill rule and low-balance alerts; a failing listener is logged."""
        self._debit_listeners.append(listener)

    def _debited(self, account_id: int) -> None:
        for listener in self._debit_listeners:
            try:
                listener(account_id)
            except Exception:  # the debit is committed; a listener must not undo its answer
                log.exception("debit listener failed for ledger account %s", account_id)

    def execute_in(self, uow: UnitOfWork, requests: Sequence[TransferRequest]) -> list[Transfer]:
        """Apply ``requests`` as one linked batch inside the caller's unit of work, so that
        another area's rows and the ledger rows commit together. The caller commits.

        Lock the debited accounts and check their balances first: an insufficient-funds
        refusal commits its failure record (and so the caller's earlier writes).
        """
        for request in requests:
            request.validate()
        return self._execute(uow, requests)

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
                    raise _currency_mismatch(credit_limit.currency, customer.currency)
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
            account = self._system_account(LedgerStore(uow.connection), kind, currency, operator)
            uow.commit()
            return account

        try:
            return self._db.run(work)
        except IntegrityError:  # opened by a concurrent first use (two first prints): read it
            return self._db.run(work)

    def account(self, code: str) -> LedgerAccount:
        def work(uow: UnitOfWork) -> LedgerAccount:
            account = LedgerStore(uow.connection).account_by_code(code)
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
        return self._db.run(lambda uow: LedgerStore(uow.connection).chain_head()[0], readonly=True)

    def accounts(self) -> list[LedgerAccount]:
        return self._db.run(lambda uow: LedgerStore(uow.connection).accounts(), readonly=True)

    def history(self, code: str, *, limit: int = 100) -> list[Transfer]:
        def work(uow: UnitOfWork) -> list[Transfer]:
            store = LedgerStore(uow.connection)
            account = store.account_by_code(code)
            if account is None:
                raise NotFound(f"no ledger account {code!r}", code="account_not_found")
            return store.transfers_of(account.id, limit)

        return self._db.run(work, readonly=True)

    # ------------------------------------------------- a customer's own objects

    def meters(self, customer_number: str) -> list[MeterRegisters]:
        """The customer's meters (withdrawn ones included), by serial."""

        def work(uow: UnitOfWork) -> list[MeterRegisters]:
            customer = self._customer(uow, customer_number)
            store = LedgerStore(uow.connection)
            ids = [
                a.id for a in store.accounts(owner_id=customer.id) if a.kind is AccountKind.METER
            ]
            return sorted(store.meters_for_accounts(ids).values(), key=lambda m: m.serial)

        return self._db.run(work, readonly=True)

    def customer_meter(self, customer_number: str, serial: str) -> MeterRegisters:
        """The customer's meter ``serial``; another customer's answers ``meter_not_found``."""

        def work(uow: UnitOfWork) -> MeterRegisters:
            customer = self._customer(uow, customer_number)
            meter = _meter(LedgerStore(uow.connection), serial)
            if meter.customer_account_id != customer.id:
                raise NotFound(f"no meter {serial!r}", code="meter_not_found")
            return meter

        return self._db.run(work, readonly=True)

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
            store = LedgerStore(uow.connection)
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
            store = LedgerStore(uow.connection)
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
            store = LedgerStore(uow.connection)
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
            if RefundStore(uow.connection).is_closed(postage.id):
                raise _account_closed(postage.code)  # before a funds check could answer
            store = LedgerStore(uow.connection)
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
            _refuse_closed(uow, postage, done[0])
            uow.commit()
            return done[0], postage.id

        reserved, account_id = self._run_idempotent(work)
        self._debited(account_id)
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
            return post_at_once(self._db, row, debit_code, credit_code, self._key)
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
            done = self.deposit_in(uow, customer_number, amount, transfer_id, reference=reference)
            uow.commit()
            return [done]

        return self._run_idempotent(work)[0]

    def deposit_in(
        self,
        uow: UnitOfWork,
        customer_number: str,
        amount: Amount,
        transfer_id: str,
        *,
        reference: str = "",
    ) -> Transfer:
        """``deposit`` inside the caller's unit of work (an audited manual deposit)."""
        mills = check_amount(amount.mills)
        postage = self._postage_account(uow, customer_number, create=True)
        if amount.currency != postage.currency:
            raise _currency_mismatch(amount.currency, postage.currency)
        store = LedgerStore(uow.connection)
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
        _refuse_closed(uow, postage, done[0])
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
            lambda uow: LedgerStore(uow.connection).expired_pending(now, limit), readonly=True
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

    # -------------------------------------------------------------------- meters

    def register_meter(self, serial: str, customer_number: str, operator: str) -> MeterRegisters:
        clean_serial = _clean_serial(serial)
        clean_operator = _clean_operator(operator)

        def work(uow: UnitOfWork) -> MeterRegisters:
            store = LedgerStore(uow.connection)
            customer = self._customer(uow, customer_number)
            if store.meter_by_serial(clean_serial) is not None:
                raise Conflict(f"meter {clean_serial} is registered", code="meter_exists")
            postage = self._postage_account(uow, customer.number, create=True)  # refills' source
            if RefundStore(uow.connection).is_closed(postage.id):
                raise _account_closed(postage.code)
            account = store.add_account(
                meter_code(clean_serial),
                AccountKind.METER,
                customer.currency,
                customer.id,
                0,
                True,
                False,
                self._clock.now(),
            )
            registers = MeterRegisters(
                account.id, clean_serial, customer.id, clean_operator, customer.currency
            )
            store.add_meter(registers)
            uow.commit()
            return registers

        return self._db.run(work)

    def registers(self, serial: str) -> MeterRegisters:
        def work(uow: UnitOfWork) -> MeterRegisters:
            return _meter(LedgerStore(uow.connection), serial)

        return self._db.run(work, readonly=True)

    def refill(
        self, serial: str, amount: Amount, transfer_id: str, *, reference: str = ""
    ) -> Refill:
        """Move funds from the owner's postage account into the meter's descending register
        and issue the reset token the meter applies at its next sync."""
        mills = check_amount(amount.mills)
        secret = self._installation_secret()

        def work(uow: UnitOfWork) -> Refill:
            store = LedgerStore(uow.connection)
            meter = _meter(store, serial)
            key = prt.meter_key(secret, meter.serial)  # the serial fits a PRT1 token
            if amount.currency != meter.currency:
                raise _currency_mismatch(amount.currency, meter.currency)
            _active(store, meter, transfer_id)
            postage = next(
                (
                    a
                    for a in store.accounts(owner_id=meter.customer_account_id)
                    if a.kind is AccountKind.POSTAGE
                ),
                None,
            )
            if postage is None:
                raise NotFound(
                    "the meter's customer has no postage account", code="no_postage_account"
                )
            if refills_locked(uow.connection, meter.customer_account_id) and not store.ids_seen(
                [transfer_id]
            ):
                # 39 CFR 501.16: no resetting while a returned payment is unpaid.
                raise Locked(
                    "refills are locked until the returned or failed payment is paid",
                    code="refills_locked",
                )
            request = TransferRequest(
                id=transfer_id,
                debit=postage.id,
                credit=meter.account_id,
                amount=mills,
                currency=amount.currency,
                code=TransferCode.REFILL,
                reference=reference,
            )
            request.validate()
            done = self._execute(uow, [request])[0]
            _refuse_closed(uow, postage, done)
            issued_tokens = ResetTokenStore(uow.connection)
            issued = issued_tokens.by_transfer(done.id)
            if issued is None:  # a first refill, not a replay: the meter account is locked
                expires = self._clock.now() + timedelta(seconds=RESET_TOKEN_TTL_SECONDS)
                issued = IssuedReset(
                    serial=meter.serial,
                    sequence=issued_tokens.next_sequence(meter.serial),
                    transfer_id=done.id,
                    amount=Money(done.amount, done.currency),
                    expires_at=expires.replace(microsecond=0),
                )
                issued_tokens.add(issued, self._clock.now())
            reset, raw = self._token(key, issued)
            uow.commit()
            return Refill(done, prt.to_text(raw), reset)

        refilled = self._run_idempotent(work)
        self._debited(refilled.transfer.debit_account_id)
        return refilled

    def apply_reset_token(
        self, serial: str, token: str, *, proof: Mapping[str, Any] | None = None
    ) -> ResetToken:
        """A meter reports at sync that it applied ``token`` (its text form): recorded once.

        Without ``proof`` it is checked as the device checks it (``tokens.verify`` under
        the meter's key, at the vault's clock, after the last sequence applied for that
        meter): ``token_malformed``, ``token_forged`` (another meter's or data center's
        key, or a token this vault never issued), ``token_wrong_meter``,
        ``token_expired``, ``token_replayed``.

        ``proof`` is the device's signed ``refill`` reply. The device checked the
        token's expiry and order against its own clock and registers when it applied it,
        so a proven token is recorded however late its sync arrives: the signature must
        verify under the device key pinned in the registry (``no_public_key``,
        ``signature_invalid``) and the reply name this token (``token_proof_mismatch``);
        the device's time of application is stored when the reply carries it. A token
        never issued, another meter's, or one recorded already is refused all the same.

        A cancelled token (expired unapplied, its refill returned) is ``token_cancelled``.
        None of the refusals writes.
        """
        clean = serial.strip()
        key = prt.meter_key(self._installation_secret(), clean)
        raw = prt.from_text(token)

        def work(uow: UnitOfWork) -> ResetToken:
            issued_tokens = ResetTokenStore(uow.connection)
            issued = issued_tokens.for_meter(clean)
            device_at = None
            reset = prt.authenticate(key, raw, clean)
            found = next((i for i in issued if i.sequence == reset.sequence), None)
            if found is None or self._token(key, found)[1] != raw:
                raise PermissionDenied(
                    "this vault did not issue this reset token", code="token_forged"
                )
            if found.cancelled_at is not None:
                raise Conflict(
                    f"reset token {found.sequence} was cancelled: its refill went back to"
                    " the postage account",
                    code="token_cancelled",
                    sequence=found.sequence,
                    transfer_id=found.cancel_transfer_id,
                )
            if proof is None:
                last = max((i.sequence for i in issued if i.applied_at is not None), default=0)
                prt.verify(key, raw, clean, self._clock.now(), last_sequence=last)
            elif found.applied_at is not None:
                raise Conflict("this reset token was applied already", code="token_replayed")
            else:
                device_at = refill_proof(_device_signed(uow, clean, proof), reset)
            if not issued_tokens.mark_applied(clean, reset.sequence, self._clock.now(), device_at):
                raise Conflict(  # recorded or cancelled by a twin meanwhile (PostgreSQL)
                    "this reset token was applied or cancelled already", code="token_replayed"
                )
            uow.commit()
            return reset

        return self._db.run(work)

    def cancel_reset_token(self, serial: str, sequence: int) -> CancelledToken:
        """Cancel the refill of meter ``serial``'s token ``sequence`` once it has expired
        unapplied: its amount goes back from the meter to the customer's postage account
        (transfer ``prc:<serial>:<sequence>``, code ``refill_cancel``, the refill's id as
        its reference) and the token can never be recorded applied afterwards.

        Idempotent: a cancelled token answers its first cancellation. Refused:
        ``token_not_found``, ``token_applied`` (recorded applied, here or by a twin in
        the same instant), ``token_not_expired``, ``sync_token`` (amount 0: nothing to
        return), ``meter_withdrawn`` (the withdrawal returned the funds already),
        ``refill_not_covered`` (the meter's account holds less than the refill: the
        ledger and the device disagree, a person looks). None of the refusals writes.
        """
        clean = serial.strip()
        cancel_id = refill_cancel_id(clean, sequence)

        def work(uow: UnitOfWork) -> CancelledToken:
            store = LedgerStore(uow.connection)
            issued_tokens = ResetTokenStore(uow.connection)
            mine = issued_tokens.for_meter(clean)  # locked (PostgreSQL): applies wait
            found = next((i for i in mine if i.sequence == sequence), None)
            if found is None:
                raise NotFound(f"meter {clean} has no token {sequence}", code="token_not_found")
            if found.cancelled_at is not None:
                return self._cancelled(uow, found)
            if found.applied_at is not None:
                raise Conflict(f"token {sequence} was applied", code="token_applied")
            if found.amount.mills == 0:
                raise ValidationError("a sync token holds no money", code="sync_token")
            now = self._clock.now()
            if now < found.expires_at:
                raise Conflict(
                    f"token {sequence} is valid until {found.expires_at.isoformat()}",
                    code="token_not_expired",
                )
            meter = _meter(store, clean)
            if meter.status != "active":
                raise Conflict(f"meter {meter.serial} is withdrawn", code="meter_withdrawn")
            postage = next(
                a
                for a in store.accounts(owner_id=meter.customer_account_id)
                if a.kind is AccountKind.POSTAGE
            )
            store.lock_accounts([meter.account_id, postage.id])
            meter = _meter(store, clean)  # re-read under the lock
            if meter.descending < found.amount.mills:
                # Checked here, not left to the ledger: a refused transfer id stays failed,
                # and this cancellation must be able to run once the difference is settled.
                raise Conflict(
                    f"meter {clean} holds {meter.descending} mills, less than the"
                    f" {found.amount.mills} of token {sequence}",
                    code="refill_not_covered",
                )
            request = TransferRequest(
                id=cancel_id,
                debit=meter.account_id,
                credit=postage.id,
                amount=found.amount.mills,
                currency=found.amount.currency,
                code=TransferCode.REFILL_CANCEL,
                reference=found.transfer_id,
            )
            request.validate()
            self._execute(uow, [request])
            if not issued_tokens.mark_cancelled(clean, sequence, cancel_id, now):
                # recorded applied by a twin since it was read: nothing of this stands
                raise Conflict(f"token {sequence} was applied", code="token_applied")
            cancelled = self._cancelled(uow, found)
            uow.commit()
            return cancelled

        return self._run_idempotent(work)

    def cancel_expired_tokens(self, *, limit: int = 1000) -> list[CancelledToken]:
        """Cancel every refill whose token expired ``TOKEN_CANCEL_GRACE_SECONDS`` ago
        unapplied (the worker runs this); a token this run cannot cancel (withdrawn
        meter, not covered, applied meanwhile) is logged and left. Idempotent."""
        before = self._clock.now() - timedelta(seconds=TOKEN_CANCEL_GRACE_SECONDS)
        candidates = self._db.run(
            lambda uow: ResetTokenStore(uow.connection).expired_unapplied(before, limit),
            readonly=True,
        )
        done = []
        for issued in candidates:
            try:
                done.append(self.cancel_reset_token(issued.serial, issued.sequence))
            except PostroomError as error:
                log.warning(
                    "not cancelling token %s of meter %s: %s",
                    issued.sequence,
                    issued.serial,
                    error.message,
                )
        return done

    def cancellations_to_notify(self, *, limit: int = 1000) -> list[CancelledToken]:
        """Cancelled refills whose customer was not told yet (``mark_cancellation_notified``)."""

        def work(uow: UnitOfWork) -> list[CancelledToken]:
            found = ResetTokenStore(uow.connection).cancelled_unnotified(limit)
            return [self._cancelled(uow, issued) for issued in found]

        return self._db.run(work, readonly=True)

    def mark_cancellation_notified(
        self,
        serial: str,
        sequence: int,
        queue: Callable[[Connection], str] | None = None,
    ) -> str | None:
        """Mark that the customer is told of this cancellation; ``queue`` writes that
        message in the same transaction (the outbox) and gives its id. None when it was
        marked already (nothing is queued twice), else the message id ("" without
        ``queue``)."""

        def work(uow: UnitOfWork) -> str | None:
            marked = ResetTokenStore(uow.connection).mark_cancel_notified(
                serial.strip(), sequence, self._clock.now()
            )
            if not marked:
                return None
            queued = queue(uow.connection) if queue is not None else ""
            uow.commit()
            return queued

        return self._db.run(work)

    def _cancelled(self, uow: UnitOfWork, issued: IssuedReset) -> CancelledToken:
        store = LedgerStore(uow.connection)
        transfer_id = issued.cancel_transfer_id or refill_cancel_id(issued.serial, issued.sequence)
        transfer = store.transfers_by_id([transfer_id]).get(transfer_id)
        if transfer is None:
            raise LedgerInvariantBroken(f"cancelled token {issued.sequence} has no transfer")
        meter = _meter(store, issued.serial)
        customer = AccountStore(uow.connection).get_by_id(meter.customer_account_id)
        if customer is None:
            raise LedgerInvariantBroken(f"meter {issued.serial} has no customer")
        return CancelledToken(
            serial=issued.serial,
            sequence=issued.sequence,
            refill_id=issued.transfer_id,
            amount=issued.amount,
            transfer=transfer,
            customer_number=customer.number,
        )

    def issue_sync_token(self, serial: str, token_id: str) -> IssuedToken:
        """A zero-amount reset token for meter ``serial``: applied at a sync, it records a
        data-center contact (the device's inspection clock) and moves no money.

        Idempotent by ``token_id`` (the same id hands back the same token). It takes the
        meter's next sequence, like a refill's token. Not for a withdrawn meter.
        """
        clean = serial.strip()
        key = prt.meter_key(self._installation_secret(), clean)
        if not isinstance(token_id, str) or not 1 <= len(token_id) <= 79:
            raise ValidationError("a sync token id is 1 to 79 characters", code="invalid_id")
        # "~" is not allowed in transfer ids: a sync token never takes a refill's id.
        row_id = "~" + token_id

        def work(uow: UnitOfWork) -> IssuedToken:
            store = LedgerStore(uow.connection)
            meter = _meter(store, clean)
            issued_tokens = ResetTokenStore(uow.connection)
            issued = issued_tokens.by_transfer(row_id)
            if issued is None:
                if meter.status != "active":
                    raise Conflict(f"meter {meter.serial} is withdrawn", code="meter_withdrawn")
                issued_tokens.for_meter(meter.serial)  # the meter's tokens locked (PostgreSQL)
                expires = self._clock.now() + timedelta(seconds=RESET_TOKEN_TTL_SECONDS)
                issued = IssuedReset(
                    serial=meter.serial,
                    sequence=issued_tokens.next_sequence(meter.serial),
                    transfer_id=row_id,
                    amount=Money(0, meter.currency),
                    expires_at=expires.replace(microsecond=0),
                )
                issued_tokens.add(issued, self._clock.now())
                uow.commit()
            reset, raw = self._token(key, issued)
            return _issued_token(reset, raw, issued)

        return self._run_idempotent(work)

    def issued_tokens(self, serial: str) -> list[IssuedToken]:
        """Every reset token issued for meter ``serial`` (refills' and sync tokens), by
        sequence, with whether its application was recorded or it was cancelled."""
        clean = serial.strip()
        key = prt.meter_key(self._installation_secret(), clean)

        def work(uow: UnitOfWork) -> list[IssuedToken]:
            _meter(LedgerStore(uow.connection), clean)
            found = []
            for issued in ResetTokenStore(uow.connection).for_meter(clean):
                reset, raw = self._token(key, issued)
                found.append(_issued_token(reset, raw, issued))
            return found

        return self._db.run(work, readonly=True)

    def record_usage(
        self,
        serial: str,
        amount: Amount,
        pieces: int,
        transfer_id: str,
        *,
        reference: str = "",
        cost_center: str | None = None,
    ) -> Transfer:
        """Postage printed by the meter: descending register -> postage used (its operator)."""
        mills = check_amount(amount.mills)
        if isinstance(pieces, bool) or not isinstance(pieces, int) or pieces < 1:
            raise ValidationError("usage covers one piece or more", code="invalid_pieces")

        def work(uow: UnitOfWork) -> list[Transfer]:
            store = LedgerStore(uow.connection)
            meter = _meter(store, serial)
            if amount.currency != meter.currency:
                raise _currency_mismatch(amount.currency, meter.currency)
            _active(store, meter, transfer_id)
            used = self._system_account(
                store, AccountKind.POSTAGE_USED, meter.currency, meter.operator
            )
            request = TransferRequest(
                id=transfer_id,
                debit=meter.account_id,
                credit=used.id,
                amount=mills,
                currency=amount.currency,
                code=TransferCode.USAGE,
                pieces=pieces,
                reference=reference,
                cost_center=cost_center,
            )
            return self._post_one(uow, request)

        return self._run_idempotent(work)[0]

    def withdraw_meter(self, serial: str, transfer_id: str) -> Transfer | None:
        """Take a meter out of service: its remaining funds return to the postage account.

        None when the meter held nothing (no ledger row is needed).
        """
        return self._retire(serial, None, transfer_id)

    def replace_meter(self, old_serial: str, new_serial: str, transfer_id: str) -> Transfer | None:
        """Move a replaced meter's funds into its (registered) successor and withdraw it."""
        return self._retire(old_serial, new_serial, transfer_id)

    def _retire(self, serial: str, successor: str | None, transfer_id: str) -> Transfer | None:
        def work(uow: UnitOfWork) -> Transfer | None:
            store = LedgerStore(uow.connection)
            meter = _meter(store, serial)
            if meter.status != "active":
                replay = store.transfers_by_id([transfer_id]).get(transfer_id)
                if replay is not None and replay.debit_account_id == meter.account_id:
                    return replay
                raise Conflict(f"meter {meter.serial} is withdrawn", code="meter_withdrawn")
            if successor is not None:
                target = _meter(store, successor)
                if target.account_id == meter.account_id:
                    raise ValidationError("a meter cannot replace itself", code="same_account")
                _active(store, target, transfer_id)
                if (target.customer_account_id, target.currency) != (
                    meter.customer_account_id,
                    meter.currency,
                ):
                    raise ValidationError(
                        "the new meter belongs to another customer or currency",
                        code="meter_mismatch",
                    )
                credit = target.account_id
            else:
                owner = next(
                    a
                    for a in store.accounts(owner_id=meter.customer_account_id)
                    if a.kind is AccountKind.POSTAGE
                )
                credit = owner.id
            store.lock_accounts([meter.account_id, credit])
            meter = _meter(store, serial)  # re-read under the lock: the exact remainder
            done: Transfer | None = None
            if meter.descending > 0:
                request = TransferRequest(
                    id=transfer_id,
                    debit=meter.account_id,
                    credit=credit,
                    amount=meter.descending,
                    currency=meter.currency,
                    code=TransferCode.WITHDRAWAL,
                )
                request.validate()
                done = self._execute(uow, [request])[0]
            store.set_meter_status(meter.account_id, "withdrawn")
            uow.commit()
            return done

        return self._run_idempotent(work)

    # -------------------------------------------------------------------- verify

    def _check_seal(
        self,
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
        elif not hmac.compare_digest(seal.mac, self._key.seal(seal.seq, seal.row_hash)):
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

    def verify(self, checkpoint: Checkpoint | None = None) -> VerifyReport:
        """Re-derive every balance and register from the rows, check the hash chain
        (keyed after the seal) and every invariant, and that the ledger still holds
        ``checkpoint``'s row; problems come in ledger order, so the first names the first
        broken row."""
        return self._db.run(lambda uow: self._verify(uow, checkpoint), readonly=True)

    def seal(self) -> ChainSeal | None:
        """Seal, under the ledger key, the rows written before the chain was keyed, when
        migration ``vault_0009_seal`` recorded their boundary without the key (it seals it
        itself when ``postroom db upgrade`` runs with the key). Refused when those rows
        no longer hash to the recorded boundary. None: no boundary (every row keyed)."""

        def work(uow: UnitOfWork) -> ChainSeal | None:
            store = LedgerStore(uow.connection)
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
            return LedgerStore(uow.connection).chain_head()

        seq, row_hash = self._db.run(read, readonly=True)
        return Checkpoint(seq, row_hash, self._key.checkpoint(seq, row_hash))

    # ------------------------------------ for the vault's other use cases (refunds.py)

    def transfers_in(self, uow: UnitOfWork, requests: Sequence[TransferRequest]) -> list[Transfer]:
        """Validate and apply ``requests`` as one linked batch in the caller's unit of work
        (the caller commits): for use cases that change their own rows with the ledger's."""
        for request in requests:
            request.validate()
        return self._execute(uow, requests)

    def system_account_in(
        self, uow: UnitOfWork, kind: AccountKind, currency: str, operator: str | None = None
    ) -> LedgerAccount:
        """``system_account`` in the caller's unit of work."""
        return self._system_account(LedgerStore(uow.connection), kind, currency, operator)

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

    def _customer(self, uow: UnitOfWork, customer_number: str) -> CustomerAccount:
        number = parse_account_number(customer_number)
        customer = AccountStore(uow.connection).get_by_number(number)
        if customer is None:
            raise NotFound(f"no customer account {number}", code="account_not_found")
        return customer

    def _postage_account(
        self, uow: UnitOfWork, customer_number: str, *, create: bool, credit_limit: int = 0
    ) -> LedgerAccount:
        customer = self._customer(uow, customer_number)
        store = LedgerStore(uow.connection)
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
        self, store: LedgerStore, kind: AccountKind, currency: str, operator: str | None = None
    ) -> LedgerAccount:
        currency = parse_currency(currency)
        if operator is not None:
            operator = _clean_operator(operator)
        code = system_code(kind, currency, operator)
        account = store.account_by_code(code)
        if account is None:
            account = store.add_account(
                code, kind, currency, None, 0, False, False, self._clock.now()
            )
        return account

    def _execute(self, uow: UnitOfWork, requests: Sequence[TransferRequest]) -> list[Transfer]:
        """Check and apply one linked batch inside the caller's transaction.

        The first statement locks the accounts (ascending id) and pre-checks the ids;
        every rule is checked on the locked rows; nothing is written before the rows
        are appended, so a request found to be a replay answers with nothing written.
        """
        store = LedgerStore(uow.connection)
        now = self._clock.now()
        ids = [r.id for r in requests]
        if len(set(ids)) != len(ids):
            raise ValidationError("a transfer id appears twice in the batch", code="duplicate_id")
        fingerprints = _fingerprints(requests)

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
        self._account_ids.update(locked.ids_by_code)
        if locked.seen or not locked.accounts:
            replay = _replay(store, requests, fingerprints)
            if replay is not None:
                return replay

        try:
            built, balances = self._check(store, requests, locked, pendings, fingerprints, now)
            meters = _meters_after(store, built, locked.accounts, balances)
        except PostroomError as refused:
            # On PostgreSQL the pre-check read a snapshot older than the locks: a twin
            # that committed meanwhile answers instead (this statement sees it).
            replay = _replay(store, requests, fingerprints)
            if replay is not None:
                return replay
            if isinstance(refused, InsufficientFunds):
                failed = str(refused.details["transfer_id"])
                store.add_failure(failed, fingerprints[failed], refused.code, refused.message, now)
                uow.commit()  # the failure sticks: this id stays failed
            raise

        changed = {i: b for i, b in balances.items() if b != locked.accounts[i].balances}
        sealed = store.append_transfers(built, changed, self._key)
        if sealed is None:  # a twin took one of the ids while this one waited for the locks
            replay = _replay(store, requests, fingerprints)
            if replay is None:
                raise LedgerInvariantBroken("a transfer id was taken but no row holds it")
            return replay
        store.save_all_registers(meters)
        return sealed

    def _check(
        self,
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
                            raise _currency_mismatch(currency, account.currency, account.code)
                    pair = pairs[r.debit, r.credit, r.currency] = (debit.id, credit.id, currency)
                debit_id, credit_id, currency = pair
                amount = check_amount(r.amount)
                timeout_at = (
                    now + timedelta(seconds=r.timeout_seconds) if r.timeout_seconds else None
                )
            else:
                pending = pendings.get(str(r.pending_id))
                if pending is None:
                    raise NotFound(
                        f"no pending transfer {r.pending_id}", code="pending_transfer_not_found"
                    )
                if pending.phase is not Phase.PENDING:
                    raise ValidationError(
                        f"transfer {pending.id} is not pending", code="not_pending"
                    )
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
                    raise _currency_mismatch(r.currency, pending.currency)
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
                        available_mills=balances[affected].available
                        + accounts[affected].credit_limit,
                    )
                if why is not None:
                    raise Conflict(
                        f"{accounts[affected].code} refuses this transfer ({why})", code=why
                    )
                balances[affected] = after
            built.append(transfer)

        return built, balances

    def _verify(self, uow: UnitOfWork, checkpoint: Checkpoint | None) -> VerifyReport:
        if uow.dialect == "postgresql":
            uow.connection.exec_driver_sql(
                "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
            )
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
            checkpoint.signature, self._key.checkpoint(checkpoint.seq, checkpoint.row_hash)
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
            if t.computed_hash(self._key if keyed else None, t.prev_hash) != t.row_hash:
                problem(
                    "row_altered",
                    f"{where}: content does not match its"
                    + (" keyed hash (altered, or another ledger key)" if keyed else " hash"),
                    t,
                )
            if seal is not None and t.seq == seal.seq:
                self._check_seal(seal, t, where, problem)
            if (
                checkpoint is not None
                and t.seq == checkpoint.seq
                and t.row_hash != checkpoint.row_hash
            ):
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


def _replay(
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
        if (seen is not None and seen.body_hash != fingerprints[r.id]) or (
            failed is not None and failed[0] != fingerprints[r.id]
        ):
            raise Conflict(
                f"transfer id {r.id} was used before with another body",
                code="transfer_id_reused",
                transfer_id=r.id,
            )
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


def _meters_after(
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


def _issued_token(reset: ResetToken, raw: bytes, issued: IssuedReset) -> IssuedToken:
    return IssuedToken(
        reset,
        prt.to_text(raw),
        applied=issued.applied_at is not None,
        cancelled=issued.cancelled_at is not None,
        device_applied_at=issued.device_applied_at,
    )


def _device_signed(uow: UnitOfWork, serial: str, reply: Mapping[str, Any]) -> dict[str, Any]:
    """``reply`` without its signature, once it verifies under meter ``serial``'s device
    key as pinned in the registry (read here: a caller cannot hand the vault a key)."""
    meter = MeterStore(uow.connection).get(serial)
    if meter is None or meter.public_key_pem is None:
        raise Conflict(
            f"meter {serial} has no device key pinned: its replies prove nothing",
            code="no_public_key",
        )
    return verify_signed(meter.public_key_pem, reply)


def _history(store: LedgerStore, transfers: Sequence[Transfer]) -> list[HistoryItem]:
    codes = store.codes_by_id(
        x for t in transfers for x in (t.debit_account_id, t.credit_account_id)
    )
    return [
        HistoryItem(t, codes[t.debit_account_id], codes[t.credit_account_id]) for t in transfers
    ]


def _expired(pending: Transfer, now: datetime) -> bool:
    return pending.timeout_at is not None and pending.timeout_at <= now


def _known(
    accounts: dict[int, LedgerAccount], account_id: int | None, ref: object
) -> LedgerAccount:
    if account_id is None or account_id not in accounts:
        raise NotFound(f"no ledger account {ref!r}", code="account_not_found")
    return accounts[account_id]


def _active(store: LedgerStore, meter: MeterRegisters, transfer_id: str) -> None:
    """Refuse to move money through a withdrawn meter (a replay of an old id still answers)."""
    if meter.status != "active" and not store.ids_seen([transfer_id]):
        raise Conflict(f"meter {meter.serial} is withdrawn", code="meter_withdrawn")


def _fingerprints(requests: Sequence[TransferRequest]) -> dict[str, str]:
    """Each request's fingerprint by id, each distinct body hashed once."""
    by_body: dict[tuple[object, ...], str] = {}
    found = {}
    for r in requests:
        body = r.body()
        fingerprint = by_body.get(body)
        if fingerprint is None:
            fingerprint = by_body[body] = body_fingerprint(body)
        found[r.id] = fingerprint
    return found


def _account_closed(code: str) -> Conflict:
    return Conflict(f"{code} is closed", code="account_closed", account=code)


def _refuse_closed(uow: UnitOfWork, account: LedgerAccount, done: Transfer) -> None:
    """Undo a new transfer into or out of a closed postage account; a replay of a transfer
    from before the closing still answers. Called after ``_execute`` locked the account,
    so a closing committed meanwhile is seen."""
    closure = RefundStore(uow.connection).closure(account.id)
    if closure is not None and done.seq > closure.ledger_seq:
        raise _account_closed(account.code)


def _meter(store: LedgerStore, serial: str) -> MeterRegisters:
    meter = store.meter_by_serial(serial.strip())
    if meter is None:
        raise NotFound(f"no meter {serial!r}", code="meter_not_found")
    return meter


def _currency_mismatch(given: str, expected: str, account: str | None = None) -> ValidationError:
    where = f" of {account}" if account else ""
    return ValidationError(
        f"amount in {given} but the account{where} is in {expected}",
        code="currency_mismatch",
    )
