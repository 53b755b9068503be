"""The support-case use cases on in-memory fakes (no I/O): numbering, who sees what,
the thread, the status moves with their SLA clocks, and that a refused request writes
nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cases_fakes import FakeDatabase, make_service

from postroom.core.cases.model import (
    Actor,
    AttachmentRef,
    Contact,
    Department,
    Link,
    LinkKind,
    MessageKind,
    Priority,
    QueueFilter,
    Status,
)
from postroom.core.cases.service import CasesService
from postroom.core.clock import FrozenClock
from postroom.core.errors import NotFound, PermissionDenied, ValidationError

MINE = "1000000009"
OTHER = "2000000008"
AGENT = Actor.staff(7, "Alex Agent")
CUSTOMER = Actor.customer(MINE, 3, "Chris Customer")
STRANGER = Actor.customer(OTHER, 4, "Sam Stranger")


@pytest.fixture
def clock() -> FrozenClock:
    # Wednesday 4 March 2026, 10:00 in New York
    return FrozenClock.at("2026-03-04T15:00:00+00:00")


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def cases(db: FakeDatabase, clock: FrozenClock) -> CasesService:
    return make_service(db, clock)


def open_one(cases: CasesService, **changes: object) -> str:
    values: dict[str, object] = {
        "by": CUSTOMER,
        "subject": "My meter jams",
        "description": "It stops after ten pieces.",
        "channel": "web",
    }
    values.update(changes)
    return cases.open(**values).number  # type: ignore[arg-type]


def test_numbers_follow_each_other_per_year_without_gaps(cases: CasesService, clock: FrozenClock):
    assert open_one(cases) == "C-2026-000001"
    with pytest.raises(ValidationError):
        open_one(cases, subject="")  # refused: takes no number
    assert open_one(cases) == "C-2026-000002"
    clock.set(datetime(2027, 1, 4, 15, tzinfo=UTC))
    assert open_one(cases) == "C-2027-000001"


def test_a_new_case_has_its_deadlines_in_the_accounts_business_time(cases: CasesService):
    case = cases.open(
        by=CUSTOMER, subject="Urgent", description="Down", channel="web", priority="urgent"
    )
    # 10:00 New York + 2 business hours; + 8 = the next day 10:00
    assert case.first_response_due == datetime(2026, 3, 4, 17, tzinfo=UTC)
    assert case.resolution_due == datetime(2026, 3, 5, 15, tzinfo=UTC)
    assert case.status is Status.NEW
    assert case.department is Department.SOFTWARE  # no keyword: the general desk


def test_a_customer_opens_only_on_their_own_account(cases: CasesService, db: FakeDatabase):
    with pytest.raises(NotFound) as caught:
        open_one(cases, customer_number=OTHER)
    assert caught.value.code == "account_not_found"
    assert db.state.cases == {}


def test_another_accounts_case_is_not_found_like_a_missing_one(cases: CasesService):
    number = open_one(cases)
    for asked in (number, "C-2026-999999", "nonsense"):
        with pytest.raises(NotFound) as caught:
            cases.get(OTHER, asked)
        assert caught.value.code == "case_not_found"
    with pytest.raises(NotFound):
        cases.add_customer_message(number, "let me in", by=STRANGER)
    with pytest.raises(NotFound):
        cases.close(number, by=STRANGER)
    assert cases.list(OTHER) == []


def test_customers_never_see_internal_notes(cases: CasesService):
    number = open_one(cases)
    cases.add_note(number, "Customer sounds upset; check the firmware.", by=AGENT)
    cases.reply(number, "Please update the firmware.", by=AGENT)
    mine = cases.get(MINE, number)
    assert [m.kind for m in mine.messages] == [MessageKind.CUSTOMER, MessageKind.AGENT]
    assert "note" not in [h.action for h in mine.history]
    staff = cases.get_for_staff(number, by=AGENT)
    assert [m.kind for m in staff.messages] == [
        MessageKind.CUSTOMER,
        MessageKind.NOTE,
        MessageKind.AGENT,
    ]
    assert [h.action for h in staff.history] == ["opened", "note", "status", "reply"]
    assert staff.history[1].actor == "staff:7 Alex Agent"


def test_staff_actions_refuse_customers(cases: CasesService):
    number = open_one(cases)
    for call in (
        lambda: cases.reply(number, "x", by=CUSTOMER),
        lambda: cases.add_note(number, "x", by=CUSTOMER),
        lambda: cases.assign(number, 7, by=CUSTOMER),
        lambda: cases.set_status(number, "resolved", by=CUSTOMER),
        lambda: cases.get_for_staff(number, by=CUSTOMER),
        lambda: cases.queue(QueueFilter(), by=CUSTOMER),
    ):
        with pytest.raises(PermissionDenied) as caught:
            call()
        assert caught.value.code == "staff_only"


def test_the_first_reply_stops_the_first_response_clock(cases: CasesService, clock: FrozenClock):
    number = open_one(cases)
    clock.advance(timedelta(hours=1))
    cases.reply(number, "Looking into it", by=AGENT)
    case = cases.get_for_staff(number, by=AGENT).case
    assert case.first_response_at == clock.now()
    assert case.status is Status.OPEN
    view = cases.sla(case)
    assert not view.first_response_breached


def test_waiting_on_the_customer_pauses_the_clock(cases: CasesService, clock: FrozenClock):
    number = open_one(cases)
    before = cases.get_for_staff(number, by=AGENT).case.resolution_due
    cases.reply(number, "Which firmware version?", by=AGENT, status="waiting_on_customer")
    waiting = cases.get_for_staff(number, by=AGENT).case
    assert waiting.next_due is None
    clock.advance(timedelta(days=2))  # Friday 10:00: two business days waited
    posted = cases.add_customer_message(number, "Version 4.2", by=CUSTOMER)
    assert posted.case.status is Status.OPEN
    assert posted.case.paused_seconds == 2 * 8 * 3600
    assert posted.case.resolution_due is not None
    assert before is not None
    # the deadline (Wednesday 11 March) moves two business days on, to Friday
    assert posted.case.resolution_due == before + timedelta(days=2)


def test_a_reply_after_resolution_reopens_within_the_window_else_follows_up(
    cases: CasesService, clock: FrozenClock
):
    number = open_one(cases)
    cases.reply(number, "Fixed", by=AGENT, status="resolved")
    clock.advance(timedelta(days=3))
    again = cases.add_customer_message(number, "It is back", by=CUSTOMER)
    assert again.case.status is Status.OPEN
    assert not again.follow_up
    cases.set_status(number, "resolved", by=AGENT)
    clock.advance(timedelta(days=8))
    later = cases.add_customer_message(number, "Back once more", by=CUSTOMER)
    assert later.follow_up
    assert later.case.number == "C-2026-000002"
    assert Link(LinkKind.CASE, number) in later.case.links
    assert later.message.body == "Back once more"
    assert cases.get(MINE, number).case.status is Status.RESOLVED


def test_a_closed_case_stays_closed(cases: CasesService):
    number = open_one(cases)
    closed = cases.close(number, by=CUSTOMER)
    assert closed.status is Status.CLOSED
    with pytest.raises(ValidationError) as caught:
        cases.set_status(number, "open", by=AGENT)
    assert caught.value.code == "invalid_transition"
    posted = cases.add_customer_message(number, "one more thing", by=CUSTOMER)
    assert posted.follow_up


def test_escalating_needs_a_reason(cases: CasesService, db: FakeDatabase):
    number = open_one(cases)
    with pytest.raises(ValidationError) as caught:
        cases.set_status(number, "escalated", by=AGENT)
    assert caught.value.code == "missing_reason"
    escalated = cases.set_status(number, "escalated", by=AGENT, reason="deadline tomorrow")
    assert escalated.escalated_at is not None
    assert escalated.escalation_reason == "deadline tomorrow"
    queue = cases.queue(QueueFilter(escalated=True), by=AGENT)
    assert [c.number for c in queue] == [number]


def test_assign_take_and_the_queue_filters(cases: CasesService):
    first = open_one(cases, priority="high")
    second = open_one(cases, subject="Invoice is wrong", priority="low")
    cases.take(first, by=AGENT)
    cases.assign(second, 9, by=AGENT)
    assert [c.number for c in cases.queue(QueueFilter(assignee_id=7), by=AGENT)] == [first]
    billing = cases.queue(QueueFilter(department=Department.BILLING), by=AGENT)
    assert [c.number for c in billing] == [second]
    assert [c.number for c in cases.queue(QueueFilter(priority=Priority.HIGH), by=AGENT)] == [first]
    # the nearest deadline first: high before low
    assert [c.number for c in cases.queue(QueueFilter(), by=AGENT)] == [first, second]
    soon = cases.queue(QueueFilter(due_within=timedelta(hours=6)), by=AGENT)
    assert [c.number for c in soon] == [first]


def test_a_staff_member_logs_a_phone_call_with_the_callers_details(cases: CasesService):
    case = cases.open(
        by=AGENT,
        customer_number=MINE,
        subject="Caller: label printer offline",
        description="Printer shows error 41",
        channel="phone",
        contact=Contact(name="Dana Caller", phone="+1 212 555 0100"),
    )
    detail = cases.get_for_staff(case.number, by=AGENT)
    assert detail.case.contact.phone == "+1 212 555 0100"
    assert detail.messages[0].author.name == "Dana Caller"
    assert detail.history[0].actor == "staff:7 Alex Agent"


def test_messages_carry_attachments_and_threading(cases: CasesService):
    number = open_one(cases, message_id="<first@example.com>")
    ref = AttachmentRef("ab" * 32, "photo.png", "image/png", 1234)
    posted = cases.add_customer_message(
        number,
        "",
        by=CUSTOMER,
        attachments=[ref],
        message_id="<second@example.com>",
        in_reply_to="<first@example.com>",
    )
    assert posted.message.attachments == (ref,)
    assert cases.find_by_message_ids(["<second@example.com>"]).number == number  # type: ignore[union-attr]
    assert cases.find_by_message_ids(["<unknown@example.com>"]) is None


def test_a_contact_reaches_only_their_own_cases(cases: CasesService):
    sender = Actor.contact("someone@example.com", "Someone")
    case = cases.open(by=sender, subject="Hi", description="Question", channel="email")
    assert case.customer_number is None
    assert case.contact.email == "someone@example.com"
    cases.add_customer_message(case.number, "More", by=sender)
    with pytest.raises(NotFound):
        cases.add_customer_message(case.number, "Me too", by=Actor.contact("x@example.com"))
    with pytest.raises(NotFound):
        cases.add_customer_message(case.number, "Me too", by=CUSTOMER)


def test_the_third_case_of_an_account_and_department_in_30_days_is_recurring(
    cases: CasesService, clock: FrozenClock
):
    flags = []
    for _ in range(3):
        flags.append(
            cases.open(
                by=CUSTOMER, subject="Meter jams", description="again", channel="web"
            ).recurring
        )
        clock.advance(timedelta(days=10))
    assert flags == [False, False, True]
    clock.advance(timedelta(days=25))
    assert not cases.open(
        by=CUSTOMER, subject="Meter jams", description="x", channel="web"
    ).recurring


def test_a_listener_hears_every_message_in_the_transaction(cases: CasesService):
    heard: list[tuple[str, str]] = []
    cases.add_message_listener(
        lambda _s, case, message: heard.append((case.number, message.kind.value))
    )
    number = open_one(cases)
    cases.reply(number, "Hello", by=AGENT)
    assert heard == [(number, "customer"), (number, "agent")]
