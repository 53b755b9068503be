"""Use cases of the tracking area; each runs in one unit of work.

``pr.tracking``: identify numbers, follow shipments (add, list, show, the journey),
the public lookup by number, the worker's refresh from the carriers and its
stuck-parcel rules, customers' alerts, and the hand-over to support (trace, lost,
reroute, redelivery).

A carrier is asked outside any transaction (it is a network call); its answers are
then folded in one transaction per shipment, so one shipment's failure never loses
another's scans. Status changes are told to plugins (``shipment_status_changed``)
after their commit.
"""

from __future__ import annotations

import builtins
import json
import logging
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime

import attrs

from postroom.core.clock import Clock
from postroom.core.db import Database
from postroom.core.errors import Conflict, NotFound, PostroomError, ValidationError
from postroom.core.money import Money
from postroom.core.ports import (
    DeliveryProof,
    ParcelTracking,
    ScanEvent,
    ShipmentStatus,
    TrackingFailure,
)
from postroom.core.tracking import messages, model, numbers, webhooks
from postroom.core.tracking.bulk import ImportRow, RowError
from postroom.core.tracking.carriers import Carriers
from postroom.core.tracking.model import (
    Customs,
    Flags,
    Parties,
    Shipment,
    Subscription,
    SupportRequestKind,
    TraceRequest,
    WebhookDelivery,
)
from postroom.core.tracking.numbers import Identification
from postroom.core.tracking.ports import (
    CustomerAccounts,
    CustomerMessages,
    Session,
    StatusListener,
    StatusReader,
    TraceRequests,
    Transactions,
    WebhookPoster,
    WebhookRepository,
)
from postroom.core.tracking.store import (
    KeptTraceRequests,
    ShipmentRepository,
    ShipmentStore,
    StatusByNumber,
    WebhookStore,
)

log = logging.getLogger(__name__)

RepositoryFactory = Callable[[Session], ShipmentRepository]
MAX_PAGE = 1000
#: Numbers one carrier call asks at most (the public APIs take batches of 10 to 35).
CARRIER_BATCH = 10
#: The most numbers ``identify`` takes at once.
MAX_IDENTIFY = 1000
MAX_NOTE = 1000
#: Rows of a bulk import written per transaction.
IMPORT_BATCH = 500
#: How many of the newest shipments the dashboard lists.
RECENT_SHIPMENTS = 5


def _store(session: Session) -> ShipmentRepository:
    return ShipmentStore(session.connection)


def _webhook_store(session: Session) -> WebhookRepository:
    return WebhookStore(session.connection)


WebhookRepositoryFactory = Callable[[Session], WebhookRepository]


@attrs.frozen
class PublicTracking:
    """What anybody who has the number may see: no names, no addresses."""

    number: str
    carrier: str
    status: ShipmentStatus
    scans: tuple[ScanEvent, ...]
    delivered_at: datetime | None


@attrs.frozen
class ImportReport:
    added: int
    already: int
    errors: tuple[RowError, ...]


@attrs.frozen
class ShipmentsOverview:
    counts: dict[ShipmentStatus, int]
    recent: tuple[Shipment, ...]
    #: shipments in exception or lost
    attention: int

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@attrs.frozen
class RefreshReport:
    checked: int
    changed: int
    failures: tuple[TrackingFailure, ...]


@attrs.frozen
class TrackingReport:
    """An account's shipments at a glance: counts by status, the delayed and lost
    ones, and the share of delivered parcels that arrived within their norm."""

    counts: dict[ShipmentStatus, int]
    delayed: tuple[Shipment, ...]
    lost: tuple[Shipment, ...]
    on_time_rate: float | None


@attrs.frozen
class _Change:
    shipment: Shipment
    old: ShipmentStatus
    message_ids: tuple[str, ...]


class TrackingService:
    """``pr.tracking``."""

    def __init__(
        self,
        db: Transactions,
        clock: Clock,
        carriers: Carriers,
        *,
        accounts: CustomerAccounts,
        messages: CustomerMessages,
        status_changed: StatusListener,
        trace_requests: TraceRequests | None = None,
        repository: RepositoryFactory = _store,
        webhooks: WebhookPoster | None = None,
        webhook_repository: WebhookRepositoryFactory = _webhook_store,
        production: bool = False,
        statuses: StatusReader | None = None,
    ) -> None:
        self._db = db
        self._statuses = statuses
        self._clock = clock
        self.carriers = carriers
        self._accounts = accounts
        self._messages = messages
        # until the support-cases area opens a case for them, requests are kept for staff
        self._trace_requests = trace_requests or KeptTraceRequests()
        self._status_changed = status_changed
        self._repository = repository
        self._webhooks = webhooks
        self._webhook_repository = webhook_repository
        self._production = production

    @staticmethod
    def status_reader(db: Database) -> StatusReader:
        """``status_of`` straight on the database: one prepared statement, no unit of
        work (the tests leave ``statuses`` out and read through the repository)."""
        return StatusByNumber(db)

    def use_trace_requests(self, trace_requests: TraceRequests) -> None:
        """Hand stuck parcels to ``trace_requests`` from now on (the support-cases area,
        wired by the composition root once both areas exist)."""
        self._trace_requests = trace_requests

    # -- numbers ---------------------------------------------------------------

    def identify(self, raw_numbers: Sequence[str]) -> builtins.list[Identification]:
        """What each typed number is (valid or not, carrier, format); no storage."""
        if len(raw_numbers) > MAX_IDENTIFY:
            raise ValidationError(
                f"at most {MAX_IDENTIFY} numbers at once", code="too_many_numbers"
            )
        return [numbers.identify(raw) for raw in raw_numbers]

    # -- shipments -------------------------------------------------------------

    def add(
        self,
        customer_number: str,
        number: str,
        *,
        carrier: str | None = None,
        service: str = "",
        parties: Parties | None = None,
        mailed_on: date | None = None,
        reference: str = "",
        customs: Customs | None = None,
        auto_trace: bool = False,
    ) -> Shipment:
        """Follow ``number`` for the customer; the same number again with the same
        carrier answers the shipment already followed."""
        return self.follow(
            customer_number,
            number,
            carrier=carrier,
            service=service,
            parties=parties,
            mailed_on=mailed_on,
            reference=reference,
            customs=customs,
            auto_trace=auto_trace,
        )[0]

    def follow(
        self,
        customer_number: str,
        number: str,
        *,
        carrier: str | None = None,
        service: str = "",
        parties: Parties | None = None,
        mailed_on: date | None = None,
        reference: str = "",
        customs: Customs | None = None,
        auto_trace: bool = False,
    ) -> tuple[Shipment, bool]:
        """``add``, and whether the shipment is new (False: it was followed already)."""
        shipment = self._new_shipment(
            customer_number,
            number,
            carrier=carrier,
            service=service,
            parties=parties or Parties(),
            mailed_on=mailed_on,
            reference=reference,
            customs=customs,
            auto_trace=auto_trace,
        )

        def work(uow: Session) -> tuple[Shipment, bool]:
            stored = self._repository(uow).add(shipment)
            uow.commit()
            return stored

        return self._db.run(work)

    def follow_in(
        self, uow: Session, customer_number: str, number: str, *, reference: str = ""
    ) -> Shipment:
        """``add`` in the caller's transaction, which commits it (a shop order shipped
        with this parcel: both stand or neither)."""
        shipment = self._new_shipment(
            customer_number,
            number,
            carrier=None,
            service="",
            parties=Parties(),
            mailed_on=None,
            reference=reference,
            customs=None,
            auto_trace=False,
        )
        stored, _new = self._repository(uow).add(shipment)
        return stored

    def find(self, customer_number: str, number: str) -> Shipment | None:
        """The account's newest shipment with that number (any spelling), or None."""
        clean = numbers.normalise(number)

        def read(uow: Session) -> Shipment | None:
            found = self._repository(uow).by_number(clean)
            return next((s for s in found if s.customer_number == customer_number), None)

        return self._db.run(read, readonly=True)

    def _new_shipment(
        self,
        customer_number: str,
        number: str,
        *,
        carrier: str | None,
        service: str,
        parties: Parties,
        mailed_on: date | None,
        reference: str,
        customs: Customs | None,
        auto_trace: bool,
        known_account: bool = False,
    ) -> Shipment:
        """A new shipment of the account, every value checked (``known_account``: the
        caller has just read the account, as a bulk import does once)."""
        if not known_account:
            customer_number = self._accounts.get(customer_number).number
        identification = valid_number(number)
        chosen = self.carriers.for_number(identification, carrier)
        clean_parties = Parties(
            *(
                model.parse_text(getattr(parties, name), name)
                for name in ("sender", "recipient", "origin", "destination")
            )
        )
        if mailed_on is not None and not isinstance(mailed_on, date):
            raise ValidationError("the mailing date is a date", code="invalid_mailed_on")
        if customs is not None:
            customs = check_customs(customs)
        now = self._clock.now()
        return Shipment(
            id=0,
            number=identification.number,
            number_format=identification.format or "",
            carrier=chosen.code,
            service=model.parse_text(service, "service"),
            customer_number=customer_number,
            parties=clean_parties,
            mailed_on=mailed_on,
            reference=model.parse_text(reference, "reference"),
            customs=customs,
            status=ShipmentStatus.PENDING,
            flags=Flags(),
            created_at=now,
            status_changed_at=now,
            next_check_at=now,
            auto_trace=bool(auto_trace),
        )

    def import_rows(
        self,
        customer_number: str,
        rows: Iterable[ImportRow | RowError],
        *,
        progress: Callable[[int], None] = lambda done: None,
        batch: int = IMPORT_BATCH,
    ) -> ImportReport:
        """Follow each valid row's number for the customer (``bulk.read_rows``), ``batch``
        rows a transaction; a row the account follows already adds nothing, a bad row is
        reported with its line and reason and the others go on. ``progress`` hears how
        many rows were handled after each batch."""
        account = self._accounts.get(customer_number)
        added = already = 0
        errors: builtins.list[RowError] = []
        pending: builtins.list[Shipment] = []
        handled = 0

        def flush() -> None:
            nonlocal added, already

            def work(uow: Session) -> tuple[int, int]:
                repository = self._repository(uow)
                new = sum(1 for shipment in pending if repository.add(shipment)[1])
                uow.commit()
                return new, len(pending) - new

            fresh, known = self._db.run(work)
            added += fresh
            already += known
            pending.clear()

        for row in rows:
            handled += 1
            if isinstance(row, RowError):
                errors.append(row)
            else:
                try:
                    pending.append(
                        self._new_shipment(
                            account.number,
                            row.number,
                            carrier=row.carrier,
                            service=row.service,
                            parties=row.parties,
                            mailed_on=row.mailed_on,
                            reference=row.reference,
                            customs=row.customs,
                            auto_trace=False,
                            known_account=True,
                        )
                    )
                except PostroomError as error:
                    errors.append(RowError(row.line, error.code, error.message))
            if len(pending) >= batch:
                flush()
                progress(handled)
        if pending:
            flush()
        progress(handled)
        return ImportReport(added, already, tuple(errors))

    def get(self, customer_number: str, shipment_id: int) -> Shipment:
        """The customer's shipment; another account's is ``shipment_not_found``."""
        return self._db.run(
            lambda uow: _owned(self._repository(uow), customer_number, shipment_id),
            readonly=True,
        )

    def scans(self, customer_number: str, shipment_id: int) -> builtins.list[ScanEvent]:
        """The customer's shipment's journey, oldest scan first."""

        def read(uow: Session) -> builtins.list[ScanEvent]:
            repository = self._repository(uow)
            shipment = _owned(repository, customer_number, shipment_id)
            return repository.scans(shipment.id)

        return self._db.run(read, readonly=True)

    def list(
        self,
        customer_number: str,
        *,
        status: ShipmentStatus | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> builtins.list[Shipment]:
        if not 1 <= limit <= MAX_PAGE or offset < 0:
            raise ValidationError(
                f"limit must be 1..{MAX_PAGE} and offset not negative", code="invalid_page"
            )
        account = self._accounts.get(customer_number)
        return self._db.run(
            lambda uow: self._repository(uow).of_customer(
                account.number, status=status, limit=limit, offset=offset
            ),
            readonly=True,
        )

    def lookup(self, number: str) -> PublicTracking:
        """The public view of a followed number: status and scans, nothing personal."""
        identification = valid_number(number)

        def read(uow: Session) -> PublicTracking:
            repository = self._repository(uow)
            found = repository.by_number(identification.number)
            if not found:
                raise NotFound(f"no shipment {identification.number}", code="shipment_not_found")
            shipment = found[0]
            return PublicTracking(
                number=shipment.number,
                carrier=shipment.carrier,
                status=shipment.status,
                scans=tuple(repository.scans(shipment.id)),
                delivered_at=None if shipment.proof is None else shipment.proof.delivered_at,
            )

        return self._db.run(read, readonly=True)

    def follows(self, customer_number: str, number: str) -> bool:
        """Whether the account follows a shipment under that tracking number (a
        support case may link it)."""
        clean = numbers.normalise(number)

        def read(uow: Session) -> bool:
            found = self._repository(uow).by_number(clean)
            return any(s.customer_number == customer_number for s in found)

        return self._db.run(read, readonly=True)

    def status_of(self, number: str) -> ShipmentStatus | None:
        """The status of the newest shipment with that (normalised) number; the hot
        path of the public lookup and the benchmark."""
        clean = numbers.normalise(number)
        if self._statuses is not None:
            return self._statuses(clean)

        def read(uow: Session) -> ShipmentStatus | None:
            return self._repository(uow).status_of(clean)

        return self._db.run(read, readonly=True)

    def overview_in(self, uow: Session, customer_number: str) -> ShipmentsOverview:
        """The account's shipments at a glance, read in the caller's transaction (the
        dashboard): counts by status, the newest ones, and how many need attention."""
        repository = self._repository(uow)
        counts = repository.status_counts(customer_number)
        recent = repository.of_customer(customer_number, limit=RECENT_SHIPMENTS)
        attention = sum(
            counts.get(status, 0) for status in (ShipmentStatus.EXCEPTION, ShipmentStatus.LOST)
        )
        return ShipmentsOverview(counts, tuple(recent), attention)

    def report(self, customer_number: str) -> TrackingReport:
        account = self._accounts.get(customer_number)

        def read(uow: Session) -> TrackingReport:
            repository = self._repository(uow)
            counts = repository.status_counts(account.number)
            delivered = repository.of_customer(
                account.number, status=ShipmentStatus.DELIVERED, limit=MAX_PAGE
            )
            on_time = [model.delivered_on_time(shipment) for shipment in delivered]
            known = [value for value in on_time if value is not None]
            moving = [
                shipment
                for status in model.MOVING
                for shipment in repository.of_customer(
                    account.number, status=status, limit=MAX_PAGE
                )
            ]
            lost = repository.of_customer(
                account.number, status=ShipmentStatus.LOST, limit=MAX_PAGE
            )
            return TrackingReport(
                counts=counts,
                delayed=tuple(s for s in moving if s.flags.delayed or s.flags.lost_candidate),
                lost=tuple(lost),
                on_time_rate=sum(known) / len(known) if known else None,
            )

        return self._db.run(read, readonly=True)

    # -- carriers --------------------------------------------------------------

    def refresh(self, customer_number: str, shipment_id: int) -> Shipment:
        """Ask the carrier about the customer's shipment now."""
        shipment = self.get(customer_number, shipment_id)
        report = self._refresh([shipment])
        if report.failures:
            failure = report.failures[0]
            log.info("refresh of %s failed: %s", shipment.number, failure.code)
        return self.get(customer_number, shipment_id)

    def refresh_due(self, *, limit: int = 500) -> RefreshReport:
        """The worker's job: ask the carriers about every shipment whose next check is
        due (more often when out for delivery: ``model.CHECK_EVERY``)."""
        now = self._clock.now()
        due = self._db.run(lambda uow: self._repository(uow).due(now, limit), readonly=True)
        return self._refresh(due)

    def _refresh(self, shipments: Sequence[Shipment]) -> RefreshReport:
        by_carrier: dict[str, builtins.list[Shipment]] = defaultdict(builtins.list)
        for shipment in shipments:
            by_carrier[shipment.carrier].append(shipment)
        failures: builtins.list[TrackingFailure] = []
        changes: builtins.list[_Change] = []
        for code, group in by_carrier.items():
            for start in range(0, len(group), CARRIER_BATCH):
                batch = group[start : start + CARRIER_BATCH]
                answers = self._ask(code, [shipment.number for shipment in batch])
                for shipment in batch:
                    answer = answers.get(shipment.number) or TrackingFailure(
                        shipment.number, "carrier_bad_answer", "the carrier left it out"
                    )
                    if isinstance(answer, TrackingFailure):
                        failures.append(answer)
                    change = self._fold(shipment.id, answer)
                    if change is not None:
                        changes.append(change)
        self._announce(changes)
        return RefreshReport(len(shipments), len(changes), tuple(failures))

    def _ask(
        self, code: str, batch: builtins.list[str]
    ) -> dict[str, ParcelTracking | TrackingFailure]:
        carrier = self.carriers.all().get(code)
        if carrier is None:
            return {
                n: TrackingFailure(n, "carrier_unavailable", f"carrier {code} is not installed")
                for n in batch
            }
        try:
            return dict(carrier.track(batch, now=self._clock.now()))
        except Exception as error:  # a broken plugin fails its batch, not the run
            log.exception("carrier %s failed on a batch of %d", code, len(batch))
            return {
                n: TrackingFailure(n, "carrier_failed", f"{type(error).__name__}") for n in batch
            }

    def _fold(self, shipment_id: int, answer: ParcelTracking | TrackingFailure) -> _Change | None:
        now = self._clock.now()

        def work(uow: Session) -> _Change | None:
            repository = self._repository(uow)
            shipment = repository.get(shipment_id)
            if shipment is None:
                return None
            if isinstance(answer, TrackingFailure):
                shipment.last_error = answer.code
                shipment.checked_at = now
                shipment.next_check_at = model.next_check(shipment, now)
                repository.update(shipment)
                uow.commit()
                return None
            merge = model.merge_scans(
                shipment,
                repository.scans(shipment.id),
                answer.events,
                proof=_proof(answer),
                now=now,
            )
            repository.add_scans(shipment.id, merge.new_scans)
            repository.update(merge.shipment)
            change = self._change_in(uow, merge.shipment, merge.old_status)
            uow.commit()
            return change

        return self._db.run(work)

    # -- rules -----------------------------------------------------------------

    def apply_rules(self, *, batch: int = 500) -> int:
        """The worker's job: delayed, lost candidates (a trace suggested to the
        customer), lost (the account's automatic trace opened) and expired shipments.
        Returns how many shipments changed; a second run at the same instant changes
        nothing."""
        now = self._clock.now()
        changes: builtins.list[_Change] = []
        touched = 0
        after = 0
        while True:
            page = self._db.run(
                lambda uow, after=after: self._repository(uow).watched(batch, after),  # type: ignore[misc]
                readonly=True,
            )
            if not page:
                break
            after = page[-1].id
            for shipment in page:
                assessment = model.assess(shipment, now)
                if (assessment.status, assessment.flags) == (shipment.status, shipment.flags):
                    continue
                touched += 1
                change = self._db.run(
                    lambda uow, s=shipment, a=assessment: self._assessed(uow, s, a, now)  # type: ignore[misc]
                )
                if change is not None:
                    changes.append(change)
        self._announce(changes)
        return touched

    def _assessed(
        self, uow: Session, shipment: Shipment, assessment: model.Assessment, now: datetime
    ) -> _Change | None:
        repository = self._repository(uow)
        current = repository.get(shipment.id)
        if current is None or current.status != shipment.status or current.flags != shipment.flags:
            return None  # moved on since it was read; the next run looks again
        old = current.status
        newly_stuck = assessment.flags.lost_candidate and not current.flags.lost_candidate
        current.flags = assessment.flags
        if assessment.status != old:
            current.status = assessment.status
            current.status_changed_at = now
            current.next_check_at = model.next_check(current, now)
        ids: builtins.list[str] = []
        if newly_stuck and current.status != ShipmentStatus.LOST:
            ids.append(self._send(uow, current, messages.stuck_alert(current)))
        if (
            current.status == ShipmentStatus.LOST
            and current.auto_trace
            and not current.trace_reference
        ):
            current.trace_reference = self._trace_requests.hand_over(
                uow.connection,
                TraceRequest(
                    current, SupportRequestKind.TRACE, "no movement for 10 days", "rules", now
                ),
            )
        repository.update(current)
        change = self._change_in(uow, current, old, ids)
        uow.commit()
        return change

    # -- webhook alerts --------------------------------------------------------

    def subscribe(
        self,
        customer_number: str,
        url: str,
        *,
        shipment_id: int | None = None,
        events: Iterable[str] | None = None,
    ) -> Subscription:
        """POST the account's status changes (of one shipment, or all; to the statuses
        in ``events``, or every one) to ``url``, signed with a new secret returned here
        once (``Subscription.secret``)."""
        chosen = model.parse_events(None if events is None else builtins.list(events))
        clean = webhooks.check_url(url, production=self._production)
        if self._webhooks is None:
            raise ValidationError("webhooks are not available here", code="webhooks_unavailable")
        try:
            self._webhooks.check(clean)
        except Exception as error:
            raise ValidationError(str(error)[:200], code="webhook_address_refused") from error
        account = self._accounts.get(customer_number)
        now = self._clock.now()

        def work(uow: Session) -> Subscription:
            if shipment_id is not None:
                _owned(self._repository(uow), account.number, shipment_id)
            store = self._webhook_repository(uow)
            if len(store.subscriptions(account.number)) >= model.MAX_SUBSCRIPTIONS:
                raise Conflict(
                    f"an account keeps at most {model.MAX_SUBSCRIPTIONS} webhook subscriptions",
                    code="too_many_subscriptions",
                )
            made = store.add_subscription(
                Subscription(
                    0,
                    account.number,
                    shipment_id,
                    clean,
                    secrets.token_hex(32),
                    now,
                    events=chosen,
                )
            )
            uow.commit()
            return made

        return self._db.run(work)

    def subscriptions(self, customer_number: str) -> builtins.list[Subscription]:
        account = self._accounts.get(customer_number)
        return self._db.run(
            lambda uow: self._webhook_repository(uow).subscriptions(account.number), readonly=True
        )

    def subscription(self, customer_number: str, subscription_id: int) -> Subscription:
        """One of the account's subscriptions; another account's is not found."""
        for found in self.subscriptions(customer_number):
            if found.id == subscription_id:
                return found
        raise NotFound(f"no subscription {subscription_id!r}", code="subscription_not_found")

    def unsubscribe(self, customer_number: str, subscription_id: int) -> None:
        def work(uow: Session) -> None:
            if not self._webhook_repository(uow).remove_subscription(
                customer_number, subscription_id
            ):
                raise NotFound(f"no subscription {subscription_id}", code="subscription_not_found")
            uow.commit()

        self._db.run(work)

    def webhook_log(
        self, customer_number: str, *, limit: int = 100
    ) -> builtins.list[WebhookDelivery]:
        """The account's webhook deliveries, newest first (status, attempts, last result)."""
        account = self._accounts.get(customer_number)
        return self._db.run(
            lambda uow: self._webhook_repository(uow).log(account.number, limit), readonly=True
        )

    def deliver_webhooks(self, *, limit: int = 100) -> int:
        """The worker's job: send every webhook body whose time has come, signed with its
        subscription's secret and the time of sending; a failure is tried again with
        backoff, ``webhooks.MAX_ATTEMPTS`` times. Returns how many were delivered."""
        if self._webhooks is None:
            return 0
        now = self._clock.now()
        due = self._db.run(lambda uow: self._webhook_repository(uow).due(now, limit), readonly=True)
        delivered = 0
        for delivery, subscription in due:
            body = delivery.body.encode()
            timestamp = int(self._clock.now().timestamp())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "postroom-webhooks",
                "Postroom-Signature": webhooks.signature(subscription.secret, timestamp, body),
            }
            try:
                status = self._webhooks.post(subscription.url, body, headers)
                result = str(status)
                ok = 200 <= status < 300
            except Exception as error:  # refused address, timeout, connection: tried again
                result, ok = f"{type(error).__name__}: {error}"[:200], False
            delivery.attempts += 1
            delivery.last_result = result
            if ok:
                delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
                    "delivered",
                    now,
                    None,
                )
                delivered += 1
            else:
                delivery.next_attempt_at = webhooks.next_attempt(delivery.attempts, now)
                if delivery.next_attempt_at is None:
                    delivery.status = "failed"

            def work(uow: Session, done: WebhookDelivery = delivery) -> None:
                self._webhook_repository(uow).record(done)
                uow.commit()

            self._db.run(work)
        return delivered

    # -- support ---------------------------------------------------------------

    def request_support(
        self,
        customer_number: str,
        shipment_id: int,
        kind: str,
        *,
        note: str = "",
        requested_by: str,
    ) -> str:
        """Hand the customer's shipment to support: a trace, a lost-parcel report, a
        reroute or a redelivery request. Returns the reference to quote."""
        try:
            clean_kind = SupportRequestKind(kind)
        except ValueError:
            raise ValidationError(
                f"no request {kind!r} (trace, lost, reroute, redelivery)",
                code="invalid_request_kind",
            ) from None
        clean_note = model.parse_text(note, "note", limit=MAX_NOTE)
        now = self._clock.now()

        def work(uow: Session) -> str:
            repository = self._repository(uow)
            shipment = _owned(repository, customer_number, shipment_id)
            if not model.support_allowed(shipment, clean_kind):
                raise ValidationError(
                    f"a {shipment.status.value} parcel cannot get a {clean_kind.value} request",
                    code="request_not_allowed",
                )
            reference = self._trace_requests.hand_over(
                uow.connection,
                TraceRequest(shipment, clean_kind, clean_note, requested_by, now),
            )
            if clean_kind in (SupportRequestKind.TRACE, SupportRequestKind.LOST):
                shipment.trace_reference = reference
                repository.update(shipment)
            uow.commit()
            return reference

        return self._db.run(work)

    # -- helpers ---------------------------------------------------------------

    def _change_in(
        self,
        uow: Session,
        shipment: Shipment,
        old: ShipmentStatus,
        message_ids: Iterable[str] = (),
    ) -> _Change | None:
        ids = list(message_ids)
        if shipment.status != old and shipment.status in messages.ALERTED:
            ids.append(self._send(uow, shipment, messages.status_alert(shipment)))
        if shipment.status != old:
            self._queue_webhooks(uow, shipment, old)
        if shipment.status == old and not ids:
            return None
        return _Change(attrs.evolve(shipment), old, tuple(ids))

    def _queue_webhooks(self, uow: Session, shipment: Shipment, old: ShipmentStatus) -> None:
        store = self._webhook_repository(uow)
        now = self._clock.now()
        body = webhook_body(shipment, old, now)
        for subscription in store.subscriptions(shipment.customer_number):
            if subscription.wants(shipment):
                store.add_delivery(subscription.id, body, now)

    def _send(self, uow: Session, shipment: Shipment, message: messages.Message) -> str:
        return self._messages.add_for_customer(
            uow.connection,
            shipment.customer_number,
            message.kind,
            message.subject,
            message.body,
            {
                "shipment": str(shipment.id),
                "number": shipment.number,
                "status": shipment.status.value,
            },
            translations=message.translations,
        )

    def _announce(self, changes: Iterable[_Change]) -> None:
        ids: builtins.list[str] = []
        for change in changes:
            ids.extend(change.message_ids)
            if change.shipment.status != change.old:
                try:
                    self._status_changed(change.shipment, change.old, change.shipment.status)
                except Exception:  # a plugin's failure never undoes a committed change
                    log.exception("shipment_status_changed failed for %s", change.shipment.number)
        if ids:
            self._messages.deliver(ids)


def valid_number(number: str) -> Identification:
    """``number`` identified, or ValidationError ``unknown_format`` / ``bad_check_digit``
    / ``unknown_country``."""
    if not isinstance(number, str):
        raise ValidationError("a tracking number is text", code="unknown_format")
    found = numbers.identify(number)
    if not found.valid:
        reasons = {
            "bad_check_digit": f"{found.number} has a wrong check digit for {found.format}",
            "unknown_country": f"{found.number} ends in no ISO country code",
        }
        code = found.reason or "unknown_format"
        raise ValidationError(
            reasons.get(code, f"{found.number[:40]} is not a tracking number of a known format"),
            code=code,
        )
    return found


def check_customs(customs: Customs) -> Customs:
    if not isinstance(customs.value, Money) or customs.value.mills < 0:
        raise ValidationError("a customs value is a positive amount", code="invalid_customs_value")
    return Customs(
        contents=model.parse_text(customs.contents, "contents"),
        hs_codes=tuple(model.parse_hs_code(code) for code in customs.hs_codes),
        value=customs.value,
    )


def _owned(repository: ShipmentRepository, customer_number: str, shipment_id: int) -> Shipment:
    found = repository.get(shipment_id) if isinstance(shipment_id, int) else None
    if found is None or found.customer_number != customer_number:
        raise NotFound(f"no shipment {shipment_id!r}", code="shipment_not_found")
    return found


def _proof(answer: ParcelTracking) -> DeliveryProof | None:
    return answer.proof


def webhook_body(shipment: Shipment, old: ShipmentStatus, at: datetime) -> str:
    """The JSON a webhook receives for a status change (no names or addresses)."""
    return json.dumps(
        {
            "event": "shipment.status_changed",
            "shipment_id": shipment.id,
            "number": shipment.number,
            "carrier": shipment.carrier,
            "reference": shipment.reference,
            "old_status": old.value,
            "status": shipment.status.value,
            "changed_at": at.isoformat(),
        },
        sort_keys=True,
    )
