"""Printing postage on the data center's virtual meters (PC postage, the kiosk).

``print_postage`` quotes the piece with the rates area, holds the postage on the
customer's postage account (``pr.ledger.reserve_postage``, with the cost centre), signs
and renders the indicium under the virtual meter's row lock, then posts the hold. When
signing or rendering fails the hold is voided: nothing is charged, no piece number is
used. The client's idempotency key makes a retry safe: a printed piece is answered
again, never charged twice; a failed attempt is retried afresh (a new hold).

The piece goes into the meter piece log (``meter_pieces``) with the post's transfer id,
like a physical meter's upload, so reports and the piece history see it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from postroom.core.accounts.model import CustomerAccount
from postroom.core.accounts.service import AccountsService
from postroom.core.clock import Clock, today
from postroom.core.db import Database, UnitOfWork
from postroom.core.errors import Conflict, Locked, NotFound, PostroomError, ValidationError
from postroom.core.idempotency import is_replay
from postroom.core.ledger.service import LedgerService
from postroom.core.meters import model
from postroom.core.meters.funds import MeterFunds
from postroom.core.meters.model import (
    CARRIER_BY_COUNTRY,
    Meter,
    MeterStatus,
    StoredPiece,
    operator_of,
)
from postroom.core.meters.store import MeterStore
from postroom.core.meters.virtual import (
    VIRTUAL_MODEL,
    VIRTUAL_PRODUCT,
    PostageRequest,
    PrintedPostage,
    PrintStatus,
    attempt_ids,
    check_allowed_cost_center,
    check_idempotency_key,
    new_signing_key,
    next_record,
    open_key,
    public_key_pem,
    seal_key,
    sign_record,
    virtual_serial,
)
from postroom.core.meters.virtual_store import VirtualMeterStore
from postroom.core.money import Money
from postroom.core.rates.model import Piece
from postroom.core.rates.service import RatesService
from postroom.core.units import Weight

log = logging.getLogger(__name__)


#: A print attempt left reserved or signed this long was cut by a crash (it takes seconds).
INTERRUPTED_AFTER = timedelta(minutes=10)


class PrintFailed(PostroomError):
    """Signing or rendering failed; the hold was voided and nothing was charged."""

    code = "print_failed"
    http_status = 503


#: What turns a printed piece into the image proven printable before the charge.
Renderer = Callable[[PrintedPostage], bytes]


def _render_png(printed: PrintedPostage) -> bytes:
    return printed.render("png")


class VirtualMeters:
    """The virtual meters of the data center (``pr.meters.print_postage`` and friends)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        accounts: AccountsService,
        ledger: LedgerService,
        funds: MeterFunds,
        rates: RatesService,
        secret: Callable[[], str],
        renderer: Renderer = _render_png,
    ) -> None:
        self._db = db
        self._clock = clock
        self._ledger = ledger
        self._funds = funds
        self._rates = rates
        self._secret = secret
        self._accounts = accounts
        self._renderer = renderer

    # ------------------------------------------------------------------ the meter

    def meter(self, customer_number: str) -> Meter:
        """The customer's virtual meter, opened on first use: a registry entry with its
        public key pinned, a (never funded) vault meter account, a sealed signing key."""
        customer = self._accounts.get(customer_number)
        serial = virtual_serial(customer.number)
        found = self._db.run(lambda uow: MeterStore(uow.connection).get(serial), readonly=True)
        if found is not None:
            return found
        carrier = CARRIER_BY_COUNTRY.get(customer.country, "usps")
        try:
            self._funds.register_meter(serial, customer.number, operator_of(carrier))
        except Conflict:
            registers = self._funds.registers(serial)  # a concurrent first print opened it
            if registers.customer_account_id != customer.id:
                raise
        key = new_signing_key()
        api_key = model.new_meter_key()  # a virtual meter never syncs: the key is not shown
        now = self._clock.now()
        meter = Meter(
            serial=serial,
            customer_account=customer.number,
            product_code=VIRTUAL_PRODUCT,
            model=VIRTUAL_MODEL,
            carrier=carrier,
            status=MeterStatus.ACTIVE,
            registered_at=now,
            public_key_pem=public_key_pem(key),
            key_prefix=api_key.prefix,
        )
        sealed = seal_key(self._secret(), serial, key)

        def work(uow: UnitOfWork) -> Meter:
            store = MeterStore(uow.connection)
            existing = store.get(serial)
            if existing is not None:
                return existing
            store.add(meter, customer.id, api_key.prefix, api_key.secret_hash)
            VirtualMeterStore(uow.connection).add_meter(serial, customer.id, sealed, now)
            uow.commit()
            return meter

        try:
            return self._db.run(work)
        except IntegrityError:  # opened by a concurrent first print: theirs stands
            return self._db.run(lambda uow: _get(MeterStore(uow.connection), serial))

    def cost_centers(self, customer_number: str) -> tuple[str, ...]:
        """The cost centres a print may name: those set on any of the customer's meters
        (the virtual one included); none set means any department name is accepted."""
        customer = self._accounts.get(customer_number)
        meters = self._db.run(
            lambda uow: MeterStore(uow.connection).find(customer.id), readonly=True
        )
        return tuple(sorted({c for m in meters for c in m.cost_centers}))

    # ------------------------------------------------------------------- printing

    def print_postage(
        self,
        customer_number: str,
        carrier: str,
        service: str,
        weight: Weight,
        extras: Sequence[str] = (),
        cost_center: str | None = None,
        idempotency_key: str | None = None,
        *,
        origin_zip: str,
        printed_by: str | None = None,
    ) -> PrintedPostage:
        """Quote, hold, sign and render, post (see the module's docstring). ``printed_by``
        (who printed: a kiosk operator's label) goes into the booking's reference."""
        key = check_idempotency_key(idempotency_key)
        request = PostageRequest(carrier, service, weight, origin_zip, extras, cost_center)
        customer = self._accounts.get(customer_number)
        earlier = self._db.run(
            lambda uow: VirtualMeterStore(uow.connection).job(customer.id, key), readonly=True
        )
        if (
            earlier is not None
            and earlier["status"] == PrintStatus.POSTED
            # a retry: the piece as printed, whatever the rates or cost centres are now
            and is_replay(earlier["body_hash"], request.body_hash(), lambda: _key_reused(key))
        ):
            return _printed(earlier, key, created=False)
        check_allowed_cost_center(request.cost_center, self.cost_centers(customer.number))
        day = today(self._clock)
        quote = self._rates.quote(
            Piece(weight.require_positive()),
            request.carrier,
            request.service,
            request.extras,
            on=day,
        )
        if quote.total.currency != customer.currency:
            # before any hold: the ledger would refuse the postage as currency_mismatch,
            # after a job row was written, on every retry alike
            raise ValidationError(
                f"account {customer.number} pays in {customer.currency}: it cannot print "
                f"{request.carrier}/{request.service}, priced in {quote.total.currency}",
                code="service_not_printable",
                currency=quote.total.currency,
                account_currency=customer.currency,
            )
        meter = self.meter(customer.number)
        if meter.status is not MeterStatus.ACTIVE:
            raise Locked(
                f"virtual meter {meter.serial} is {meter.status.value}", code="meter_withdrawn"
            )
        job, started = self._begin(customer, key, request, meter.serial, quote.total)
        if job["status"] == PrintStatus.POSTED:
            return _printed(job, key, created=False)
        hold_id, post_id, void_id = attempt_ids(customer.number, key, int(job["attempt"]))
        if job["status"] == PrintStatus.RESERVED:
            postage = Money(int(job["mills"]), str(job["currency"]))
            try:
                self._ledger.reserve_postage(
                    customer.number,
                    postage,
                    hold_id,
                    operator=operator_of(request.carrier),
                    reference=f"virtual meter {meter.serial}"
                    + (f", {printed_by}" if printed_by else ""),
                    cost_center=request.cost_center,
                )
            except PostroomError:
                self._set_status(customer.id, key, PrintStatus.VOIDED)
                raise
            try:
                job = self._sign(customer, key, request, quote.table.digest, post_id, day)
            except Exception as error:
                self._ledger.void_postage(customer.number, hold_id, void_id)
                self._set_status(customer.id, key, PrintStatus.VOIDED)
                log.warning("virtual print %s of %s voided: %s", key, customer.number, error)
                if isinstance(error, PostroomError):
                    raise
                raise PrintFailed(
                    "the indicium could not be signed or rendered; the postage was released "
                    "and nothing was charged: print again"
                ) from error
        self._ledger.post_postage(customer.number, hold_id, post_id)
        self._posted(customer, key, meter.serial, post_id)
        return _printed({**job, "status": PrintStatus.POSTED}, key, created=started)

    def finish_interrupted(
        self, *, older_than: timedelta = INTERRUPTED_AFTER, limit: int = 200
    ) -> int:
        """The worker's sweep of prints a crash cut between their steps; how many it
        finished. A *signed* piece is charged: its indicium exists and the virtual
        meter's ascending register counts it, so posting its hold keeps the registers and
        the ledger in agreement (a retry with the client's key then answers the piece). An
        attempt cut before signing has its hold, if one was made, released: the client's
        retry makes a new one. Both steps are idempotent by their transfer ids."""
        before = self._clock.now() - older_than

        def read(uow: UnitOfWork) -> list[tuple[dict[str, Any], CustomerAccount]]:
            found = []
            for job in VirtualMeterStore(uow.connection).interrupted(before, limit):
                customer = self._accounts.customer_by_id_in(uow, int(job["customer_account_id"]))
                if customer is not None:
                    found.append((job, customer))
            return found

        finished = 0
        for job, customer in self._db.run(read, readonly=True):
            key = str(job["idempotency_key"])
            hold_id, post_id, void_id = attempt_ids(customer.number, key, int(job["attempt"]))
            try:
                if job["status"] == PrintStatus.SIGNED:
                    self._ledger.post_postage(customer.number, hold_id, post_id)
                    self._posted(customer, key, str(job["serial"]), post_id)
                else:
                    with contextlib.suppress(NotFound):  # cut before its hold was made
                        self._ledger.void_postage(customer.number, hold_id, void_id)
                    self._set_status(customer.id, key, PrintStatus.VOIDED)
            except PostroomError as error:  # left for a person; the next run tries again
                log.warning("interrupted virtual print %s of %s: %s", key, customer.number, error)
                continue
            finished += 1
        return finished

    def _posted(self, customer: CustomerAccount, key: str, serial: str, post_id: str) -> None:
        def work(uow: UnitOfWork) -> None:
            VirtualMeterStore(uow.connection).update_job(
                customer.id, key, status=PrintStatus.POSTED
            )
            MeterStore(uow.connection).mark_recorded(serial, post_id)
            uow.commit()

        self._db.run(work)

    def _begin(
        self,
        customer: CustomerAccount,
        key: str,
        request: PostageRequest,
        serial: str,
        postage: Money,
    ) -> tuple[dict[str, Any], bool]:
        """The job of ``key``: new, found (same body), or a voided one started anew; and
        whether this call started it. Only that call answers "created": a request sent
        again while the first is still in flight finishes the same steps idempotently and
        answers as a replay, so concurrent requests with one key see exactly one 201."""
        body_hash = request.body_hash()

        def work(uow: UnitOfWork) -> tuple[dict[str, Any], bool]:
            store = VirtualMeterStore(uow.connection)
            job = store.job(customer.id, key, lock=True)
            if job is not None:  # the same body goes on below; another is refused
                is_replay(job["body_hash"], body_hash, lambda: _key_reused(key))
            if job is None:
                store.add_job(
                    customer.id,
                    key,
                    body_hash,
                    serial,
                    request.carrier,
                    request.service,
                    postage,
                    request.cost_center,
                    self._clock.now(),
                )
            elif job["status"] == PrintStatus.VOIDED:
                store.update_job(
                    customer.id,
                    key,
                    attempt=int(job["attempt"]) + 1,
                    status=PrintStatus.RESERVED,
                    mills=postage.mills,
                    currency=postage.currency,
                )
            else:
                return job, False
            # read before the commit: a read after it that met a busy database would have
            # run ``work`` again, which finds the job and answers "not started" (all 200s)
            found = store.job(customer.id, key)
            assert found is not None
            uow.commit()
            return found, True

        try:
            return self._db.run(work)
        except IntegrityError:  # the same key sent twice at once: the first one's job
            job = self._db.run(
                lambda uow: _job(VirtualMeterStore(uow.connection), customer.id, key)
            )
            return job, False

    def _sign(
        self,
        customer: CustomerAccount,
        key: str,
        request: PostageRequest,
        rate_digest: str,
        post_id: str,
        day: date,
    ) -> dict[str, Any]:
        """Number, sign and render the piece in one transaction under the meter's lock:
        either the piece is logged with its registers advanced, or nothing changed."""
        available = self._ledger.balance(customer.number).balances.available

        def work(uow: UnitOfWork) -> dict[str, Any]:
            store = VirtualMeterStore(uow.connection)
            vm = store.meter(customer.id, lock=True)
            job = _job(store, customer.id, key, lock=True)
            if job["status"] != PrintStatus.RESERVED:  # a concurrent retry signed it
                return job
            assert vm is not None
            serial = str(vm["serial"])
            postage = Money(int(job["mills"]), str(job["currency"]))
            record = next_record(
                serial,
                int(vm["pieces"]),
                int(vm["ascending"]),
                available,
                postage,
                day,
                request.origin_zip,
                request.service,
                rate_digest,
            )
            signing_key = open_key(self._secret(), serial, bytes(vm["sealed_key"]))
            payload, signature = sign_record(signing_key, record)
            now = self._clock.now()
            signed = {
                **job,
                "status": PrintStatus.SIGNED,
                "piece": record.piece,
                "payload": payload,
                "signature": signature,
                "printed_at": now,
            }
            self._renderer(_printed(signed, key, created=True))  # printable, or no piece
            store.advance(serial, record.piece, record.ascending)
            store.update_job(
                customer.id,
                key,
                status=PrintStatus.SIGNED,
                piece=record.piece,
                payload=payload,
                signature=signature,
                printed_at=now,
            )
            meters = MeterStore(uow.connection)
            meters.add_pieces(
                [
                    StoredPiece(
                        serial=serial,
                        piece=record.piece,
                        mills=postage.mills,
                        currency=postage.currency,
                        mailing_date=record.mailing_date.isoformat(),
                        service=request.service,
                        origin_zip=request.origin_zip,
                        cost_center=request.cost_center,
                        printed_at=now,
                        request_id=key,
                        usage_transfer_id=post_id,
                        recorded=False,
                    )
                ],
                now,
            )
            meters.update(serial, last_piece=record.piece)
            uow.commit()
            return signed

        return self._db.run(work)

    def _set_status(self, customer_id: int, key: str, status: str) -> None:
        def work(uow: UnitOfWork) -> None:
            VirtualMeterStore(uow.connection).update_job(customer_id, key, status=status)
            uow.commit()

        self._db.run(work)

    # -------------------------------------------------------------------- reading

    def printed(self, customer_number: str, serial: str, piece: int) -> PrintedPostage:
        """A piece the customer printed on a virtual meter; another's is ``piece_not_found``."""
        customer = self._accounts.get(customer_number)
        if not 1 <= piece < 2**32 or not 0 < len(serial) <= 32:  # no piece has these numbers
            raise NotFound(f"no printed piece {serial}/{piece}", code="piece_not_found")

        def work(uow: UnitOfWork) -> dict[str, Any] | None:
            return VirtualMeterStore(uow.connection).job_of_piece(serial, piece)

        job = self._db.run(work, readonly=True)
        if (
            job is None
            or job["customer_account_id"] != customer.id
            or job["status"] != PrintStatus.POSTED
        ):
            raise NotFound(f"no printed piece {serial}/{piece}", code="piece_not_found")
        return _printed(job, str(job["idempotency_key"]), created=False)


def _get(store: MeterStore, serial: str) -> Meter:
    meter = store.get(serial)
    if meter is None:
        raise NotFound(f"no meter {serial!r}", code="meter_not_found")
    return meter


def _job(
    store: VirtualMeterStore, customer_id: int, key: str, *, lock: bool = False
) -> dict[str, Any]:
    job = store.job(customer_id, key, lock=lock)
    if job is None:
        raise NotFound(f"no print {key!r}", code="print_not_found")
    return job


def _key_reused(key: str) -> Conflict:
    return Conflict(
        f"idempotency key {key} was used for another piece", code="idempotency_key_reused"
    )


def _printed(job: dict[str, Any], key: str, *, created: bool) -> PrintedPostage:
    printed_at = job["printed_at"]
    assert isinstance(printed_at, datetime)
    return PrintedPostage(
        serial=str(job["serial"]),
        piece=int(job["piece"]),
        postage=Money(int(job["mills"]), str(job["currency"])),
        carrier=str(job["carrier"]),
        service=str(job["service"]),
        cost_center=None if job["cost_center"] is None else str(job["cost_center"]),
        idempotency_key=key,
        record_bytes=bytes(job["payload"]),
        signature=bytes(job["signature"]),
        printed_at=printed_at,
        created=created,
    )


__all__ = ["PrintFailed", "VirtualMeters"]
