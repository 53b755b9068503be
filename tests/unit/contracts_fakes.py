"""In-memory fakes of what the contracts use cases depend on: the repository, the
transactions (rolled back unless committed), the meter registry, the accounts, the
customer messages and the address hand-over. No I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

import attrs
from fakes_transactions import StateDatabase

from postroom.core.accounts.model import AccountStatus, CustomerAccount
from postroom.core.contracts.model import (
    AddressChange,
    BillableContract,
    Contract,
    InstallationAddress,
)
from postroom.core.errors import Conflict, NotFound
from postroom.core.meters.model import Meter, MeterStatus, RegisteredMeter
from postroom.core.ports import Translation


@attrs.define
class State:
    """Everything the fakes keep; copied at the start of a transaction, restored on
    rollback."""

    contracts: dict[str, Contract] = attrs.field(factory=dict)
    reminders: set[tuple[int, int]] = attrs.field(factory=set)
    addresses: dict[str, tuple[str, InstallationAddress]] = attrs.field(factory=dict)
    messages: list[dict[str, Any]] = attrs.field(factory=list)
    handed_over: list[tuple[str, AddressChange]] = attrs.field(factory=list)


class FakeDatabase(StateDatabase[State]):
    def __init__(self) -> None:
        super().__init__(State())


@attrs.define
class FakeContracts:
    """``ContractRepository`` on the fake database's state."""

    db: FakeDatabase

    @property
    def _s(self) -> State:
        return self.db.state

    def number_taken(self, number: str) -> bool:
        return number in self._s.contracts

    def add(self, contract: Contract) -> Contract:
        stored = attrs.evolve(contract, id=len(self._s.contracts) + 1)
        self._s.contracts[stored.number] = stored
        return stored

    def get(self, number: str) -> Contract | None:
        return self._s.contracts.get(number)

    def of_customer(self, customer_number: str, serial: str | None = None) -> list[Contract]:
        found = [
            c
            for c in self._s.contracts.values()
            if c.customer_number == customer_number and serial in (None, c.serial)
        ]
        return sorted(found, key=lambda c: (c.start, c.id))

    def cancel(self, contract_id: int, at: datetime, reason: str) -> None:
        for number, contract in self._s.contracts.items():
            if contract.id == contract_id and contract.cancelled_at is None:
                self._s.contracts[number] = attrs.evolve(
                    contract, cancelled_at=at, cancel_reason=reason
                )

    def running_on(self, day: date) -> list[Contract]:
        return [
            c
            for c in self._s.contracts.values()
            if c.cancelled_at is None
            and c.start <= day
            and (c.auto_renew or c.first_term.end >= day)
        ]

    def billable_on(self, day: date) -> list[BillableContract]:
        return [c.billable() for c in self.running_on(day)]

    def record_reminder(self, contract_id: int, term: int, at: datetime) -> bool:
        if (contract_id, term) in self._s.reminders:
            return False
        self._s.reminders.add((contract_id, term))
        return True

    def address(self, serial: str) -> InstallationAddress | None:
        found = self._s.addresses.get(serial)
        return None if found is None else found[1]

    def addresses(self, customer_number: str) -> dict[str, InstallationAddress]:
        return {s: a for s, (c, a) in self._s.addresses.items() if c == customer_number}

    def set_address(
        self, customer_number: str, serial: str, address: InstallationAddress, at: datetime
    ) -> None:
        self._s.addresses[serial] = (customer_number, address)


@attrs.define
class FakeMessages:
    db: FakeDatabase
    delivered: list[str] = attrs.field(factory=list)

    def add_for_customer(
        self,
        connection: Any,
        customer_number: str,
        kind: str,
        subject: str,
        body: str,
        data: Mapping[str, str],
        *,
        language: str = "en",
        translations: Mapping[str, Translation] | None = None,
    ) -> str:
        message_id = f"msg_{len(self.db.state.messages) + 1}"
        self.db.state.messages.append(
            {
                "id": message_id,
                "to": customer_number,
                "kind": kind,
                "subject": subject,
                "body": body,
                "data": dict(data),
                "language": language,
                "translations": dict(translations or {}),
            }
        )
        return message_id

    def deliver(self, message_ids: Iterable[str]) -> int:
        ids = list(message_ids)
        self.delivered.extend(ids)
        return len(ids)


@attrs.define
class FakeHandOver:
    """The support side of address changes: takes them, answers a reference."""

    db: FakeDatabase

    def hand_over(self, connection: Any, change: AddressChange) -> str:
        reference = f"CASE-{len(self.db.state.handed_over) + 1}"
        self.db.state.handed_over.append((reference, change))
        return reference


def account(number: str, currency: str = "USD") -> CustomerAccount:
    return CustomerAccount(
        id=int(number[:4]),
        number=number,
        name=f"Customer {number}",
        country="US",
        currency=currency,
        status=AccountStatus.ACTIVE,
        created_at=datetime.fromisoformat("2026-01-01T00:00:00+00:00"),
    )


@attrs.define
class FakeAccounts:
    accounts: dict[str, CustomerAccount] = attrs.field(factory=dict)

    def get(self, number: str) -> CustomerAccount:
        if number not in self.accounts:
            raise NotFound(f"no customer account {number}", code="account_not_found")
        return self.accounts[number]


@attrs.define
class FakeMeters:
    meters: dict[str, Meter] = attrs.field(factory=dict)

    def add(self, customer_number: str, serial: str) -> Meter:
        meter = Meter(
            serial=serial,
            customer_account=customer_number,
            product_code="PR-VPSD1",
            model="postroom-vpsd-1",
            carrier="usps",
            status=MeterStatus.ACTIVE,
            registered_at=datetime.fromisoformat("2026-01-01T00:00:00+00:00"),
        )
        self.meters[serial] = meter
        return meter

    def list(self, customer_number: str | None = None) -> list[Meter]:
        return [m for m in self.meters.values() if customer_number in (None, m.customer_account)]

    def customer_meter(self, customer_number: str, serial: str) -> Meter:
        meter = self.meters.get(serial)
        if meter is None or meter.customer_account != customer_number:
            raise NotFound(f"no meter {serial!r}", code="meter_not_found")
        return meter

    def register(
        self,
        customer_number: str,
        *,
        product_code: str | None = None,
        serial: str | None = None,
        installation_number: str | None = None,
    ) -> RegisteredMeter:
        assert serial is not None
        if serial in self.meters:
            raise Conflict(f"meter {serial} is registered", code="meter_exists")
        return RegisteredMeter(self.add(customer_number, serial), "prm_fake_key")
