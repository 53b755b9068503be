"""Routing, the accounts' calendars, escalation by hand and by the SLA watch, the
supervisors' queue, merging duplicates and the reports, on in-memory fakes (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cases_fakes import MINE, OTHER, FakeDatabase, FakeLinkTargets, make_service

from postroom.core.cases.model import (
    Actor,
    Link,
    LinkKind,
    MessageKind,
    QueueFilter,
    StaffMember,
    Status,
)
from postroom.core.cases.service import CasesService
from postroom.core.clock import FrozenClock
from postroom.core.errors import NotFound, PermissionDenied, ValidationError

AGENT = Actor.staff(7, "Alex Agent")
BILLING_AGENT = Actor.staff(8, "Bo Billing")
SUPERVISOR = Actor.staff(9, "Sue Supervisor", role="supervisor")
CUSTOMER = Actor.customer(MINE, 3, "Chris Customer")


@pytest.fixture
def clock() -> FrozenClock:
    # Wednesday 4 March 2026, 10:00 in New York
    return FrozenClock.at("2026-03-04T15:00:00+00:00")


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def cases(db: FakeDatabase, clock: FrozenClock) -> CasesService:
    return make_service(db, clock, warning_minutes=60)


def open_case(cases: CasesService, subject: str = "Meter jams", **changes: object) -> str:
    values: dict[str, object] = {
        "by": CUSTOMER,
        "subject": subject,
        "description": "details",
        "channel": "web",
    }
    values.update(changes)
    return cases.open(**values).number  # type: ignore[arg-type]


def staff_case(cases: CasesService, number: str):  # type: ignore[no-untyped-def]
    return cases.get_for_staff(number, by=AGENT).case


# ------------------------------------------------------------------ routing


def test_new_cases_go_to_the_least_loaded_available_agent(cases: CasesService):
    cases.set_agent(7, departments=["equipment"], by=SUPERVISOR)
    cases.set_agent(8, departments=["equipment", "billing"], by=SUPERVISOR)
    first = open_case(cases)
    second = open_case(cases)
    third = open_case(cases)
    assert [staff_case(cases, n).assignee_id for n in (first, second, third)] == [7, 8, 7]
    cases.set_agent(7, departments=["equipment"], available=False, by=AGENT)
    assert staff_case(cases, open_case(cases)).assignee_id == 8


def test_nobody_on_the_desk_leaves_the_case_in_the_departments_queue(cases: CasesService):
    cases.set_agent(8, departments=["billing"], by=SUPERVISOR)
    number = open_case(cases)  # equipment
    assert staff_case(cases, number).assignee_id is None
    unassigned = cases.queue(QueueFilter(unassigned=True), by=AGENT)
    assert [c.number for c in unassigned] == [number]


def test_an_account_managers_accounts_go_to_them_first(cases: CasesService):
    cases.set_agent(7, departments=["equipment"], by=SUPERVISOR)
    cases.set_account_profile(MINE, account_manager_id=10, by=SUPERVISOR)
    assert staff_case(cases, open_case(cases)).assignee_id == 10
    # away: the desk takes it
    cases.set_agent(10, departments=[], available=False, by=SUPERVISOR)
    assert staff_case(cases, open_case(cases)).assignee_id == 7


def test_cases_opened_together_are_routed_and_counted_as_if_one_after_the_other(
    clock: FrozenClock,
):
    # the email channel opens a batch's cases in one go (open_all_in): each one sees the
    # cases before it, as when they are opened one by one
    mine = {"by": CUSTOMER, "subject": "Meter jams", "description": "again", "channel": "email"}
    stranger = {**mine, "by": Actor.contact("pat@example.com", "Pat")}
    requests = [mine, stranger, stranger, stranger, mine, mine]

    def desk() -> CasesService:
        cases = make_service(FakeDatabase(), clock)
        cases.set_agent(7, departments=["equipment"], by=SUPERVISOR)
        cases.set_agent(8, departments=["equipment"], by=SUPERVISOR)
        cases.set_account_profile(MINE, account_manager_id=8, by=SUPERVISOR)
        return cases

    cases = desk()
    together = cases.open_all_in(None, requests)
    assert [c.number for c in together] == [f"C-2026-00000{n}" for n in range(1, 7)]
    # the manager's account to the manager, whose case counts in their load: the desk's
    # cases then go to the least loaded, ties to the lowest id
    assert [c.assignee_id for c in together] == [8, 7, 7, 8, 8, 8]
    # the third case of the account and department in 30 days is recurring
    assert [c.recurring for c in together] == [False] * 5 + [True]
    for case in together:
        detail = cases.get_for_staff(case.number, by=AGENT)
        assert [m.body for m in detail.messages] == ["again"]
        assert detail.case == case
    alone = desk()
    one_by_one = [alone.open_in(None, **request) for request in requests]
    assert one_by_one == together


def test_only_supervisors_manage_other_agents_and_accounts(cases: CasesService):
    with pytest.raises(PermissionDenied) as caught:
        cases.set_agent(8, departments=["billing"], by=AGENT)
    assert caught.value.code == "supervisors_only"
    with pytest.raises(PermissionDenied):
        cases.set_account_profile(MINE, account_manager_id=7, by=AGENT)
    with pytest.raises(NotFound) as missing:
        cases.set_agent(99, departments=["billing"], by=SUPERVISOR)
    assert missing.value.code == "staff_not_found"


def test_reassignment_and_take_are_in_the_history(cases: CasesService):
    number = open_case(cases)
    cases.assign(number, 8, by=SUPERVISOR)
    cases.take(number, by=AGENT)
    history = cases.get_for_staff(number, by=AGENT).history
    assert [(h.action, h.detail) for h in history][-2:] == [("assigned", "8"), ("assigned", "7")]


# ---------------------------------------------------------------- calendars


def test_the_accounts_own_time_zone_and_province_set_its_deadlines(
    cases: CasesService, clock: FrozenClock
):
    # France: Wednesday 16:00 Paris; urgent = 2 business hours
    clock.set(datetime(2026, 3, 4, 15, tzinfo=UTC))
    theirs = Actor.customer(OTHER, 4, "Camille")
    case = cases.open(by=theirs, subject="x", description="y", channel="web", priority="urgent")
    assert case.first_response_due == datetime(2026, 3, 5, 9, tzinfo=UTC)  # Thursday 10:00
    cases.set_account_profile(OTHER, time_zone="America/Toronto", by=SUPERVISOR)
    later = cases.open(by=theirs, subject="x", description="y", channel="web", priority="urgent")
    assert later.first_response_due == datetime(2026, 3, 4, 17, tzinfo=UTC)  # 12:00 Toronto
    with pytest.raises(ValidationError) as caught:
        cases.set_account_profile(MINE, subdivision="QC", by=SUPERVISOR)  # not a US state
    assert caught.value.code == "invalid_subdivision"
    profile = cases.account_profile(MINE, by=AGENT)
    assert profile.time_zone == "America/New_York"


# --------------------------------------------------------------- escalation


def test_manual_escalation_needs_a_reason_and_reaches_the_supervisors(
    cases: CasesService, db: FakeDatabase
):
    escalated: list[str] = []
    cases.add_escalation_listener(lambda case: escalated.append(case.number))
    number = open_case(cases, priority="low")
    other = open_case(cases, priority="urgent")
    with pytest.raises(ValidationError) as caught:
        cases.escalate(number, "", by=AGENT)
    assert caught.value.code == "missing_reason"
    assert escalated == []
    cases.escalate(number, "customer's deadline is tomorrow", by=AGENT)
    cases.escalate(other, "recurring problem", by=AGENT)
    assert escalated == [number, other]
    assert ("sue@support.example", "case.escalated", f"[{number}] escalated: Meter jams") in (
        db.state.mail
    )
    queue = cases.priority_queue(by=SUPERVISOR)
    assert [c.number for c in queue] == [other, number]  # urgent first
    with pytest.raises(PermissionDenied):
        cases.priority_queue(by=AGENT)
    with pytest.raises(ValidationError) as again:
        cases.escalate(number, "once more", by=AGENT)
    assert again.value.code == "escalated"


def test_the_sla_watch_warns_once_then_escalates_once_on_breach(
    cases: CasesService, clock: FrozenClock, db: FakeDatabase
):
    escalated: list[str] = []
    cases.add_escalation_listener(lambda case: escalated.append(case.number))
    number = open_case(cases, priority="urgent")  # first response due 12:00 New York
    cases.take(number, by=AGENT)
    assert cases.watch_slas().warned == ()
    clock.advance(timedelta(hours=1, minutes=1))  # 11:01: within the hour
    assert cases.watch_slas().warned == (number,)
    assert cases.watch_slas().warned == ()  # once
    warnings = [m for m in db.state.mail if m[1] == "case.sla-warning"]
    assert [m[0] for m in warnings] == ["alex@support.example"]
    clock.advance(timedelta(hours=1))  # 12:01: breached
    run = cases.watch_slas()
    assert run.escalated == (number,)
    case = staff_case(cases, number)
    assert case.status is Status.ESCALATED
    assert case.escalation_reason.startswith("SLA breached: first response")
    assert cases.watch_slas().escalated == ()  # idempotent
    assert escalated == [number]


def test_waiting_on_the_customer_is_never_breached(cases: CasesService, clock: FrozenClock):
    number = open_case(cases, priority="urgent")
    cases.reply(number, "Which model?", by=AGENT, status="waiting_on_customer")
    clock.advance(timedelta(days=30))
    assert cases.watch_slas().escalated == ()


def test_a_breach_of_the_resolution_is_flagged_again(cases: CasesService, clock: FrozenClock):
    number = open_case(cases, priority="urgent")
    clock.advance(timedelta(hours=3))
    assert cases.watch_slas().escalated == (number,)
    cases.reply(number, "On it", by=AGENT)
    clock.advance(timedelta(days=2))  # the 8 business hours of resolution are gone
    again = cases.watch_slas()
    assert again.breached == (number,)
    assert again.escalated == ()  # escalated already: the supervisors are told again
    assert [h.action for h in cases.get_for_staff(number, by=AGENT).history].count("breached") == 1


# -------------------------------------------------------------------- merge


def test_merging_combines_threads_and_links_and_the_number_resolves(cases: CasesService):
    survivor = open_case(cases, links=[Link(LinkKind.METER, "PR-1")])
    duplicate = open_case(cases, subject="Meter jams again", links=[Link(LinkKind.INVOICE, "I-9")])
    cases.add_note(duplicate, "same as the other", by=AGENT)
    merged = cases.merge(duplicate, survivor, by=AGENT)
    assert merged.number == survivor
    assert set(merged.links) == {
        Link(LinkKind.METER, "PR-1"),
        Link(LinkKind.INVOICE, "I-9"),
        Link(LinkKind.CASE, duplicate),
    }
    seen = cases.get(MINE, duplicate)
    assert seen.case.number == survivor
    assert [m.kind for m in seen.messages] == [MessageKind.CUSTOMER, MessageKind.CUSTOMER]
    assert len(cases.get_for_staff(survivor, by=AGENT).messages) == 3
    assert [c.number for c in cases.list(MINE)] == [survivor]
    with pytest.raises(ValidationError) as caught:
        cases.merge(duplicate, survivor, by=AGENT)
    assert caught.value.code in ("already_merged", "merge_same_case")


def test_cases_of_two_accounts_are_not_merged(cases: CasesService):
    mine = open_case(cases)
    theirs = open_case(cases, by=Actor.customer(OTHER, 4, "Camille"))
    with pytest.raises(ValidationError) as caught:
        cases.merge(theirs, mine, by=AGENT)
    assert caught.value.code == "merge_other_account"
    with pytest.raises(PermissionDenied):
        cases.merge(theirs, mine, by=CUSTOMER)


def test_staff_link_an_unknown_contacts_case_to_an_account(cases: CasesService):
    sender = Actor.contact("chris@acme.example", "Chris")
    case = cases.open(by=sender, subject="Hi", description="?", channel="email")
    with pytest.raises(NotFound):
        cases.get(MINE, case.number)
    cases.link_account(case.number, MINE, by=AGENT)
    assert cases.get(MINE, case.number).case.customer_number == MINE


# ------------------------------------------------------------------ reports


def test_the_report_counts_volumes_times_attainment_and_backlog(
    cases: CasesService, clock: FrozenClock
):
    start = clock.now()
    web = open_case(cases)
    cases.open(
        by=AGENT, customer_number=MINE, subject="Invoice", description="x", channel="phone"
    ).number
    clock.advance(timedelta(hours=2))
    cases.reply(web, "Fixed", by=AGENT, status="resolved")
    clock.advance(timedelta(days=5))
    report = cases.report(start, start + timedelta(days=1), by=AGENT)
    assert report.total.opened == 2
    assert report.total.resolved == 1
    assert report.total.first_response_hours == 2.0
    assert report.total.backlog == 1
    assert {r.key: r.opened for r in report.by_channel} == {"phone": 1, "web": 1}
    # web met both deadlines; phone missed its first response, its resolution is not due
    assert report.total.sla_attainment == 0.6667
    with pytest.raises(ValidationError):
        cases.report(start, start, by=AGENT)
    with pytest.raises(PermissionDenied):
        cases.report(start, start + timedelta(days=1), by=CUSTOMER)


def test_the_assignee_is_warned_again_before_the_next_deadline(
    cases: CasesService, clock: FrozenClock, db: FakeDatabase
):
    number = open_case(cases, priority="urgent")  # due 12:00, and 10:00 the next day (NY)
    cases.take(number, by=AGENT)
    clock.advance(timedelta(hours=1, minutes=30))
    assert cases.watch_slas().warned == (number,)
    cases.reply(number, "Working on it", by=AGENT)
    assert cases.watch_slas().warned == ()  # the resolution is a working day away
    clock.advance(timedelta(hours=22))  # 09:30 the next day: within the hour of 10:00
    assert cases.watch_slas().warned == (number,)
    assert [m[1] for m in db.state.mail].count("case.sla-warning") == 2


# ------------------------------------------------- who may get a case, what it links


def test_a_case_goes_only_to_available_staff_of_its_desk(cases: CasesService):
    number = open_case(cases)  # routed to the equipment desk
    cases.set_agent(8, departments=["billing"], by=SUPERVISOR)
    cases.set_agent(7, departments=["equipment"], available=False, by=SUPERVISOR)
    refused = {}
    for assignee in (8, 7):
        with pytest.raises(ValidationError) as caught:
            cases.assign(number, assignee, by=SUPERVISOR)
        refused[assignee] = caught.value.code
    assert refused == {8: "assignee_wrong_department", 7: "assignee_unavailable"}
    assert staff_case(cases, number).assignee_id is None  # nothing changed
    # someone away may still take a case themselves; a supervisor serves every desk
    assert cases.take(number, by=AGENT).assignee_id == 7
    cases.set_agent(9, departments=["billing"], by=SUPERVISOR)
    assert cases.assign(number, 9, by=AGENT).assignee_id == 9


def test_an_admin_does_not_work_cases(db: FakeDatabase, clock: FrozenClock):
    cases = make_service(db, clock)
    cases._staff.members.append(StaffMember(11, "Ada Admin", "ada@support.example", "admin"))  # type: ignore[attr-defined]
    number = open_case(cases)
    with pytest.raises(ValidationError) as caught:
        cases.assign(number, 11, by=SUPERVISOR)
    assert caught.value.code == "assignee_not_case_worker"
    with pytest.raises(NotFound) as missing:
        cases.assign(number, 99, by=SUPERVISOR)
    assert missing.value.code == "staff_not_found"


def test_the_accounts_manager_gets_its_cases_from_any_desk(cases: CasesService):
    cases.set_agent(10, departments=["billing"], by=SUPERVISOR)
    cases.set_account_profile(MINE, account_manager_id=10, by=SUPERVISOR)
    number = open_case(cases, subject="Meter jams again")
    assert cases.assign(number, 10, by=SUPERVISOR).assignee_id == 10


def test_a_link_names_an_object_of_the_cases_own_account(db: FakeDatabase, clock: FrozenClock):
    links = FakeLinkTargets(
        {(LinkKind.METER, "PM100001"): MINE, (LinkKind.INVOICE, "INV-2026-000002"): OTHER}
    )
    cases = make_service(db, clock, links=links)
    number = open_case(cases)
    linked = cases.add_link(number, Link(LinkKind.METER, "PM100001"), by=AGENT)
    assert Link(LinkKind.METER, "PM100001") in linked.links
    theirs = cases.open(
        by=Actor.customer(OTHER, 4, "Camille"), subject="x", description="y", channel="web"
    ).number
    # another account's invoice or case, and one that does not exist, answer alike
    for link in (
        Link(LinkKind.INVOICE, "INV-2026-000002"),
        Link(LinkKind.ORDER, "SO-2026-000009"),
        Link(LinkKind.CASE, theirs),
        Link(LinkKind.CASE, "C-2026-999999"),
        Link(LinkKind.CASE, number),  # itself
    ):
        with pytest.raises(NotFound) as caught:
            cases.add_link(number, link, by=AGENT)
        assert caught.value.code == "link_not_found", link
    mine_too = open_case(cases, subject="Second")
    assert (
        Link(LinkKind.CASE, mine_too)
        in cases.add_link(number, Link(LinkKind.CASE, mine_too), by=AGENT).links
    )
    history = [h.action for h in cases.get_for_staff(number, by=AGENT).history]
    assert history.count("linked") == 2


def test_another_area_resolves_a_case_in_its_own_transaction(cases: CasesService, db: FakeDatabase):
    def resolved(number: str, reason: str = "address change applied"):  # type: ignore[no-untyped-def]
        def work(session):  # type: ignore[no-untyped-def]
            case = cases.resolve_in(
                session.connection, number, by=Actor.system("equipment"), reason=reason
            )
            session.commit()  # the caller's transaction: the caller commits
            return case

        return db.run(work)

    number = open_case(cases, subject="Installation address change")
    done = resolved(number)
    assert done is not None
    assert done.status is Status.RESOLVED
    history = cases.get(MINE, number).history  # the customer sees it
    assert (history[-1].action, history[-1].detail) == (
        "status",
        "resolved: address change applied",
    )
    # again, or for a reference that is no case: nothing happens
    assert resolved(number, "again") is not None
    assert len(cases.get(MINE, number).history) == len(history)
    assert resolved("AR-2026-000001") is None
