"""Tracking on the real store (SQLite, and PostgreSQL in the PostgreSQL pass), with the
sandbox carrier plugin as installed: shipments followed once, scans folded in with
their time zones, the worker's jobs on a frozen clock, the stuck-parcel path to a
kept trace request, and another account's shipment answering not found."""

from __future__ import annotations

from datetime import timedelta

import pytest

from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.errors import NotFound, ValidationError
from postroom.core.money import Money
from postroom.core.ports import ShipmentStatus
from postroom.core.tracking.model import Customs, Parties
from postroom.core.tracking.store import shipments
from postroom.plugins.sandbox_carrier import journey_start, scenario

S = ShipmentStatus


def numbered(kind: str, count: int = 1) -> list[str]:
    """DHL Express numbers whose sandbox journey is of ``kind``."""
    found = []
    for body in range(100_000_000, 100_100_000):
        number = f"{body:09d}{body % 7}"
        if scenario(number) == kind:
            found.append(number)
            if len(found) == count:
                return found
    raise AssertionError(kind)


@pytest.fixture
def accounts(postroom: Postroom) -> tuple[str, str]:
    mine = postroom.accounts.create("Acme Mailroom", "US", "USD")
    other = postroom.accounts.create("Other Mailroom", "US", "USD")
    return mine.number, other.number


def at_journey_start(clock: FrozenClock, number: str) -> None:
    start = journey_start(number, clock.now())
    if start + timedelta(days=20) < clock.now():
        clock.set(start + timedelta(days=28))
    clock.set(journey_start(number, clock.now()))


def test_a_delivered_journey_is_stored_with_its_zones_and_proof(
    postroom: Postroom, clock: FrozenClock, accounts: tuple[str, str]
) -> None:
    mine, other = accounts
    [number] = numbered("delivered")
    at_journey_start(clock, number)
    shipment = postroom.tracking.add(
        mine,
        number,
        service="Express Worldwide",
        parties=Parties("Acme", "Ann Smith", "Chicago", "Boston"),
        reference="PO-1",
        customs=Customs("Books", ("490199",), Money.parse("45.00", "USD")),
    )
    assert shipment.carrier == "sandbox"
    assert postroom.tracking.add(mine, number).id == shipment.id
    clock.advance(timedelta(hours=20))
    postroom.tracking.refresh_due()
    assert postroom.tracking.get(mine, shipment.id).status is S.IN_TRANSIT
    clock.advance(timedelta(days=2))
    postroom.tracking.refresh_due()
    postroom.tracking.refresh_due()  # nothing due twice
    done = postroom.tracking.get(mine, shipment.id)
    assert done.status is S.DELIVERED
    assert done.proof is not None
    assert done.proof.signed_by
    assert done.customs == Customs("Books", ("490199",), Money.parse("45.00", "USD"))
    scans = postroom.tracking.scans(mine, shipment.id)
    assert [scan.code for scan in scans] == ["IR", "PU", "AR", "DP", "AR", "OD", "DL"]
    assert {scan.occurred_at.utcoffset() for scan in scans} != {timedelta(0)}
    assert [m.notification.kind for m in postroom.outbox.messages(limit=10)] == ["tracking.status"]
    with pytest.raises(NotFound):
        postroom.tracking.get(other, shipment.id)


def test_a_lost_parcel_opens_its_trace_case_by_itself(
    postroom: Postroom, clock: FrozenClock, accounts: tuple[str, str]
) -> None:
    mine, _ = accounts
    [number] = numbered("lost")
    at_journey_start(clock, number)
    shipment = postroom.tracking.add(mine, number, auto_trace=True)
    for _day in range(14):
        clock.advance(timedelta(days=1))
        postroom.tracking.refresh_due()
        postroom.tracking.apply_rules()
    lost = postroom.tracking.get(mine, shipment.id)
    assert lost.status is S.LOST
    # the support-cases area opened the trace as a tracking case linked to the shipment
    case = postroom.cases.get(mine, lost.trace_reference).case
    assert case.subject == f"Trace request: {number}"
    assert case.department.value == "tracking"
    assert postroom.tracking.apply_rules() == 0


def test_a_bad_number_writes_nothing(postroom: Postroom, accounts: tuple[str, str]) -> None:
    mine, _ = accounts
    with pytest.raises(ValidationError) as caught:
        postroom.tracking.add(mine, "3318810010")
    assert caught.value.code == "bad_check_digit"
    assert postroom.tracking.list(mine) == []


def test_the_demo_follows_parcels_of_every_kind_and_the_dashboard_shows_them(
    postroom: Postroom,
) -> None:
    from postroom.core.dashboard import customer_dashboard
    from postroom.core.demo import DEMO_CUSTOMER, DEMO_SHIPMENTS, load_demo

    assert "shipments" in load_demo(postroom)
    customer = next(a for a in postroom.accounts.list() if a.name == DEMO_CUSTOMER)
    followed = postroom.tracking.list(customer.number)
    assert len(followed) == len(DEMO_SHIPMENTS)
    assert len({s.status for s in followed}) >= 3
    board = customer_dashboard(postroom, customer.number).shipments
    assert board.total == len(DEMO_SHIPMENTS)
    assert len(board.recent) == 5
    assert "shipments" not in load_demo(postroom)  # once per database


def test_a_long_history_is_written_in_one_go_and_read_back_with_its_zones(
    postroom: Postroom, accounts: tuple[str, str]
) -> None:
    """25 scans at once take PostgreSQL's COPY path (SQLite's INSERT): the same rows."""
    from datetime import timezone

    from postroom.core.ports import ScanEvent
    from postroom.core.tracking.store import COPY_FROM, ShipmentStore

    mine, _ = accounts
    shipment = postroom.tracking.add(mine, "9400111201080805483016")
    start = postroom.clock.now()
    zones = [timezone(timedelta(hours=h)) for h in (-6, -5, 1)]
    scans = [
        ScanEvent(
            (start + timedelta(hours=k)).astimezone(zones[k % 3]),
            "10",
            "Scan é",
            f"HUB {k}",
            S.IN_TRANSIT,
        )
        for k in range(COPY_FROM + 5)
    ]

    def work(uow):  # type: ignore[no-untyped-def]
        ShipmentStore(uow.connection).add_scans(shipment.id, scans)
        uow.commit()

    postroom.db.run(work)
    read = postroom.tracking.scans(mine, shipment.id)
    assert read == scans
    assert [s.occurred_at.utcoffset() for s in read] == [s.occurred_at.utcoffset() for s in scans]


def test_the_status_by_number_reads_the_newest_shipment_outside_any_transaction(
    postroom: Postroom, accounts: tuple[str, str]
) -> None:
    mine, other = accounts
    [number] = numbered("delivered")
    assert postroom.tracking.status_of(number) is None
    postroom.tracking.add(mine, number)
    assert postroom.tracking.status_of(f" {number[:4]}-{number[4:]} ") is S.PENDING
    with postroom.db.unit_of_work() as uow:  # a write in progress elsewhere
        uow.connection.execute(
            shipments.update().where(shipments.c.number == number).values(status="in_transit")
        )
        assert postroom.tracking.status_of(number) is S.PENDING  # only what is committed
        uow.commit()
    assert postroom.tracking.status_of(number) is S.IN_TRANSIT
    postroom.tracking.add(other, number, carrier="sandbox")
    assert postroom.tracking.status_of(number) is S.PENDING  # the newest shipment's
    assert postroom.tracking.status_of("x" * 500) is None
