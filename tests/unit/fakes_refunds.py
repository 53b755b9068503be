"""An in-memory ``RefundRepository`` for ``RefundService``'s use cases on fakes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import attrs

from postroom.core.refunds.model import Refund, RefundStatus


class FakeRefunds:
    """``RefundRepository`` in memory: refunds by (customer account id, refund id)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[int, str], Refund] = {}
        self.claims: dict[tuple[str, int], tuple[int, str]] = {}  # live claims on pieces

    def add(self, refund: Refund) -> None:
        key = (refund.customer_account_id, refund.id)
        assert key not in self.rows
        self.rows[key] = refund
        for p in refund.pieces:
            assert (refund.serial, p.piece) not in self.claims  # the unique index
            self.claims[(refund.serial, p.piece)] = key

    def get(self, customer_account_id: int, refund_id: str, *, lock: bool = False) -> Refund | None:
        return self.rows.get((customer_account_id, refund_id))

    def find(
        self,
        *,
        customer_account_id: int | None = None,
        status: RefundStatus | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Refund]:
        found = [
            r
            for r in self.rows.values()
            if customer_account_id in (None, r.customer_account_id) and status in (None, r.status)
        ]
        found.sort(key=lambda r: (-r.requested_at.timestamp(), r.id))
        return found[offset : offset + limit]

    def pending_count(self, customer_account_id: int) -> int:
        return len(
            self.find(customer_account_id=customer_account_id, status=RefundStatus.REQUESTED)
        )

    def decide(
        self, refund: Refund, status: RefundStatus, now: datetime, agent: str, note: str
    ) -> bool:
        key = (refund.customer_account_id, refund.id)
        if self.rows[key].status is not RefundStatus.REQUESTED:
            return False
        self.rows[key] = attrs.evolve(
            self.rows[key], status=status, decided_at=now, agent=agent, decision_note=note
        )
        if status is RefundStatus.REJECTED:
            self.claims = {k: v for k, v in self.claims.items() if v != key}
        return True

    def claimed(self, serial: str, pieces: Iterable[int]) -> set[int]:
        return {p for p in pieces if (serial, p) in self.claims}

    def claimed_face_by_usage(self, usage_ids: Iterable[str]) -> dict[str, int]:
        wanted = set(usage_ids)
        faces: dict[str, int] = {}
        for key in set(self.claims.values()):
            for p in self.rows[key].pieces:
                if p.usage_transfer_id in wanted:
                    faces[p.usage_transfer_id] = faces.get(p.usage_transfer_id, 0) + p.face
        return faces
