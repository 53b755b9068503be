"""The money side of a meter (``pr.meters.funds``): its registers in the ledger, refills
and the reset tokens that carry them, usage, withdrawal and replacement.

Money moves only through the ledger's API, inside this area's unit of work
(``LedgerService.within``); the reset tokens are this area's own rows
(``refill_store``). The customer account comes from the accounts area's service, and
whether refills are locked (a returned payment unpaid) from funding, through the
``RefillLock`` port that the composition root wires.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy.engine import Connection

from postroom.core.accounts.service import AccountsService
from postroom.core.clock import Clock
from postroom.core.db import Database, UnitOfWork
from postroom.core.errors import (
    ConfigurationError,
    Conflict,
    Locked,
    NotFound,
    PermissionDenied,
    PostroomError,
    ValidationError,
)
from postroom.core.ledger.model import (
    AccountKind,
    Amount,
    LedgerInvariantBroken,
    MeterRegisters,
    Transfer,
    TransferCode,
    TransferRequest,
    account_closed,
    check_amount,
    clean_operator,
    currency_mismatch,
)
from postroom.core.ledger.service import LedgerService, LedgerSession
from postroom.core.meters import tokens as prt
from postroom.core.meters.refill_store import (
    IssuedReset,
    ResetTokenRepositories,
    sql_reset_tokens,
)
from postroom.core.meters.refills import (
    RESET_TOKEN_TTL_SECONDS,
    TOKEN_CANCEL_GRACE_SECONDS,
    CancelledToken,
    IssuedToken,
    Refill,
    refill_cancel_id,
    refill_proof,
)
from postroom.core.meters.store import MeterRepositories, MeterRepository, sql_meters
from postroom.core.meters.sync import verify_signed
from postroom.core.meters.tokens import ResetToken
from postroom.core.money import Money

log = logging.getLogger(__name__)


class RefillLock(Protocol):
    """Whether refills of a customer's meters are locked (39 CFR 501.16: a returned or
    failed payment unpaid), read in the refill's unit of work. Funding answers it."""

    def __call__(self, uow: UnitOfWork, customer_account_id: int) -> bool: ...


class MeterFunds:
    """``pr.meters.funds``: meter registers, refills, reset tokens and usage."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        ledger: LedgerService,
        accounts: AccountsService,
        *,
        refills_locked: RefillLock,
        secret: Callable[[], str] | None = None,
        reset_tokens: ResetTokenRepositories = sql_reset_tokens,
        meters: MeterRepositories = sql_meters,
    ) -> None:
        #: the area's repositories in a unit of work (the unit tests hand in fakes)
        self._reset_tokens = reset_tokens
        self._meters = meters
        self._db = db
        self._clock = clock
        self._ledger = ledger
        self._accounts = accounts
        self._refills_locked = refills_locked
        self._secret = secret

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

    def meters(self, customer_number: str) -> list[MeterRegisters]:
        """The customer's meters (withdrawn ones included), by serial."""

        def work(uow: UnitOfWork) -> list[MeterRegisters]:
            customer = self._accounts.customer_in(uow, customer_number)
            ledger = self._ledger.within(uow)
            ids = [
                a.id for a in ledger.accounts(owner_id=customer.id) if a.kind is AccountKind.METER
            ]
            return sorted(ledger.meters_for_accounts(ids).values(), key=lambda m: m.serial)

        return self._db.run(work, readonly=True)

    def customer_meter(self, customer_number: str, serial: str) -> MeterRegisters:
        """The customer's meter ``serial``; another customer's answers ``meter_not_found``."""

        def work(uow: UnitOfWork) -> MeterRegisters:
            customer = self._accounts.customer_in(uow, customer_number)
            meter = _meter(self._ledger.within(uow), serial)
            if meter.customer_account_id != customer.id:
                raise NotFound(f"no meter {serial!r}", code="meter_not_found")
            return meter

        return self._db.run(work, readonly=True)

    # -------------------------------------------------------------------- meters

    def register_meter(self, serial: str, customer_number: str, operator: str) -> MeterRegisters:
        clean_serial = _clean_serial(serial)
        operator_code = clean_operator(operator)

        def work(uow: UnitOfWork) -> MeterRegisters:
            ledger = self._ledger.within(uow)
            customer = self._accounts.customer_in(uow, customer_number)
            if ledger.meter_by_serial(clean_serial) is not None:
                raise Conflict(f"meter {clean_serial} is registered", code="meter_exists")
            postage = ledger.postage_account(customer.number, create=True)  # refills' source
            if self._accounts.is_closed_in(uow, postage.id):
                raise account_closed(postage.code)
            registers = ledger.open_meter(clean_serial, customer, operator_code)
            uow.commit()
            return registers

        return self._db.run(work)

    def registers(self, serial: str) -> MeterRegisters:
        def work(uow: UnitOfWork) -> MeterRegisters:
            return _meter(self._ledger.within(uow), serial)

        return self._db.run(work, readonly=True)

    def refill(
        self, serial: str, amount: Amount, transfer_id: str, *, reference: str = ""
    ) -> Refill:
        """Move funds from the owner's postage account into the meter's descending register
        and issue the reset token the meter applies at its next sync."""
        mills = check_amount(amount.mills)
        secret = self._installation_secret()

        def work(uow: UnitOfWork) -> Refill:
            ledger = self._ledger.within(uow)
            meter = _meter(ledger, serial)
            key = prt.meter_key(secret, meter.serial)  # the serial fits a PRT1 token
            if amount.currency != meter.currency:
                raise currency_mismatch(amount.currency, meter.currency)
            _active(ledger, meter, transfer_id)
            postage = next(
                (
                    a
                    for a in ledger.accounts(owner_id=meter.customer_account_id)
                    if a.kind is AccountKind.POSTAGE
                ),
                None,
            )
            if postage is None:
                raise NotFound(
                    "the meter's customer has no postage account", code="no_postage_account"
                )
            if self._refills_locked(uow, meter.customer_account_id) and not ledger.ids_seen(
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
            done = ledger.post([request])[0]
            ledger.refuse_closed(postage, done)
            issued_tokens = self._reset_tokens(uow)
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

        refilled = self._ledger.run_idempotent(work)
        self._ledger.debited(refilled.transfer.debit_account_id)
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
            issued_tokens = self._reset_tokens(uow)
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
                device_at = refill_proof(_device_signed(self._meters(uow), clean, proof), reset)
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
            ledger = self._ledger.within(uow)
            issued_tokens = self._reset_tokens(uow)
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
            meter = _meter(ledger, clean)
            if meter.status != "active":
                raise Conflict(f"meter {meter.serial} is withdrawn", code="meter_withdrawn")
            postage = next(
                a
                for a in ledger.accounts(owner_id=meter.customer_account_id)
                if a.kind is AccountKind.POSTAGE
            )
            ledger.lock_accounts([meter.account_id, postage.id])
            meter = _meter(ledger, clean)  # re-read under the lock
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
            ledger.post([request])
            if not issued_tokens.mark_cancelled(clean, sequence, cancel_id, now):
                # recorded applied by a twin since it was read: nothing of this stands
                raise Conflict(f"token {sequence} was applied", code="token_applied")
            cancelled = self._cancelled(uow, found)
            uow.commit()
            return cancelled

        return self._ledger.run_idempotent(work)

    def cancel_expired_tokens(self, *, limit: int = 1000) -> list[CancelledToken]:
        """Cancel every refill whose token expired ``TOKEN_CANCEL_GRACE_SECONDS`` ago
        unapplied (the worker runs this); a token this run cannot cancel (withdrawn
        meter, not covered, applied meanwhile) is logged and left. Idempotent."""
        before = self._clock.now() - timedelta(seconds=TOKEN_CANCEL_GRACE_SECONDS)
        candidates = self._db.run(
            lambda uow: self._reset_tokens(uow).expired_unapplied(
                before, limit, withdrawn=self._ledger.within(uow).withdrawn_meters()
            ),
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
            found = self._reset_tokens(uow).cancelled_unnotified(limit)
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
            marked = self._reset_tokens(uow).mark_cancel_notified(
                serial.strip(), sequence, self._clock.now()
            )
            if not marked:
                return None
            queued = queue(uow.connection) if queue is not None else ""
            uow.commit()
            return queued

        return self._db.run(work)

    def _cancelled(self, uow: UnitOfWork, issued: IssuedReset) -> CancelledToken:
        ledger = self._ledger.within(uow)
        transfer_id = issued.cancel_transfer_id or refill_cancel_id(issued.serial, issued.sequence)
        transfer = ledger.transfers_by_id([transfer_id]).get(transfer_id)
        if transfer is None:
            raise LedgerInvariantBroken(f"cancelled token {issued.sequence} has no transfer")
        meter = _meter(ledger, issued.serial)
        customer = self._accounts.customer_by_id_in(uow, meter.customer_account_id)
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
            ledger = self._ledger.within(uow)
            meter = _meter(ledger, clean)
            issued_tokens = self._reset_tokens(uow)
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

        return self._ledger.run_idempotent(work)

    def issued_tokens(self, serial: str) -> list[IssuedToken]:
        """Every reset token issued for meter ``serial`` (refills' and sync tokens), by
        sequence, with whether its application was recorded or it was cancelled."""
        clean = serial.strip()
        key = prt.meter_key(self._installation_secret(), clean)

        def work(uow: UnitOfWork) -> list[IssuedToken]:
            _meter(self._ledger.within(uow), clean)
            found = []
            for issued in self._reset_tokens(uow).for_meter(clean):
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
            ledger = self._ledger.within(uow)
            meter = _meter(ledger, serial)
            if amount.currency != meter.currency:
                raise currency_mismatch(amount.currency, meter.currency)
            _active(ledger, meter, transfer_id)
            used = ledger.system_account(AccountKind.POSTAGE_USED, meter.currency, meter.operator)
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
            request.validate()
            done = ledger.post([request])
            uow.commit()
            return done

        return self._ledger.run_idempotent(work)[0]

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
            ledger = self._ledger.within(uow)
            meter = _meter(ledger, serial)
            if meter.status != "active":
                replay = ledger.transfers_by_id([transfer_id]).get(transfer_id)
                if replay is not None and replay.debit_account_id == meter.account_id:
                    return replay
                raise Conflict(f"meter {meter.serial} is withdrawn", code="meter_withdrawn")
            if successor is not None:
                target = _meter(ledger, successor)
                if target.account_id == meter.account_id:
                    raise ValidationError("a meter cannot replace itself", code="same_account")
                _active(ledger, target, transfer_id)
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
                    for a in ledger.accounts(owner_id=meter.customer_account_id)
                    if a.kind is AccountKind.POSTAGE
                )
                credit = owner.id
            ledger.lock_accounts([meter.account_id, credit])
            meter = _meter(ledger, serial)  # re-read under the lock: the exact remainder
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
                done = ledger.post([request])[0]
            ledger.set_meter_status(meter.account_id, "withdrawn")
            uow.commit()
            return done

        return self._ledger.run_idempotent(work)


def _issued_token(reset: ResetToken, raw: bytes, issued: IssuedReset) -> IssuedToken:
    return IssuedToken(
        reset,
        prt.to_text(raw),
        applied=issued.applied_at is not None,
        cancelled=issued.cancelled_at is not None,
        device_applied_at=issued.device_applied_at,
    )


def _device_signed(
    meters: MeterRepository, serial: str, reply: Mapping[str, Any]
) -> dict[str, Any]:
    """``reply`` without its signature, once it verifies under meter ``serial``'s device
    key as pinned in the registry (read here: a caller cannot hand the vault a key)."""
    meter = meters.get(serial)
    if meter is None or meter.public_key_pem is None:
        raise Conflict(
            f"meter {serial} has no device key pinned: its replies prove nothing",
            code="no_public_key",
        )
    return verify_signed(meter.public_key_pem, reply)


def _active(ledger: LedgerSession, meter: MeterRegisters, transfer_id: str) -> None:
    """Refuse to move money through a withdrawn meter (a replay of an old id still answers)."""
    if meter.status != "active" and not ledger.ids_seen([transfer_id]):
        raise Conflict(f"meter {meter.serial} is withdrawn", code="meter_withdrawn")


def _meter(ledger: LedgerSession, serial: str) -> MeterRegisters:
    meter = ledger.meter_by_serial(serial.strip())
    if meter is None:
        raise NotFound(f"no meter {serial!r}", code="meter_not_found")
    return meter


def _clean_serial(serial: str) -> str:
    """A serial the meter's reset tokens can carry (one rule: ``tokens.check_serial``)."""
    clean = serial.strip()
    prt.check_serial(clean)
    return clean
