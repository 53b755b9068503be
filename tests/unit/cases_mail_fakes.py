"""In-memory fakes of what the email channel's use cases depend on: its repository,
the transactions (rolled back unless committed), the cases area, the identity area's
sender look-up, the outbox and the attachment files. No I/O."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any

import attrs
from fakes_transactions import StateDatabase

from postroom.core.cases.inbound import CaseFacts, EmailToCase
from postroom.core.cases.mail_model import COUNTED, Direction, KeptEmail, Outcome, Sender
from postroom.core.ports import Notification


@attrs.define
class Kept:
    email: KeptEmail
    notified: bool
    raw: bytes


@attrs.define
class FakeCase:
    facts: CaseFacts
    emails: list[EmailToCase] = attrs.field(factory=list)
    #: a reply to it opens a follow-up case (the cases area's rule for old resolved cases)
    follow_up: bool = False


@attrs.define
class State:
    kept: list[Kept] = attrs.field(factory=list)
    ids: dict[str, tuple[str, Direction, datetime]] = attrs.field(factory=dict)
    outbox: list[Notification] = attrs.field(factory=list)
    #: the cases area's cases (they commit or roll back with the channel's transaction)
    cases: dict[str, FakeCase] = attrs.field(factory=dict)
    #: transactions committed, and the emails each kept (the batches)
    commits: list[int] = attrs.field(factory=list)


class FakeDatabase(StateDatabase[State]):
    def __init__(self) -> None:
        super().__init__(State())

    def committed(self, before: State, *, readonly: bool) -> None:
        if not readonly:  # how many emails each transaction kept
            self.state.commits.append(len(self.state.kept) - len(before.kept))

    def repository(self, _connection: Any) -> FakeMailRepository:
        return FakeMailRepository(self)


@attrs.define
class FakeMailRepository:
    db: FakeDatabase

    @property
    def _s(self) -> State:
        return self.db.state

    def keep(self, *, raw: bytes, notified: bool, **values: Any) -> int:
        kept_id = len(self._s.kept) + 1
        self._s.kept.append(Kept(KeptEmail(id=kept_id, size=len(raw), **values), notified, raw))
        return kept_id

    def keep_all(self, emails: Sequence[Mapping[str, Any]]) -> list[int]:
        return [self.keep(**email) for email in emails]

    def sent_since(self, sender: str, since: datetime) -> tuple[int, bool]:
        recent = [
            k for k in self._s.kept if k.email.sender == sender and k.email.received_at > since
        ]
        return sum(1 for k in recent if k.email.outcome in COUNTED), any(k.notified for k in recent)

    def sent_since_by(self, senders: Sequence[str], since: datetime) -> dict[str, tuple[int, bool]]:
        found = {sender: self.sent_since(sender, since) for sender in senders}
        return {sender: sent for sender, sent in found.items() if sent != (0, False)}

    def cases_of(self, message_ids: Sequence[str]) -> dict[str, str]:
        return {i: self._s.ids[i][0] for i in message_ids if i in self._s.ids}

    def screening(
        self, message_ids: Sequence[str], senders: Sequence[str], since: datetime
    ) -> tuple[dict[str, str], dict[str, tuple[int, bool]]]:
        return self.cases_of(message_ids), self.sent_since_by(senders, since)

    def remember(
        self, message_id: str, case_number: str, direction: Direction, at: datetime
    ) -> bool:
        if message_id in self._s.ids:
            return False
        self._s.ids[message_id] = (case_number, direction, at)
        return True

    def writing_together(self) -> AbstractContextManager[None]:
        return nullcontext()

    def remember_all(self, ids: Sequence[tuple[str, str, Direction, datetime]]) -> None:
        for message_id, case_number, direction, at in ids:
            self.remember(message_id, case_number, direction, at)

    def thread(self, case_number: str) -> list[tuple[str, Direction]]:
        return [(i, d) for i, (number, d, _at) in self._s.ids.items() if number == case_number]

    def listed(self, outcome: Outcome | None, limit: int) -> list[KeptEmail]:
        found = [k.email for k in reversed(self._s.kept) if outcome in (None, k.email.outcome)]
        return found[:limit]

    def raw(self, kept_id: int) -> bytes | None:
        return next((k.raw for k in self._s.kept if k.email.id == kept_id), None)


@attrs.define
class FakeCaseDesk:
    """The cases area: numbers C-2026-000001 on, each email kept with its case, in the
    channel's transaction (the fake database's state)."""

    db: FakeDatabase
    merged: dict[str, str] = attrs.field(factory=dict)
    #: what the cases area answers to every email, when it refuses them
    refusal: Exception | None = None
    #: what it answers to an email whose subject holds this text (one refused in a batch)
    refuse_subject: tuple[str, Exception] | None = None
    #: called with each email before it is taken (a test holds a batch open with it)
    before: Callable[[EmailToCase], None] | None = None
    #: how many cases each ``open_all_in`` opened
    opened_together: list[int] = attrs.field(factory=list)

    @property
    def cases(self) -> dict[str, FakeCase]:
        return self.db.state.cases

    def find_in(self, connection: Any, number: str) -> CaseFacts | None:
        case = self.cases.get(self.merged.get(number, number))
        return None if case is None else case.facts

    def _new(self, email: EmailToCase) -> str:
        number = f"C-2026-{len(self.cases) + 1:06d}"
        self.cases[number] = FakeCase(
            CaseFacts(
                number=number,
                customer_number=email.sender.account,
                contact_email=email.sender.address,
                subject=email.subject,
            ),
            [email],
        )
        return number

    def _check(self, email: EmailToCase) -> None:
        if self.before is not None:
            self.before(email)
        if self.refusal is not None:
            raise self.refusal
        if self.refuse_subject is not None and self.refuse_subject[0] in email.subject:
            raise self.refuse_subject[1]

    def open_in(self, connection: Any, email: EmailToCase) -> str:
        number = self._new(email)  # written before the refusal: the rollback undoes it
        self._check(email)
        return number

    def open_all_in(self, connection: Any, emails: Sequence[EmailToCase]) -> list[str]:
        self.opened_together.append(len(emails))
        return [self.open_in(connection, email) for email in emails]

    def add_in(self, connection: Any, case: CaseFacts, email: EmailToCase) -> str:
        self._check(email)
        found = self.cases[case.number]
        if found.follow_up:
            return self._new(email)
        found.emails.append(email)
        return case.number


@attrs.define
class FakeSenders:
    known: dict[str, Sender] = attrs.field(factory=dict)

    #: how many addresses each look-up asked for
    looked_up: list[int] = attrs.field(factory=list)

    def find_in(self, connection: Any, address: str) -> Sender:
        self.looked_up.append(1)
        return self.known.get(address, Sender(address=address))

    def find_all_in(self, connection: Any, addresses: Sequence[str]) -> dict[str, Sender]:
        self.looked_up.append(len(addresses))
        return {a: self.known.get(a, Sender(address=a)) for a in addresses}


@attrs.define
class FakeMessages:
    db: FakeDatabase
    delivered: list[str] = attrs.field(factory=list)
    claimed: list[str] = attrs.field(factory=list)
    #: what handing messages over raises (the sender is down)
    hand_over_error: Exception | None = None

    def add(
        self, connection: Any, notification: Notification, *, claimed: bool = False
    ) -> Notification:
        added = attrs.evolve(
            notification, id=notification.id or f"msg_{len(self.db.state.outbox) + 1}"
        )
        self.db.state.outbox.append(added)
        if claimed:
            self.claimed.append(added.id)
        return added

    def add_all(self, connection: Any, notifications: Sequence[tuple[Notification, bool]]) -> None:
        for notification, claimed in notifications:
            self.add(connection, notification, claimed=claimed)

    def hand_over(self, messages: Sequence[Notification]) -> None:
        message_ids = [str(m.id) for m in messages]
        assert set(message_ids) <= set(self.claimed)
        assert all(m in self.db.state.outbox for m in messages)  # as written
        if self.hand_over_error is not None:
            raise self.hand_over_error
        self.delivered.extend(message_ids)


@attrs.define
class FakeFiles:
    content: dict[str, bytes] = attrs.field(factory=dict)

    def put(self, content: bytes) -> str:
        digest = hashlib.sha256(content).hexdigest()
        self.content[digest] = content
        return digest
