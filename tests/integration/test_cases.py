"""Support cases on the real store (SQLite, and PostgreSQL in the PostgreSQL pass):
gap-free numbers under concurrent openings and after a rollback, another account's case
answering not-found, the thread, the queue's filters and the email threading look-up."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from postroom.core.app import Postroom
from postroom.core.cases.model import (
    Actor,
    AttachmentRef,
    Department,
    Link,
    LinkKind,
    MessageKind,
    QueueFilter,
    Status,
)
from postroom.core.clock import FrozenClock
from postroom.core.errors import NotFound

AGENT = Actor.staff(1, "Alex Agent")


@pytest.fixture
def numbers(postroom: Postroom) -> dict[str, str]:
    mine = postroom.accounts.create("Acme Mailroom", "US", "USD")
    other = postroom.accounts.create("Autre Courrier", "FR", "EUR")
    return {"mine": mine.number, "other": other.number}


def test_concurrent_openings_take_consecutive_numbers(
    postroom: Postroom, numbers: dict[str, str]
) -> None:
    customer = Actor.customer(numbers["mine"], 1, "Chris")
    taken: list[str] = []
    failures: list[BaseException] = []

    def open_some() -> None:
        try:
            for _ in range(6):
                case = postroom.cases.open(
                    by=customer, subject="Meter jams", description="again", channel="web"
                )
                taken.append(case.number)
        except BaseException as error:  # reported below, not lost in the thread
            failures.append(error)

    threads = [threading.Thread(target=open_some) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(taken) == [f"C-2026-{n:06d}" for n in range(1, 37)]


def test_a_rolled_back_opening_leaves_no_gap(postroom: Postroom, numbers: dict[str, str]) -> None:
    customer = Actor.customer(numbers["mine"], 1, "Chris")
    first = postroom.cases.open(by=customer, subject="One", description="x", channel="web")

    def refuse(_session: object, _case: object, _message: object) -> None:
        raise RuntimeError("the mail channel failed")

    postroom.cases.add_message_listener(refuse)
    with pytest.raises(RuntimeError):
        postroom.cases.open(by=customer, subject="Two", description="x", channel="web")
    postroom.cases._listeners.clear()
    second = postroom.cases.open(by=customer, subject="Three", description="x", channel="web")
    assert (first.number, second.number) == ("C-2026-000001", "C-2026-000002")


def test_another_accounts_case_is_not_found(postroom: Postroom, numbers: dict[str, str]) -> None:
    mine = Actor.customer(numbers["mine"], 1, "Chris")
    theirs = Actor.customer(numbers["other"], 2, "Camille")
    case = postroom.cases.open(by=mine, subject="Invoice", description="x", channel="web")
    with pytest.raises(NotFound) as caught:
        postroom.cases.get(numbers["other"], case.number)
    assert caught.value.code == "case_not_found"
    with pytest.raises(NotFound):
        postroom.cases.add_customer_message(case.number, "hello", by=theirs)
    with pytest.raises(NotFound):
        postroom.cases.close(case.number, by=theirs)
    assert postroom.cases.list(numbers["other"]) == []
    assert [c.number for c in postroom.cases.list(numbers["mine"])] == [case.number]


def test_the_thread_history_and_links_are_stored(
    postroom: Postroom, numbers: dict[str, str], clock: FrozenClock
) -> None:
    customer = Actor.customer(numbers["mine"], 1, "Chris")
    photo = AttachmentRef("cd" * 32, "jam.jpg", "image/jpeg", 52_000)
    case = postroom.cases.open(
        by=customer,
        subject="Where is my parcel?",
        description="It left a week ago",
        channel="web",
        links=[Link(LinkKind.SHIPMENT, "9400100000000000000000")],
        attachments=[photo],
        message_id="<m1@example.com>",
    )
    assert case.department is Department.TRACKING
    postroom.cases.add_note(case.number, "carrier says: depot", by=AGENT)
    clock.advance(timedelta(minutes=5))
    reply = postroom.cases.reply(case.number, "We traced it", by=AGENT, status="waiting")
    detail = postroom.cases.get(numbers["mine"], case.number)
    assert detail.case.status is Status.WAITING
    assert detail.case.links == (Link(LinkKind.SHIPMENT, "9400100000000000000000"),)
    assert [m.kind for m in detail.messages] == [MessageKind.CUSTOMER, MessageKind.AGENT]
    assert detail.messages[0].attachments == (photo,)
    assert detail.case.first_response_at == clock.now()
    assert postroom.cases.find_by_message_ids([reply.message_id or ""]).number == case.number  # type: ignore[union-attr]
    assert postroom.cases.find_by_message_ids(["<m1@example.com>"]).number == case.number  # type: ignore[union-attr]
    staff = postroom.cases.get_for_staff(case.number, by=AGENT)
    assert [h.action for h in staff.history] == ["opened", "note", "status", "reply"]


def test_the_queue_filters_on_the_store(
    postroom: Postroom, numbers: dict[str, str], clock: FrozenClock
) -> None:
    customer = Actor.customer(numbers["mine"], 1, "Chris")
    urgent = postroom.cases.open(
        by=customer, subject="Meter down", description="x", channel="web", priority="urgent"
    )
    low = postroom.cases.open(
        by=customer, subject="Invoice copy", description="x", channel="web", priority="low"
    )
    postroom.cases.take(urgent.number, by=AGENT)
    queue = postroom.cases.queue
    assert [c.number for c in queue(QueueFilter(), by=AGENT)] == [urgent.number, low.number]
    assert [c.number for c in queue(QueueFilter(assignee_id=1), by=AGENT)] == [urgent.number]
    assert [c.number for c in queue(QueueFilter(unassigned=True), by=AGENT)] == [low.number]
    billing = queue(QueueFilter(department=Department.BILLING), by=AGENT)
    assert [c.number for c in billing] == [low.number]
    # opened before opening time in New York: the urgent one is due at 11:00 there
    soon = queue(QueueFilter(due_within=timedelta(hours=8)), by=AGENT)
    assert [c.number for c in soon] == [urgent.number]
    assert queue(QueueFilter(breached=True), by=AGENT) == []
    clock.advance(timedelta(days=1))
    assert [c.number for c in queue(QueueFilter(breached=True), by=AGENT)] == [urgent.number]
