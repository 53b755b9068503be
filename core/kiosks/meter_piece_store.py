"""The terminals' piece log (``kiosk_meter_pieces``): SQLAlchemy Core table and repository.

``MeterPieceRepository`` is the Protocol the use cases depend on; ``MeterPieceStore`` its
implementation on a unit of work's connection (tests use an in-memory fake).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from postroom.core.db import UtcDateTime, metadata
from postroom.core.kiosks.meter_pieces import LoggedMeterPiece
from postroom.core.money import Money

kiosk_meter_pieces = sa.Table(
    "kiosk_meter_pieces",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "customer_number",
        sa.String(10),
        sa.ForeignKey("customer_accounts.number"),
        nullable=False,
    ),
    sa.Column("serial", sa.String(60), nullable=False),
    sa.Column("piece", sa.Integer, nullable=False),
    sa.Column("mills", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("carrier", sa.String(80), nullable=False),
    sa.Column("service", sa.String(80), nullable=False),
    sa.Column("cost_center", sa.String(64), nullable=True),
    sa.Column("operator_id", sa.Integer, nullable=False),
    sa.Column("operator_name", sa.String(80), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("printed_at", UtcDateTime(), nullable=False),
    sa.Column("misprint_at", UtcDateTime(), nullable=True),
    sa.Column("refund_id", sa.String(40), nullable=True),
    sa.UniqueConstraint("serial", "piece", name="uq_kiosk_meter_pieces_serial_piece"),
    sa.Index("ix_kiosk_meter_pieces_customer_number", "customer_number", "printed_at"),
)


class MeterPieceRepository(Protocol):
    def get(self, serial: str, piece: int) -> LoggedMeterPiece | None: ...

    def add(self, piece: LoggedMeterPiece) -> None: ...

    def flag_misprint(
        self, serial: str, piece: int, at: datetime, refund_id: str | None
    ) -> None: ...

    def of_customer(self, customer_number: str, limit: int) -> list[LoggedMeterPiece]: ...


def _piece(row: Row[tuple[object, ...]]) -> LoggedMeterPiece:
    m = row._mapping
    return LoggedMeterPiece(
        customer_number=str(m["customer_number"]),
        serial=str(m["serial"]),
        piece=int(m["piece"]),
        postage=Money(int(m["mills"]), str(m["currency"])),
        carrier=str(m["carrier"]),
        service=str(m["service"]),
        cost_center=m["cost_center"],
        operator_id=int(m["operator_id"]),
        operator_name=str(m["operator_name"]),
        request_id=str(m["request_id"]),
        printed_at=m["printed_at"],
        misprint_at=m["misprint_at"],
        refund_id=m["refund_id"],
    )


class MeterPieceStore:
    """``MeterPieceRepository`` on a unit of work's connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def get(self, serial: str, piece: int) -> LoggedMeterPiece | None:
        row = self._c.execute(
            sa.select(kiosk_meter_pieces).where(
                kiosk_meter_pieces.c.serial == serial, kiosk_meter_pieces.c.piece == piece
            )
        ).first()
        return None if row is None else _piece(row)

    def add(self, piece: LoggedMeterPiece) -> None:
        self._c.execute(
            sa.insert(kiosk_meter_pieces).values(
                customer_number=piece.customer_number,
                serial=piece.serial,
                piece=piece.piece,
                mills=piece.postage.mills,
                currency=piece.postage.currency,
                carrier=piece.carrier,
                service=piece.service,
                cost_center=piece.cost_center,
                operator_id=piece.operator_id,
                operator_name=piece.operator_name,
                request_id=piece.request_id,
                printed_at=piece.printed_at,
            )
        )

    def flag_misprint(self, serial: str, piece: int, at: datetime, refund_id: str | None) -> None:
        self._c.execute(
            sa.update(kiosk_meter_pieces)
            .where(kiosk_meter_pieces.c.serial == serial, kiosk_meter_pieces.c.piece == piece)
            .values(
                misprint_at=sa.func.coalesce(kiosk_meter_pieces.c.misprint_at, at),
                refund_id=refund_id,
            )
        )

    def of_customer(self, customer_number: str, limit: int) -> list[LoggedMeterPiece]:
        rows = self._c.execute(
            sa.select(kiosk_meter_pieces)
            .where(kiosk_meter_pieces.c.customer_number == customer_number)
            .order_by(kiosk_meter_pieces.c.printed_at.desc(), kiosk_meter_pieces.c.id.desc())
            .limit(limit)
        )
        return [_piece(row) for row in rows]
