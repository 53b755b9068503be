"""Tables and repository of refunds and closed postage accounts (SQLAlchemy Core).

A piece can be claimed by one live refund only: ``refund_pieces`` has a unique index on
(meter serial, piece number) over the rows still ``claimed`` (a requested or approved
refund); rejecting a refund releases its pieces.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from postroom.core.clock import utc
from postroom.core.db import metadata
from postroom.core.refunds.model import (
    Refund,
    RefundedPiece,
    RefundReason,
    RefundStatus,
)

Mills = sa.BigInteger

refunds = sa.Table(
    "refunds",
    metadata,
    sa.Column(
        "customer_account_id",
        sa.Integer,
        sa.ForeignKey("customer_accounts.id"),
        primary_key=True,
    ),
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("customer_number", sa.String(10), nullable=False),
    sa.Column("serial", sa.String(60), nullable=False),
    sa.Column("operator", sa.String(40), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("reason", sa.String(20), nullable=False),
    sa.Column("note", sa.String(500), nullable=False),
    sa.Column("face", Mills, nullable=False),
    sa.Column("fee", Mills, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("body_hash", sa.String(64), nullable=False),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("agent", sa.String(100), nullable=True),
    sa.Column("decision_note", sa.String(500), nullable=True),
    sa.Index("ix_refunds_status", "status"),
)

refund_pieces = sa.Table(
    "refund_pieces",
    metadata,
    sa.Column("customer_account_id", sa.Integer, primary_key=True),
    sa.Column("refund_id", sa.String(40), primary_key=True),
    sa.Column("piece", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("serial", sa.String(60), nullable=False),
    sa.Column("face", Mills, nullable=False),
    sa.Column("indicium_date", sa.Date, nullable=False),
    sa.Column("usage_transfer_id", sa.String(80), nullable=False),
    sa.Column("verified", sa.Boolean, nullable=False),
    sa.Column("claimed", sa.Boolean, nullable=False),
    sa.ForeignKeyConstraint(
        ["customer_account_id", "refund_id"],
        ["refunds.customer_account_id", "refunds.id"],
        name="fk_refund_pieces_refund",
    ),
    sa.Index("ix_refund_pieces_usage", "usage_transfer_id"),
)
# one live claim per printed piece (a rejected refund releases its pieces)
sa.Index(
    "uq_refund_pieces_claimed",
    refund_pieces.c.serial,
    refund_pieces.c.piece,
    unique=True,
    sqlite_where=refund_pieces.c.claimed.is_(True),
    postgresql_where=refund_pieces.c.claimed.is_(True),
)


def _piece_from_row(row: Row[tuple[object, ...]]) -> RefundedPiece:
    m = row._mapping
    return RefundedPiece(
        piece=int(m["piece"]),
        face=int(m["face"]),
        indicium_date=m["indicium_date"],
        usage_transfer_id=str(m["usage_transfer_id"]),
        verified=bool(m["verified"]),
    )


def _refund_from_row(row: Row[tuple[object, ...]], pieces: Sequence[RefundedPiece]) -> Refund:
    m = row._mapping
    return Refund(
        id=str(m["id"]),
        customer_account_id=int(m["customer_account_id"]),
        customer_number=str(m["customer_number"]),
        serial=str(m["serial"]),
        operator=str(m["operator"]),
        currency=str(m["currency"]),
        reason=RefundReason(m["reason"]),
        note=str(m["note"]),
        pieces=tuple(pieces),
        face=int(m["face"]),
        fee=int(m["fee"]),
        status=RefundStatus(m["status"]),
        requested_at=utc(m["requested_at"]),
        body_hash=str(m["body_hash"]),
        decided_at=None if m["decided_at"] is None else utc(m["decided_at"]),
        agent=m["agent"],
        decision_note=m["decision_note"],
    )


class RefundRepository(Protocol):
    """The refunds' reads and writes that the use cases need (``RefundStore`` on the
    database, an in-memory fake in the unit tests)."""

    def add(self, refund: Refund) -> None: ...

    def get(
        self, customer_account_id: int, refund_id: str, *, lock: bool = False
    ) -> Refund | None: ...

    def find(
        self,
        *,
        customer_account_id: int | None = None,
        status: RefundStatus | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Refund]: ...

    def pending_count(self, customer_account_id: int) -> int: ...

    def decide(
        self, refund: Refund, status: RefundStatus, now: datetime, agent: str, note: str
    ) -> bool:
        """Move a requested refund to ``status``; False when another decision came first.
        A rejection releases its pieces (they may be asked back again)."""
        ...

    def claimed(self, serial: str, pieces: Iterable[int]) -> set[int]:
        """Which of ``pieces`` of meter ``serial`` a live refund claims already."""
        ...

    def claimed_face_by_usage(self, usage_ids: Iterable[str]) -> dict[str, int]:
        """Face value claimed by live refunds out of each usage report."""
        ...


class RefundStore:
    """Repository of refunds on the unit of work's connection (``RefundRepository``)."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self._postgres = connection.dialect.name == "postgresql"

    # refunds --------------------------------------------------------------

    def add(self, refund: Refund) -> None:
        self._c.execute(
            sa.insert(refunds).values(
                customer_account_id=refund.customer_account_id,
                id=refund.id,
                customer_number=refund.customer_number,
                serial=refund.serial,
                operator=refund.operator,
                currency=refund.currency,
                reason=refund.reason.value,
                note=refund.note,
                face=refund.face,
                fee=refund.fee,
                status=refund.status.value,
                body_hash=refund.body_hash,
                requested_at=refund.requested_at,
            )
        )
        self._c.execute(
            sa.insert(refund_pieces),
            [
                {
                    "customer_account_id": refund.customer_account_id,
                    "refund_id": refund.id,
                    "piece": p.piece,
                    "serial": refund.serial,
                    "face": p.face,
                    "indicium_date": p.indicium_date,
                    "usage_transfer_id": p.usage_transfer_id,
                    "verified": p.verified,
                    "claimed": True,
                }
                for p in refund.pieces
            ],
        )

    def get(self, customer_account_id: int, refund_id: str, *, lock: bool = False) -> Refund | None:
        query = sa.select(refunds).where(
            refunds.c.customer_account_id == customer_account_id, refunds.c.id == refund_id
        )
        if lock and self._postgres:
            query = query.with_for_update()
        row = self._c.execute(query).first()
        if row is None:
            return None
        return _refund_from_row(row, self._pieces([(customer_account_id, refund_id)])[0])

    def find(
        self,
        *,
        customer_account_id: int | None = None,
        status: RefundStatus | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Refund]:
        query = sa.select(refunds)
        if customer_account_id is not None:
            query = query.where(refunds.c.customer_account_id == customer_account_id)
        if status is not None:
            query = query.where(refunds.c.status == status.value)
        query = query.order_by(refunds.c.requested_at.desc(), refunds.c.id).limit(limit)
        rows = list(self._c.execute(query.offset(offset)))
        keys = [(int(r.customer_account_id), str(r.id)) for r in rows]
        pieces = self._pieces(keys)
        return [_refund_from_row(row, pieces[i]) for i, row in enumerate(rows)]

    def _pieces(self, keys: Sequence[tuple[int, str]]) -> list[list[RefundedPiece]]:
        if not keys:
            return []
        found: dict[tuple[int, str], list[RefundedPiece]] = {k: [] for k in keys}
        for customer_id in {k[0] for k in keys}:
            ids = [k[1] for k in keys if k[0] == customer_id]
            rows = self._c.execute(
                sa.select(refund_pieces)
                .where(
                    refund_pieces.c.customer_account_id == customer_id,
                    refund_pieces.c.refund_id.in_(ids),
                )
                .order_by(refund_pieces.c.piece)
            )
            for row in rows:
                found[(customer_id, str(row.refund_id))].append(_piece_from_row(row))
        return [found[k] for k in keys]

    def pending_count(self, customer_account_id: int) -> int:
        return int(
            self._c.execute(
                sa.select(sa.func.count())
                .select_from(refunds)
                .where(
                    refunds.c.customer_account_id == customer_account_id,
                    refunds.c.status == RefundStatus.REQUESTED.value,
                )
            ).scalar_one()
        )

    def decide(
        self,
        refund: Refund,
        status: RefundStatus,
        now: datetime,
        agent: str,
        note: str,
    ) -> bool:
        """Move a requested refund to ``status``; False when another decision came first."""
        result = self._c.execute(
            sa.update(refunds)
            .where(
                refunds.c.customer_account_id == refund.customer_account_id,
                refunds.c.id == refund.id,
                refunds.c.status == RefundStatus.REQUESTED.value,
            )
            .values(status=status.value, decided_at=now, agent=agent, decision_note=note)
        )
        if result.rowcount != 1:
            return False
        if status is RefundStatus.REJECTED:
            self._c.execute(
                sa.update(refund_pieces)
                .where(
                    refund_pieces.c.customer_account_id == refund.customer_account_id,
                    refund_pieces.c.refund_id == refund.id,
                )
                .values(claimed=False)
            )
        return True

    # pieces ---------------------------------------------------------------

    def claimed(self, serial: str, pieces: Iterable[int]) -> set[int]:
        """Which of ``pieces`` of meter ``serial`` a live refund claims already."""
        wanted = sorted(set(pieces))
        if not wanted:
            return set()
        rows = self._c.execute(
            sa.select(refund_pieces.c.piece).where(
                refund_pieces.c.serial == serial,
                refund_pieces.c.piece.in_(wanted),
                refund_pieces.c.claimed.is_(True),
            )
        )
        return {int(r.piece) for r in rows}

    def claimed_face_by_usage(self, usage_ids: Iterable[str]) -> dict[str, int]:
        """Face value claimed by live refunds out of each usage report."""
        wanted = sorted(set(usage_ids))
        if not wanted:
            return {}
        rows = self._c.execute(
            sa.select(refund_pieces.c.usage_transfer_id, sa.func.sum(refund_pieces.c.face))
            .where(
                refund_pieces.c.usage_transfer_id.in_(wanted),
                refund_pieces.c.claimed.is_(True),
            )
            .group_by(refund_pieces.c.usage_transfer_id)
        )
        return {str(r[0]): int(r[1]) for r in rows}
