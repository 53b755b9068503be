"""In-memory fakes of what the support-cases use cases depend on: the repository, the
transactions (rolled back unless committed) and the customer accounts. No I/O."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
from fakes_transactions import StateDatabase

from postroom.core.accounts.model import AccountStatus, CustomerAccount
from postroom.core.cases.claims import Claim, Shipment
from postroom.core.cases.model import (
    ACTIVE,
    PRIORITY_RANK,
    AccountProfile,
    Agent,
    Case,
    CaseSummary,
    Department,
    HistoryEntry,
    Link,
    LinkKind,
    Message,
    QueueFilter,
    StaffMember,
)
from postroom.core.cases.service import CasesService
from postroom.core.cases.store import with_case_ids
from postroom.core.errors import NotFound, StorageUnavailable
from postroom.core.money import Money

NO_DEADLINE = datetime(9999, 1, 1, tzinfo=UTC)


@attrs.define
class State:
    """Everything the fakes keep; copied at the start of a transaction, restored on
    rollback."""

    counters: dict[int, int] = attrs.field(factory=dict)
    cases: dict[str, Case] = attrs.field(factory=dict)
    messages: list[Message] = attrs.field(factory=list)
    history: list[HistoryEntry] = attrs.field(factory=list)
    agents: dict[int, Agent] = attrs.field(factory=dict)
    profiles: dict[str, AccountProfile] = attrs.field(factory=dict)
    claims: dict[int, Claim] = attrs.field(factory=dict)
    mail: list[tuple[str, str, str]] = attrs.field(factory=list)


class FakeDatabase(StateDatabase[State]):
    def __init__(self) -> None:
        super().__init__(State())


@attrs.define
class FakeCases:
    """``CaseRepository`` on the fake database's state."""

    db: FakeDatabase

    @property
    def _s(self) -> State:
        return self.db.state

    def next_numbers(self, year: int, count: int = 1) -> int:
        first = self._s.counters.get(year, 0) + 1
        self._s.counters[year] = first + count - 1
        return first

    def add(self, case: Case) -> Case:
        stored = attrs.evolve(case, id=len(self._s.cases) + 1)
        self._s.cases[stored.number] = stored
        return copy.deepcopy(stored)

    def add_all(self, cases: Sequence[Case]) -> list[Case]:
        return [self.add(case) for case in cases]

    def get(self, number: str) -> Case | None:
        found = self._s.cases.get(number)
        return copy.deepcopy(found)

    def lock(self, number: str) -> Case | None:
        return self.get(number)

    def _by_id(self, case_id: int) -> Case:
        return next(c for c in self._s.cases.values() if c.id == case_id)

    def update(self, case: Case) -> None:
        stored = self._by_id(case.id)
        self._s.cases[stored.number] = attrs.evolve(copy.deepcopy(case), links=stored.links)

    def add_link(self, case_id: int, link: Link) -> bool:
        stored = self._by_id(case_id)
        if link in stored.links:
            return False
        stored.links = (*stored.links, link)
        return True

    def add_message(self, message: Message, history: Sequence[HistoryEntry] = ()) -> Message:
        stored = attrs.evolve(message, id=len(self._s.messages) + 1)
        self._s.messages.append(stored)
        self._s.history.extend(history)
        return copy.deepcopy(stored)

    def add_messages(
        self, posts: Sequence[tuple[Message, Sequence[HistoryEntry]]]
    ) -> list[Message]:
        return [self.add_message(message, history) for message, history in posts]

    def add_all_with_messages(
        self, cases: Sequence[Case], posts: Sequence[tuple[Message, Sequence[HistoryEntry]]]
    ) -> tuple[list[Case], list[Message]]:
        added = self.add_all(cases)
        return added, self.add_messages(with_case_ids(added, posts))

    def messages(self, case_id: int) -> list[Message]:
        return [copy.deepcopy(m) for m in self._s.messages if m.case_id == case_id]

    def move_messages(self, from_case: int, to_case: int) -> int:
        moved = 0
        for message in self._s.messages:
            if message.case_id == from_case:
                message.case_id = to_case
                moved += 1
        return moved

    def add_history(self, entry: HistoryEntry) -> None:
        self._s.history.append(entry)

    def history(self, case_id: int) -> list[HistoryEntry]:
        return [h for h in self._s.history if h.case_id == case_id]

    def active_summaries(self, customer_number: str, limit: int) -> list[CaseSummary]:
        query = QueueFilter(
            statuses=tuple(sorted(ACTIVE)), customer_number=customer_number, limit=limit
        )
        return [CaseSummary(c.number, c.subject, c.status) for c in self.queue(query, NO_DEADLINE)]

    def queue(self, query: QueueFilter, now: datetime) -> list[Case]:
        def due(case: Case) -> datetime:
            return case.next_due or NO_DEADLINE

        def matches(c: Case) -> bool:
            return all(
                (
                    c.merged_into is None,
                    not query.statuses or c.status in query.statuses,
                    query.department is None or c.department is query.department,
                    not query.unassigned or c.assignee_id is None,
                    query.unassigned
                    or query.assignee_id is None
                    or c.assignee_id == query.assignee_id,
                    query.priority is None or c.priority is query.priority,
                    query.channel is None or c.channel is query.channel,
                    query.customer_number is None or c.customer_number == query.customer_number,
                    not query.escalated or (c.escalated_at is not None and c.status in ACTIVE),
                    not query.recurring or c.recurring,
                    not query.breached or due(c) < now,
                    query.breached
                    or query.due_within is None
                    or now <= due(c) < now + query.due_within,
                )
            )

        def order(c: Case) -> tuple[int, datetime, int]:
            rank = PRIORITY_RANK[c.priority] if query.by_priority else 0
            return (rank, due(c), c.id)

        found = sorted((c for c in self._s.cases.values() if matches(c)), key=order)
        return [copy.deepcopy(c) for c in found[query.offset : query.offset + query.limit]]

    def case_of_message_ids(self, message_ids: Iterable[str]) -> Case | None:
        wanted = set(message_ids)
        for message in reversed(self._s.messages):
            if message.message_id in wanted:
                return copy.deepcopy(self._by_id(message.case_id))
        return None

    def cases_linked_to(self, kind: LinkKind, reference: str) -> list[Case]:
        link = Link(kind, reference)
        return [copy.deepcopy(c) for c in self._s.cases.values() if link in c.links]

    def opened_since(self, customer_number: str, department: Department, since: datetime) -> int:
        return sum(
            1
            for c in self._s.cases.values()
            if c.customer_number == customer_number
            and c.department is department
            and c.opened_at >= since
            and c.merged_into is None
        )

    def open_load(self, assignee_ids: Iterable[int]) -> dict[int, int]:
        load = dict.fromkeys(assignee_ids, 0)
        for c in self._s.cases.values():
            if c.assignee_id in load and c.active:
                load[c.assignee_id] += 1
        return load

    def due_before(self, moment: datetime, *, limit: int) -> list[Case]:
        found = [c for c in self._s.cases.values() if (c.next_due or NO_DEADLINE) < moment]
        found.sort(key=lambda c: (c.next_due, c.id))
        return [copy.deepcopy(c) for c in found[:limit]]

    def to_warn(self, before: datetime, *, limit: int) -> list[Case]:
        found = [
            c
            for c in self._s.cases.values()
            if (c.next_due or NO_DEADLINE) < before
            and c.warned_at is None
            and c.assignee_id is not None
        ]
        found.sort(key=lambda c: (c.next_due, c.id))
        return [copy.deepcopy(c) for c in found[:limit]]

    def to_escalate(self, now: datetime, *, limit: int) -> list[Case]:
        found = [
            c
            for c in self._s.cases.values()
            if (c.next_due or NO_DEADLINE) < now
            and (c.breached_at is None or c.breached_at < (c.next_due or NO_DEADLINE))
        ]
        found.sort(key=lambda c: (c.next_due, c.id))
        return [copy.deepcopy(c) for c in found[:limit]]

    def agents(self, department: Department | None = None) -> list[Agent]:
        return [
            a
            for _, a in sorted(self._s.agents.items())
            if department is None or department in a.departments
        ]

    def agent(self, user_id: int) -> Agent | None:
        return self._s.agents.get(user_id)

    def save_agent(self, agent: Agent, at: datetime) -> None:
        self._s.agents[agent.user_id] = agent

    def profile(self, customer_number: str) -> AccountProfile | None:
        return self._s.profiles.get(customer_number)

    def save_profile(self, profile: AccountProfile, at: datetime) -> None:
        self._s.profiles[profile.customer_number] = profile

    def claim(self, case_id: int) -> Claim | None:
        return copy.deepcopy(self._s.claims.get(case_id))

    def save_claim(self, claim: Claim) -> None:
        self._s.claims[claim.case_id] = copy.deepcopy(claim)

    def report_rows(self, since: datetime, until: datetime) -> list[Case]:
        return [
            attrs.evolve(c, links=())
            for c in self._s.cases.values()
            if since <= c.opened_at < until and c.merged_into is None
        ]


@attrs.define
class FakeStaff:
    """The identity area's staff users."""

    members: list[StaffMember] = attrs.field(factory=list)

    def staff(self) -> list[StaffMember]:
        return list(self.members)


@attrs.define
class FakeMail:
    """Staff emails, kept in the transaction's state (gone on rollback)."""

    db: FakeDatabase

    def send(
        self, connection: Any, to: str, subject: str, body: str, kind: str, data: dict[str, str]
    ) -> None:
        self.db.state.mail.append((to, kind, subject))


@attrs.define
class FakeRefunds:
    """Funding's staff credit: idempotent by transfer id."""

    credits: dict[str, tuple[str, Money, str]] = attrs.field(factory=dict)
    #: the next credits fail (the funding area refusing, a lost connection)
    failures: int = 0

    def credit(
        self,
        customer_number: str,
        amount: Money,
        transfer_id: str,
        *,
        staff: str,
        reason: str,
        reference: str,
    ) -> None:
        if self.failures:
            self.failures -= 1
            raise StorageUnavailable("the database went away")
        self.credits.setdefault(transfer_id, (customer_number, amount, staff))


@attrs.define
class FakeShipments:
    known: dict[str, Shipment] = attrs.field(factory=dict)

    def shipment(self, tracking_number: str) -> Shipment:
        return self.known.get(tracking_number, Shipment(tracking_number))


@attrs.define
class FakeAccounts:
    accounts: dict[str, CustomerAccount] = attrs.field(factory=dict)

    def add(self, number: str, country: str = "US") -> CustomerAccount:
        account = CustomerAccount(
            id=len(self.accounts) + 1,
            number=number,
            name=f"Customer {number}",
            country=country,
            currency="EUR" if country == "FR" else "USD",
            status=AccountStatus.ACTIVE,
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        self.accounts[number] = account
        return account

    def get(self, number: str) -> CustomerAccount:
        if number not in self.accounts:
            raise NotFound(f"no account {number}", code="account_not_found")
        return self.accounts[number]


@attrs.define
class FakeLinkTargets:
    """The meters, invoices, orders and shipments each account has."""

    owned: dict[tuple[LinkKind, str], str] = attrs.field(factory=dict)

    def belongs(self, customer_number: str, link: Link) -> bool:
        return self.owned.get((link.kind, link.reference)) == customer_number


MINE = "1000000009"
OTHER = "2000000008"
STAFF = [
    StaffMember(7, "Alex Agent", "alex@support.example", "agent"),
    StaffMember(8, "Bo Billing", "bo@support.example", "agent"),
    StaffMember(9, "Sue Supervisor", "sue@support.example", "supervisor"),
    StaffMember(10, "Max Manager", "max@support.example", "account-manager"),
]


def make_service(
    db: FakeDatabase,
    clock: Any,
    *,
    refunds: FakeRefunds | None = None,
    links: FakeLinkTargets | None = None,
    **options: Any,
) -> CasesService:
    """The service on fakes: account MINE in the US, OTHER in France, four staff."""
    accounts = FakeAccounts()
    accounts.add(MINE, "US")
    accounts.add(OTHER, "FR")
    return CasesService(
        db,
        clock,
        accounts=accounts,
        staff=FakeStaff(list(STAFF)),
        mail=FakeMail(db),
        refunds=refunds or FakeRefunds(),
        links=links or FakeLinkTargets(),
        shipments=FakeShipments(),
        repository=lambda _session: FakeCases(db),
        **options,
    )
