"""Tables and repository of payouts: money in the refunds-payable account given back to
the customer through the payment sources it came from.

``payouts`` is one run for one customer; ``payout_refunds`` its parts, one refund against
one earlier payment each (the part's id is the idempotency key the source receives).
What each payment gave back so far is funding's (``FundingService.add_refunded_in``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from postroom.core.clock import utc
from postroom.core.db import metadata
from postroom.core.money import Money
from postroom.core.payouts.model import (
    NOT_PAID,
    Payout,
    PayoutPart,
    PayoutPartStatus,
    PayoutStatus,
)

Mills = sa.BigInteger

payouts = sa.Table(
    "payouts",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "customer_account_id", sa.Integer, sa.ForeignKey("customer_accounts.id"), nullable=False
    ),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("payable", Mills, nullable=False),  # what was payable when the run began
    sa.Column("unmatched", Mills, nullable=False),  # what no payment could take back
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_payouts_customer", "customer_account_id", "status"),
)

payout_refunds = sa.Table(
    "payout_refunds",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("payout_id", sa.String(40), sa.ForeignKey("payouts.id"), nullable=False),
    sa.Column("payment_id", sa.String(40), sa.ForeignKey("payments.id"), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("amount", Mills, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("source", sa.String(60), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("source_reference", sa.String(120), nullable=False),
    sa.Column("failure_code", sa.String(60), nullable=True),
    sa.Column("failure_message", sa.String(300), nullable=False),
    sa.Column("transfer_id", sa.String(80), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("payout_id", "payment_id", name="uq_payout_refunds_payment"),
    sa.Index("ix_payout_refunds_payment", "payment_id", "status"),
)

#: Parts that take money out of what is payable (asked, submitted or done).
LIVE_PARTS = (
    PayoutPartStatus.REQUESTED.value,
    PayoutPartStatus.PENDING.value,
    PayoutPartStatus.SETTLED.value,
)


def _part(row: Row[tuple[object, ...]]) -> PayoutPart:
    m = row._mapping
    return PayoutPart(
        id=str(m["id"]),
        payment_id=str(m["payment_id"]),
        amount=Money(int(m["amount"]), str(m["currency"])),
        source=str(m["source"]),
        status=PayoutPartStatus(str(m["status"])),
        source_reference=str(m["source_reference"]),
        failure_code=m["failure_code"],
        failure_message=str(m["failure_message"]),
        transfer_id=m["transfer_id"],
    )


class PayoutRepository(Protocol):
    """Payouts and their parts as the use cases read and write them (``PayoutStore`` on
    the database; an in-memory fake in the unit tests)."""

    def paid_out(self, customer_id: int) -> int: ...
    def taken_and_refused(self) -> tuple[dict[str, int], set[str]]: ...
    def add_payout(
        self, id: str, customer_id: int, currency: str, payable: int, unmatched: int, now: datetime
    ) -> None: ...
    def add_part(
        self,
        id: str,
        payout_id: str,
        position: int,
        payment_id: str,
        source: str,
        amount: Money,
        now: datetime,
    ) -> None: ...
    def update_part(self, id: str, now: datetime, **values: object) -> None: ...
    def submitted_parts(self) -> list[tuple[str, str, datetime]]: ...
    def settle_part(self, id: str, now: datetime) -> bool: ...
    def part_owner(self, part_id: str) -> tuple[str, int] | None: ...
    def set_status(self, payout_id: str, status: PayoutStatus, now: datetime) -> None: ...
    def in_progress(self, customer_id: int) -> str | None: ...
    def payout(self, id: str, customer_id: int, number: str) -> Payout | None: ...
    def payout_ids(self, customer_id: int, limit: int) -> list[str]: ...


class PayoutStore:
    """``PayoutRepository`` on the database, in one transaction's connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def paid_out(self, customer_id: int) -> int:
        """Mills of the customer's live payout parts (asked, submitted or done)."""
        total = self._c.execute(
            sa.select(sa.func.coalesce(sa.func.sum(payout_refunds.c.amount), 0))
            .join(payouts, payouts.c.id == payout_refunds.c.payout_id)
            .where(
                payouts.c.customer_account_id == customer_id,
                payout_refunds.c.status.in_(LIVE_PARTS),
            )
        ).scalar()
        return int(total or 0)

    def taken_and_refused(self) -> tuple[dict[str, int], set[str]]:
        """Per payment: mills its live payout parts take (asked, submitted or done), and
        the payments whose refund the source refused or the bank returned (an agent's)."""
        taken = self._c.execute(
            sa.select(payout_refunds.c.payment_id, sa.func.sum(payout_refunds.c.amount))
            .where(payout_refunds.c.status.in_(LIVE_PARTS))
            .group_by(payout_refunds.c.payment_id)
        )
        refused = self._c.execute(
            sa.select(payout_refunds.c.payment_id)
            .where(payout_refunds.c.status.in_([s.value for s in NOT_PAID]))
            .distinct()
        )
        return {str(r[0]): int(r[1]) for r in taken}, {str(r[0]) for r in refused}

    def add_payout(
        self, id: str, customer_id: int, currency: str, payable: int, unmatched: int, now: datetime
    ) -> None:
        self._c.execute(
            sa.insert(payouts).values(
                id=id,
                customer_account_id=customer_id,
                currency=currency,
                payable=payable,
                unmatched=unmatched,
                status=PayoutStatus.IN_PROGRESS.value,
                created_at=now,
                updated_at=now,
            )
        )

    def add_part(
        self,
        id: str,
        payout_id: str,
        position: int,
        payment_id: str,
        source: str,
        amount: Money,
        now: datetime,
    ) -> None:
        self._c.execute(
            sa.insert(payout_refunds).values(
                id=id,
                payout_id=payout_id,
                payment_id=payment_id,
                position=position,
                amount=amount.mills,
                currency=amount.currency,
                source=source,
                status=PayoutPartStatus.REQUESTED.value,
                source_reference="",
                failure_message="",
                created_at=now,
                updated_at=now,
            )
        )

    def update_part(self, id: str, now: datetime, **values: object) -> None:
        self._c.execute(
            sa.update(payout_refunds)
            .where(payout_refunds.c.id == id)
            .values(updated_at=now, **values)
        )

    def submitted_parts(self) -> list[tuple[str, str, datetime]]:
        """(id, source, created_at) of parts a source submitted (bank credit transfers)."""
        rows = self._c.execute(
            sa.select(payout_refunds.c.id, payout_refunds.c.source, payout_refunds.c.created_at)
            .where(payout_refunds.c.status == PayoutPartStatus.PENDING.value)
            .order_by(payout_refunds.c.created_at, payout_refunds.c.id)
        )
        return [(str(r.id), str(r.source), utc(r.created_at)) for r in rows]

    def settle_part(self, id: str, now: datetime) -> bool:
        done = self._c.execute(
            sa.update(payout_refunds)
            .where(
                payout_refunds.c.id == id,
                payout_refunds.c.status == PayoutPartStatus.PENDING.value,
            )
            .values(status=PayoutPartStatus.SETTLED.value, updated_at=now)
        )
        return done.rowcount == 1

    def part_owner(self, part_id: str) -> tuple[str, int] | None:
        """(payout id, customer account id) of a payout part."""
        row = self._c.execute(
            sa.select(payouts.c.id, payouts.c.customer_account_id)
            .join(payout_refunds, payout_refunds.c.payout_id == payouts.c.id)
            .where(payout_refunds.c.id == part_id)
        ).first()
        return None if row is None else (str(row.id), int(row.customer_account_id))

    def set_status(self, payout_id: str, status: PayoutStatus, now: datetime) -> None:
        self._c.execute(
            sa.update(payouts)
            .where(payouts.c.id == payout_id)
            .values(status=status.value, updated_at=now)
        )

    def in_progress(self, customer_id: int) -> str | None:
        found = self._c.execute(
            sa.select(payouts.c.id)
            .where(
                payouts.c.customer_account_id == customer_id,
                payouts.c.status == PayoutStatus.IN_PROGRESS.value,
            )
            .order_by(payouts.c.created_at)
            .limit(1)
        ).scalar()
        return None if found is None else str(found)

    def payout(self, id: str, customer_id: int, number: str) -> Payout | None:
        row = self._c.execute(
            sa.select(payouts).where(
                payouts.c.id == id, payouts.c.customer_account_id == customer_id
            )
        ).first()
        if row is None:
            return None
        parts = self._c.execute(
            sa.select(payout_refunds)
            .where(payout_refunds.c.payout_id == id)
            .order_by(payout_refunds.c.position)
        )
        m = row._mapping
        return Payout(
            id=str(m["id"]),
            customer_number=number,
            payable=Money(int(m["payable"]), str(m["currency"])),
            unmatched=int(m["unmatched"]),
            status=PayoutStatus(str(m["status"])),
            parts=tuple(_part(p) for p in parts),
            created_at=utc(m["created_at"]),
            updated_at=utc(m["updated_at"]),
        )

    def payout_ids(self, customer_id: int, limit: int) -> list[str]:
        rows = self._c.execute(
            sa.select(payouts.c.id)
            .where(payouts.c.customer_account_id == customer_id)
            .order_by(payouts.c.created_at.desc(), payouts.c.id.desc())
            .limit(limit)
        )
        return [str(r[0]) for r in rows]
