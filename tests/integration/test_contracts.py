"""Equipment contracts and products on the real store (SQLite, and PostgreSQL in the
PostgreSQL pass): contracts of a customer's meter, renewal reminders by the worker's job
with a frozen clock, registering a product with its address, and address changes kept
for staff."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from postroom.core.app import Postroom
from postroom.core.clock import FrozenClock
from postroom.core.contracts.model import ContractStatus, parse_address
from postroom.core.demo import DEMO_CUSTOMER, DEMO_METER, load_demo
from postroom.core.errors import Conflict, NotFound, ValidationError
from postroom.core.money import Money

SERIAL = "PR-CT-1"
OTHER_SERIAL = "PR-CT-9"
ADDRESS = parse_address("12 Harbor Street", "Suite 4", "02110", "Boston", "US")
NEW_ADDRESS = parse_address("1 Main Street", "", "10001", "New York", "US")


@pytest.fixture
def numbers(postroom: Postroom) -> dict[str, str]:
    mine = postroom.accounts.create("Acme Mailroom", "US", "USD")
    other = postroom.accounts.create("Other Mailroom", "US", "USD")
    postroom.meters.register(mine.number, product_code="PR-VPSD1", serial=SERIAL)
    postroom.meters.register(other.number, product_code="PR-VPSD1", serial=OTHER_SERIAL)
    return {"mine": mine.number, "other": other.number}


def lease(postroom: Postroom, number: str, serial: str = SERIAL, **changes: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "kind": "lease",
        "start": date(2026, 1, 1),
        "term_months": 12,
        "billing_period": "monthly",
        "amount": Money.parse("49.90 USD"),
        "notice_days": 30,
        "auto_renew": False,
        **changes,
    }
    return postroom.contracts.add(number, serial, **values)  # type: ignore[arg-type]


def reminders(postroom: Postroom) -> list[str]:
    return [
        m.notification.data["contract"]
        for m in postroom.outbox.messages(limit=100)
        if m.notification.kind == "contract.renewal-reminder"
    ]


def test_a_contract_is_stored_with_its_terms_and_read_back(
    postroom: Postroom, numbers: dict[str, str]
) -> None:
    added = lease(postroom, numbers["mine"], auto_renew=True)
    assert added.number.startswith("LS-2026-")
    shown = postroom.contracts.get(numbers["mine"], added.number.lower())
    assert shown == added
    assert shown.product_code == "PR-VPSD1"
    assert shown.terms.amount == Money(49_900, "USD")
    assert shown.first_term.end == date(2026, 12, 31)
    assert shown.renewal_date(date(2026, 3, 2)) == date(2027, 1, 1)
    assert [c.number for c in postroom.contracts.list(numbers["mine"])] == [added.number]
    assert postroom.contracts.list(numbers["other"]) == []


def test_another_accounts_meter_or_contract_is_not_found(
    postroom: Postroom, numbers: dict[str, str]
) -> None:
    with pytest.raises(NotFound):
        lease(postroom, numbers["mine"], serial=OTHER_SERIAL)
    theirs = lease(postroom, numbers["other"], serial=OTHER_SERIAL)
    with pytest.raises(NotFound) as caught:
        postroom.contracts.get(numbers["mine"], theirs.number)
    assert caught.value.code == "contract_not_found"
    with pytest.raises(NotFound):
        postroom.contracts.cancel(numbers["mine"], theirs.number, "not ours")
    assert postroom.contracts.get(numbers["other"], theirs.number).cancelled_at is None


def test_bad_terms_are_refused_and_nothing_is_written(
    postroom: Postroom, numbers: dict[str, str]
) -> None:
    for changes, code in [
        ({"amount": Money.parse("49.90 EUR")}, "currency_mismatch"),
        ({"amount": Money(0, "USD")}, "invalid_amount"),
        ({"term_months": 0}, "invalid_term"),
        ({"notice_days": -1}, "invalid_notice_period"),
        ({"kind": "purchase"}, "invalid_contract_kind"),
        ({"billing_period": "weekly"}, "invalid_billing_period"),
    ]:
        with pytest.raises(ValidationError) as caught:
            lease(postroom, numbers["mine"], **changes)
        assert caught.value.code == code
    assert postroom.contracts.list(numbers["mine"]) == []


def test_a_cancelled_contract_cannot_be_cancelled_again(
    postroom: Postroom, numbers: dict[str, str], clock: FrozenClock
) -> None:
    added = lease(postroom, numbers["mine"])
    cancelled = postroom.contracts.cancel(numbers["mine"], added.number, "meter returned")
    assert cancelled.status_on(clock.now().date()) is ContractStatus.CANCELLED
    stored = postroom.contracts.get(numbers["mine"], added.number)
    assert stored.cancel_reason == "meter returned"
    with pytest.raises(Conflict) as caught:
        postroom.contracts.cancel(numbers["mine"], added.number, "again")
    assert caught.value.code == "contract_closed"


def test_the_renewal_reminder_goes_once_per_term_60_days_before_the_end(
    postroom: Postroom, numbers: dict[str, str], clock: FrozenClock
) -> None:
    added = lease(postroom, numbers["mine"], auto_renew=True)  # term 1 ends 2026-12-31
    clock.set(clock.now().replace(year=2026, month=10, day=31))  # 61 days before: not yet
    assert postroom.contracts.send_renewal_reminders() == 0
    clock.advance(timedelta(days=1))  # 2026-11-01: 60 days before the last day
    assert postroom.contracts.send_renewal_reminders() == 1
    assert postroom.contracts.send_renewal_reminders() == 0  # the job runs again: nothing
    clock.advance(timedelta(days=30))
    assert postroom.contracts.send_renewal_reminders() == 0
    assert reminders(postroom) == [added.number]
    message = postroom.outbox.messages(limit=1)[0].notification
    assert message.recipient == f"customer:{numbers['mine']}"
    assert "renews by itself on January 1, 2027" in message.body
    assert "give notice by December 1, 2026" in message.body
    assert message.translations["fr"].subject.startswith("Votre contrat de crédit-bail")
    # the next term (2027) has its own reminder
    clock.set(clock.now().replace(year=2027, month=11, day=15))
    assert postroom.contracts.send_renewal_reminders() == 1
    assert reminders(postroom) == [added.number, added.number]


def test_the_worker_job_sends_reminders_and_skips_cancelled_and_ended_contracts(
    postroom: Postroom, numbers: dict[str, str], clock: FrozenClock
) -> None:
    ending = lease(postroom, numbers["mine"])
    cancelled = lease(postroom, numbers["mine"], kind="maintenance")
    postroom.contracts.cancel(numbers["mine"], cancelled.number, "replaced by a new one")
    clock.set(clock.now().replace(year=2026, month=12, day=1))
    job = postroom.jobs.registry.periodic["contracts.renewal-reminders"]
    assert job.run(postroom) == 1
    assert job.run(postroom) == 0
    assert reminders(postroom) == [ending.number]
    assert "does not renew by itself" in postroom.outbox.messages(limit=1)[0].notification.body
    clock.set(clock.now().replace(year=2027, month=12, day=1))  # ended a year ago
    assert job.run(postroom) == 0
    assert (
        postroom.contracts.get(numbers["mine"], ending.number).status_on(clock.now().date())
        is ContractStatus.ENDED
    )


def test_registering_a_product_keeps_its_address_and_lists_it_with_contracts(
    postroom: Postroom, numbers: dict[str, str]
) -> None:
    shipped = postroom.meters.provision("PR-VPSD1", "PR-CT-2")
    done = postroom.equipment.register_product(
        numbers["mine"], ADDRESS, installation_number=shipped.installation_number
    )
    assert done.meter_key.startswith("prm_")
    assert done.product.serial == "PR-CT-2"
    lease(postroom, numbers["mine"], serial="PR-CT-2")
    products = postroom.equipment.products(numbers["mine"])
    assert [p.serial for p in products] == ["PR-CT-1", "PR-CT-2"]
    assert products[0].address is None
    assert products[1].address == ADDRESS
    assert products[1].model == "postroom-vpsd-1"
    assert [c.serial for c in products[1].contracts] == ["PR-CT-2"]
    with pytest.raises(NotFound) as caught:
        postroom.equipment.product(numbers["mine"], OTHER_SERIAL)
    assert caught.value.code == "product_not_found"


def test_registering_a_product_twice_is_a_conflict(
    postroom: Postroom, numbers: dict[str, str]
) -> None:
    with pytest.raises(Conflict):
        postroom.equipment.register_product(
            numbers["mine"], ADDRESS, product_code="PR-VPSD1", serial=OTHER_SERIAL
        )
    assert [p.serial for p in postroom.equipment.products(numbers["mine"])] == [SERIAL]


def test_an_address_change_is_kept_for_staff_who_apply_it(
    postroom: Postroom, numbers: dict[str, str], clock: FrozenClock
) -> None:
    postroom.equipment.set_installation_address(numbers["mine"], SERIAL, ADDRESS)
    move_on = clock.now().date() + timedelta(days=14)
    reference = postroom.equipment.request_address_change(
        numbers["mine"], SERIAL, NEW_ADDRESS, move_on, "Ada Lovelace"
    )
    assert reference.startswith("C-2026-")  # support's case, under which staff apply it
    case = postroom.cases.get(numbers["mine"], reference).case
    assert case.department.value == "equipment"
    assert [(link.kind.value, link.reference) for link in case.links] == [("meter", SERIAL)]
    waiting = postroom.equipment.address_requests()
    assert [(r.reference, r.change.serial, r.change.move_on) for r in waiting] == [
        (reference, SERIAL, move_on)
    ]
    product = postroom.equipment.product(numbers["mine"], SERIAL)
    assert product.address == ADDRESS  # unchanged until staff apply it
    assert product.open_request is not None
    assert product.open_request.reference == reference
    acknowledged = postroom.outbox.messages(limit=1)[0].notification
    assert reference in acknowledged.subject
    assert acknowledged.recipient == f"customer:{numbers['mine']}"

    done = postroom.equipment.resolve_address_request(reference, done=True, staff="Grace (agent)")
    assert done.status.value == "done"
    assert postroom.equipment.product(numbers["mine"], SERIAL).address == NEW_ADDRESS
    assert postroom.equipment.address_requests() == []
    # the case is resolved with it, in the same transaction, and the customer sees why
    detail = postroom.cases.get(numbers["mine"], reference)
    assert detail.case.status.value == "resolved"
    assert (detail.history[-1].action, detail.history[-1].detail) == (
        "status",
        "resolved: address change applied",
    )
    with pytest.raises(Conflict):
        postroom.equipment.resolve_address_request(reference, done=False, staff="x", note="no")


def test_an_address_change_for_another_accounts_meter_is_not_found(
    postroom: Postroom, numbers: dict[str, str], clock: FrozenClock
) -> None:
    with pytest.raises(NotFound):
        postroom.equipment.request_address_change(
            numbers["mine"], OTHER_SERIAL, NEW_ADDRESS, clock.now().date(), "Mallory"
        )
    with pytest.raises(ValidationError) as caught:
        postroom.equipment.request_address_change(
            numbers["mine"], SERIAL, NEW_ADDRESS, date(2020, 1, 1), "Ada"
        )
    assert caught.value.code == "invalid_move_date"
    assert postroom.equipment.address_requests(status=None) == []


def test_the_demo_customer_has_a_lease_and_a_maintenance_contract(postroom: Postroom) -> None:
    load_demo(postroom)
    customer = next(a for a in postroom.accounts.list() if a.name == DEMO_CUSTOMER)
    [product] = postroom.equipment.products(customer.number)
    assert product.serial == DEMO_METER
    assert product.address is not None
    assert product.address.city == "New York"
    today = postroom.contracts.today()
    assert sorted((c.kind.value, c.status_on(today).value) for c in product.contracts) == [
        ("lease", "active"),
        ("maintenance", "expiring"),
    ]
