"""An in-memory canned-reply repository and the transactions around it (rolled back
unless committed). No I/O."""

from __future__ import annotations

import attrs
from fakes_transactions import FakeSession, StateDatabase

from postroom.core.cases.canned import CannedReply


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


class FakeCannedDatabase(StateDatabase[FakeCannedRepository]):
    def __init__(self) -> None:
        super().__init__(FakeCannedRepository())

    @property
    def repository(self) -> FakeCannedRepository:
        return self.state

    def factory(self, _session: FakeSession) -> FakeCannedRepository:
        return self.repository
