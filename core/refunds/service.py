"""Refunds of spoiled or misprinted metered postage, and closing a postage account
(``pr.refunds``). The rules are in ``model``; each use case here runs in one unit of
work, the ledger transfers of an approval or a closing (``LedgerService.within``) in the
same transaction as the refund's own rows or the closing's record (kept by the accounts
area: ``AccountsService.record_closure_in``). The meter's piece log comes from the
meters' service (``MetersService.logged_pieces``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date

import attrs

from postroom.core.accounts.closure import AccountClosure
from postroom.core.accounts.model import CustomerAccount
from postroom.core.accounts.service import AccountsService
from postroom.core.clock import Clock
from postroom.core.db import Database, UnitOfWork
from postroom.core.errors import ConfigurationError, Conflict, NotFound, ValidationError
from postroom.core.idempotency import fingerprint, is_replay
from postroom.core.ledger.model import (
    AccountKind,
    LedgerAccount,
    MeterRegisters,
    Transfer,
    TransferCode,
    TransferRequest,
)
from postroom.core.ledger.service import LedgerService, LedgerSession, postage_code, system_code
from postroom.core.meters.service import MetersService
from postroom.core.refunds.model import (
    PieceClaim,
    Refund,
    RefundedPiece,
    RefundPolicy,
    RefundReason,
    RefundStatus,
    check_charge,
    check_claims,
    check_counted,
    check_covered,
    check_note,
    check_refund_id,
    check_unclaimed,
    check_usage_left,
    load_public_key,
    parse_reason,
    refund_id_reused,
    request_body,
)
from postroom.core.refunds.store import RefundRepository, RefundStore

MAX_AGENT = 100
MAX_LIST = 1000
CLOSE_PREFIX = "close:"


def policy_from_settings(
    window_days: object, fee_percent: object, fee_threshold: object, fixed_fee: object
) -> RefundPolicy:
    """The refund policy from the configured settings; a bad value is a ConfigurationError."""
    try:
        return RefundPolicy.from_settings(window_days, fee_percent, fee_threshold, fixed_fee)
    except ValidationError as error:
        raise ConfigurationError(f"invalid refund setting: {error.message}") from error


def _agent(value: object) -> str:
    name = check_note(value, "agent", required=True)
    if len(name) > MAX_AGENT:
        raise ValidationError(f"agent is at most {MAX_AGENT} characters", code="invalid_agent")
    return name


class RefundService:
    """``pr.refunds``: refund requests, the agent's decision, closing a postage account."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        ledger: LedgerService,
        accounts: AccountsService,
        meters: MetersService,
        policy: RefundPolicy,
        *,
        refunds: Callable[[UnitOfWork], RefundRepository] | None = None,
    ):
        #: the refunds' repository in a unit of work (the tests hand in an in-memory one)
        self._refunds: Callable[[UnitOfWork], RefundRepository] = refunds or (
            lambda uow: RefundStore(uow.connection)
        )
        self._db = db
        self._clock = clock
        self._ledger = ledger
        self._accounts = accounts
        self._meters = meters
        self.policy = policy

    def _open_postage(
        self, uow: UnitOfWork, ledger: LedgerSession, customer: CustomerAccount
    ) -> LedgerAccount:
        """The customer's postage account, refused once it is closed."""
        postage = _postage(ledger, customer)
        if self._accounts.is_closed_in(uow, postage.id):
            raise _closed(postage)
        return postage

    # ------------------------------------------------------------------ requests

    def request_logged(
        self,
        customer_number: str,
        refund_id: str,
        serial: str,
        pieces: Sequence[int],
        reason: RefundReason | str,
        *,
        note: str = "",
    ) -> Refund:
        """Ask back misprinted or spoiled pieces by their numbers in the meter's piece log:
        face value and indicium date come from what the meter uploaded at its syncs
        (``MetersService.logged_pieces``), so the customer claims nothing the device did
        not print. An agent approves as usual."""
        clean, logged, charged_by = self._meters.logged_pieces(customer_number, serial, pieces)
        claims = [
            PieceClaim(
                piece=p.piece,
                face=p.mills,
                indicium_date=date.fromisoformat(p.mailing_date),
            )
            for p in logged
        ]
        return self.request(
            customer_number, refund_id, clean, claims, reason, note=note, charged_by=charged_by
        )

    def request(
        self,
        customer_number: str,
        refund_id: str,
        serial: str,
        claims: Sequence[PieceClaim],
        reason: RefundReason | str,
        *,
        note: str = "",
        public_key_pem: str | None = None,
        charged_by: Mapping[int, str] | None = None,
    ) -> Refund:
        """Ask back the face value of printed pieces of the customer's meter ``serial``.

        Idempotent by ``refund_id`` (per customer account): the same request again answers
        the first; another body under that id is ``refund_id_reused``.

        ``charged_by`` is for a virtual meter (PC postage, the kiosk), whose pieces are
        charged one by one to the postage account rather than counted by usage reports:
        the id of the posted transfer that charged each claimed piece.
        """
        check_refund_id(refund_id)
        why = parse_reason(reason)
        clean_note = check_note(note)
        pieces = check_claims(claims)
        if not isinstance(serial, str) or not serial.strip() or len(serial) > 60:
            raise ValidationError("a meter serial is 1 to 60 characters", code="invalid_serial")
        clean_serial = serial.strip()
        key = None if public_key_pem is None else load_public_key(public_key_pem)
        body_hash = fingerprint(request_body(clean_serial, why, clean_note, pieces))

        def work(uow: UnitOfWork) -> Refund:
            customer = self._accounts.customer_in(uow, customer_number)
            refunds = self._refunds(uow)
            ledger = self._ledger.within(uow)
            existing = refunds.get(customer.id, refund_id)
            if existing is not None and is_replay(
                existing.body_hash, body_hash, lambda: refund_id_reused(refund_id)
            ):
                return attrs.evolve(existing, replayed=True)
            postage = self._open_postage(uow, ledger, customer)
            meter = _claimed_meter(ledger, customer, clean_serial)
            today = self._clock.now().date()
            for claim in pieces:
                self.policy.check_window(claim.piece, claim.indicium_date, today)
                if charged_by is None:  # a virtual meter's pieces are charged one by one
                    check_counted(meter, claim)
            check_unclaimed(meter.serial, refunds.claimed(meter.serial, (c.piece for c in pieces)))
            usage_of = {
                c.piece: (
                    _charge(ledger, postage, meter, c, charged_by)
                    if charged_by is not None
                    else check_covered(
                        meter.serial, c, ledger.usage_covering(meter.account_id, c.piece)
                    )
                )
                for c in pieces
            }
            check_usage_left(
                pieces, usage_of, refunds.claimed_face_by_usage(u.id for u in usage_of.values())
            )
            refund = Refund.requested(
                refund_id,
                (customer.id, customer.number),
                meter,
                why,
                clean_note,
                [
                    RefundedPiece(
                        c.piece,
                        c.face,
                        c.indicium_date,
                        usage_of[c.piece].id,
                        c.verify(meter.serial, meter.currency, key),
                    )
                    for c in pieces
                ],
                self.policy,
                self._clock.now(),
                body_hash,
            )
            refunds.add(refund)
            uow.commit()
            return refund

        return self._ledger.run_idempotent(work)

    def get(self, customer_number: str, refund_id: str) -> Refund:
        """The customer's refund; another customer's answers ``refund_not_found``."""

        def work(uow: UnitOfWork) -> Refund:
            customer = self._accounts.customer_in(uow, customer_number)
            return _refund(self._refunds(uow), customer, refund_id)

        return self._db.run(work, readonly=True)

    def list(
        self,
        customer_number: str | None = None,
        *,
        status: RefundStatus | str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Refund]:
        """Refunds, newest first: one customer's, or every customer's (for agents)."""
        wanted = None
        if status is not None:
            try:
                wanted = RefundStatus(status)
            except ValueError:
                allowed = ", ".join(s.value for s in RefundStatus)
                raise ValidationError(
                    f"unknown refund status {status!r} (one of {allowed})", code="invalid_status"
                ) from None
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
            raise ValidationError(f"limit is 1 to {MAX_LIST}", code="invalid_limit")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValidationError("offset is 0 or more", code="invalid_offset")

        def work(uow: UnitOfWork) -> list[Refund]:
            owner = (
                None
                if customer_number is None
                else self._accounts.customer_in(uow, customer_number).id
            )
            return self._refunds(uow).find(
                customer_account_id=owner, status=wanted, limit=limit, offset=offset
            )

        return self._db.run(work, readonly=True)

    # ----------------------------------------------------------------- decisions

    def approve(
        self, customer_number: str, refund_id: str, agent: str, *, note: str = ""
    ) -> Refund:
        """An agent approves: the face value is credited to the postage account out of the
        meter operator's postage-used account, and the fee debited to the fees account, as
        one linked batch with the refund's new state. Approving again changes nothing."""
        who = _agent(agent)
        clean_note = check_note(note)

        def work(uow: UnitOfWork) -> Refund:
            customer = self._accounts.customer_in(uow, customer_number)
            refunds = self._refunds(uow)
            refund = _refund(refunds, customer, refund_id, lock=True)
            if refund.status is RefundStatus.APPROVED:
                return refund
            if refund.status is RefundStatus.REJECTED:
                raise Conflict(f"refund {refund.id} was rejected", code="refund_rejected")
            ledger = self._ledger.within(uow)
            postage = self._open_postage(uow, ledger, customer)
            used = self._ledger.within(uow).system_account(
                AccountKind.POSTAGE_USED, refund.currency, refund.operator
            )
            # booked back to the department the pieces were printed for, when they share one
            usages = ledger.transfers_by_id(p.usage_transfer_id for p in refund.pieces)
            centers = {t.cost_center for t in usages.values()}
            center = centers.pop() if len(centers) == 1 else None
            requests = [
                TransferRequest(
                    id=refund.refund_transfer_id,
                    debit=used.id,
                    credit=postage.id,
                    amount=refund.face,
                    currency=refund.currency,
                    code=TransferCode.REFUND,
                    reference=f"refund {refund.id} of meter {refund.serial}",
                    cost_center=center,
                )
            ]
            if refund.fee:
                fees = self._ledger.within(uow).system_account(AccountKind.FEES, refund.currency)
                requests.append(
                    TransferRequest(
                        id=refund.fee_transfer_id,
                        debit=postage.id,
                        credit=fees.id,
                        amount=refund.fee,
                        currency=refund.currency,
                        code=TransferCode.FEE,
                        reference=f"refund fee of {refund.id}",
                        cost_center=center,
                    )
                )
            self._ledger.within(uow).post(requests)
            now = self._clock.now()
            if not refunds.decide(refund, RefundStatus.APPROVED, now, who, clean_note):
                raise Conflict(f"refund {refund.id} was decided meanwhile", code="refund_decided")
            uow.commit()
            return _refund(refunds, customer, refund_id)

        return self._ledger.run_idempotent(work)

    def reject(self, customer_number: str, refund_id: str, agent: str, reason: str) -> Refund:
        """An agent rejects, saying why; the pieces may be asked back again. Rejecting again
        changes nothing; an approved refund cannot be rejected."""
        who = _agent(agent)
        why = check_note(reason, "reason", required=True)

        def work(uow: UnitOfWork) -> Refund:
            customer = self._accounts.customer_in(uow, customer_number)
            refunds = self._refunds(uow)
            refund = _refund(refunds, customer, refund_id, lock=True)
            if refund.status is RefundStatus.REJECTED:
                return refund
            if refund.status is RefundStatus.APPROVED:
                raise Conflict(f"refund {refund.id} was approved", code="refund_approved")
            if not refunds.decide(refund, RefundStatus.REJECTED, self._clock.now(), who, why):
                raise Conflict(f"refund {refund.id} was decided meanwhile", code="refund_decided")
            uow.commit()
            return _refund(refunds, customer, refund_id)

        return self._ledger.run_idempotent(work)

    # ------------------------------------------------------------------- closing

    def close_account(self, customer_number: str) -> AccountClosure:
        """Close the customer's postage account: what is left in it moves to the refunds
        payable account (kind ``refunds``) as a refund to the customer, and no deposit,
        refill, reservation or new meter is accepted after. Refused while a meter is
        active (withdraw it first: that returns its funds), a reservation is pending, a
        refund awaits its decision, or the account owes its line of credit. Closing a
        closed account answers the first closing."""

        def work(uow: UnitOfWork) -> AccountClosure:
            customer = self._accounts.customer_in(uow, customer_number)
            ledger = self._ledger.within(uow)
            refunds = self._refunds(uow)
            postage = _postage(ledger, customer)
            done = self._accounts.closure_in(uow, postage.id)
            if done is not None:
                return done
            postage = ledger.lock_accounts([postage.id])[postage.id]
            owned = ledger.accounts(owner_id=customer.id)
            meters = ledger.meters_for_accounts(a.id for a in owned if a.kind is AccountKind.METER)
            active = sorted(m.serial for m in meters.values() if m.status == "active")
            if active:
                raise Conflict(
                    f"withdraw meter(s) {', '.join(active)} first: their funds return to"
                    " the postage account",
                    code="active_meters",
                    meters=active,
                )
            b = postage.balances
            if b.debits_pending or b.credits_pending:
                raise Conflict(
                    f"{postage.code} has pending reservations: post or void them first",
                    code="pending_reservations",
                )
            if refunds.pending_count(customer.id):
                raise Conflict("refund requests await an agent's decision", code="pending_refunds")
            if b.balance < 0:
                raise Conflict(
                    f"{postage.code} owes {-b.balance} mills on its line of credit",
                    code="balance_owed",
                )
            transfer_id = None
            if b.balance > 0:
                payable = self._ledger.within(uow).system_account(
                    AccountKind.REFUNDS, postage.currency
                )
                transfer_id = CLOSE_PREFIX + customer.number
                self._ledger.within(uow).post(
                    [
                        TransferRequest(
                            id=transfer_id,
                            debit=postage.id,
                            credit=payable.id,
                            amount=b.balance,
                            currency=postage.currency,
                            code=TransferCode.REFUND,
                            reference=f"unused funds of closed account {customer.number}",
                        )
                    ],
                )
            closure = AccountClosure(
                customer_number=customer.number,
                account=postage.code,
                currency=postage.currency,
                refunded=b.balance,
                transfer_id=transfer_id,
                closed_at=self._clock.now(),
                ledger_seq=ledger.chain_head()[0],
            )
            self._accounts.record_closure_in(uow, postage.id, closure)
            uow.commit()
            return closure

        return self._ledger.run_idempotent(work)

    def closure(self, customer_number: str) -> AccountClosure | None:
        """The closing of the customer's postage account, or None while it is open."""

        def work(uow: UnitOfWork) -> AccountClosure | None:
            customer = self._accounts.customer_in(uow, customer_number)
            postage = _postage(self._ledger.within(uow), customer)
            return self._accounts.closure_in(uow, postage.id)

        return self._db.run(work, readonly=True)


def _claimed_meter(ledger: LedgerSession, customer: CustomerAccount, serial: str) -> MeterRegisters:
    """The customer's meter ``serial``, locked: one request per meter at a time, so what
    its usage reports have left is exact."""
    meter = ledger.meter_by_serial(serial)
    if meter is None or meter.customer_account_id != customer.id:
        raise NotFound(f"no meter {serial!r}", code="meter_not_found")
    ledger.lock_accounts([meter.account_id])
    return meter


def _postage(ledger: LedgerSession, customer: CustomerAccount) -> LedgerAccount:
    account = ledger.account_by_code(postage_code(customer.number))
    if account is None:
        raise NotFound(
            f"customer {customer.number} has no postage account", code="no_postage_account"
        )
    return account


def _refund(
    store: RefundRepository, customer: CustomerAccount, refund_id: str, *, lock: bool = False
) -> Refund:
    found = None
    if isinstance(refund_id, str) and len(refund_id) <= 40:
        found = store.get(customer.id, refund_id, lock=lock)
    if found is None:
        raise NotFound(f"no refund {refund_id!r}", code="refund_not_found")
    return found


def _closed(account: LedgerAccount) -> Conflict:
    return Conflict(f"{account.code} is closed", code="account_closed", account=account.code)


def _charge(
    ledger: LedgerSession,
    postage: LedgerAccount,
    meter: MeterRegisters,
    claim: PieceClaim,
    charged_by: Mapping[int, str],
) -> Transfer:
    """The posted transfer that charged a virtual meter's piece (``model.check_charge``)."""
    used = ledger.account_by_code(
        system_code(AccountKind.POSTAGE_USED, meter.currency, meter.operator)
    )
    found = ledger.transfers_by_id([charged_by.get(claim.piece, "")])
    charge = next(iter(found.values()), None)
    return check_charge(meter, claim, charge, postage.id, None if used is None else used.id)
