"""Merging duplicate cases and linking cases to meters, on the cases area's in-memory
fakes (no I/O): threads and links combined, the merged number leads to the survivor,
never across accounts, staff only, nothing written when refused."""

from __future__ import annotations

import pytest
from cases_fakes import FakeAccounts, FakeCases, FakeDatabase

from postroom.core.cases.linking import CaseLinks
from postroom.core.cases.model import Actor, LinkKind, MessageKind, Status
from postroom.core.cases.service import CasesService
from postroom.core.clock import FrozenClock
from postroom.core.errors import NotFound, PermissionDenied, ValidationError

MINE = "1000000009"
OTHER = "2000000008"
AGENT = Actor.staff(7, "Alex Agent")
CUSTOMER = Actor.customer(MINE, 3, "Chris Customer")
STRANGER = Actor.customer(OTHER, 4, "Sam Stranger")
METERS = {(MINE, "PR-1")}


def _meter(customer: str, serial: str) -> None:
    if (customer, serial) not in METERS:
        raise NotFound("no such meter", code="meter_not_found")


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def cases(db: FakeDatabase) -> CasesService:
    accounts = FakeAccounts()
    accounts.add(MINE, "US")
    accounts.add(OTHER, "FR")
    clock = FrozenClock.at("2026-03-04T15:00:00+00:00")
    return CasesService(db, clock, accounts=accounts, repository=lambda _s: FakeCases(db))


@pytest.fixture
def links(db: FakeDatabase) -> CaseLinks:
    clock = FrozenClock.at("2026-03-04T16:00:00+00:00")
    return CaseLinks(db, clock, _meter, lambda _s: FakeCases(db))


def _open(cases: CasesService, by: Actor = CUSTOMER, subject: str = "Jam") -> str:
    return cases.open(by=by, subject=subject, description="It jams.", channel="web").number


def test_a_merge_moves_the_thread_and_links_and_the_old_number_leads_to_the_survivor(
    cases: CasesService, links: CaseLinks
) -> None:
    duplicate, survivor = _open(cases), _open(cases, subject="Jam again")
    cases.add_customer_message(duplicate, "Still jammed.", by=CUSTOMER)
    cases.add_note(duplicate, "Firmware?", by=AGENT)
    links.link(duplicate, "meter", "PR-1", by=AGENT)
    merged = links.merge(duplicate, survivor, by=AGENT)
    assert merged.number == survivor
    assert {(link.kind, link.reference) for link in merged.links} >= {
        (LinkKind.METER, "PR-1"),
        (LinkKind.CASE, duplicate),
    }
    seen = cases.get(MINE, duplicate)  # the old number: the survivor, as the customer sees it
    assert seen.case.number == survivor
    bodies = [m.body for m in seen.messages]
    assert "Still jammed." in bodies
    assert "Firmware?" not in bodies
    staff_view = cases.get_for_staff(survivor, by=AGENT)
    assert any(m.kind is MessageKind.NOTE for m in staff_view.messages)
    old = cases.find(duplicate)
    assert old is not None
    assert old.number == survivor
    with pytest.raises(NotFound):  # merged away: it cannot be merged again
        links.merge(duplicate, survivor, by=AGENT)


def test_merges_across_accounts_into_itself_or_by_a_customer_are_refused(
    cases: CasesService, links: CaseLinks, db: FakeDatabase
) -> None:
    mine, theirs = _open(cases), _open(cases, by=STRANGER)
    with pytest.raises(ValidationError) as raised:
        links.merge(mine, theirs, by=AGENT)
    assert raised.value.code == "merge_other_account"
    with pytest.raises(ValidationError) as raised:
        links.merge(mine, mine, by=AGENT)
    assert raised.value.code == "merge_into_itself"
    with pytest.raises(PermissionDenied):
        links.merge(mine, theirs, by=CUSTOMER)
    with pytest.raises(NotFound):
        links.merge(mine, "C-2026-999999", by=AGENT)
    assert cases.get(MINE, mine).case.status is Status.NEW  # nothing written


def test_a_meter_link_must_name_a_meter_of_the_cases_account(
    cases: CasesService, links: CaseLinks
) -> None:
    theirs = _open(cases, by=STRANGER)
    with pytest.raises(NotFound) as raised:
        links.link(theirs, "meter", "PR-1", by=AGENT)
    assert raised.value.code == "meter_not_found"
    with pytest.raises(ValidationError):
        links.link(theirs, "case", "C-2026-000001", by=AGENT)
    done = links.link(theirs, "shipment", "9400100000000000000000", by=AGENT)
    assert [link.kind for link in done.links] == [LinkKind.SHIPMENT]
    again = links.link(theirs, "shipment", "9400100000000000000000", by=AGENT)
    assert len(again.links) == 1
