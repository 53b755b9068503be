"""Tables and repository of the virtual meters (SQLAlchemy Core).

``virtual_meters`` holds each customer's virtual meter: its sealed signing key and its
registers (piece count, ascending register), updated under the row's lock by every
print. ``virtual_prints`` is one row per client idempotency key: the attempt in
progress, its status and, once signed, the record and signature a retry answers with.
The pieces themselves go into ``meter_pieces`` like a physical meter's uploads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from postroom.core.db import UtcDateTime, metadata
from postroom.core.money import Money

virtual_meters = sa.Table(
    "virtual_meters",
    metadata,
    sa.Column("serial", sa.String(32), sa.ForeignKey("meters.serial"), primary_key=True),
    sa.Column(
        "customer_account_id",
        sa.Integer,
        sa.ForeignKey("customer_accounts.id"),
        nullable=False,
        unique=True,
    ),
    sa.Column("sealed_key", sa.LargeBinary, nullable=False),
    sa.Column("pieces", sa.BigInteger, nullable=False),
    sa.Column("ascending", sa.BigInteger, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

virtual_prints = sa.Table(
    "virtual_prints",
    metadata,
    sa.Column(
        "customer_account_id",
        sa.Integer,
        sa.ForeignKey("customer_accounts.id"),
        primary_key=True,
    ),
    sa.Column("idempotency_key", sa.String(64), primary_key=True),
    sa.Column("body_hash", sa.String(64), nullable=False),
    sa.Column("serial", sa.String(32), sa.ForeignKey("meters.serial"), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("carrier", sa.String(40), nullable=False),
    sa.Column("service", sa.String(80), nullable=False),
    sa.Column("mills", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("cost_center", sa.String(64), nullable=True),
    sa.Column("piece", sa.BigInteger, nullable=True),
    sa.Column("payload", sa.LargeBinary, nullable=True),
    sa.Column("signature", sa.LargeBinary, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("printed_at", UtcDateTime, nullable=True),
    sa.UniqueConstraint("serial", "piece", name="uq_virtual_prints_serial_piece"),
)


class VirtualMeterStore:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    # -- meters ----------------------------------------------------------------------

    def meter(self, customer_account_id: int, *, lock: bool = False) -> dict[str, Any] | None:
        """The customer's virtual meter row (``lock``: FOR UPDATE on PostgreSQL; SQLite
        write transactions are serialised by BEGIN IMMEDIATE)."""
        query = sa.select(virtual_meters).where(
            virtual_meters.c.customer_account_id == customer_account_id
        )
        if lock and self._c.dialect.name == "postgresql":
            query = query.with_for_update()
        row = self._c.execute(query).first()
        return None if row is None else dict(row._mapping)

    def add_meter(
        self, serial: str, customer_account_id: int, sealed_key: bytes, now: datetime
    ) -> None:
        self._c.execute(
            sa.insert(virtual_meters).values(
                serial=serial,
                customer_account_id=customer_account_id,
                sealed_key=sealed_key,
                pieces=0,
                ascending=0,
                created_at=now,
            )
        )

    def registers(self, serials: list[str]) -> dict[str, tuple[int, int]]:
        """(pieces, ascending mills) of each virtual meter among ``serials``."""
        if not serials:
            return {}
        rows = self._c.execute(
            sa.select(
                virtual_meters.c.serial, virtual_meters.c.pieces, virtual_meters.c.ascending
            ).where(virtual_meters.c.serial.in_(serials))
        )
        return {row.serial: (int(row.pieces), int(row.ascending)) for row in rows}

    def advance(self, serial: str, pieces: int, ascending: int) -> None:
        self._c.execute(
            sa.update(virtual_meters)
            .where(virtual_meters.c.serial == serial)
            .values(pieces=pieces, ascending=ascending)
        )

    # -- prints ----------------------------------------------------------------------

    def job(
        self, customer_account_id: int, key: str, *, lock: bool = False
    ) -> dict[str, Any] | None:
        query = sa.select(virtual_prints).where(
            virtual_prints.c.customer_account_id == customer_account_id,
            virtual_prints.c.idempotency_key == key,
        )
        if lock and self._c.dialect.name == "postgresql":
            query = query.with_for_update()
        row = self._c.execute(query).first()
        return None if row is None else dict(row._mapping)

    def job_of_piece(self, serial: str, piece: int) -> dict[str, Any] | None:
        row = self._c.execute(
            sa.select(virtual_prints).where(
                virtual_prints.c.serial == serial, virtual_prints.c.piece == piece
            )
        ).first()
        return None if row is None else dict(row._mapping)

    def add_job(
        self,
        customer_account_id: int,
        key: str,
        body_hash: str,
        serial: str,
        carrier: str,
        service: str,
        postage: Money,
        cost_center: str | None,
        now: datetime,
    ) -> None:
        self._c.execute(
            sa.insert(virtual_prints).values(
                customer_account_id=customer_account_id,
                idempotency_key=key,
                body_hash=body_hash,
                serial=serial,
                attempt=1,
                status="reserved",
                carrier=carrier,
                service=service,
                mills=postage.mills,
                currency=postage.currency,
                cost_center=cost_center,
                created_at=now,
            )
        )

    def interrupted(self, before: datetime, limit: int) -> list[dict[str, Any]]:
        """Print attempts begun before ``before`` and left reserved or signed: a crash
        came between their steps (a print takes seconds)."""
        rows = self._c.execute(
            sa.select(virtual_prints)
            .where(
                virtual_prints.c.status.in_(("reserved", "signed")),
                virtual_prints.c.created_at <= before,
            )
            .order_by(virtual_prints.c.created_at)
            .limit(limit)
        )
        return [dict(row._mapping) for row in rows]

    def update_job(self, customer_account_id: int, key: str, **values: Any) -> None:
        self._c.execute(
            sa.update(virtual_prints)
            .where(
                virtual_prints.c.customer_account_id == customer_account_id,
                virtual_prints.c.idempotency_key == key,
            )
            .values(**values)
        )
