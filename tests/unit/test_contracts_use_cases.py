"""The contracts and equipment use cases on in-memory fakes (no I/O): what a customer and
an admin rely on, and that a refused request writes nothing."""

from __future__ import annotations

from datetime import date, timedelta

import attrs
import pytest
from contracts_fakes import (
    FakeAccounts,
    FakeContracts,
    FakeDatabase,
    FakeHandOver,
    FakeMessages,
    FakeMeters,
    account,
)

from postroom.core.clock import FrozenClock
from postroom.core.contracts.model import ContractStatus, parse_address
from postroom.core.contracts.service import ContractsService, EquipmentService
from postroom.core.errors import Conflict, NotFound, ValidationError
from postroom.core.meters.model import MeterStatus
from postroom.core.money import Money

MINE = "1000000009"
OTHER = "2000000008"
ADDRESS = parse_address("5 Rue de la Paix", "", "75002", "Paris", "FR")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock.at("2026-03-02T09:30:00+00:00")


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def meters() -> FakeMeters:
    registry = FakeMeters()
    registry.add(MINE, "PR-1")
    registry.add(OTHER, "PR-9")
    return registry


@pytest.fixture
def messages(db: FakeDatabase) -> FakeMessages:
    return FakeMessages(db)


@pytest.fixture
def contracts(
    db: FakeDatabase, clock: FrozenClock, meters: FakeMeters, messages: FakeMessages
) -> ContractsService:
    return ContractsService(
        db,
        clock,
        meters=meters,
        accounts=FakeAccounts({MINE: account(MINE), OTHER: account(OTHER)}),
        messages=messages,
        repository=lambda _session: FakeContracts(db),
    )


@pytest.fixture
def equipment(
    db: FakeDatabase, clock: FrozenClock, meters: FakeMeters, messages: FakeMessages
) -> EquipmentService:
    return EquipmentService(
        db,
        clock,
        meters=meters,
        accounts=FakeAccounts({MINE: account(MINE), OTHER: account(OTHER)}),
        messages=messages,
        requests=FakeHandOver(db),
        repository=lambda _session: FakeContracts(db),
    )


def add(service: ContractsService, number: str = MINE, serial: str = "PR-1", **changes: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "kind": "maintenance",
        "start": date(2026, 4, 1),
        "term_months": 12,
        "billing_period": "quarterly",
        "amount": Money.parse("120.00 USD"),
        "notice_days": 90,
        "auto_renew": True,
        **changes,
    }
    return service.add(number, serial, **values)  # type: ignore[arg-type]


def test_a_new_contract_has_a_readable_number_and_the_meters_product(
    contracts: ContractsService,
) -> None:
    added = add(contracts)
    assert added.number.startswith("MT-2026-")
    assert len(added.number) == len("MT-2026-123456")
    assert added.product_code == "PR-VPSD1"
    assert contracts.get(MINE, added.number) == added
    assert added.status_on(contracts.today()) is ContractStatus.ACTIVE  # starts next month


def test_a_contract_on_another_accounts_meter_is_refused_and_nothing_written(
    contracts: ContractsService, db: FakeDatabase
) -> None:
    with pytest.raises(NotFound):
        add(contracts, serial="PR-9")
    with pytest.raises(NotFound):
        add(contracts, number="3000000007")  # no such customer
    assert db.state.contracts == {}


def test_another_accounts_contract_is_not_found_even_by_its_number(
    contracts: ContractsService,
) -> None:
    theirs = add(contracts, number=OTHER, serial="PR-9")
    with pytest.raises(NotFound) as caught:
        contracts.get(MINE, theirs.number)
    assert caught.value.code == "contract_not_found"
    with pytest.raises(NotFound):
        contracts.get(MINE, "not a number")
    assert [c.number for c in contracts.list(OTHER)] == [theirs.number]
    assert contracts.list(MINE) == []


def test_cancelling_needs_a_reason_and_happens_once(
    contracts: ContractsService, db: FakeDatabase
) -> None:
    added = add(contracts)
    with pytest.raises(ValidationError) as caught:
        contracts.cancel(MINE, added.number, "   ")
    assert caught.value.code == "invalid_reason"
    assert db.state.contracts[added.number].cancelled_at is None
    contracts.cancel(MINE, added.number, "customer moved to a new model")
    with pytest.raises(Conflict):
        contracts.cancel(MINE, added.number, "again")


def test_reminders_are_written_once_per_term_and_delivered(
    contracts: ContractsService, clock: FrozenClock, db: FakeDatabase, messages: FakeMessages
) -> None:
    added = add(contracts)  # terms end 2027-03-31, 2028-03-31...
    clock.set(clock.now().replace(year=2027, month=1, day=30))  # 60 days before: due
    assert contracts.send_renewal_reminders() == 1
    assert contracts.send_renewal_reminders() == 0
    [sent] = db.state.messages
    assert sent["to"] == MINE
    assert sent["data"] == {
        "contract": added.number,
        "serial": "PR-1",
        "term": "1",
        "term_end": "2027-03-31",
        "auto_renew": "yes",
    }
    assert "give notice by December 31, 2026" in sent["body"]  # 90 days' notice
    assert "préavis au plus tard le 31 décembre 2026" in sent["translations"]["fr"].body
    assert messages.delivered == [sent["id"]]
    clock.set(clock.now().replace(year=2028, month=2, day=1))
    assert contracts.send_renewal_reminders() == 1
    assert db.state.messages[-1]["data"]["term"] == "2"


def test_a_cancelled_contract_gets_no_reminder(
    contracts: ContractsService, clock: FrozenClock, db: FakeDatabase
) -> None:
    added = add(contracts)
    contracts.cancel(MINE, added.number, "returned")
    clock.set(clock.now().replace(year=2027, month=2, day=1))
    assert contracts.send_renewal_reminders() == 0
    assert db.state.messages == []


def test_registering_a_product_keeps_where_it_stands(
    equipment: EquipmentService, meters: FakeMeters
) -> None:
    done = equipment.register_product(MINE, ADDRESS, product_code="PR-VPSD1", serial="PR-2")
    assert done.meter_key == "prm_fake_key"
    assert done.product.address == ADDRESS
    listed = equipment.products(MINE)
    assert [(p.serial, p.address) for p in listed] == [("PR-1", None), ("PR-2", ADDRESS)]
    assert [p.serial for p in equipment.products(OTHER)] == ["PR-9"]


def test_an_address_change_is_handed_over_with_an_acknowledgement(
    equipment: EquipmentService, clock: FrozenClock, db: FakeDatabase, messages: FakeMessages
) -> None:
    move_on = clock.now().date() + timedelta(days=7)
    reference = equipment.request_address_change(MINE, "PR-1", ADDRESS, move_on, "Ada")
    assert reference == "CASE-1"
    [(_, change)] = db.state.handed_over
    assert (change.customer_number, change.serial, change.move_on) == (MINE, "PR-1", move_on)
    assert change.requested_by == "Ada"
    assert "CASE-1" in db.state.messages[0]["subject"]
    assert messages.delivered == [db.state.messages[0]["id"]]
    assert equipment.product(MINE, "PR-1").address is None  # support has not moved it yet


@pytest.mark.parametrize(
    ("serial", "move_days", "who", "code"),
    [
        ("PR-9", 7, "Mallory", "product_not_found"),
        ("PR-1", -1, "Ada", "invalid_move_date"),
        ("PR-1", 400, "Ada", "invalid_move_date"),
        ("PR-1", 7, "", "invalid_requested_by"),
    ],
)
def test_a_bad_address_change_is_refused_and_nothing_handed_over(
    equipment: EquipmentService,
    clock: FrozenClock,
    db: FakeDatabase,
    serial: str,
    move_days: int,
    who: str,
    code: str,
) -> None:
    move_on = clock.now().date() + timedelta(days=move_days)
    with pytest.raises((NotFound, ValidationError)) as caught:
        equipment.request_address_change(MINE, serial, ADDRESS, move_on, who)
    assert caught.value.code == code
    assert db.state.handed_over == []
    assert db.state.messages == []


def test_a_withdrawn_meter_gets_no_new_contract_and_is_not_moved(
    contracts: ContractsService,
    equipment: EquipmentService,
    meters: FakeMeters,
    clock: FrozenClock,
    db: FakeDatabase,
) -> None:
    meters.meters["PR-1"] = attrs.evolve(meters.meters["PR-1"], status=MeterStatus.WITHDRAWN)
    with pytest.raises(Conflict) as caught:
        add(contracts)
    assert caught.value.code == "meter_withdrawn"
    with pytest.raises(Conflict):
        equipment.request_address_change(
            MINE, "PR-1", ADDRESS, clock.now().date() + timedelta(days=3), "Ada"
        )
    assert db.state.contracts == {}
    assert db.state.handed_over == []
