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
    Case,
    Department,
    Link,
    LinkKind,
    MessageKind,
    QueueFilter,
    Status,
)
from postroom.core.clock import FrozenClock
from postroom.core.config import Config
from postroom.core.db import UnitOfWork
from postroom.core.demo import DEMO_CUSTOMER, load_demo
from postroom.core.errors import NotFound, PermissionDenied, ValidationError
from postroom.core.hookspecs import hookimpl
from postroom.core.money import Money

AGENT = Actor.staff(1, "Alex Agent")


@pytest.fixture
def numbers(postroom: Postroom) -> dict[str, str]:
    mine = postroom.accounts.create("Acme Mailroom", "US", "USD")
    other = postroom.accounts.create("Autre Courrier", "FR", "EUR")
    return {"mine": mine.number, "other": other.number}


def staff(postroom: Postroom, email: str, role: str) -> Actor:
    """A staff user of the identity area, as the cases area sees them act."""
    link = postroom.identity.invite_staff(email, role)
    user = postroom.identity.accept_invitation(
        link.token,
        name=email.split("@")[0].title(),
        password="correct horse battery staple 9",
        security_question="Which desk?",
        security_answer="the front desk",
        phone="+1 212 555 0100",
        language="en",
    )
    return Actor.staff(user.id, user.name, role=role)


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


@pytest.mark.parametrize("linked", [True, False], ids=["a-link", "no-link"])
def test_cases_opened_together_are_stored_each_with_its_message_history_and_links(
    postroom: Postroom, numbers: dict[str, str], linked: bool
) -> None:
    # the email channel's batches: numbers, cases, first messages and history of several
    # cases written together (one statement a table where the store can; without links,
    # one statement for them all on PostgreSQL)
    manager = int(staff(postroom, "manager@acme.example", "agent").id)
    desk = int(staff(postroom, "desk@acme.example", "agent").id)
    supervisor = staff(postroom, "sue@acme.example", "supervisor")
    postroom.cases.set_agent(manager, departments=["equipment"], by=supervisor)
    postroom.cases.set_agent(desk, departments=["equipment", "tracking"], by=supervisor)
    postroom.cases.set_account_profile(numbers["mine"], account_manager_id=manager, by=supervisor)
    customer = Actor.customer(numbers["mine"], 1, "Chris")
    photo = AttachmentRef("cd" * 32, "jam.jpg", "image/jpeg", 52_000)
    first = postroom.cases.open(by=customer, subject="Meter jams", description="x", channel="web")
    mine = {"by": customer, "subject": "Meter jams", "description": "again", "channel": "email"}
    requests = [
        {**mine, "message_id": "<a@example.com>"},
        {
            "by": Actor.contact("pat@example.com", "Pat"),
            "subject": "Meter jams too",
            "description": "since Monday",
            "channel": "email",
            "message_id": "<b@example.com>",
            "attachments": [photo],
            **({"links": [Link(LinkKind.SHIPMENT, "9400100000000000000000")]} if linked else {}),
        },
        {**mine, "message_id": "<c@example.com>"},
    ]

    def work(uow: UnitOfWork) -> list[Case]:
        opened = postroom.cases.open_all_in(uow.connection, requests)
        uow.commit()
        return opened

    opened = postroom.db.run(work)
    assert [c.number for c in opened] == [f"C-2026-00000{n}" for n in (2, 3, 4)]
    assert [c.assignee_id for c in opened] == [manager, desk, manager]
    assert [c.recurring for c in opened] == [False, False, True]  # the third in 30 days
    for case, request in zip(opened, requests, strict=True):
        detail = postroom.cases.get_for_staff(case.number, by=AGENT)
        assert detail.case == case
        assert [(m.body, m.message_id) for m in detail.messages] == [
            (request["description"], request["message_id"])
        ]
        found = postroom.cases.find_by_message_ids([str(request["message_id"])])
        assert found is not None
        assert found.number == case.number
    pat = postroom.cases.get_for_staff(opened[1].number, by=AGENT)
    assert pat.messages[0].attachments == (photo,)
    assert pat.case.links == (
        (Link(LinkKind.SHIPMENT, "9400100000000000000000"),) if linked else ()
    )
    assert [h.action for h in pat.history] == ["opened", "assigned"]
    recurring = postroom.cases.get_for_staff(opened[2].number, by=AGENT)
    assert [h.action for h in recurring.history] == ["opened", "assigned", "recurring"]
    assert first.number == "C-2026-000001"


def test_the_statements_of_new_messages_with_their_history_are_compiled_once() -> None:
    # SQLAlchemy compiles a statement without a cache key at every execution (a
    # multi-row .values([...]) has none): on PostgreSQL a new case's message and history
    # go in one such statement, on the email channel's hot path (about a millisecond each)
    from postroom.core.cases import store

    for entries in (1, 2, 3):
        assert store._messages_with_history(1, entries)._generate_cache_key() is not None
        assert store._messages_with_history(2, entries)._generate_cache_key() is not None


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
    agent = staff(postroom, "agent@support.example", "agent")
    postroom.cases.take(urgent.number, by=agent)
    queue = postroom.cases.queue
    assert [c.number for c in queue(QueueFilter(), by=AGENT)] == [urgent.number, low.number]
    mine = queue(QueueFilter(assignee_id=int(agent.id)), by=agent)
    assert [c.number for c in mine] == [urgent.number]
    with pytest.raises(NotFound) as caught:
        postroom.cases.assign(low.number, 99_999, by=AGENT)  # nobody of the staff
    assert caught.value.code == "staff_not_found"
    assert [c.number for c in queue(QueueFilter(unassigned=True), by=AGENT)] == [low.number]
    billing = queue(QueueFilter(department=Department.BILLING), by=AGENT)
    assert [c.number for c in billing] == [low.number]
    # opened before opening time in New York: the urgent one is due at 11:00 there
    soon = queue(QueueFilter(due_within=timedelta(hours=8)), by=AGENT)
    assert [c.number for c in soon] == [urgent.number]
    assert queue(QueueFilter(breached=True), by=AGENT) == []
    clock.advance(timedelta(days=1))
    assert [c.number for c in queue(QueueFilter(breached=True), by=AGENT)] == [urgent.number]


def test_the_demo_has_cases_across_channels_departments_and_sla_states(
    postroom: Postroom,
) -> None:
    facts: dict[str, str] = {}
    load_demo(postroom, facts=facts)
    assert "demo staff supervisor" in facts
    customer = next(a for a in postroom.accounts.list() if a.name == DEMO_CUSTOMER)
    cases = postroom.cases.list(customer.number, limit=50)
    assert {c.channel.value for c in cases} == {"web", "phone", "social", "chat", "mail"}
    assert {c.department.value for c in cases} >= {"equipment", "billing", "software", "shipping"}
    assert {c.status for c in cases} >= {
        Status.NEW,
        Status.OPEN,
        Status.WAITING,
        Status.ESCALATED,
        Status.RESOLVED,
    }
    claims = [c for c in cases if c.subject.startswith("Lost parcel claim")]
    assert postroom.cases.claim(customer.number, claims[0].number).claim.missing
    supervisor = Actor.staff(0, "test", role="supervisor")
    assert len(postroom.cases.priority_queue(by=supervisor)) == 1
    assert load_demo(postroom) == []  # a restart adds nothing


def test_a_claims_refund_is_credited_once_by_a_supervisor_only(
    postroom: Postroom, numbers: dict[str, str]
) -> None:
    customer = Actor.customer(numbers["mine"], 1, "Chris")
    supervisor = Actor.staff(2, "Sue Supervisor", role="supervisor")
    view = postroom.cases.file_claim(
        by=customer,
        tracking_number="9400100000000000000099",
        kind="lost",
        declared_value=Money.parse("45.00 USD"),
        description="Never arrived",
    )
    number = view.case.number
    for document in ("proof_of_mailing", "shipment_details", "proof_of_value"):
        ref = AttachmentRef(document[0] * 64, f"{document}.pdf", "application/pdf", 900)
        postroom.cases.add_claim_document(number, document, ref, by=customer)

    def balance() -> int:
        try:
            return postroom.ledger.balance(numbers["mine"]).balances.balance
        except NotFound:  # no postage account yet: nothing in it
            return 0

    before = balance()
    amount = Money.parse("45.00 USD")
    for wrong in (customer, AGENT):
        with pytest.raises(PermissionDenied):
            postroom.cases.decide_claim(number, "refund", by=wrong, amount=amount)
    assert balance() == before
    claim = postroom.cases.decide_claim(number, "refund", by=supervisor, amount=amount)
    assert claim.refund_transfer_id == f"claim-{number}"
    assert balance() == before + amount.mills
    with pytest.raises(ValidationError):
        postroom.cases.decide_claim(number, "refund", by=supervisor, amount=amount)
    assert balance() == before + amount.mills
    [deposit] = postroom.funding.manual_deposits(numbers["mine"])
    assert deposit.reference == number
    assert postroom.cases.get(numbers["mine"], number).case.status is Status.RESOLVED


def test_the_sla_watch_job_escalates_on_the_store(
    postroom: Postroom, numbers: dict[str, str], clock: FrozenClock
) -> None:
    customer = Actor.customer(numbers["mine"], 1, "Chris")
    case = postroom.cases.open(
        by=customer, subject="Down", description="x", channel="web", priority="urgent"
    )
    clock.advance(timedelta(days=1))
    assert postroom.jobs.run_now("cases.sla-watch") == 1
    assert postroom.jobs.run_now("cases.sla-watch") == 0
    assert postroom.cases.get(numbers["mine"], case.number).case.status is Status.ESCALATED


class EscalationPager:
    """A third party's plugin: pages someone for every escalated case."""

    def __init__(self) -> None:
        self.paged: list[tuple[str, str]] = []

    @hookimpl
    def case_escalated(self, case: Case) -> None:
        self.paged.append((case.number, case.escalation_reason))


def test_an_escalation_fires_the_case_escalated_hook_once(
    config: Config, clock: FrozenClock
) -> None:
    pager = EscalationPager()
    with Postroom.open(
        config=config, clock=clock, migrate_schema=True, extra_plugins=[("pager", pager)]
    ) as pr:
        account = pr.accounts.create("Acme", "US", "USD")
        customer = Actor.customer(account.number, 1, "Chris")
        first = pr.cases.open(by=customer, subject="a", description="x", channel="web")
        pr.cases.escalate(first.number, "recurring problem", by=AGENT)
        second = pr.cases.open(
            by=customer, subject="b", description="x", channel="web", priority="urgent"
        )
        with pytest.raises(ValidationError):
            pr.cases.escalate(first.number, "again", by=AGENT)
        clock.advance(timedelta(days=1))
        pr.cases.watch_slas()
        pr.cases.watch_slas()
    assert [number for number, _ in pager.paged] == [first.number, second.number]
    assert pager.paged[0][1] == "recurring problem"
    assert pager.paged[1][1].startswith("SLA breached: first response")
