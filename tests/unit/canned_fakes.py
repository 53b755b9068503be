"""An in-memory canned-reply repository and the transactions around it (rolled back
unless committed). No I/O."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from postroom.core.cases.canned import CannedReply

T = TypeVar("T")


@attrs.define
class FakeCannedRepository:
    replies: dict[int, CannedReply] = attrs.field(factory=dict)
    next_id: int = 1

    def add(self, reply: CannedReply) -> CannedReply:
        added = attrs.evolve(reply, id=self.next_id)
        self.replies[added.id] = added
        self.next_id += 1
        return added

    def get(self, reply_id: int) -> CannedReply | None:
        return self.replies.get(reply_id)

    def replace(self, reply: CannedReply) -> bool:
        if reply.id not in self.replies:
            return False
        self.replies[reply.id] = reply
        return True

    def delete(self, reply_id: int) -> bool:
        return self.replies.pop(reply_id, None) is not None

    def listed(self, department: str | None) -> list[CannedReply]:
        found = [
            r
            for r in self.replies.values()
            if department is None or r.department in (None, department)
        ]
        return sorted(found, key=lambda r: (r.title, r.id))


class FakeSession:
    def __init__(self) -> None:
        self.committed = False
        self.connection: Any = None

    def commit(self) -> None:
        self.committed = True


@attrs.define
class FakeCannedDatabase:
    repository: FakeCannedRepository = attrs.field(factory=FakeCannedRepository)

    def run(self, work: Callable[[FakeSession], T], *, readonly: bool = False) -> T:
        before = copy.deepcopy(self.repository)
        session = FakeSession()
        try:
            result = work(session)
        except BaseException:
            self.repository = before
            raise
        if not session.committed:
            self.repository = before
        return result

    def factory(self, _session: FakeSession) -> FakeCannedRepository:
        return self.repository
