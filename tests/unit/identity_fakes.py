"""In-memory stand-ins for the identity area's ports: its repository, its transactions
(with the outbox and the accounts area) and the meters registry."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import attrs

from postroom.core.identity.model import StoredSession, StoredToken, TokenPurpose, User
from postroom.core.ports import Notification

T = TypeVar("T")


@attrs.define
class Row:
    values: dict[str, Any]

    def user(self, user_id: int) -> User:
        v = self.values
        return User(
            id=user_id,
            email=v["email"],
            name=v["name"],
            role=v["role"],
            staff=v["staff"],
            language=v["language"],
            created_at=v["created_at"],
            account_number=v["account_number"],
            company=v["company"],
            phone=v["phone"],
            security_question=v["security_question"],
            verified_at=v["verified_at"],
            has_password=v["password_hash"] is not None,
            time_zone=v.get("time_zone", ""),
        )


class FakeRepository:
    """IdentityRepository on dictionaries."""

    def __init__(self) -> None:
        self.users: dict[int, Row] = {}
        self.tokens: dict[str, StoredToken] = {}
        self.sessions: dict[str, StoredSession] = {}
        self.throttles: dict[str, tuple[int, datetime, datetime | None]] = {}
        self._ids = itertools.count(1)

    def add_user(self, values: Mapping[str, Any]) -> User:
        if any(row.values["email"] == values["email"] for row in self.users.values()):
            raise AssertionError("unique email violated")
        user_id = next(self._ids)
        self.users[user_id] = Row(dict(values))
        return self.users[user_id].user(user_id)

    def user(self, user_id: int) -> User | None:
        row = self.users.get(user_id)
        return None if row is None else row.user(user_id)

    def user_by_email(self, email: str) -> User | None:
        for user_id, row in self.users.items():
            if row.values["email"] == email:
                return row.user(user_id)
        return None

    def users_by_email(self, emails: Sequence[str]) -> list[User]:
        return [row.user(i) for i, row in self.users.items() if row.values["email"] in emails]

    def secrets_of(self, user_id: int) -> tuple[str | None, str | None]:
        row = self.users.get(user_id)
        if row is None:
            return None, None
        return row.values["password_hash"], row.values["security_answer_hash"]

    def update_user(self, user_id: int, values: Mapping[str, Any]) -> None:
        if user_id in self.users:
            self.users[user_id].values.update(values)

    def delete_user(self, user_id: int) -> None:
        self.users.pop(user_id, None)
        self.tokens = {k: t for k, t in self.tokens.items() if t.user_id != user_id}
        self.sessions = {k: s for k, s in self.sessions.items() if s.user_id != user_id}

    def users_of(self, account_number: str) -> list[User]:
        return [
            row.user(i)
            for i, row in self.users.items()
            if row.values["account_number"] == account_number
        ]

    def staff(self) -> list[User]:
        return [row.user(i) for i, row in self.users.items() if row.values["staff"]]

    def unverified_since(self, cutoff: datetime) -> list[User]:
        return [
            row.user(i)
            for i, row in self.users.items()
            if row.values["verified_at"] is None and row.values["created_at"] < cutoff
        ]

    def add_token(
        self,
        token_hash: str,
        user_id: int,
        purpose: TokenPurpose,
        expires_at: datetime,
        now: datetime,
        payload: str = "",
    ) -> None:
        self.tokens[token_hash] = StoredToken(user_id, purpose, expires_at, None, payload)

    def token(self, token_hash: str) -> StoredToken | None:
        return self.tokens.get(token_hash)

    def use_token(self, token_hash: str, now: datetime) -> bool:
        found = self.tokens.get(token_hash)
        if found is None or found.used_at is not None:
            return False
        self.tokens[token_hash] = attrs.evolve(found, used_at=now)
        return True

    def drop_tokens(self, user_id: int, purpose: TokenPurpose) -> None:
        self.tokens = {
            k: t
            for k, t in self.tokens.items()
            if not (t.user_id == user_id and t.purpose is purpose)
        }

    def add_session(self, id_hash: str, user_id: int, now: datetime) -> None:
        self.sessions[id_hash] = StoredSession(user_id, now, now)

    def session(self, id_hash: str) -> StoredSession | None:
        return self.sessions.get(id_hash)

    def session_with_user(self, id_hash: str) -> tuple[StoredSession, User] | None:
        found = self.sessions.get(id_hash)
        user = None if found is None else self.user(found.user_id)
        return None if found is None or user is None else (found, user)

    def touch_session(self, id_hash: str, now: datetime) -> None:
        if id_hash in self.sessions:
            self.sessions[id_hash] = attrs.evolve(self.sessions[id_hash], last_seen=now)

    def end_session(self, id_hash: str) -> None:
        self.sessions.pop(id_hash, None)

    def end_sessions_of(self, user_id: int, *, keep: str | None = None) -> None:
        self.sessions = {
            k: s for k, s in self.sessions.items() if s.user_id != user_id or k == keep
        }

    def count_failure(
        self, subject: str, now: datetime, forget_before: datetime
    ) -> tuple[int, datetime | None]:
        failures, last, lock = self.throttles.get(subject, (0, now, None))
        failures = 1 if failures and last < forget_before else failures + 1
        self.throttles[subject] = (failures, now, lock)
        return failures, lock

    def throttle(self, subject: str) -> datetime | None:
        return self.throttles.get(subject, (0, None, None))[2]

    def lock(self, subject: str, until: datetime) -> None:
        failures, last, _lock = self.throttles[subject]
        self.throttles[subject] = (failures, last, until)

    def undo_failure(self, subject: str) -> int:
        if subject not in self.throttles:
            return 0
        failures, last, lock = self.throttles[subject]
        self.throttles[subject] = (max(0, failures - 1), last, lock)
        return max(0, failures - 1)

    def unlock(self, subject: str) -> None:
        if subject in self.throttles:
            failures, last, _lock = self.throttles[subject]
            self.throttles[subject] = (failures, last, None)

    def forget_failures(self, before: datetime) -> int:
        stale = [
            subject
            for subject, (_failures, last, lock) in self.throttles.items()
            if last < before and (lock is None or lock < before)
        ]
        for subject in stale:
            del self.throttles[subject]
        return len(stale)

    def clear_failures(self, subject: str) -> None:
        self.throttles.pop(subject, None)


@attrs.define
class FakeUnit:
    repo: FakeRepository
    customers: FakeCustomers
    sent: list[Notification] = attrs.field(factory=list)
    committed: bool = False

    def commit(self) -> None:
        self.committed = True

    def send(self, notification: Notification) -> None:
        self.sent.append(notification)

    def open_customer_account(self, name: str, country: str, currency: str) -> str:
        return self.customers.open(name, country, currency)


@attrs.define
class FakeCustomers:
    accounts: dict[str, tuple[str, str, str]] = attrs.field(factory=dict)

    def open(self, name: str, country: str, currency: str) -> str:
        number = f"{1000000000 + len(self.accounts)}"
        self.accounts[number] = (name, country, currency)
        return number

    def exists(self, number: str) -> bool:
        return number in self.accounts


@attrs.define
class FakeMeters:
    """Serials registered to customer accounts."""

    registered: set[tuple[str, str]] = attrs.field(factory=set)

    def registered_to(self, customer_number: str, serial: str) -> bool:
        return (customer_number, serial) in self.registered


@attrs.define
class FakeTransactions:
    """Runs a use case on the fake store; what an uncommitted unit wrote is undone and
    its messages dropped, as a rolled-back transaction's would be."""

    repo: FakeRepository
    customers: FakeCustomers
    outbox: list[Notification] = attrs.field(factory=list)

    def run(self, work: Callable[[Any], T], *, readonly: bool = False) -> T:
        before = copy.deepcopy(self.repo.__dict__)
        accounts_before = dict(self.customers.accounts)
        unit = FakeUnit(self.repo, self.customers)
        try:
            result = work(unit)
        except BaseException:
            self.repo.__dict__.update(before)
            self.customers.accounts = accounts_before
            raise
        if unit.committed:
            self.outbox.extend(unit.sent)
        else:
            self.repo.__dict__.update(before)
            self.customers.accounts = accounts_before
        return result

    def reading(self, connection: Any) -> FakeRepository:
        return self.repo
