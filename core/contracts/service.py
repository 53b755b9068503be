"""Use cases of the contracts area; each runs in one unit of work.

``pr.contracts``: lease, rental and maintenance contracts of a customer's equipment and
their renewal reminders. ``pr.equipment``: a customer's products (the meters the
registry holds for the account, where each stands, and their contracts), registering
one, and changing its installation address.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from datetime import date

import attrs

from postroom.core.clock import Clock, today
from postroom.core.contracts import messages, model
from postroom.core.contracts.model import (
    AddressChange,
    AddressRequest,
    AddressRequestStatus,
    Contract,
    InstallationAddress,
    Product,
    RegisteredProduct,
    Terms,
)
from postroom.core.contracts.ports import (
    AddressRequestResolved,
    CustomerAccounts,
    CustomerMessages,
    InstallationAddressRequests,
    MeterRegistry,
    Session,
    Transactions,
)
from postroom.core.contracts.store import ContractRepository, ContractStore, KeptAddressRequests
from postroom.core.errors import Conflict, NotFound, ValidationError
from postroom.core.meters.model import Meter, MeterStatus
from postroom.core.money import Money
from postroom.core.ports import Translation

RepositoryFactory = Callable[[Session], ContractRepository]
MAX_PAGE = 1000


def _store(session: Session) -> ContractRepository:
    return ContractStore(session.connection)


class ContractsService:
    """``pr.contracts``: equipment contracts of customer accounts."""

    def __init__(
        self,
        db: Transactions,
        clock: Clock,
        *,
        meters: MeterRegistry,
        accounts: CustomerAccounts,
        messages: CustomerMessages,
        repository: RepositoryFactory = _store,
    ) -> None:
        self._db = db
        self._clock = clock
        self._meters = meters
        self._accounts = accounts
        self._messages = messages
        self._repository = repository

    def today(self) -> date:
        """The day statuses and renewal dates are computed for."""
        return today(self._clock)

    def add(
        self,
        customer_number: str,
        serial: str,
        *,
        kind: str,
        start: date,
        term_months: int,
        billing_period: str,
        amount: Money,
        notice_days: int,
        auto_renew: bool,
    ) -> Contract:
        """A new contract on the customer's meter ``serial``, in the account's currency."""
        clean_kind = model.parse_kind(kind)
        terms = Terms(
            billing_period=model.parse_billing_period(billing_period),
            amount=model.check_amount(amount),
            notice_days=model.check_notice_days(notice_days),
        )
        months = model.check_term_months(term_months)
        if not isinstance(start, date):
            raise ValidationError("a contract starts on a date", code="invalid_start")
        if not isinstance(auto_renew, bool):
            raise ValidationError("auto-renew is true or false", code="invalid_auto_renew")
        account = self._accounts.get(customer_number)
        if amount.currency != account.currency:
            raise ValidationError(
                f"account {account.number} pays in {account.currency}, not {amount.currency}",
                code="currency_mismatch",
            )
        meter = _in_service(self._meters.customer_meter(account.number, serial))
        now = self._clock.now()

        def work(uow: Session) -> Contract:
            repository = self._repository(uow)
            number = model.new_contract_number(clean_kind, start)
            while repository.number_taken(number):  # a million a year and kind: rarely
                number = model.new_contract_number(clean_kind, start)
            contract = repository.add(
                Contract(
                    id=0,
                    number=number,
                    customer_number=account.number,
                    serial=meter.serial,
                    product_code=meter.product_code,
                    kind=clean_kind,
                    start=start,
                    term_months=months,
                    terms=terms,
                    auto_renew=auto_renew,
                    created_at=now,
                )
            )
            uow.commit()
            return contract

        return self._db.run(work)

    def list(self, customer_number: str, serial: str | None = None) -> builtins.list[Contract]:
        """The customer's contracts, of one meter when ``serial`` is given."""
        account = self._accounts.get(customer_number)
        return self._db.run(
            lambda uow: self._repository(uow).of_customer(account.number, serial), readonly=True
        )

    def get(self, customer_number: str, number: str) -> Contract:
        """The customer's contract ``number``; another customer's is ``contract_not_found``."""
        account = self._accounts.get(customer_number)
        clean = _contract_number(number)
        found = self._db.run(lambda uow: self._repository(uow).get(clean), readonly=True)
        if found is None or found.customer_number != account.number:
            raise NotFound(f"no contract {number!r}", code="contract_not_found")
        return found

    def cancel(self, customer_number: str, number: str, reason: str) -> Contract:
        """End the contract now (an early termination agreed with the customer)."""
        account = self._accounts.get(customer_number)
        clean = _contract_number(number)
        clean_reason = model.parse_reason(reason)
        now = self._clock.now()

        def work(uow: Session) -> Contract:
            repository = self._repository(uow)
            found = repository.get(clean)
            if found is None or found.customer_number != account.number:
                raise NotFound(f"no contract {number!r}", code="contract_not_found")
            status = found.status_on(now.date())
            if status in (model.ContractStatus.CANCELLED, model.ContractStatus.ENDED):
                raise Conflict(f"contract {clean} is {status.value}", code="contract_closed")
            repository.cancel(found.id, now, clean_reason)
            uow.commit()
            return attrs.evolve(found, cancelled_at=now, cancel_reason=clean_reason)

        return self._db.run(work)

    def billable_on(self, day: date) -> builtins.list[model.BillableContract]:
        """Every contract running on ``day``: started, not cancelled, not ended (the
        billing run's list, as flat rows)."""
        return self._db.run(lambda uow: self._repository(uow).billable_on(day), readonly=True)

    def send_renewal_reminders(self) -> int:
        """The worker's job: email each contract's renewal reminder once per term, in its
        last ``REMINDER_DAYS`` days. Returns how many were written (0 on a rerun)."""
        now = self._clock.now()
        day = now.date()

        def work(uow: Session) -> builtins.list[str]:
            repository = self._repository(uow)
            written: builtins.list[str] = []
            for contract in repository.running_on(day):
                term = contract.reminder_due(day)
                # the key (contract, term) lets one reminder through, even past a
                # concurrent worker
                if term is None or not repository.record_reminder(contract.id, term.number, now):
                    continue
                written.append(
                    _send(
                        self._messages,
                        uow,
                        contract.customer_number,
                        "contract.renewal-reminder",
                        messages.renewal_reminder(contract, term),
                        {
                            "contract": contract.number,
                            "serial": contract.serial,
                            "term": str(term.number),
                            "term_end": term.end.isoformat(),
                            "auto_renew": "yes" if contract.auto_renew else "no",
                        },
                    )
                )
            if written:
                uow.commit()
            return written

        written = self._db.run(work)
        self._messages.deliver(written)
        return len(written)


def _send(
    outbox: CustomerMessages,
    uow: Session,
    customer_number: str,
    kind: str,
    texts: messages.Texts,
    data: Mapping[str, str],
) -> str:
    """Write the customer's email in the caller's transaction: English, with the other
    languages as translations."""
    subject, body = texts["en"]
    return outbox.add_for_customer(
        uow.connection,
        customer_number,
        kind,
        subject,
        body,
        data,
        language="en",
        translations={
            language: Translation(subject=text[0], body=text[1])
            for language, text in texts.items()
            if language != "en"
        },
    )


def _contract_number(text: str) -> str:
    try:
        return model.parse_contract_number(text)
    except ValidationError:  # no contract can have this number
        raise NotFound(f"no contract {text!r}", code="contract_not_found") from None


class EquipmentService:
    """``pr.equipment``: a customer's products and where they stand."""

    def __init__(
        self,
        db: Transactions,
        clock: Clock,
        *,
        meters: MeterRegistry,
        accounts: CustomerAccounts,
        messages: CustomerMessages,
        requests: InstallationAddressRequests | None = None,
        repository: RepositoryFactory = _store,
    ) -> None:
        self._db = db
        self._clock = clock
        self._meters = meters
        self._accounts = accounts
        self._messages = messages
        self._repository = repository
        #: the default hand-over, which keeps requests for staff
        self.kept_requests = KeptAddressRequests()
        self._requests: InstallationAddressRequests = requests or self.kept_requests
        self._requests_kept = self._requests is self.kept_requests
        self._resolved_listeners: builtins.list[AddressRequestResolved] = []

    def use_address_requests(
        self, requests: InstallationAddressRequests, *, kept_too: bool = False
    ) -> None:
        """Hand address changes to ``requests`` from now on (the composition root wires
        the support-cases area here once it exists); ``kept_too``: it also keeps them
        in ``kept_requests`` for staff, so a product shows its open request."""
        self._requests = requests
        self._requests_kept = kept_too

    def add_resolved_listener(self, listener: AddressRequestResolved) -> None:
        """Call ``listener(connection, request)`` in the transaction of every address
        request staff apply or refuse (``resolve_address_request``)."""
        self._resolved_listeners.append(listener)

    def register_product(
        self,
        customer_number: str,
        address: InstallationAddress,
        *,
        product_code: str | None = None,
        serial: str | None = None,
        installation_number: str | None = None,
    ) -> RegisteredProduct:
        """Register a meter to the customer (by product code + serial, or by the
        installation number of its delivery note) where it is installed. The meter's
        own API key is in the answer, once."""
        if not isinstance(address, InstallationAddress):
            raise ValidationError("give the installation address", code="invalid_address")
        account = self._accounts.get(customer_number)
        registered = self._meters.register(
            account.number,
            product_code=product_code,
            serial=serial,
            installation_number=installation_number,
        )
        meter = registered.meter
        now = self._clock.now()

        def work(uow: Session) -> None:
            self._repository(uow).set_address(account.number, meter.serial, address, now)
            uow.commit()

        self._db.run(work)
        return RegisteredProduct(_product(meter, address, ()), registered.api_key)

    def products(self, customer_number: str) -> builtins.list[Product]:
        """The customer's products with their addresses and contracts, by serial."""
        account = self._accounts.get(customer_number)
        meters = self._meters.list(account.number)

        def work(uow: Session) -> builtins.list[Product]:
            repository = self._repository(uow)
            addresses = repository.addresses(account.number)
            contracts = repository.of_customer(account.number)
            return [
                _product(
                    meter,
                    addresses.get(meter.serial),
                    tuple(c for c in contracts if c.serial == meter.serial),
                )
                for meter in sorted(meters, key=lambda m: m.serial)
            ]

        return self._db.run(work, readonly=True)

    def product(self, customer_number: str, serial: str) -> Product:
        """One of the customer's products; another customer's is ``product_not_found``."""
        meter = self._meter(customer_number, serial)

        def work(uow: Session) -> Product:
            repository = self._repository(uow)
            open_request = None
            if self._requests_kept:
                waiting = self.kept_requests.listed(
                    uow.connection,
                    status=AddressRequestStatus.OPEN,
                    customer_number=meter.customer_account,
                    serial=meter.serial,
                )
                open_request = waiting[-1] if waiting else None
            return attrs.evolve(
                _product(
                    meter,
                    repository.address(meter.serial),
                    tuple(repository.of_customer(meter.customer_account, meter.serial)),
                ),
                open_request=open_request,
            )

        return self._db.run(work, readonly=True)

    def set_installation_address(
        self, customer_number: str, serial: str, address: InstallationAddress
    ) -> Product:
        """Record where the customer's product stands (staff, from a checked request or a
        site visit)."""
        if not isinstance(address, InstallationAddress):
            raise ValidationError("give the installation address", code="invalid_address")
        meter = self._meter(customer_number, serial)
        now = self._clock.now()

        def work(uow: Session) -> None:
            self._repository(uow).set_address(meter.customer_account, meter.serial, address, now)
            uow.commit()

        self._db.run(work)
        return self.product(customer_number, serial)

    def request_address_change(
        self,
        customer_number: str,
        serial: str,
        address: InstallationAddress,
        move_on: date,
        requested_by: str,
    ) -> str:
        """Record that the customer will move the product to ``address`` on ``move_on``
        and hand it to support; the customer gets an acknowledgement with the reference,
        which is returned."""
        if not isinstance(address, InstallationAddress):
            raise ValidationError("give the new installation address", code="invalid_address")
        now = self._clock.now()
        clean_move = model.check_move_date(move_on, now.date())
        who = model.parse_requested_by(requested_by)
        meter = _in_service(self._meter(customer_number, serial))
        change = AddressChange(
            customer_number=meter.customer_account,
            serial=meter.serial,
            address=address,
            move_on=clean_move,
            requested_by=who,
            requested_at=now,
        )

        def work(uow: Session) -> tuple[str, str]:
            reference = self._requests.hand_over(uow.connection, change)
            message_id = _send(
                self._messages,
                uow,
                change.customer_number,
                "equipment.address-change-requested",
                messages.address_change_received(
                    reference, change.serial, address, clean_move, who
                ),
                {"reference": reference, "serial": change.serial},
            )
            uow.commit()
            return reference, message_id

        reference, message_id = self._db.run(work)
        self._messages.deliver([message_id])
        return reference

    # --------------------------------------------------------------- staff

    def address_requests(
        self, status: str | None = "open", *, limit: int = 100
    ) -> builtins.list[AddressRequest]:
        """The address changes kept for staff (``open`` ones first by default), oldest
        first."""
        wanted = None if status is None else _request_status(status)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise ValidationError(f"limit is 1 to {MAX_PAGE}", code="invalid_limit")
        return self._db.run(
            lambda uow: self.kept_requests.listed(uow.connection, status=wanted, limit=limit),
            readonly=True,
        )

    def resolve_address_request(
        self, reference: str, *, done: bool, staff: str, note: str = ""
    ) -> AddressRequest:
        """Close an open request kept for staff: ``done`` records the new installation
        address; otherwise it is rejected (``note`` says why). The customer is told."""
        who = model.parse_requested_by(staff)
        clean_note = model.parse_reason(note) if note or not done else ""
        now = self._clock.now()
        clean_ref = reference.strip().upper() if isinstance(reference, str) else ""

        def work(uow: Session) -> tuple[AddressRequest, str]:
            found = self.kept_requests.get(uow.connection, clean_ref)
            if found is None:
                raise NotFound(
                    f"no address request {reference!r}", code="address_request_not_found"
                )
            status = AddressRequestStatus.DONE if done else AddressRequestStatus.REJECTED
            if not self.kept_requests.resolve(
                uow.connection, clean_ref, status, now, who, clean_note
            ):
                raise Conflict(
                    f"address request {clean_ref} is {found.status.value}",
                    code="address_request_closed",
                )
            change = found.change
            if done:
                self._repository(uow).set_address(
                    change.customer_number, change.serial, change.address, now
                )
                texts = messages.address_change_made(clean_ref, change.serial, change.address)
            else:
                texts = messages.address_change_refused(clean_ref, change.serial, clean_note)
            resolved = attrs.evolve(
                found, status=status, resolved_at=now, resolved_by=who, note=clean_note
            )
            for listener in self._resolved_listeners:
                listener(uow.connection, resolved)
            message_id = _send(
                self._messages,
                uow,
                change.customer_number,
                "equipment.address-change-resolved",
                texts,
                {"reference": clean_ref, "serial": change.serial, "status": status.value},
            )
            uow.commit()
            return resolved, message_id

        resolved, message_id = self._db.run(work)
        self._messages.deliver([message_id])
        return resolved

    def _meter(self, customer_number: str, serial: str) -> Meter:
        account = self._accounts.get(customer_number)
        try:
            return self._meters.customer_meter(account.number, serial)
        except NotFound:
            raise NotFound(f"no product {serial!r}", code="product_not_found") from None


def _in_service(meter: Meter) -> Meter:
    """The meter, unless it was withdrawn: a withdrawn meter gets no new contract and
    is not moved."""
    if meter.status is not MeterStatus.ACTIVE:
        raise Conflict(f"meter {meter.serial} is {meter.status.value}", code="meter_withdrawn")
    return meter


def _request_status(text: str) -> AddressRequestStatus:
    try:
        return AddressRequestStatus(text)
    except ValueError:
        known = ", ".join(s.value for s in AddressRequestStatus)
        raise ValidationError(f"status is one of {known}", code="invalid_status") from None


def _product(
    meter: Meter, address: InstallationAddress | None, contracts: tuple[Contract, ...]
) -> Product:
    return Product(
        serial=meter.serial,
        product_code=meter.product_code,
        model=meter.model,
        status=meter.status.value,
        registered_at=meter.registered_at,
        installation_number=meter.installation_number,
        address=address,
        contracts=contracts,
    )
