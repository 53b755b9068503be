"""The signed side of the terminals' one piece log (``kiosk_pieces``, ``store.py``): the
pieces of the account's own meters a terminal reported with the meter's signature, their
print's request id, misprint flag and refund id. SQLAlchemy Core statements and the
repository.

``MeterPieceRepository`` is the Protocol the use cases depend on; ``MeterPieceStore`` its
implementation on a unit of work's connection (tests use an in-memory fake). A piece the
terminal's offline queue logged first (unsigned, for the reports) takes the signed facts
when its report comes; the row stays one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from postroom.core.errors import Conflict
from postroom.core.kiosks.meter_pieces import LoggedMeterPiece
from postroom.core.kiosks.model import PieceSource
from postroom.core.kiosks.store import kiosk_pieces
from postroom.core.money import Money

_SIGNED = kiosk_pieces.c.request_id.is_not(None)


class MeterPieceRepository(Protocol):
    def get(self, serial: str, piece: int) -> LoggedMeterPiece | None:
        """The piece as its signed report booked it (None: not reported signed)."""
        ...

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
        operator_id=int(m["operator_id"] or 0),
        operator_name=str(m["operator_name"]),
        request_id=str(m["request_id"]),
        printed_at=m["printed_at"],
        misprint_at=m["misprint_at"],
        refund_id=m["refund_id"],
        terminal=str(m["terminal"]),
    )


def _same_piece(serial: str, piece: int) -> sa.ColumnElement[bool]:
    return sa.and_(kiosk_pieces.c.serial == serial, kiosk_pieces.c.piece == piece)


class MeterPieceStore:
    """``MeterPieceRepository`` on a unit of work's connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    def get(self, serial: str, piece: int) -> LoggedMeterPiece | None:
        row = self._c.execute(
            sa.select(kiosk_pieces).where(_same_piece(serial, piece), _SIGNED)
        ).first()
        return None if row is None else _piece(row)

    def add(self, piece: LoggedMeterPiece) -> None:
        signed = {
            "request_id": piece.request_id,
            "mills": piece.postage.mills,
            "currency": piece.postage.currency,
            "carrier": piece.carrier,
            "service": piece.service,
            "cost_center": piece.cost_center,
            "operator_id": piece.operator_id,
            "operator_name": piece.operator_name,
        }
        # logged first by the terminal's queue (unsigned): the signed facts go onto it
        moved = self._c.execute(
            sa.update(kiosk_pieces)
            .where(
                _same_piece(piece.serial, piece.piece),
                kiosk_pieces.c.customer_number == piece.customer_number,
                kiosk_pieces.c.request_id.is_(None),
            )
            .values(**signed)
        )
        if moved.rowcount:
            return
        taken = self._c.execute(
            sa.select(kiosk_pieces.c.id).where(_same_piece(piece.serial, piece.piece))
        ).first()
        if taken is not None:  # another account logged this meter's piece
            raise Conflict(
                f"piece {piece.piece} of meter {piece.serial} is logged with another print",
                code="meter_piece_conflict",
            )
        self._c.execute(
            sa.insert(kiosk_pieces).values(
                customer_number=piece.customer_number,
                serial=piece.serial,
                piece=piece.piece,
                printed_at=piece.printed_at,
                terminal=piece.terminal,
                source=PieceSource.METER.value,
                **signed,
            )
        )

    def flag_misprint(self, serial: str, piece: int, at: datetime, refund_id: str | None) -> None:
        self._c.execute(
            sa.update(kiosk_pieces)
            .where(_same_piece(serial, piece), _SIGNED)
            .values(
                misprint_at=sa.func.coalesce(kiosk_pieces.c.misprint_at, at),
                refund_id=refund_id,
            )
        )

    def of_customer(self, customer_number: str, limit: int) -> list[LoggedMeterPiece]:
        rows = self._c.execute(
            sa.select(kiosk_pieces)
            .where(kiosk_pieces.c.customer_number == customer_number, _SIGNED)
            .order_by(kiosk_pieces.c.printed_at.desc(), kiosk_pieces.c.id.desc())
            .limit(limit)
        )
        return [_piece(row) for row in rows]
